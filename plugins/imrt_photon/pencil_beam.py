"""Sparse dose-influence matrix of 6 MV pencil beams (bixels) on a planning volume, vectorised numpy.

Per beam: voxels are projected to the isocentre plane (divergent geometry, SAD from the machine);
radiological depth comes from a fan of rays marched through the density grid on a beam's-eye-view
grid; each voxel meets the bixels around it through a table of the bixel's lateral profile (square
fluence (x) Gaussian penumbra (x) SVD kernel, convolved once per beam on 0.5 mm, the kernels'
native step, as matRad does). Dose is in Gy per unit bixel weight with the kernels' own scale; a
plan is then normalised (e.g. PTV D95 = prescription), so the absolute level is the relative plan
normalisation, not a monitor-unit calibration.

Which voxel-bixel pairs are stored follows matRad's photon SVD engine (e0404/matRad,
matRad/doseCalc/+DoseEngines/matRad_PhotonPencilBeamSVDEngine.m, `sampleDij` and `initDoseCalc`),
the model these kernels come from: dose is computed out to `tail_radius_mm` + w/sqrt(2) from the
bixel's axis, projected to the isocentre plane (matRad's effectiveLateralCutOff =
geometricLateralCutOff 50 mm + fieldWidth/sqrt(2)); every voxel closer than `full_radius_mm` +
w/sqrt(2) at its own depth is stored (matRad's dijSampling.latCutOff 20 mm, type 'radius'); beyond
it, per bixel and per `depth_cluster_mm` (5 mm, matRad's deltaRadDepth) cluster of radiological
depth, a voxel of dose d is kept with probability d / d_max of its cluster and stored as d_max
(Russian roulette: the expected dose is unchanged, the stored pairs are fewer). The draws come from
a generator seeded by (seed, beam) in a fixed order, so the same plan gives the same matrix, bit for
bit (the recorded Monte Carlo answers are keyed by the exported plan). pyRadPlan 0.5.0's SVD engine
stores every voxel to 50 mm instead (its dij sampling raises NotImplementedError): on TG-119 at
5 mm that is 36.7 M non-zeros instead of 21.1 M, with the same dose to within 1 % per voxel in the
PTV (issue 14). Planner's earlier uniform 10 % sampling of the pairs beyond 20 mm (x10 weight) was
not matRad's and its noise held the optimiser back (objective 866 on TG-119 at 2.5 mm against
633 with the roulette, issue 14).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.ndimage
import scipy.sparse

from planner.core.volume import PlanningVolume
from planner.dose.monte_carlo import CalculationCancelled, CancelCheck, ProgressCallback

from .beam_data import SvdKernelMachine, generic_6mv

# Voxels at or below this relative electron density are air around the patient: no dose is
# computed there (a CT's air reads 0.001 through the HU table; lung, about 0.2-0.3, stays in).
AIR_DENSITY_LIMIT = 0.05
CONVOLUTION_STEP_MM = 0.5  # the kernels' tabulation step (matRad/pyRadPlan int_conv_resolution)
# Bixels of one beam whose voxel pairs are computed together: every pair out to the outer radius
# exists before the roulette thins it (about 0.2 M pairs a bixel on a 2.5 mm grid), so a chunk
# bounds that transient memory; the result does not depend on it (clusters are per bixel, and the
# draws come in bixel order either way).
BIXELS_PER_CHUNK = 32


@dataclass(frozen=True)
class BeamSettings:
    gantry_angles_deg: tuple[float, ...] = tuple(range(0, 360, 40))  # TG-119: 9 equispaced beams
    bixel_width_mm: float = 5.0
    # matRad_PhotonPencilBeamSVDEngine: dijSampling.latCutOff = 20 mm (every voxel stored, radius at
    # the voxel's depth) and geometricLateralCutOff = 50 mm (MatRad_Config defaults, no dose beyond,
    # projected to the isocentre plane); the engine adds w/sqrt(2) to both, as matRad does
    full_radius_mm: float = 20.0
    tail_radius_mm: float = 50.0
    depth_cluster_mm: float = 5.0  # matRad's dijSampling.deltaRadDepth: the roulette's depth clusters
    seed: int = 0
    # the target is grown by this margin before its projection picks the bixels (matRad's stf
    # adds one bixel width by default, so its fields reach past the target's edge)
    target_margin_mm: float = 5.0


@dataclass(frozen=True)
class Bixel:
    beam: int
    gantry_deg: float
    u_mm: float  # lateral position at the isocentre plane, along the gantry's lateral axis
    v_mm: float  # along the patient's long axis (z)


@dataclass(frozen=True)
class DoseInfluence:
    """dij[voxel, bixel] in Gy per unit weight; voxels are the flat [x, y, z] indices in `voxels`."""

    dij: scipy.sparse.csr_matrix
    voxels: np.ndarray  # flat indices into the volume grid, one per dij row
    bixels: tuple[Bixel, ...]
    seconds: float
    bixel_width_mm: float = 5.0

    def rows_for(self, mask: np.ndarray) -> np.ndarray:
        """dij rows of the voxels inside a volume mask."""
        return np.flatnonzero(mask.ravel()[self.voxels])

    def dose_grid_gy(self, weights: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
        dose = np.zeros(int(np.prod(shape)))
        dose[self.voxels] = self.dij @ weights
        return dose.reshape(shape)


def beam_axes(gantry_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors (beam direction, lateral u, long axis v); IEC 61217 gantry 0 = from anterior.

    Patient axes are DICOM supine (y posterior), so at gantry 0 the source is at -y.
    """
    t = np.deg2rad(gantry_deg)
    direction = np.array([-np.sin(t), np.cos(t), 0.0])
    u = np.array([np.cos(t), np.sin(t), 0.0])
    return direction, u, np.array([0.0, 0.0, 1.0])


def lateral_profiles(machine: SvdKernelMachine, ssd_mm: float, bixel_width_mm: float,
                     radius_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """(3, n, n) lateral dose tables of one bixel (dimensionless), on a grid of step 0.5 mm."""
    # imported here: scipy.signal takes 1-2 s to import (it brings scipy.stats), and every
    # command that discovers the techniques imports this module without planning IMRT
    from scipy.signal import fftconvolve

    h = CONVOLUTION_STEP_MM
    n_half = int(np.ceil((radius_mm + bixel_width_mm) / h))
    axis = np.arange(-n_half, n_half + 1) * h
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    half = bixel_width_mm / 2

    def open_fraction(x: np.ndarray) -> np.ndarray:
        """Each 0.5 mm cell's open fraction of [-w/2, w/2] (cells astride an edge partly open)."""
        return np.clip(np.minimum(x + h / 2, half) - np.maximum(x - h / 2, -half), 0.0, None) / h

    # the square's area is exactly w^2 and centred, as matRad's Fpre = ones(floor(fieldWidth /
    # intConvResolution)) (10 x 10 cells of 0.5 mm for 5 mm); counting every sample with |x| <= w/2
    # took 11 x 11 (30.25 mm2 instead of 25: each bixel 21 % too strong, 0.5 mm too wide; issue 14)
    fluence = open_fraction(xx) * open_fraction(yy)
    sigma = machine.penumbra_fwhm_at_iso_mm / np.sqrt(8 * np.log(2))
    gauss = np.exp(-(xx ** 2 + yy ** 2) / (2 * sigma ** 2)) / (2 * np.pi * sigma ** 2) * h * h
    fluence = fftconvolve(fluence, gauss, mode="same")
    kernels = machine.kernels_at_ssd(ssd_mm)
    r = np.hypot(xx, yy)
    tables = np.empty((3,) + xx.shape)
    for c in range(3):
        k = np.interp(r, machine.kernel_radius_mm, kernels[c], right=0.0) * h * h
        tables[c] = fftconvolve(fluence, k, mode="same")
    return axis, tables


def _ray_depth_table(volume: PlanningVolume, source: np.ndarray, axes, sad_mm: float,
                     a_axis: np.ndarray, c_axis: np.ndarray, t_axis: np.ndarray) -> np.ndarray:
    """Radiological depth [a, c, t] along the rays through (a, c) at the isocentre plane.

    t is the distance from the source; density sampled trilinearly (0 outside the grid) and
    integrated with the trapezoid rule, so any density grid works, not only water.
    """
    direction, u, v = axes
    g = volume.grid
    aa, cc = np.meshgrid(a_axis, c_axis, indexing="ij")
    rays = sad_mm * direction + aa[..., None] * u + cc[..., None] * v
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    pos = source + rays[:, :, None, :] * t_axis[None, None, :, None]
    idx = (pos - g.origin_mm) / np.array(g.spacing_mm)
    rho = scipy.ndimage.map_coordinates(volume.density, idx.reshape(-1, 3).T, order=1,
                                        mode="constant", cval=0.0).reshape(pos.shape[:3])
    dt = t_axis[1] - t_axis[0]
    depth = np.zeros_like(rho)
    depth[..., 1:] = np.cumsum(0.5 * (rho[..., 1:] + rho[..., :-1]) * dt, axis=-1)
    return depth


def _table_lookup(table: np.ndarray, axis0: np.ndarray, axis1: np.ndarray, axis2: np.ndarray,
                  q0: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Trilinear interpolation into a table on regular axes."""
    coords = np.stack([(q - ax[0]) / (ax[1] - ax[0]) for q, ax in
                       ((q0, axis0), (q1, axis1), (q2, axis2))])
    return scipy.ndimage.map_coordinates(table, coords, order=1, mode="nearest")


def target_bixels(volume: PlanningVolume, target: np.ndarray, gantry_deg: float, beam: int,
                  settings: BeamSettings, sad_mm: float) -> list[Bixel]:
    """Bixels whose cell at the isocentre plane holds a target voxel's projection (matRad's rule)."""
    direction, u, v = beam_axes(gantry_deg)
    iso = np.asarray(volume.isocentre_mm)
    source = iso - sad_mm * direction
    p = _voxel_points(volume, np.flatnonzero(target.ravel()))
    rel = p - source
    scale = sad_mm / (rel @ direction)
    w = settings.bixel_width_mm
    a = (rel @ u) * scale
    c = (rel @ v) * scale
    cells = set(zip(np.round(a / w).astype(int).tolist(), np.round(c / w).astype(int).tolist()))
    return [Bixel(beam, gantry_deg, ia * w, ic * w) for ia, ic in sorted(cells)]


def grow_mask_mm(volume: PlanningVolume, mask: np.ndarray, margin_mm: float) -> np.ndarray:
    """The mask grown by an ellipsoidal margin in mm (voxel-exact on anisotropic grids)."""
    if margin_mm <= 0:
        return mask
    sp = np.array(volume.grid.spacing_mm)
    n = np.floor(margin_mm / sp).astype(int)
    ax = [np.arange(-k, k + 1) * s for k, s in zip(n, sp)]
    gx, gy, gz = np.meshgrid(*ax, indexing="ij")
    ball = gx ** 2 + gy ** 2 + gz ** 2 <= margin_mm ** 2 + 1e-9
    return scipy.ndimage.binary_dilation(mask, structure=ball)


def _voxel_points(volume: PlanningVolume, flat: np.ndarray) -> np.ndarray:
    g = volume.grid
    i, j, k = np.unravel_index(flat, g.shape)
    return np.stack([g.x_mm[i], g.y_mm[j], g.z_mm[k]], axis=1)


def central_ssd_mm(volume: PlanningVolume, gantry_deg: float, sad_mm: float) -> float:
    """Source-surface distance on the central axis (density first reaching 0.5)."""
    direction, _, _ = beam_axes(gantry_deg)
    iso = np.asarray(volume.isocentre_mm)
    t = np.arange(0.0, sad_mm, 0.5)
    pos = iso - sad_mm * direction + t[:, None] * direction
    g = volume.grid
    rho = scipy.ndimage.map_coordinates(volume.density, ((pos - g.origin_mm) / np.array(g.spacing_mm)).T,
                                        order=1, mode="constant", cval=0.0)
    inside = np.flatnonzero(rho >= 0.5)
    return float(t[inside[0]]) if inside.size else sad_mm


def dose_influence(volume: PlanningVolume, target: str = "PTV", settings: BeamSettings = BeamSettings(),
                   machine: SvdKernelMachine | None = None,
                   bixels: tuple[Bixel, ...] | None = None,
                   workers: int | None = None,
                   progress: ProgressCallback | None = None,
                   is_cancelled: CancelCheck | None = None) -> DoseInfluence:
    """The dose-influence matrix of all beams' bixels on every voxel denser than air.

    `progress(fraction, message)` is called as each beam is done (from the worker threads);
    `is_cancelled()` is checked before each beam starts, and CalculationCancelled is raised.
    """
    t0 = time.perf_counter()
    workers = workers or min(len(os.sched_getaffinity(0)), 8)
    machine = machine or generic_6mv()
    sad = machine.sad_mm
    voxels = np.flatnonzero(volume.density.ravel() > AIR_DENSITY_LIMIT)
    points = _voxel_points(volume, voxels)
    if bixels is None:
        grown = grow_mask_mm(volume, volume.masks[target], settings.target_margin_mm)
        bixels = tuple(b for i, angle in enumerate(settings.gantry_angles_deg)
                       for b in target_bixels(volume, grown, angle, i, settings, sad))
    w = settings.bixel_width_mm
    h = CONVOLUTION_STEP_MM
    spacing = min(volume.grid.spacing_mm)
    bixel_beam = np.array([b.beam for b in bixels])
    bixel_u_mm = np.array([b.u_mm for b in bixels], dtype=np.float32)
    bixel_v_mm = np.array([b.v_mm for b in bixels], dtype=np.float32)

    def one_beam(beam: int, angle: float) -> _BeamRows | None:
        """One beam's columns of dij (None if it has no bixel); beams share a thread pool (big numpy
        ops drop the GIL)."""
        if is_cancelled is not None and is_cancelled():
            raise CalculationCancelled("the dose-influence calculation was cancelled")
        rng = np.random.default_rng((settings.seed, beam))
        cols = np.flatnonzero(bixel_beam == beam)
        if cols.size == 0:
            return None
        direction, u, v = axes = beam_axes(angle)
        iso = np.asarray(volume.isocentre_mm)
        source = iso - sad * direction
        ia = np.array([round(bixels[j].u_mm / w) for j in cols])
        ic = np.array([round(bixels[j].v_mm / w) for j in cols])
        # matRad's radii (module docstring): dose out to `outer` at the isocentre plane, every voxel
        # kept inside `core` at the voxel's own depth, the Russian roulette between
        outer = settings.tail_radius_mm + w / np.sqrt(2)
        core = settings.full_radius_mm + w / np.sqrt(2)
        # padding wide enough that a voxel's cell plus any offset stays inside the table
        pad = 2 * (int(np.ceil(outer / w)) + 2)
        lut = np.full((ia.max() - ia.min() + 1 + 2 * pad, ic.max() - ic.min() + 1 + 2 * pad), -1)
        lut[ia - ia.min() + pad, ic - ic.min() + pad] = cols
        lut_a0, lut_c0 = ia.min() - pad, ic.min() - pad
        # voxels in this beam's reach, projected to the isocentre plane
        rel = points - source
        along = rel @ direction
        a = (rel @ u) * sad / along
        c = (rel @ v) * sad / along
        lim = outer + w
        near = ((a > ia.min() * w - lim) & (a < ia.max() * w + lim)
                & (c > ic.min() * w - lim) & (c < ic.max() * w + lim))
        rows = np.flatnonzero(near)
        a, c = a[rows], c[rows]
        dist = np.linalg.norm(rel[rows], axis=1)
        # an isocentre-plane distance times along / SAD is the lateral distance at the voxel's depth
        depth_scale_sq = ((along[rows] / sad) ** 2).astype(np.float32)
        # radiological depth from a fan of rays on the beam's-eye view
        a_axis = np.arange(a.min() - spacing, a.max() + 2 * spacing, spacing)
        c_axis = np.arange(c.min() - spacing, c.max() + 2 * spacing, spacing)
        t_axis = np.arange(dist.min() - 2 * spacing, dist.max() + 2 * spacing, spacing / 2)
        table = _ray_depth_table(volume, source, axes, sad, a_axis, c_axis, t_axis)
        depth = _table_lookup(table, a_axis, c_axis, t_axis, a, c, dist)
        depth_terms = machine.depth_factors(depth) * (sad / dist) ** 2  # (3, n)
        # matRad's clusters: B_r = ceil(radDepth) in mm, bins of deltaRadDepth from 0. (matRad's bin
        # edges, linspace(0, max B_r, round(max B_r) / deltaRadDepth), are a little wider than 5 mm
        # and leave out the voxels whose B_r is the maximum; exact 5 mm bins keep every voxel.)
        cluster = (np.ceil(depth) // settings.depth_cluster_mm).astype(np.int64)
        n_clusters = int(cluster.max()) + 1
        ssd = central_ssd_mm(volume, angle, sad)
        lat_axis, lat = lateral_profiles(machine, ssd, w, outer)
        n_half = (lat_axis.size - 1) // 2
        lat_flat = lat.reshape(3, -1).astype(np.float32)
        depth_terms = depth_terms.astype(np.float32)
        a, c = a.astype(np.float32), c.astype(np.float32)
        # Pair voxels with bixels cell by cell: voxels sorted by their nearest bixel-grid cell,
        # so each (bixel, voxel cell) pair within reach expands to a contiguous run of voxels.
        cell_a = np.rint(a / w).astype(np.int64) - lut_a0
        cell_c = np.rint(c / w).astype(np.int64) - lut_c0
        n_c = lut.shape[1]
        cell = cell_a * n_c + cell_c
        order = np.argsort(cell, kind="stable")
        cell_sorted = cell[order]
        n_cells = lut.size
        starts = np.searchsorted(cell_sorted, np.arange(n_cells))
        counts = np.searchsorted(cell_sorted, np.arange(n_cells), side="right") - starts
        reach = int(np.ceil(outer / w)) + 1
        oa, oc = np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1),
                             indexing="ij")
        # only the cell offsets whose nearest point can lie within `outer` of the bixel's centre (a
        # voxel lies within w/2 of its cell's centre; the 1e-3 covers float32 rounding of a / w)
        gap_a = np.clip(np.abs(oa) - 0.5 - 1e-3, 0.0, None) * w
        gap_c = np.clip(np.abs(oc) - 0.5 - 1e-3, 0.0, None) * w
        reachable = gap_a ** 2 + gap_c ** 2 <= outer ** 2
        oa, oc = oa[reachable], oc[reachable]
        rows_all, vals_all, per_bixel = [], [], []  # in column order: bixel by bixel, as computed
        # a few bixels at a time: every pair out to `outer` is computed before the roulette thins
        # it, and whole bixels per chunk keep each roulette cluster in one chunk
        for first_bixel in range(0, cols.size, BIXELS_PER_CHUNK):
            ccols = cols[first_bixel:first_bixel + BIXELS_PER_CHUNK]
            b_a = ia[first_bixel:first_bixel + BIXELS_PER_CHUNK] - lut_a0
            b_c = ic[first_bixel:first_bixel + BIXELS_PER_CHUNK] - lut_c0
            # all (bixel, voxel cell) pairs: voxel cell = bixel cell - offset
            pa = (b_a[:, None] - oa[None, :]).ravel()
            pc = (b_c[:, None] - oc[None, :]).ravel()
            ploc = np.repeat(np.arange(ccols.size), oa.size)  # the bixel's place in the chunk
            inside = (pa >= 0) & (pa < lut.shape[0]) & (pc >= 0) & (pc < n_c)
            pcell = pa[inside] * n_c + pc[inside]
            ploc = ploc[inside]
            n_vox = counts[pcell]
            has = n_vox > 0
            pcell, ploc, n_vox = pcell[has], ploc[has], n_vox[has]
            total = int(n_vox.sum())
            within = np.arange(total) - np.repeat(np.cumsum(n_vox) - n_vox, n_vox)
            sel = order[np.repeat(starts[pcell], n_vox) + within]
            loc = np.repeat(ploc, n_vox)
            del within
            da = a[sel] - bixel_u_mm[ccols][loc]
            dc = c[sel] - bixel_v_mm[ccols][loc]
            r2 = da * da + dc * dc
            ok = r2 <= outer ** 2
            sel, da, dc, loc, r2 = sel[ok], da[ok], dc[ok], loc[ok], r2[ok]
            flat = ((np.rint(da * (1 / h)).astype(np.intp) + n_half) * lat_axis.size
                    + np.rint(dc * (1 / h)).astype(np.intp) + n_half)
            del da, dc
            val = (depth_terms[0, sel] * lat_flat[0, flat] + depth_terms[1, sel] * lat_flat[1, flat]
                   + depth_terms[2, sel] * lat_flat[2, flat])
            del flat
            keep = val > 0
            sel, loc, r2, val = sel[keep], loc[keep], r2[keep], val[keep]
            # matRad sampleDij, type 'radius': the core (radial distance at depth < core) is kept;
            # each tail voxel survives with probability d / d_max of its (bixel, depth cluster) and
            # is stored as d_max, so its expected value is d
            tail = np.flatnonzero(r2 * depth_scale_sq[sel] >= core * core)
            if tail.size:
                key = loc[tail] * n_clusters + cluster[sel[tail]]
                d_max = np.zeros(ccols.size * n_clusters, dtype=val.dtype)
                np.maximum.at(d_max, key, val[tail])
                d_max_each = d_max[key]
                survive = rng.random(tail.size) <= val[tail] / d_max_each
                val[tail] = d_max_each
                stored = np.ones(val.size, dtype=bool)
                stored[tail[~survive]] = False
                sel, loc, val = sel[stored], loc[stored], val[stored]
            rows_all.append(rows[sel].astype(np.int32))
            vals_all.append(val)
            per_bixel.append(np.bincount(loc, minlength=ccols.size))
        # the pairs come bixel by bixel, so they already are this beam's columns in compressed-column
        # form (8 bytes a pair, no column array); scipy turns that into rows in one counting pass
        colptr = np.zeros(len(bixels) + 1, np.int64)
        colptr[cols + 1] = np.concatenate(per_bixel)
        np.cumsum(colptr, out=colptr)
        by_column = scipy.sparse.csc_matrix((np.concatenate(vals_all), np.concatenate(rows_all), colptr),
                                            shape=(voxels.size, len(bixels)))
        del rows_all, vals_all
        by_row = by_column.tocsr()
        del by_column  # gone before the copy into the memory maps: two copies of the beam at most
        return _BeamRows(by_row)

    n_beams = len(settings.gantry_angles_deg)
    done = [0]
    done_lock = threading.Lock()

    def beam_with_progress(beam: int, angle: float):
        part = one_beam(beam, angle)
        _give_back_free_heap()
        with done_lock:
            done[0] += 1
            finished = done[0]
        if progress is not None:
            progress(finished / n_beams, f"dose influence: beam {finished} of {n_beams} done")
        return part

    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = [part for part in pool.map(lambda ba: beam_with_progress(*ba),
                                           enumerate(settings.gantry_angles_deg)) if part is not None]
    dij = _join_beams(parts, (voxels.size, len(bixels)))
    return DoseInfluence(dij, voxels, tuple(bixels), time.perf_counter() - t0, float(w))


try:
    _LIBC = ctypes.CDLL("libc.so.6")
    _LIBC.malloc_trim  # glibc only
except (OSError, AttributeError):
    _LIBC = None


def _give_back_free_heap() -> None:
    """Return the C heap's free pages to the system (glibc's malloc_trim; nothing elsewhere).

    A beam's temporaries are many arrays of 1-30 MB in its worker thread's heap; once freed, glibc
    keeps most of their pages: on TG-119 at 2.5 mm about 0.6-0.8 GB of RSS beside the matrix.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class _BeamRows:
    """One beam's columns of dij as CSR arrays (its rows, all columns), held in anonymous memory maps
    of their own so that the join can hand each block of rows back to the system as soon as it has
    copied it: numpy cannot free part of an array, and freed pieces of the heap need not return."""

    def __init__(self, beam: scipy.sparse.csr_matrix):
        self.indptr = beam.indptr
        self._maps = [mmap.mmap(-1, max(a.nbytes, mmap.PAGESIZE)) for a in (beam.data, beam.indices)]
        self.data, self.indices = (np.frombuffer(m, a.dtype, a.size) for m, a in
                                   zip(self._maps, (beam.data, beam.indices)))
        self.data[:], self.indices[:] = beam.data, beam.indices
        self._released_bytes = [0, 0]

    def release_pairs_before(self, pair: int) -> None:
        """Give back the whole pages of data and indices before `pair` (their contents then read 0)."""
        for k, (m, a) in enumerate(zip(self._maps, (self.data, self.indices))):
            end = pair * a.itemsize // mmap.PAGESIZE * mmap.PAGESIZE
            if end > self._released_bytes[k]:
                m.madvise(mmap.MADV_DONTNEED, self._released_bytes[k], end - self._released_bytes[k])
                self._released_bytes[k] = end


def _join_beams(beams: list[_BeamRows], shape: tuple[int, int],
                rows_per_step: int = 1 << 16) -> scipy.sparse.csr_matrix:
    """The beams' matrices (disjoint columns) as one CSR matrix, bit for bit what
    coo_matrix((values, (rows, cols))).tocsr() of all beams' pairs gives.

    Block of rows by block of rows, every beam's part of the block is copied in and its pages given
    back, so the memory held is about one matrix, not the beams' pairs beside the result: on TG-119
    at 2.5 mm (174 M non-zeros, 1.4 GB as CSR) the old COO join peaked at 4.6-5.0 GB RSS (issue 14).
    `beams` is emptied.
    """
    counts = np.zeros(shape[0], np.int64)
    for beam in beams:
        counts += np.diff(beam.indptr)
    nnz = int(counts.sum())
    index = np.int32 if max(nnz, *shape) <= np.iinfo(np.int32).max else np.int64  # scipy's choice
    indptr = np.zeros(shape[0] + 1, index)
    np.cumsum(counts, out=indptr[1:])
    del counts
    data = np.empty(nnz, beams[0].data.dtype if beams else np.float32)
    indices = np.empty(nnz, index)
    free = indptr[:-1].astype(np.int64)  # each row's next free place
    for r0 in range(0, shape[0], rows_per_step):
        r1 = min(r0 + rows_per_step, shape[0])
        for beam in beams:
            # this beam's rows r0..r1 appended at each row's free place; the position arrays (8 bytes
            # a pair) stay a few MB
            lo, hi = int(beam.indptr[r0]), int(beam.indptr[r1])
            n = np.diff(beam.indptr[r0:r1 + 1])
            place = np.repeat(free[r0:r1] - beam.indptr[r0:r1], n) + np.arange(lo, hi)
            data[place] = beam.data[lo:hi]
            indices[place] = beam.indices[lo:hi]
            free[r0:r1] += n
            beam.release_pairs_before(hi)
    beams.clear()
    dij = scipy.sparse.csr_matrix((data, indices, indptr), shape=shape)
    dij.sort_indices()  # a no-op unless the caller's bixels interleave the beams' columns
    return dij
