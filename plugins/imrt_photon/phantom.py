"""The AAPM TG-119 C-shape phantom on a voxel grid in mm (water, isocentre at the origin).

Geometry from AAPM TG-119, Ezzell et al., Med Phys 36(11):5359-5373 (2009), section on the
"C-shape" test: a C-shaped PTV wrapped around a cylindrical central core (the avoidance structure,
a spinal-cord analogue) with a 5 mm gap between them. matRad's and pyRadPlan's TG119.mat carry the
same structures on a 3 mm CT; this module builds them from the numbers instead of a binary file,
so any grid spacing can be used. Patient axes (DICOM, supine): x left, y posterior, z superior.
"""

from __future__ import annotations

from dataclasses import dataclass

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


# Vertices of a circle's exported polygon: its sagitta at 37 mm is 0.01 mm, far below any dose voxel.
CIRCLE_VERTICES = 128


def _arc(radius_mm: float, start_rad: float, stop_rad: float, count: int) -> np.ndarray:
    """Points on a circle from start to stop (inclusive), counter-clockwise for stop > start."""
    angles = np.linspace(start_rad, stop_rad, count)
    return np.column_stack([radius_mm * np.cos(angles), radius_mm * np.sin(angles)])


@dataclass(frozen=True)
class AxialCylinder:
    """A cylinder along z about the isocentre's axis: the TG-119 core (planner.core.structure_geometry)."""

    radius_mm: float
    length_mm: float
    description: str = "TG-119 analytic shape"

    @property
    def bounds_mm(self):
        r, h = self.radius_mm, self.length_mm / 2
        return ((-r, r), (-r, r), (-h, h))

    def contains_on_lattice(self, x_mm, y_mm, z_mm) -> np.ndarray:
        x, y = np.meshgrid(np.asarray(x_mm), np.asarray(y_mm), indexing="ij")
        disc = np.hypot(x, y) <= self.radius_mm
        return disc[:, :, None] & (np.abs(np.asarray(z_mm)) <= self.length_mm / 2)[None, None, :]

    def outlines_mm(self, z_mm: float) -> tuple[np.ndarray, ...]:
        if abs(z_mm) > self.length_mm / 2:
            return ()
        return (_arc(self.radius_mm, 0.0, 2 * np.pi, CIRCLE_VERTICES + 1)[:-1],)


@dataclass(frozen=True)
class CShape:
    """The TG-119 C: an annulus about the z axis less everything past the straight cut on the open
    side, |z| ≤ length/2 (Ezzell 2009's C-shape PTV, opening as in tg119_c_shape)."""

    inner_radius_mm: float
    outer_radius_mm: float
    opening_offset_mm: float
    length_mm: float
    opening: str = "posterior"
    description: str = "TG-119 analytic shape"

    @property
    def _sign(self) -> float:
        return -1.0 if self.opening == "anterior" else 1.0

    @property
    def bounds_mm(self):
        r, h, cut = self.outer_radius_mm, self.length_mm / 2, self.opening_offset_mm
        y = (-r, cut) if self._sign > 0 else (-cut, r)
        return ((-r, r), y, (-h, h))

    def contains_on_lattice(self, x_mm, y_mm, z_mm) -> np.ndarray:
        x, y = np.meshgrid(np.asarray(x_mm), np.asarray(y_mm), indexing="ij")
        radius = np.hypot(x, y)
        ring = ((radius >= self.inner_radius_mm) & (radius <= self.outer_radius_mm)
                & ~(self._sign * y > self.opening_offset_mm))
        return ring[:, :, None] & (np.abs(np.asarray(z_mm)) <= self.length_mm / 2)[None, None, :]

    def outlines_mm(self, z_mm: float) -> tuple[np.ndarray, ...]:
        """One closed polygon: the outer arc, the cut, the inner arc back (when the cut crosses the
        inner circle, as TG-119's does), the cut again."""
        if abs(z_mm) > self.length_mm / 2:
            return ()
        d, r_in, r_out = self.opening_offset_mm, self.inner_radius_mm, self.outer_radius_mm
        if not d < r_in:
            raise ValueError("the C's cut must cross its inner circle")
        # angles measured from +y on the open side: the C spans the angles whose y is below the cut
        a_out, a_in = np.arcsin(d / r_out), np.arcsin(d / r_in)
        n_out = int(np.ceil(CIRCLE_VERTICES * (np.pi + 2 * a_out) / (2 * np.pi))) + 1
        n_in = int(np.ceil(CIRCLE_VERTICES * (np.pi + 2 * a_in) / (2 * np.pi))) + 1
        # outer arc from the cut on the right (x > 0) round the closed side to the cut on the left
        start = np.arctan2(d, np.sqrt(r_out ** 2 - d ** 2))          # right end, y = d
        outer = _arc(r_out, start, start - (np.pi + 2 * a_out), n_out)
        start_in = np.arctan2(d, -np.sqrt(r_in ** 2 - d ** 2))      # left end, y = d
        inner = _arc(r_in, start_in, start_in + (np.pi + 2 * a_in), n_in)
        # the arcs' ends exactly on the cut (no rounding either side of it)
        outer[[0, -1]] = [[np.sqrt(r_out ** 2 - d ** 2), d], [-np.sqrt(r_out ** 2 - d ** 2), d]]
        inner[[0, -1]] = [[-np.sqrt(r_in ** 2 - d ** 2), d], [np.sqrt(r_in ** 2 - d ** 2), d]]
        polygon = np.vstack([outer, inner])
        polygon[:, 1] *= self._sign
        return (polygon,)


@dataclass(frozen=True)
class AxialBox:
    """A box centred on the isocentre: the phantom's water body."""

    size_mm: tuple[float, float, float]
    description: str = "TG-119 phantom body box"

    @property
    def bounds_mm(self):
        return tuple((-s / 2, s / 2) for s in self.size_mm)

    def contains_on_lattice(self, x_mm, y_mm, z_mm) -> np.ndarray:
        inside = [np.abs(np.asarray(a)) <= s / 2 for a, s in zip((x_mm, y_mm, z_mm), self.size_mm)]
        return inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :]

    def outlines_mm(self, z_mm: float) -> tuple[np.ndarray, ...]:
        if abs(z_mm) > self.size_mm[2] / 2:
            return ()
        hx, hy = self.size_mm[0] / 2, self.size_mm[1] / 2
        return (np.array([[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]]),)


def tg119_shapes(opening: str = "posterior") -> dict:
    """The phantom's structures as TG-119 draws them (mm, isocentre at the origin)."""
    return {"PTV": CShape(PTV_INNER_RADIUS_MM, PTV_OUTER_RADIUS_MM, PTV_OPENING_OFFSET_MM, PTV_LENGTH_MM, opening),
            "Core": AxialCylinder(CORE_RADIUS_MM, CORE_LENGTH_MM),
            "Body": AxialBox(BODY_SIZE_MM)}


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
                          description=f"TG-119 C-shape phantom ({spacing_mm:g} mm voxels)",
                          shapes=tg119_shapes(opening))


def c_shape_area_mm2() -> float:
    """Exact cross-section of the C: the annulus minus its part beyond the cut (the outer disc's
    segment less the inner disc's, when the cut crosses the inner circle)."""
    d = PTV_OPENING_OFFSET_MM

    def segment(r: float) -> float:
        return r * r * np.arccos(d / r) - d * np.sqrt(r * r - d * d) if d < r else 0.0

    return float(np.pi * (PTV_OUTER_RADIUS_MM ** 2 - PTV_INNER_RADIUS_MM ** 2)
                 - segment(PTV_OUTER_RADIUS_MM) + segment(PTV_INNER_RADIUS_MM))
