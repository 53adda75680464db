"""Objectives for the TG-119 C-shape (Ezzell et al., Med Phys 36:5359, 2009): 50 Gy to the PTV,
goals PTV D95 >= 50 Gy, PTV D10 <= 55 Gy, core D10 <= 25 Gy (harder variant 10 Gy).

Planner's starting set, derived on the fine evaluation (issue 14): the 2.5 mm dose grid, the
optimiser reading every structure at its samples below the voxel, the goals read from the sub-voxel
DVH after normalising PTV D95 to 50 Gy, 5 mm bixels, fluence smoothness at its default weight. Of the
sets tried there (300 iterations at most; PTV D10 / core D10 in Gy):

    PTV max 52.5 w300, core max 8 w300 (the old set, tuned on 5 mm voxel centres)   55.36 / 13.13
    PTV max 52   w500, core max 8 w300                                              55.04 / 13.16
    PTV max 52   w1000, core max 8 w300   (this set)                                54.88 / 13.17
    PTV max 52.5 w300, core max 5 w1000                                             58.52 / 12.18
    PTV max 52   w1000, core max 6 w1000                                            57.10 / 12.35
    PTV max 52.5 w500, core max 10 w300 and core D10 <= 8 w1000                     55.75 / 12.73

pushing the core below about 12 Gy costs the PTV's D10 goal: the harder core goal (10 Gy) is not
reached with 5 mm bixels. With 2.5 mm bixels (9,738 instead of 2,571; 289 M instead of 76 M non-zeros)
the old set reached core D10 11.48 Gy at PTV D10 55.87 Gy after 300 iterations, still short of 10 Gy.
Body max 30 Gy w30 keeps dose off normal tissue.
"""

from planner.core.protocols.objectives import starting_objectives
from planner.core.protocols.protocol import load_protocol

# One definition: the protocol file resources/protocols/tg119-c-shape.json holds the goals and the
# tuned set above, each number with its source; this module reads it.
TG119_PROTOCOL = load_protocol("tg119-c-shape")
PRESCRIPTION_GY = TG119_PROTOCOL.dose_gy.value  # TG-119: 50 Gy in 25 fractions to the C-shape PTV
TG119_OBJECTIVES = starting_objectives(TG119_PROTOCOL)
