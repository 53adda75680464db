"""Objectives for the TG-119 C-shape (Ezzell et al., Med Phys 36:5359, 2009): 50 Gy to the PTV,
goals PTV D95 >= 50 Gy, PTV D10 <= 55 Gy, core D10 <= 25 Gy (harder variant 10 Gy).

The weights and doses are Planner's starting set, tuned on the 5 mm grid: a steep underdose penalty
at the prescription, an overdose penalty 5 % above it (a D10 <= 55 Gy goal with margin), the core
pushed to 8 Gy (a 10 Gy penalty left the core's D10 at 10.2 Gy, just above the harder goal; 8 Gy
gives 9.2 Gy with PTV D10 53.3 Gy, 300 iterations), and a body fall-off term that keeps dose off
normal tissue.
"""

from planner.core.inverse_plan import Objective

PRESCRIPTION_GY = 50.0  # TG-119: 50 Gy in 25 fractions to the C-shape PTV

TG119_OBJECTIVES = (
    Objective("PTV", "min_dose", 50.0, weight=1000.0),
    Objective("PTV", "max_dose", 52.5, weight=300.0),
    Objective("Core", "max_dose", 8.0, weight=300.0),
    Objective("Body", "max_dose", 30.0, weight=30.0),
)
