"""The DVH every reported figure comes from: structures sampled below the dose voxel, dose interpolated.

Why (issue 14): a DVH of voxel centres on a 5 mm grid, next to the TG-119 core 5 mm from the C,
read PTV D95 50.0 Gy where the dose between the centres gives 42 Gy. Here a structure is its shape
(RT Structure Set polygons or the phantom's analytic shapes, planner.core.structure_geometry),
sampled on a lattice finer than the dose voxel (at most 1 mm in-plane; along z as fine as the
sample budget allows, said in each structure's description), each sample standing for an equal
volume, and the dose is interpolated trilinearly at the samples. D98, D95, D50, D10, D2, D0.03cc,
Dmean and V_x all come from these samples: one definition for the goals, the window, the report
and the command line. Near-max doses are D0.03cc and D2 %, never one sample's or voxel's value.

The optimiser keeps its own voxel-centre DVH (planner.dose.dvh) for its objectives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse

from planner.core.structure_geometry import Bounds, StructureShape
from planner.core.volume import PlanningVolume, VoxelGrid
from planner.dose.dvh import CumulativeDvh

MAX_SAMPLE_SPACING_MM = 1.0   # in-plane, never coarser (issue 14)
FINEST_SAMPLE_SPACING_MM = 0.5  # the finest lattice tried, where the budget allows
# Lattice points (inside or not) of one structure's bounding box: the interpolated dose there is one
# float per point, so 4 M keep a structure's DVH near 100 ms and 32 MB (the TG-119 body at 2.5 mm
# still gets 0.83 mm in-plane); the lattice is coarsened to fit, z first (see lattice_steps_mm).
MAX_LATTICE_POINTS = 4_000_000
NEAR_MAX_VOLUME_CC = 0.03


def _divisions(length_mm: float, finest_mm: float) -> int:
    """How many equal cells of at least `finest_mm` a voxel (or slab) of `length_mm` splits into."""
    return max(1, int(math.floor(length_mm / finest_mm + 1e-9)))


def _lattice(lo: float, hi: float, step: float) -> np.ndarray:
    """Cell centres of `step` cells tiling [lo, hi] from lo (the last cell may reach past hi)."""
    n = max(1, math.ceil((hi - lo) / step - 1e-9))
    return lo + (np.arange(n) + 0.5) * step


def lattice_steps_mm(bounds: Bounds, voxel_mm: tuple[float, float, float], z_unit_mm: float | None = None,
                     max_points: int = MAX_LATTICE_POINTS) -> tuple[float, float, float]:
    """The finest lattice steps that divide the voxel (in-plane) and `z_unit_mm` (the voxel, or a
    contour slab) evenly and keep the bounding lattice within `max_points`: in-plane from 0.5 mm
    down to 1 mm, z from 0.5 mm down to one plane per unit. Only a structure too large for that
    (a patient's whole body at 1 mm) is sampled coarser in-plane, down to the voxel, so its DVH
    stays within the budget; its description says the lattice."""
    z_unit = voxel_mm[2] if z_unit_mm is None else z_unit_mm
    (x0, x1), (y0, y1), (z0, z1) = bounds
    fine_xy = [_divisions(v, FINEST_SAMPLE_SPACING_MM) for v in voxel_mm[:2]]
    steps = None
    for level in range(max(fine_xy)):
        kx, ky = (max(1, f - level) for f in fine_xy)
        sx, sy = voxel_mm[0] / kx, voxel_mm[1] / ky
        plane = _lattice(x0, x1, sx).size * _lattice(y0, y1, sy).size
        for kz in range(_divisions(z_unit, FINEST_SAMPLE_SPACING_MM), 0, -1):
            steps = (sx, sy, z_unit / kz)
            if plane * _lattice(z0, z1, z_unit / kz).size <= max_points:
                return steps
    return steps  # the dose voxel itself: nothing coarser is a sample below it


@dataclass(frozen=True, eq=False)
class VoxelMaskShape:
    """A boolean mask's voxels as boxes: the shape of a structure known only on the grid."""

    mask: np.ndarray
    grid: VoxelGrid

    @property
    def bounds_mm(self) -> Bounds:
        bounds = []
        for axis_mm, spacing, used in zip((self.grid.x_mm, self.grid.y_mm, self.grid.z_mm), self.grid.spacing_mm,
                                          (self.mask.any(axis=(1, 2)), self.mask.any(axis=(0, 2)),
                                           self.mask.any(axis=(0, 1)))):
            index = np.flatnonzero(used)
            bounds.append((float(axis_mm[index[0]] - spacing / 2), float(axis_mm[index[-1]] + spacing / 2)))
        return tuple(bounds)

    def contains_on_lattice(self, x_mm, y_mm, z_mm) -> np.ndarray:
        index = [np.clip(np.floor((np.asarray(p) - a[0]) / s + 0.5).astype(np.int64), 0, a.size - 1)
                 for p, a, s in zip((x_mm, y_mm, z_mm), (self.grid.x_mm, self.grid.y_mm, self.grid.z_mm),
                                    self.grid.spacing_mm)]
        return self.mask[np.ix_(*index)]

    def outlines_mm(self, z_mm: float) -> tuple[np.ndarray, ...]:
        return ()


@dataclass(frozen=True, eq=False)
class StructureSamples:
    """A structure as the lattice points inside its shape, each standing for `cell_cc`.

    `x_mm`, `y_mm`, `z_mm`: the lattice's cell centres; `inside`: the flat indices (C order over
    [x, y, z]) of the points inside; `source`: what the shape was (for the report).
    """

    name: str
    x_mm: np.ndarray
    y_mm: np.ndarray
    z_mm: np.ndarray
    inside: np.ndarray
    cell_cc: float
    source: str

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        return tuple(float(a[1] - a[0]) if a.size > 1 else float("nan") for a in (self.x_mm, self.y_mm, self.z_mm))

    @property
    def volume_cc(self) -> float:
        return self.inside.size * self.cell_cc

    def describe(self) -> str:
        spacing = " × ".join(f"{s:.3g}" for s in self.spacing_mm if math.isfinite(s))
        return (f"{self.name}: {self.volume_cc:.1f} cc, {self.inside.size:,} samples on a {spacing} mm lattice "
                f"({self.source})")


def sample_shape(name: str, shape: StructureShape, voxel_mm: tuple[float, float, float], source: str,
                 z_unit_mm: float | None = None, max_points: int = MAX_LATTICE_POINTS) -> StructureSamples:
    """Sample `shape` on the finest lattice below the dose voxel `voxel_mm` that the budget allows
    (lattice_steps_mm); along z in whole divisions of `z_unit_mm` (a contour slab) when given."""
    bounds = shape.bounds_mm
    sx, sy, sz = lattice_steps_mm(bounds, voxel_mm, z_unit_mm, max_points)
    x, y, z = (_lattice(lo, hi, step) for (lo, hi), step in zip(bounds, (sx, sy, sz)))
    inside = np.flatnonzero(shape.contains_on_lattice(x, y, z))
    return StructureSamples(name, x, y, z, inside, sx * sy * sz / 1000.0, source)


def structure_samples(volume: PlanningVolume, max_points: int = MAX_LATTICE_POINTS) -> dict[str, StructureSamples]:
    """Every structure of the volume sampled below its dose voxel: from its shape where the volume
    carries one (volume.shapes), else from its voxel mask as boxes (said in the source); each
    structure's bounding lattice within `max_points` (the optimiser uses a smaller budget)."""
    from planner.core.structure_geometry import PlanarContours

    voxel = volume.grid.spacing_mm
    out = {}
    for name, mask in volume.masks.items():
        shape = getattr(volume, "shapes", {}).get(name)
        if shape is None:
            if mask.any():
                out[name] = sample_shape(name, VoxelMaskShape(mask, volume.grid), voxel, "voxel mask, no outline",
                                         max_points=max_points)
        elif isinstance(shape, PlanarContours):
            out[name] = sample_shape(name, shape, voxel, "RT Structure Set contours", z_unit_mm=shape.slab_mm,
                                     max_points=max_points)
        else:
            out[name] = sample_shape(name, shape, voxel, getattr(shape, "description", "analytic shape"),
                                     max_points=max_points)
    return out


# ---------------------------------------------------------------------------------------- dose at samples

def _along(values: np.ndarray, axis: int, points_mm: np.ndarray, axis_mm: np.ndarray) -> np.ndarray:
    """Linear interpolation of `values` along one axis at `points_mm` (held at the edge value beyond
    the first and last voxel centres)."""
    if axis_mm.size == 1:
        return np.repeat(np.take(values, [0], axis=axis), points_mm.size, axis=axis)
    step = float(axis_mm[1] - axis_mm[0])
    position = np.clip((points_mm - axis_mm[0]) / step, 0.0, axis_mm.size - 1.0)
    lower = np.minimum(np.floor(position).astype(np.int64), axis_mm.size - 2)
    t = (position - lower).reshape([-1 if a == axis else 1 for a in range(values.ndim)])
    below = np.take(values, lower, axis=axis)
    return below + (np.take(values, lower + 1, axis=axis) - below) * t


def dose_at_samples_gy(samples: StructureSamples, grid: VoxelGrid, dose_gy: np.ndarray) -> np.ndarray:
    """The dose interpolated trilinearly at each sample (the grid's dose [x, y, z], whole voxels)."""
    if samples.inside.size == 0:
        return np.zeros(0)
    axes = (grid.x_mm, grid.y_mm, grid.z_mm)
    lattice = (samples.x_mm, samples.y_mm, samples.z_mm)
    # only the voxels the lattice reaches
    window = []
    for axis_mm, points in zip(axes, lattice):
        step = float(axis_mm[1] - axis_mm[0]) if axis_mm.size > 1 else 1.0
        lo = int(np.clip(np.floor((points.min() - axis_mm[0]) / step), 0, axis_mm.size - 1))
        hi = int(np.clip(np.floor((points.max() - axis_mm[0]) / step) + 2, 1, axis_mm.size))
        window.append(slice(lo, hi))
    values = np.asarray(dose_gy[tuple(window)], dtype=np.float64)
    for axis, (axis_mm, points, cut) in enumerate(zip(axes, lattice, window)):
        values = _along(values, axis, points, axis_mm[cut])
    return values.ravel()[samples.inside]


def _axis_weights(points_mm: np.ndarray, axis_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: the voxel below, the voxel above and the weight of the one above, as _along
    interpolates (held at the edge value beyond the first and last voxel centres)."""
    if axis_mm.size == 1:
        zero = np.zeros(points_mm.size, dtype=np.int64)
        return zero, zero, np.zeros(points_mm.size)
    step = float(axis_mm[1] - axis_mm[0])
    position = np.clip((points_mm - axis_mm[0]) / step, 0.0, axis_mm.size - 1.0)
    lower = np.minimum(np.floor(position).astype(np.int64), axis_mm.size - 2)
    return lower, lower + 1, position - lower


def interpolation_matrix(samples: StructureSamples, grid: VoxelGrid, voxel_of_row: np.ndarray):
    """The trilinear interpolation of dose_at_samples_gy as a sparse matrix (samples × rows): row i
    holds the weights of the 8 voxels around sample i, over a dose given per row of a dose-influence
    matrix whose row r is the grid voxel `voxel_of_row[r]` (flat C index over [x, y, z]); voxels
    without a row have no dose. So the optimiser reads a structure's dose exactly where its DVH is
    read (issue 14, point 2): sample doses = matrix @ row doses, gradient = matrix.T @ ...
    """

    n_rows = int(np.asarray(voxel_of_row).size)
    row_of_voxel = np.full(int(np.prod(grid.shape)), -1, dtype=np.int64)
    row_of_voxel[np.asarray(voxel_of_row, dtype=np.int64)] = np.arange(n_rows)
    lattice_shape = (samples.x_mm.size, samples.y_mm.size, samples.z_mm.size)
    idx = np.unravel_index(samples.inside, lattice_shape)
    per_axis = [_axis_weights(points, axis_mm)
                for points, axis_mm in zip((samples.x_mm, samples.y_mm, samples.z_mm), (grid.x_mm, grid.y_mm, grid.z_mm))]
    nx, ny, nz = grid.shape
    sample_rows, columns, weights = [], [], []
    for corner in range(8):
        flat = np.zeros(samples.inside.size, dtype=np.int64)
        weight = np.ones(samples.inside.size)
        for axis, (lower, upper, t) in enumerate(per_axis):
            high = (corner >> (2 - axis)) & 1
            voxel = (upper if high else lower)[idx[axis]]
            weight *= t[idx[axis]] if high else 1.0 - t[idx[axis]]
            flat = flat * (nx, ny, nz)[axis] + voxel
        row = row_of_voxel[flat]
        keep = (row >= 0) & (weight > 0)
        sample_rows.append(np.flatnonzero(keep))
        columns.append(row[keep])
        weights.append(weight[keep])
    matrix = scipy.sparse.coo_matrix((np.concatenate(weights), (np.concatenate(sample_rows), np.concatenate(columns))),
                                     shape=(samples.inside.size, n_rows))
    return matrix.tocsr()


# ---------------------------------------------------------------------------------------- the DVH

@dataclass(frozen=True)
class VolumeAtDose:
    """V_x: the volume receiving at least `dose_gy`."""

    dose_gy: float
    volume_cc: float
    volume_percent: float


@dataclass(frozen=True)
class DvhPoints:
    """The DVH points a plan is reported by, for one structure (Gy unless named otherwise)."""

    volume_cc: float
    d98_gy: float
    d95_gy: float
    d50_gy: float
    d10_gy: float
    d2_gy: float
    d0_03cc_gy: float     # the near-maximum: the least dose of the hottest 0.03 cc
    mean_gy: float
    volumes_at_dose: tuple[VolumeAtDose, ...] = ()

    def as_dict(self) -> dict:
        out = {k: v for k, v in vars(self).items() if k != "volumes_at_dose"}
        out["volumes_at_dose"] = [vars(v) for v in self.volumes_at_dose]
        return out


@dataclass(frozen=True, eq=False)
class StructureDvh:
    """One structure's sample doses, each sample standing for `cell_cc`.

    D_v reads the dose where the cumulative volume from the top reaches v, each sample's dose taken
    at the middle of the volume it stands for and interpolated linearly between samples: exact for a
    dose that varies linearly across a symmetric lattice (D50 on the centre plane).
    """

    name: str
    dose_gy: np.ndarray
    cell_cc: float

    @cached_property
    def dose_desc_gy(self) -> np.ndarray:
        """The sample doses, hottest first (sorted once, when a D_v is first asked for)."""
        return -np.sort(-np.asarray(self.dose_gy, dtype=np.float64))

    @property
    def volume_cc(self) -> float:
        return self.dose_gy.size * self.cell_cc

    @property
    def mean_gy(self) -> float:
        return float(self.dose_gy.mean()) if self.dose_gy.size else float("nan")

    def dose_at_volume_cc_gy(self, volume_cc: float) -> float:
        """D_v for an absolute volume: the least dose of the hottest `volume_cc` (NaN if the
        structure is smaller)."""
        d = self.dose_desc_gy
        if d.size == 0 or volume_cc > self.volume_cc + 1e-12:
            return float("nan")
        middles = (np.arange(d.size) + 0.5) * self.cell_cc
        return float(np.interp(volume_cc, middles, d))

    def dose_at_volume_percent_gy(self, volume_percent: float) -> float:
        """D_v% (D95 → 95): the least dose of the hottest `volume_percent` % of the structure."""
        return self.dose_at_volume_cc_gy(volume_percent / 100.0 * self.volume_cc)

    def volume_at_dose(self, dose_gy: float) -> VolumeAtDose:
        """V_x: the volume (cc and %) receiving at least `dose_gy`."""
        if self.dose_gy.size == 0:
            return VolumeAtDose(dose_gy, float("nan"), float("nan"))
        n = int(np.count_nonzero(self.dose_gy >= dose_gy))
        return VolumeAtDose(float(dose_gy), n * self.cell_cc, 100.0 * n / self.dose_gy.size)

    def points(self, volume_doses_gy=()) -> DvhPoints:
        at = self.dose_at_volume_percent_gy
        return DvhPoints(self.volume_cc, at(98), at(95), at(50), at(10), at(2),
                         self.dose_at_volume_cc_gy(NEAR_MAX_VOLUME_CC), self.mean_gy,
                         tuple(self.volume_at_dose(x) for x in volume_doses_gy))

    def cumulative(self, bin_width_gy: float = 0.25, max_dose_gy: float | None = None) -> CumulativeDvh:
        """Volume (% of the structure) receiving at least each dose, on bins of `bin_width_gy`."""
        d = self.dose_gy
        top = float(d.max()) if max_dose_gy is None and d.size else (max_dose_gy or 0.0)
        edges = np.arange(0.0, top + 2 * bin_width_gy, bin_width_gy)
        if d.size == 0:
            return CumulativeDvh(edges, np.zeros_like(edges))
        counts = np.histogram(d, bins=np.append(edges, np.inf))[0]
        return CumulativeDvh(edges, 100.0 * counts[::-1].cumsum()[::-1] / d.size)


@dataclass(frozen=True, eq=False)
class SampledStructures:
    """A volume's structures sampled once, for any dose on its grid."""

    grid: VoxelGrid
    samples: dict[str, StructureSamples]

    def dvhs(self, dose_gy: np.ndarray, names=None) -> dict[str, StructureDvh]:
        """Each structure's DVH of the dose [x, y, z] on the grid (only those ``names`` when given)."""
        if dose_gy.shape != self.grid.shape:
            raise ValueError(f"the dose grid {dose_gy.shape} is not the structures' grid {self.grid.shape}")
        out = {}
        for name, s in self.samples.items():
            if names is None or name in names:
                out[name] = StructureDvh(name, dose_at_samples_gy(s, self.grid, dose_gy), s.cell_cc)
        return out

    def points(self, dose_gy: np.ndarray, volume_doses_gy=()) -> dict[str, DvhPoints]:
        return {name: dvh.points(volume_doses_gy) for name, dvh in self.dvhs(dose_gy).items()}

    def describe(self) -> str:
        return "; ".join(s.describe() for s in self.samples.values())


def sampled_structures(volume: PlanningVolume) -> SampledStructures:
    return SampledStructures(volume.grid, structure_samples(volume))


DVH_METHOD = ("structures sampled below the dose voxel (≤ 1 mm in-plane) from their outlines, dose interpolated "
              "trilinearly at the samples; near-max D0.03cc")
