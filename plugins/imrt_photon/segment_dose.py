"""The dose of a step-and-shoot plan from its segments: what the physicist's review recomputes.

The review reads the segments back from the signed RT Plan (what the linac would deliver) and asks
the technique for their dose (issue 16). The planning volume is rebuilt from where the plan says it
came from (planner.core.inverse_plan_file.VolumeSource), the dose-influence matrix of the plan's
beams is computed again (deterministic: a fixed seed per beam), and each bixel's weight is the sum,
over the segments of its beam, of the fraction of its cell the leaves and jaws leave open times the
segment's MU turned into bixel weight by the same DEMO calibration (MuCalibration.weight_for_mu).
So the dose follows the leaves: a leaf moved 1 mm over a 5 mm cell changes that bixel's weight by a
fifth of the segment's. A segment that opens where the plan has no beamlets is refused: the
dose-influence matrix holds no dose for that opening, and leaving it out would report less dose than
the linac delivers.

Geometry as the leaf sequencer writes it (leaf_sequencing): leaves travel along u (IEC X at
collimator 0), pairs are stacked along v, both at the isocentre plane; collimator and couch 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from planner.core.errors import PlannerError
from planner.core.inverse_plan import InversePlan
from planner.core.inverse_plan_file import VolumeSource
from planner.core.mlc_beams import MlcBeam, MlcPlan
from planner.core.volume import PlanningVolume
from planner.dose.monte_carlo import CancelCheck, ProgressCallback
from planner.dose.structure_dvh import DvhPoints

from .monitor_units import MuCalibration, reference_calibration
from .pencil_beam import DoseInfluence
from .phantom import tg119_c_shape

# An opening this small outside every bixel cell is rounding, not dose (a 5 mm leaf 2 µm off).
UNCOVERED_AREA_TOLERANCE_MM2 = 0.01
ANGLE_TOLERANCE_DEG = 1e-6
ISOCENTRE_TOLERANCE_MM = 0.01
INFLUENCE_SHARE = 0.9   # of the progress bar: the dose-influence matrix is the long step


class SegmentDoseError(PlannerError, ValueError):
    """The dose of the segments cannot be computed; the message says why."""


@dataclass(frozen=True, eq=False)
class SegmentDose:
    """The dose of a plan's segments, whole course, and what it was computed on."""

    volume: PlanningVolume
    influence: DoseInfluence
    weights: np.ndarray          # per bixel, from the segments
    dose_rows_gy: np.ndarray     # per dose-influence row
    dose_grid_gy: np.ndarray     # on the volume's grid [x, y, z]
    metrics: dict[str, DvhPoints]   # the reported DVH points (planner.dose.structure_dvh)
    seconds: float


def planning_volume(source: VolumeSource) -> PlanningVolume:
    """The planning volume the plan was made on, rebuilt as the IMRT window opens it."""
    problem = source.problem()
    if problem:
        raise SegmentDoseError(problem)
    if source.kind == "tg119":
        return tg119_c_shape(source.spacing_mm)
    from planner.imaging.ct_series import load_ct_volume, resample_volume

    return resample_volume(load_ct_volume(source.folder, source.rtstruct), source.spacing_mm)


def open_fractions(beam: MlcBeam, u_mm: np.ndarray, v_mm: np.ndarray, width_mm: float) -> np.ndarray:
    """(segments, cells): the fraction of each bixel cell (centre u, v; side ``width_mm``) that each
    segment's leaves and jaws leave open. Refuses a segment whose opening reaches outside the cells."""
    half = width_mm / 2
    u_lo, u_hi = (u_mm - half)[:, None], (u_mm + half)[:, None]
    v_lo, v_hi = (v_mm - half)[:, None], (v_mm + half)[:, None]
    (jx1, jx2), (jy1, jy2) = beam.jaws_x_mm, beam.jaws_y_mm
    b = beam.leaf_boundaries_mm
    y_lo, y_hi = np.maximum(b[:-1], jy1), np.minimum(b[1:], jy2)
    pair_height = np.clip(y_hi - y_lo, 0.0, None)
    cell_height = np.clip(np.minimum(v_hi, y_hi) - np.maximum(v_lo, y_lo), 0.0, None)   # (cells, pairs)
    fractions = np.empty((len(beam.segments), u_mm.size))
    for k, segment in enumerate(beam.segments):
        x_lo = np.maximum(segment.leaf_positions_mm[0], jx1)
        x_hi = np.minimum(segment.leaf_positions_mm[1], jx2)
        cell_width = np.clip(np.minimum(u_hi, x_hi) - np.maximum(u_lo, x_lo), 0.0, None)
        covered = (cell_width * cell_height).sum(axis=1)
        uncovered = float(np.sum(np.clip(x_hi - x_lo, 0.0, None) * pair_height) - covered.sum())
        if uncovered > UNCOVERED_AREA_TOLERANCE_MM2:
            raise SegmentDoseError(f"beam {beam.name}, segment {k + 1} opens {uncovered:.3g} mm² where the plan has "
                                   f"no beamlets: its dose cannot be represented")
        fractions[k] = covered / (width_mm * width_mm)
    return fractions


def bixel_weights(influence: DoseInfluence, mlc_plan: MlcPlan, calibration: MuCalibration) -> np.ndarray:
    """Whole-course bixel weights the plan's segments deliver (the same units as the optimiser's)."""
    gantry_of_beam = {b.beam: float(b.gantry_deg) for b in influence.bixels}
    weights = np.zeros(len(influence.bixels))
    u = np.array([b.u_mm for b in influence.bixels], dtype=float)
    v = np.array([b.v_mm for b in influence.bixels], dtype=float)
    beam_of_bixel = np.array([b.beam for b in influence.bixels])
    for beam in mlc_plan.beams:
        if abs(beam.collimator_deg % 360.0) > ANGLE_TOLERANCE_DEG or abs(beam.couch_deg % 360.0) > ANGLE_TOLERANCE_DEG:
            raise SegmentDoseError(f"beam {beam.name}: collimator {beam.collimator_deg:g}°, couch {beam.couch_deg:g}°; "
                                   f"the segments' dose is computed at collimator and couch 0 only")
        matches = [i for i, g in gantry_of_beam.items()
                   if abs((g - beam.gantry_deg + 180.0) % 360.0 - 180.0) <= ANGLE_TOLERANCE_DEG]
        if not matches:
            raise SegmentDoseError(f"beam {beam.name} at gantry {beam.gantry_deg:g}° is not one of the plan's beams")
        cells = np.flatnonzero(beam_of_bixel == matches[0])
        segment_weight = np.array([calibration.weight_for_mu(mu, mlc_plan.fractions) for mu in beam.segment_mu()])
        weights[cells] += segment_weight @ open_fractions(beam, u[cells], v[cells], influence.bixel_width_mm)
    return weights


def dose_from_segments(mlc_plan: MlcPlan, plan: InversePlan, volume_source: VolumeSource,
                       progress: ProgressCallback | None = None,
                       is_cancelled: CancelCheck | None = None) -> SegmentDose:
    """The whole-course dose the segments of ``mlc_plan`` deliver on the planning volume of
    ``volume_source``, with the dose-influence matrix of ``plan``'s beams. Raises SegmentDoseError
    (or the volume's reader's PlannerError) when it cannot be computed, CalculationCancelled when
    cancelled."""
    from .planning import compute_dose_influence, dose_grid_gy, metrics_of

    t0 = time.perf_counter()
    if progress is not None:
        progress(0.0, f"rebuilding the planning volume: {volume_source.describe()}")
    volume = planning_volume(volume_source)
    for beam in mlc_plan.beams:
        off = np.abs(np.subtract(beam.isocentre_mm, volume.isocentre_mm)).max()
        if off > ISOCENTRE_TOLERANCE_MM:
            raise SegmentDoseError(f"beam {beam.name}'s isocentre {beam.isocentre_mm} mm is not the planning volume's "
                                   f"{tuple(volume.isocentre_mm)} mm")

    def influence_progress(fraction: float, message: str) -> None:
        if progress is not None:
            progress(INFLUENCE_SHARE * fraction, message)

    influence = compute_dose_influence(volume, plan, influence_progress, is_cancelled)
    if progress is not None:
        progress(INFLUENCE_SHARE, "bixel weights from the segments, dose and DVH")
    weights = bixel_weights(influence, mlc_plan, reference_calibration())
    rows = np.asarray(influence.dij @ weights.astype(influence.dij.dtype), dtype=float)
    grid = dose_grid_gy(volume, influence, rows)
    metrics = metrics_of(rows, volume, influence, plan.prescription.total_dose_gy)
    if progress is not None:
        progress(1.0, "dose from the segments done")
    return SegmentDose(volume, influence, weights, rows, grid, metrics, time.perf_counter() - t0)


__all__ = ["SegmentDose", "SegmentDoseError", "bixel_weights", "dose_from_segments", "open_fractions",
           "planning_volume"]
