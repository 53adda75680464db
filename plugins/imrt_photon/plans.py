"""Objectives for the TG-119 C-shape (Ezzell et al., Med Phys 36:5359, 2009): 50 Gy to the PTV,
goals PTV D95 >= 50 Gy, PTV D10 <= 55 Gy, core D10 <= 25 Gy (harder variant 10 Gy).

The weights and doses are Planner's starting set, tuned on the 5 mm grid: a steep underdose penalty
at the prescription, an overdose penalty 5 % above it (a D10 <= 55 Gy goal with margin), the core
pushed below the harder 10 Gy goal, and a body fall-off term that keeps dose off normal tissue.
"""

from planner.core.inverse_plan import Objective

PRESCRIPTION_GY = 50.0  # TG-119: 50 Gy in 25 fractions to the C-shape PTV

TG119_OBJECTIVES = (
    Objective("PTV", "min_dose", 50.0, weight=1000.0),
    Objective("PTV", "max_dose", 52.5, weight=300.0),
    Objective("Core", "max_dose", 10.0, weight=300.0),
    Objective("Body", "max_dose", 30.0, weight=30.0),
)
