"""A thoracic-spine CT phantom of analytic shapes (mm): a vertebra with its posterior elements in bone,
the spinal cord in its canal, and a PTV wrapped around the cord at 2.5 mm (issue 18, point 7).

Why: spine IMRT (cord limits, re-irradiation) needs a CT whose cord sits a known few mm from the
target, with bone and lung densities around it, built from numbers so any grid can be used and
every volume has a hand formula. Patient axes (DICOM LPS, supine, head first): x to the patient's
left, y posterior, z superior; the cord's axis is x = y = 0.

Sizes are TYPICAL ADULT THORACIC VALUES, NOT FROM A CITED SOURCE (rounded textbook orders of
magnitude, chosen as the brief asks): vertebral body 30 mm wide × 25 mm deep; canal 15 mm across;
cord 9 mm across; posterior arch 6 mm thick; spinous process 8 mm wide reaching 30 mm behind the
arch; transverse processes 15 mm long; torso 340 × 220 mm; cord 55 mm below the posterior skin.
Simplifications: one bone density for cortical and cancellous bone, no intervertebral discs (the
bone column is continuous along z), no ribs, heart or aorta; each shape is a prism along z.

The PTV is the whole vertebra with its canal (the epidural space, as spine SBRT target volumes
include it) less a cylinder of the cord's radius + 2.5 mm: it encloses the cord on every side (a
ring, the circumferential case; TG-119's C is open posteriorly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.core.volume import PlanningVolume, VoxelGrid
from planner.imaging.hu_to_density import hu_to_relative_electron_density

from .phantom import CIRCLE_VERTICES, centred_axis

# ---- geometry, mm (typical adult thoracic anatomy, not from a cited source; see the module text)
CORD_RADIUS_MM = 4.5                      # cord ~ 9 mm across
CANAL_RADIUS_MM = 7.5                     # canal ~ 15 mm across
CORD_TO_PTV_GAP_MM = 2.5                  # issue 18: "a PTV wrapping the cord at 2-3 mm"
PTV_INNER_RADIUS_MM = CORD_RADIUS_MM + CORD_TO_PTV_GAP_MM
ARCH_OUTER_RADIUS_MM = 13.5               # pedicles and laminae: a 6 mm bony ring around the canal
VERTEBRAL_BODY_SEMI_AXES_MM = (15.0, 12.5)   # 30 mm wide, 25 mm deep
# The body's posterior surface is the canal's anterior wall.
VERTEBRAL_BODY_CENTRE_MM = (0.0, -(CANAL_RADIUS_MM + VERTEBRAL_BODY_SEMI_AXES_MM[1]))
SPINOUS_PROCESS_MM = ((-4.0, 4.0), (12.0, ARCH_OUTER_RADIUS_MM + 30.0))
TRANSVERSE_PROCESS_MM = ((12.0, 27.0), (-2.0, 6.0))     # the left one; the right is its mirror
TORSO_CENTRE_MM = (0.0, -55.0)            # posterior skin at y = +55 mm: cord 55 mm deep
TORSO_SEMI_AXES_MM = (170.0, 110.0)       # 340 × 220 mm
LUNG_CENTRE_MM = (80.0, -60.0)            # the left lung; the right is its mirror
LUNG_SEMI_AXES_MM = (55.0, 75.0)
ESOPHAGUS_CENTRE_MM = (8.0, -45.0)        # just left of the midline, in front of the vertebral body
ESOPHAGUS_RADIUS_MM = 8.0
# Along z: 140 mm scanned (about five thoracic levels of ~27 mm, body + disc, typical); the PTV
# covers 80 mm (three levels). Half-lengths are multiples of 5 mm, so at 2.5 and 5 mm slices every
# structure ends on a slice boundary and its contours' slabs add up to its length exactly.
SCAN_LENGTH_MM = 140.0
PTV_LENGTH_MM = 80.0
AIR_MARGIN_MM = 10.0                      # air around the torso, so External is a real outline

# ---- CT numbers (HU), typical values, not from a cited source; densities follow from the CT's
# own HU-to-density curve (planner.imaging.hu_to_density), so the written CT holds these HU.
AIR_HU = -1000.0
SOFT_TISSUE_HU = 40.0
LUNG_HU = -750.0
BONE_HU = 250.0                           # thoracic vertebra, cancellous and cortical together
CSF_HU = 15.0
CORD_HU = 35.0

# Outline vertices: the angular step of a star-shaped outline with box pieces (1°: 0.7 mm between
# vertices at 40 mm), plus every corner of a box piece exactly; an ellipse alone takes TG-119's
# CIRCLE_VERTICES (its chords stay within 0.15 mm of the torso's ellipse, less for the others).
OUTLINE_ANGLES = 360


@dataclass(frozen=True)
class Ellipse:
    """An ellipse with axes along x and y (a circle when both semi-axes are equal)."""

    centre_mm: tuple[float, float]
    semi_axes_mm: tuple[float, float]

    def contains_xy(self, x, y) -> np.ndarray:
        (cx, cy), (a, b) = self.centre_mm, self.semi_axes_mm
        return ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1.0

    def ray_exit_mm(self, origin, directions) -> np.ndarray:
        """How far each ray from ``origin`` runs until it leaves the ellipse (NaN: it misses)."""
        (cx, cy), (a, b) = self.centre_mm, self.semi_axes_mm
        px, py = (origin[0] - cx) / a, (origin[1] - cy) / b
        ux, uy = directions[:, 0] / a, directions[:, 1] / b
        qa, qb, qc = ux * ux + uy * uy, 2 * (px * ux + py * uy), px * px + py * py - 1
        disc = qb * qb - 4 * qa * qc
        with np.errstate(invalid="ignore"):
            far = (-qb + np.sqrt(disc)) / (2 * qa)
        return np.where((disc >= 0) & (far >= 0), far, np.nan)

    def corners_mm(self) -> np.ndarray:
        return np.empty((0, 2))


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle, x and y ranges in mm."""

    x_mm: tuple[float, float]
    y_mm: tuple[float, float]

    def contains_xy(self, x, y) -> np.ndarray:
        return (x >= self.x_mm[0]) & (x <= self.x_mm[1]) & (y >= self.y_mm[0]) & (y <= self.y_mm[1])

    def ray_exit_mm(self, origin, directions) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            near, far = [], []
            for axis, (low, high) in enumerate((self.x_mm, self.y_mm)):
                t1 = (low - origin[axis]) / directions[:, axis]
                t2 = (high - origin[axis]) / directions[:, axis]
                parallel = directions[:, axis] == 0
                inside = (low <= origin[axis]) & (origin[axis] <= high)
                near.append(np.where(parallel, np.where(inside, -np.inf, np.inf), np.minimum(t1, t2)))
                far.append(np.where(parallel, np.where(inside, np.inf, -np.inf), np.maximum(t1, t2)))
        entry, leave = np.maximum(*near), np.minimum(*far)
        return np.where((entry <= leave) & (leave >= 0), leave, np.nan)

    def corners_mm(self) -> np.ndarray:
        (x0, x1), (y0, y1) = self.x_mm, self.y_mm
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


@dataclass(frozen=True)
class StarPrism:
    """A prism along z: the union of convex pieces, star-shaped about ``centre_mm``, less a circular
    hole of ``hole_radius_mm`` about that centre, for ``z_mm[0] ≤ z ≤ z_mm[1]``.

    Why star-shaped: the union's outline is then one polygon, the farthest exit of each ray from the
    centre (no polygon clipping needed), and the hole a second polygon inside it (even-odd), which is
    how an RT Structure Set draws a ring. A planar-contour shape (planner.core.structure_geometry).
    """

    pieces: tuple
    z_mm: tuple[float, float]
    centre_mm: tuple[float, float] = (0.0, 0.0)
    hole_radius_mm: float = 0.0
    description: str = "spine phantom analytic shape"

    def contains_xy(self, x, y) -> np.ndarray:
        inside = np.zeros(np.broadcast(x, y).shape, dtype=bool)
        for piece in self.pieces:
            inside |= piece.contains_xy(x, y)
        if self.hole_radius_mm > 0:
            inside &= np.hypot(x - self.centre_mm[0], y - self.centre_mm[1]) > self.hole_radius_mm
        return inside

    @property
    def bounds_mm(self):
        outline = self._outer_outline()
        return ((float(outline[:, 0].min()), float(outline[:, 0].max())),
                (float(outline[:, 1].min()), float(outline[:, 1].max())), tuple(self.z_mm))

    def contains_on_lattice(self, x_mm, y_mm, z_mm) -> np.ndarray:
        x, y = np.meshgrid(np.asarray(x_mm, dtype=float), np.asarray(y_mm, dtype=float), indexing="ij")
        z = np.asarray(z_mm, dtype=float)
        along = (z >= self.z_mm[0]) & (z <= self.z_mm[1])
        return self.contains_xy(x, y)[:, :, None] & along[None, None, :]

    def outlines_mm(self, z_mm: float) -> tuple[np.ndarray, ...]:
        if not self.z_mm[0] <= z_mm <= self.z_mm[1]:
            return ()
        outlines = [self._outer_outline()]
        if self.hole_radius_mm > 0:
            angles = np.linspace(0.0, 2 * np.pi, CIRCLE_VERTICES, endpoint=False)
            outlines.append(np.column_stack([self.centre_mm[0] + self.hole_radius_mm * np.cos(angles),
                                             self.centre_mm[1] + self.hole_radius_mm * np.sin(angles)]))
        return tuple(outlines)

    def _outer_outline(self) -> np.ndarray:
        centre = np.asarray(self.centre_mm, dtype=float)
        corners = [p.corners_mm() for p in self.pieces]
        corner_angles = [np.arctan2(c[:, 1] - centre[1], c[:, 0] - centre[0]) % (2 * np.pi) for c in corners]
        count = OUTLINE_ANGLES if any(len(c) for c in corners) else CIRCLE_VERTICES
        angles = np.unique(np.concatenate([np.linspace(0.0, 2 * np.pi, count, endpoint=False)] + corner_angles))
        directions = np.column_stack([np.cos(angles), np.sin(angles)])
        exits = np.vstack([p.ray_exit_mm(centre, directions) for p in self.pieces])
        if np.isnan(exits).all(axis=0).any():
            raise ValueError("the shape is not star-shaped about its centre: a ray from it meets no piece")
        radius = np.nanmax(exits, axis=0)
        return centre + directions * radius[:, None]


def vertebra_pieces() -> tuple:
    """The vertebra as convex pieces: body, the arch around the canal, spinous and transverse processes."""
    (tx0, tx1), ty = TRANSVERSE_PROCESS_MM
    return (Ellipse(VERTEBRAL_BODY_CENTRE_MM, VERTEBRAL_BODY_SEMI_AXES_MM),
            Ellipse((0.0, 0.0), (ARCH_OUTER_RADIUS_MM, ARCH_OUTER_RADIUS_MM)),
            Box(*SPINOUS_PROCESS_MM), Box((tx0, tx1), ty), Box((-tx1, -tx0), ty))


def spine_shapes() -> dict[str, StarPrism]:
    """The phantom's structures by TG-263 name (SpinalCord, SpinalCanal, Esophagus, Lung_L, Lung_R,
    External; PTV). Bone_Vertebra follows TG-263's Bone_<name> form; that exact entry is not verified."""
    scan = (-SCAN_LENGTH_MM / 2, SCAN_LENGTH_MM / 2)
    lung_l = Ellipse(LUNG_CENTRE_MM, LUNG_SEMI_AXES_MM)
    lung_r = Ellipse((-LUNG_CENTRE_MM[0], LUNG_CENTRE_MM[1]), LUNG_SEMI_AXES_MM)
    return {
        "PTV": StarPrism(vertebra_pieces(), (-PTV_LENGTH_MM / 2, PTV_LENGTH_MM / 2),
                         hole_radius_mm=PTV_INNER_RADIUS_MM),
        "SpinalCord": StarPrism((Ellipse((0.0, 0.0), (CORD_RADIUS_MM,) * 2),), scan),
        "SpinalCanal": StarPrism((Ellipse((0.0, 0.0), (CANAL_RADIUS_MM,) * 2),), scan),
        "Bone_Vertebra": StarPrism(vertebra_pieces(), scan, hole_radius_mm=CANAL_RADIUS_MM),
        "Esophagus": StarPrism((Ellipse(ESOPHAGUS_CENTRE_MM, (ESOPHAGUS_RADIUS_MM,) * 2),), scan,
                               centre_mm=ESOPHAGUS_CENTRE_MM),
        "Lung_L": StarPrism((lung_l,), scan, centre_mm=lung_l.centre_mm),
        "Lung_R": StarPrism((lung_r,), scan, centre_mm=lung_r.centre_mm),
        "External": StarPrism((Ellipse(TORSO_CENTRE_MM, TORSO_SEMI_AXES_MM),), scan, centre_mm=TORSO_CENTRE_MM),
    }


def spine_grid(spacing_mm: float) -> VoxelGrid:
    """A cubic grid over the torso with AIR_MARGIN_MM of air around it in x and y, the scan's length in z."""
    (cx, cy), (a, b) = TORSO_CENTRE_MM, TORSO_SEMI_AXES_MM
    return VoxelGrid(cx + centred_axis(2 * (a + AIR_MARGIN_MM), spacing_mm),
                     cy + centred_axis(2 * (b + AIR_MARGIN_MM), spacing_mm),
                     centred_axis(SCAN_LENGTH_MM, spacing_mm))


def spine_phantom(spacing_mm: float = 2.5) -> PlanningVolume:
    """The phantom on a cubic grid of ``spacing_mm`` (2.5 or 5 mm put every structure's ends on slice
    boundaries): densities from the HU above through the CT's curve, masks at the voxel centres,
    the analytic shapes kept for the DVH and the RT Structure Set."""
    if not spacing_mm > 0:
        raise ValueError(f"the grid spacing must be positive, got {spacing_mm!r} mm")
    grid = spine_grid(spacing_mm)
    shapes = spine_shapes()
    masks = {name: shape.contains_on_lattice(grid.x_mm, grid.y_mm, grid.z_mm) for name, shape in shapes.items()}
    hu = np.full(grid.shape, AIR_HU)
    # later tissues overwrite earlier ones: the cord lies in the canal, the canal in the vertebra
    for name, value in (("External", SOFT_TISSUE_HU), ("Lung_L", LUNG_HU), ("Lung_R", LUNG_HU),
                        ("Esophagus", SOFT_TISSUE_HU), ("Bone_Vertebra", BONE_HU), ("SpinalCanal", CSF_HU),
                        ("SpinalCord", CORD_HU)):
        hu[masks[name]] = value
    density = hu_to_relative_electron_density(hu).astype(np.float32)
    # air as 0, which the CT writer writes as -1000 HU (float32's 0.001 lies just above the curve's
    # air point and would come out as -999 HU); read back it is the curve's 0.001 again
    density[hu <= AIR_HU] = 0.0
    return PlanningVolume(grid, density, masks,
                          description=f"Thoracic spine phantom ({spacing_mm:g} mm voxels, synthetic)",
                          shapes=shapes)


# ---- the earlier course: issue 18's "prior 30 Gy in 10 fractions covering the cord"
PRIOR_TOTAL_DOSE_GY = 30.0
PRIOR_FRACTIONS = 10
# An analytic parallel-opposed AP/PA pair, ILLUSTRATIVE (not a beam model, not a measured beam):
# field 80 mm wide (x, vertebra and both transverse processes with margin) × 100 mm long (z, the
# PTV's three levels and 10 mm beyond each end); its edges error functions of sigma 3.5 mm (80-20 %
# width 1.68 sigma = 5.9 mm, the order of a 6 MV penumbra); each beam falling as exp(-mu d) from its
# skin, mu = 0.0047 /mm (a 6 MV 10 × 10 cm percentage depth dose of ~67 % at 10 cm past a 1.5 cm
# maximum: ln(1/0.67)/85 mm; typical, not from a source); no build-up, no scatter change with field
# size, water-equivalent depths through lung; flat skin at the torso's surfaces on the midline.
PRIOR_FIELD_WIDTH_MM = 80.0
PRIOR_FIELD_LENGTH_MM = 100.0
PRIOR_PENUMBRA_SIGMA_MM = 3.5
PRIOR_MU_PER_MM = 0.0047
# Normalised so the cord's highest dose is the prescription: at the cord's posterior surface on the
# central axis (the PA beam's side, where the summed depth doses are highest within the cord).
PRIOR_NORMALISATION_POINT_MM = (0.0, CORD_RADIUS_MM, 0.0)


def _field_profile(position_mm, width_mm: float) -> np.ndarray:
    """An open field's profile across one axis: 1 inside, 1/2 at the edges, error-function penumbra."""
    from scipy.special import erf

    scale = PRIOR_PENUMBRA_SIGMA_MM * np.sqrt(2.0)
    position = np.asarray(position_mm, dtype=np.float64)
    return 0.5 * (erf((position + width_mm / 2) / scale) - erf((position - width_mm / 2) / scale))


def _ap_pa_depth_term(y_mm) -> np.ndarray:
    anterior_skin = TORSO_CENTRE_MM[1] - TORSO_SEMI_AXES_MM[1]
    posterior_skin = TORSO_CENTRE_MM[1] + TORSO_SEMI_AXES_MM[1]
    y = np.asarray(y_mm, dtype=np.float64)
    return np.exp(-PRIOR_MU_PER_MM * (y - anterior_skin)) + np.exp(-PRIOR_MU_PER_MM * (posterior_skin - y))


def prior_dose_gy(grid: VoxelGrid) -> np.ndarray:
    """The earlier course's whole dose (Gy, all fractions) at the grid's voxel centres, [x, y, z]:
    the AP/PA pair above inside the torso, 0 Gy in the air around it."""
    x0, y0, z0 = PRIOR_NORMALISATION_POINT_MM
    norm = (_field_profile(x0, PRIOR_FIELD_WIDTH_MM) * _field_profile(z0, PRIOR_FIELD_LENGTH_MM)
            * _ap_pa_depth_term(y0))
    dose = (_field_profile(grid.x_mm, PRIOR_FIELD_WIDTH_MM)[:, None, None]
            * _ap_pa_depth_term(grid.y_mm)[None, :, None]
            * _field_profile(grid.z_mm, PRIOR_FIELD_LENGTH_MM)[None, None, :]) * (PRIOR_TOTAL_DOSE_GY / norm)
    inside = spine_shapes()["External"].contains_on_lattice(grid.x_mm, grid.y_mm, grid.z_mm)
    return np.where(inside, dose, 0.0)
