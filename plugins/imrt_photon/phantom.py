"""The AAPM TG-119 C-shape phantom on a voxel grid in mm (water, isocentre at the origin).

Geometry from AAPM TG-119, Ezzell et al., Med Phys 36(11):5359-5373 (2009), section on the
"C-shape" test: a C-shaped PTV wrapped around a cylindrical central core (the avoidance structure,
a spinal-cord analogue) with a 5 mm gap between them. matRad's and pyRadPlan's TG119.mat carry the
same structures on a 3 mm CT; this module builds them from the numbers instead of a binary file,
so any grid spacing can be used. Patient axes (DICOM, supine): x left, y posterior, z superior.
"""

from __future__ import annotations

import numpy as np

from planner.core.volume import PlanningVolume, VoxelGrid

# TG-119 (Ezzell 2009), C-shape: core cylinder radius 1.0 cm.
CORE_RADIUS_MM = 10.0
# TG-119: 0.5 cm gap between the core and the PTV, so the C's inner radius is 1.5 cm.
PTV_INNER_RADIUS_MM = 15.0
# TG-119: outer radius of the C-shaped PTV 3.7 cm.
PTV_OUTER_RADIUS_MM = 37.0
# The C's opening: a straight cut, everything more than this far past the core's axis on the open
# side is not PTV. Measured on the AAPM TG-119 structure set as shipped in pyRadPlan 0.5.0's
# TG119.mat (3 x 3 x 2.5 mm voxels): PTV voxel centres reach 6.5 mm past the axis and none lie at
# 9.5 mm; its full slices hold 2129 mm2 of PTV, and a cut at 7.5 mm gives 2133 mm2 (0.2 % off).
# The report's text, which may state the number, could not be retrieved.
PTV_OPENING_OFFSET_MM = 7.5
# TG-119: PTV 8 cm long, core 10 cm long (the core sticks out 1 cm at each end).
PTV_LENGTH_MM = 80.0
CORE_LENGTH_MM = 100.0
# Body: a water box around the structures; TG-119 leaves the phantom to the clinic. 20 x 20 cm
# axially keeps beams' depths realistic (PTV at 6-10 cm), 16 cm long covers core plus margin.
BODY_SIZE_MM = (200.0, 200.0, 160.0)
WATER_DENSITY_G_PER_CM3 = 1.0


def centred_axis(length_mm: float, spacing_mm: float) -> np.ndarray:
    """Voxel centres symmetric about 0 covering length_mm."""
    n = int(round(length_mm / spacing_mm))
    return (np.arange(n) - (n - 1) / 2.0) * spacing_mm


def tg119_c_shape(spacing_mm: float = 5.0, opening: str = "posterior") -> PlanningVolume:
    """The TG-119 C-shape on a cubic grid of `spacing_mm`; the C opens posterior (+y) by default,
    the side TG119.mat opens to."""
    grid = VoxelGrid(*(centred_axis(s, spacing_mm) for s in BODY_SIZE_MM))
    x, y, z = np.meshgrid(grid.x_mm, grid.y_mm, grid.z_mm, indexing="ij")
    radius = np.hypot(x, y)
    towards_opening = -y if opening == "anterior" else y
    in_opening = towards_opening > PTV_OPENING_OFFSET_MM
    ptv = ((radius >= PTV_INNER_RADIUS_MM) & (radius <= PTV_OUTER_RADIUS_MM) & ~in_opening
           & (np.abs(z) <= PTV_LENGTH_MM / 2))
    core = (radius <= CORE_RADIUS_MM) & (np.abs(z) <= CORE_LENGTH_MM / 2)
    body = np.ones(grid.shape, dtype=bool)
    density = np.full(grid.shape, WATER_DENSITY_G_PER_CM3, dtype=np.float32)
    return PlanningVolume(grid, density, {"PTV": ptv, "Core": core, "Body": body},
                          description=f"TG-119 C-shape phantom ({spacing_mm:g} mm voxels)")


def c_shape_area_mm2() -> float:
    """Exact cross-section of the C: the annulus minus its part beyond the cut (the outer disc's
    segment less the inner disc's, when the cut crosses the inner circle)."""
    d = PTV_OPENING_OFFSET_MM

    def segment(r: float) -> float:
        return r * r * np.arccos(d / r) - d * np.sqrt(r * r - d * d) if d < r else 0.0

    return float(np.pi * (PTV_OUTER_RADIUS_MM ** 2 - PTV_INNER_RADIUS_MM ** 2)
                 - segment(PTV_OUTER_RADIUS_MM) + segment(PTV_INNER_RADIUS_MM))
