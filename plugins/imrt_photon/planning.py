"""The IMRT planning steps the window and the command line both call, in order:

    volume = tg119_phantom(5.0)                      # or planner.imaging.ct_series.load_ct_volume
    plan = default_plan(volume)                      # an InversePlan (objectives, beams, prescription)
    influence = compute_dose_influence(volume, plan, progress, is_cancelled)
    result = optimise_plan(volume, influence, plan, progress, is_cancelled, on_iteration)
    deliverable = deliverable_plan(volume, influence, result)   # leaf sequencing, MU: what is exported

Each step is a plain function of values, so it runs in a worker thread, in a test or in a
benchmark alike; ``ImrtPlanner`` (at the end) offers them to the technique as its InversePlanner.
Doses are whole-course Gy.

One DVH throughout (issue 14): the structures are sampled below the dose voxel from their outlines
and the dose is interpolated at the samples (planner.dose.structure_dvh). The optimiser reads each
structure's dose at such samples (a lattice within OPTIMISER_LATTICE_POINTS, the interpolation
weights a sparse matrix after the dose-influence matrix), so it cannot hide a fall-off between voxel
centres; the plan is normalised so that the reported target D95 is the prescribed dose, as TG-119
(Ezzell et al., Med Phys 36:5359, 2009) normalises its plans; every DVH point a result reports
(``metrics``, the goals) is read from the finer reporting lattice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable
from weakref import WeakKeyDictionary

import numpy as np

from planner.core.inverse_plan import InversePlan, InversePlanError, InversePrescription, Objective
from planner.core.volume import PlanningVolume
from planner.dose.structure_dvh import (DvhPoints, SampledStructures, StructureDvh, dose_at_samples_gy,
                                        interpolation_matrix, sampled_structures, structure_samples)
from planner.dose.monte_carlo import CalculationCancelled, CancelCheck, ProgressCallback

from planner.core.mlc_beams import MlcPlan

from .fluence_smoothness import smoothness_for
from .leaf_sequencing import (DEFAULT_LEVELS, DEFAULT_MIN_SEGMENT_AREA_CM2, DEFAULT_MIN_SEGMENT_MU,
                              sequence_deliverable)
from .monitor_units import build_mlc_plan, open_field_mu_per_fraction, reference_calibration
from .optimise import OptimisationResult, OptimisationSettings, StructureReadout, optimise_fluence, scaled
from .pencil_beam import BeamSettings, DoseInfluence, dose_influence
from .phantom import tg119_c_shape
from .plans import TG119_OBJECTIVES
from .segment_dose import dose_from_segments

# (iteration, objective value, dose per dij row in Gy) after every optimiser iteration
IterationCallback = Callable[[int, float, np.ndarray], None]

MODEL_DESCRIPTION = ("6 MV pencil beam, SVD kernels (Bortfeld, Schlegel & Rhein, Med Phys 20:311, 1993) "
                     "of matRad's generic 6 MV machine (pyRadPlan 0.5.0, BSD-3); radiological depth "
                     "by ray tracing; fluence by L-BFGS-B on the sparse dose-influence matrix")


GOAL_DECIMALS = 2   # goals are shown and judged in Gy to 0.01


@dataclass(frozen=True)
class Goal:
    """One TG-119 planning goal and where the plan stands."""

    label: str
    value_gy: float
    limit_gy: float
    at_least: bool

    @property
    def met(self) -> bool:
        """Judged on the value as every view shows it, to 0.01 Gy: a plan renormalised in float32 to
        49.99999 Gy reads "50.00 Gy" and meets "≥ 50 Gy", as it says."""
        shown = round(self.value_gy, GOAL_DECIMALS)
        return shown >= self.limit_gy if self.at_least else shown <= self.limit_gy


@dataclass(frozen=True, eq=False)
class ImrtResult:
    """An optimised plan's fluence and dose, normalised to the prescription."""

    plan: InversePlan
    weights: np.ndarray          # per bixel, whole course, in the influence matrix's units
    dose_rows_gy: np.ndarray     # per dij row (voxel), whole course
    metrics: dict[str, DvhPoints]   # the reported DVH points (planner.dose.structure_dvh)
    iterations: int
    objective_history: tuple[float, ...]
    seconds: float
    normalisation_factor: float  # applied to the optimiser's fluence: reported target D95 = prescription
    message: str
    normalisation_text: str      # how the dose was scaled, in the words every view shows


def tg119_phantom(spacing_mm: float = 5.0) -> PlanningVolume:
    """The built-in TG-119 C-shape phantom (water), isocentre at the core's axis."""
    return tg119_c_shape(spacing_mm)


def default_plan(volume: PlanningVolume) -> InversePlan:
    """TG-119's prescription and beams, with Planner's starting objectives where the volume has the
    TG-119 structures, and a plain target-coverage pair otherwise."""
    names = tuple(volume.masks)
    if all(o.structure in names for o in TG119_OBJECTIVES):
        objectives = TG119_OBJECTIVES
        target = "PTV"
    else:
        target = next((n for n in names if n.upper().startswith("PTV")), names[0] if names else "PTV")
        objectives = (Objective(target, "min_dose", 50.0, 1000.0), Objective(target, "max_dose", 52.5, 300.0))
    return InversePlan(prescription=InversePrescription(target=target), objectives=tuple(objectives))


def beam_settings(plan: InversePlan) -> BeamSettings:
    """The engine's settings for the plan's beams (the engine's own sampling defaults kept)."""
    return replace(BeamSettings(), gantry_angles_deg=tuple(plan.gantry_angles_deg),
                   bixel_width_mm=float(plan.bixel_width_mm))


def structure_rows(volume: PlanningVolume, influence: DoseInfluence) -> dict[str, np.ndarray]:
    """Each structure's rows of the dose-influence matrix (its voxel centres)."""
    return {name: influence.rows_for(mask) for name, mask in volume.masks.items()}


# Lattice points per structure for the optimiser's samples: the TG-119 PTV and core keep 0.5 mm
# in-plane at 2.5 and 5 mm voxels (z 2.5 mm), the body about 1.7-2.5 mm; an iteration's sample
# products stay a few million non-zeros, small beside the dose-influence matrix's.
OPTIMISER_LATTICE_POINTS = 500_000
_READOUTS: WeakKeyDictionary = WeakKeyDictionary()


def optimiser_readouts(volume: PlanningVolume, influence: DoseInfluence) -> dict[str, StructureReadout]:
    """Where the optimiser reads each structure's dose: at samples below the dose voxel, the dose
    interpolated trilinearly from the dose-influence matrix's rows (made once per volume and matrix)."""
    cached = _READOUTS.get(volume)
    if cached is not None and cached[0] is influence.voxels:
        return cached[1]
    readouts = {name: StructureReadout.of(interpolation_matrix(samples, volume.grid, influence.voxels))
                for name, samples in optimiser_samples(volume).items()}
    _READOUTS[volume] = (influence.voxels, readouts)
    return readouts


_OPTIMISER_SAMPLES: WeakKeyDictionary = WeakKeyDictionary()


def optimiser_samples(volume: PlanningVolume) -> dict:
    """The samples the optimiser reads each structure at (OPTIMISER_LATTICE_POINTS), made once per
    volume: a readout's points, in order."""
    found = _OPTIMISER_SAMPLES.get(volume)
    if found is None:
        found = _OPTIMISER_SAMPLES[volume] = structure_samples(volume, OPTIMISER_LATTICE_POINTS)
    return found


def reported_dose_at_volume_gy(volume: PlanningVolume, influence: DoseInfluence, dose_rows_gy: np.ndarray,
                               structure: str, volume_fraction: float) -> float:
    """D_v of one structure on the reported (sub-voxel) DVH: what the plan is normalised on."""
    samples = sampled(volume).samples[structure]
    dvh = StructureDvh(structure, dose_at_samples_gy(samples, volume.grid, dose_grid_gy(volume, influence, dose_rows_gy)),
                       samples.cell_cc)
    return dvh.dose_at_volume_percent_gy(100.0 * volume_fraction)


def check_plan(volume: PlanningVolume, plan: InversePlan) -> None:
    problems = plan.problems(tuple(volume.masks))
    if problems:
        raise InversePlanError("; ".join(problems))
    if not volume.masks[plan.prescription.target].any():
        raise InversePlanError(f"the target {plan.prescription.target!r} has no voxel on the dose grid")


def compute_dose_influence(volume: PlanningVolume, plan: InversePlan,
                           progress: ProgressCallback | None = None,
                           is_cancelled: CancelCheck | None = None) -> DoseInfluence:
    """The sparse dose-influence matrix of the plan's beams on the volume (the long step)."""
    check_plan(volume, plan)
    return dose_influence(volume, target=plan.prescription.target, settings=beam_settings(plan),
                          progress=progress, is_cancelled=is_cancelled)


def influence_matches(influence: DoseInfluence, plan: InversePlan) -> bool:
    """Whether a computed influence matrix still belongs to the plan's beams (objectives may change
    freely; beams and bixel size may not)."""
    computed = sorted({float(b.gantry_deg) for b in influence.bixels})
    planned = sorted({float(a) for a in plan.gantry_angles_deg})
    return (len(computed) == len(planned) and np.allclose(computed, planned)
            and influence.bixel_width_mm == float(plan.bixel_width_mm))


def optimise_plan(volume: PlanningVolume, influence: DoseInfluence, plan: InversePlan,
                  progress: ProgressCallback | None = None,
                  is_cancelled: CancelCheck | None = None,
                  on_iteration: IterationCallback | None = None,
                  initial_weights: np.ndarray | None = None, background=None,
                  normalisation=None) -> ImrtResult:
    """Optimise the fluence against the plan's objectives at the structures' samples, then normalise
    the reported target D95 to the prescribed dose.

    ``background``: a dose already given (an earlier course: protocol_plan.Reirradiation) whose
    ``optimiser_terms(optimiser_samples(volume))`` are added to the plan's objectives: terms derived
    from it for this volume, not part of the InversePlan.
    ``normalisation``: a protocol's own scaling after the coverage one (protocol_plan.LimitsNormalisation:
    ``rescale(dvhs)`` → the factor and its words), applied again after leaf sequencing
    (deliverable_plan); None: the coverage normalisation alone.
    Cancelling raises CalculationCancelled: the caller keeps whatever result it had before.
    """
    check_plan(volume, plan)
    if not influence_matches(influence, plan):
        raise InversePlanError("the beams changed since the dose influence was computed; compute it again")
    readouts = optimiser_readouts(volume, influence)
    n = plan.max_iterations

    def report(iteration: int, value: float, weights: np.ndarray) -> None:
        progress(min(iteration / n, 1.0), f"optimising: iteration {iteration} of at most {n}, "
                                           f"objective {value:.4g}")

    objectives = tuple(plan.objectives)
    if background is not None:
        objectives += tuple(background.optimiser_terms(optimiser_samples(volume)))
    raw: OptimisationResult = optimise_fluence(
        influence.dij, readouts, objectives, OptimisationSettings(max_iterations=n),
        initial_weights=initial_weights, progress=report if progress is not None else None,
        cancelled=is_cancelled, modulation=smoothness_for(influence, plan.modulation_weight),
        on_dose=on_iteration)  # the iterate's dose as the optimiser computed it: no product more
    if raw.cancelled:
        raise CalculationCancelled("the optimisation was cancelled")
    rx = plan.prescription
    covered = reported_dose_at_volume_gy(volume, influence, raw.dose_gy, rx.target, rx.coverage_volume_fraction)
    if not covered > 0:
        raise InversePlanError(f"the optimiser left no dose in {rx.target}: check the objectives")
    factor, text = renormalised(volume, influence, raw.dose_gy, rx.total_dose_gy / covered, rx, normalisation)
    plan_result = scaled(raw, factor, readouts)
    return ImrtResult(plan, plan_result.weights, plan_result.dose_gy,
                      metrics_of(plan_result.dose_gy, volume, influence, rx.total_dose_gy), raw.iterations,
                      raw.objective_history, raw.seconds, factor, raw.message, text)


def renormalised(volume: PlanningVolume, influence: DoseInfluence, dose_rows_gy: np.ndarray, coverage_factor: float,
                 rx: InversePrescription, normalisation=None) -> tuple[float, str]:
    """The factor that scales ``dose_rows_gy`` (the optimiser's or the sequenced fluence's dose) as
    the plan is normalised, and its words: the prescription's coverage factor, times the protocol's
    own ``normalisation`` when there is one (read on the coverage-normalised dose's reported DVH)."""
    if normalisation is None:
        return coverage_factor, rx.normalisation_text()
    k, words = normalisation.rescale(structure_dvhs(volume, influence, dose_rows_gy * coverage_factor,
                                                    normalisation.structures))
    return coverage_factor * k, words


def dose_grid_gy(volume: PlanningVolume, influence: DoseInfluence, dose_rows_gy: np.ndarray) -> np.ndarray:
    """Whole-course dose on the volume's grid [x, y, z] (0 outside the body)."""
    dose = np.zeros(int(np.prod(volume.grid.shape)))
    dose[influence.voxels] = dose_rows_gy
    return dose.reshape(volume.grid.shape)


def tg119_goals(metrics: dict[str, DvhPoints], target: str = "PTV", core: str = "Core") -> tuple[Goal, ...]:
    """TG-119's C-shape goals (Ezzell 2009): PTV D95 ≥ 50, PTV D10 ≤ 55, core D10 ≤ 25 Gy, and the
    harder core D10 ≤ 10 Gy, on the reported (sub-voxel) DVH points. Structures the volume lacks are
    left out."""
    goals = []
    if target in metrics:
        goals += [Goal(f"{target} D95 ≥ 50 Gy", metrics[target].d95_gy, 50.0, True),
                  Goal(f"{target} D10 ≤ 55 Gy", metrics[target].d10_gy, 55.0, False)]
    if core in metrics:
        goals += [Goal(f"{core} D10 ≤ 25 Gy", metrics[core].d10_gy, 25.0, False),
                  Goal(f"{core} D10 ≤ 10 Gy (harder goal)", metrics[core].d10_gy, 10.0, False)]
    return tuple(goals)


_SAMPLED: WeakKeyDictionary = WeakKeyDictionary()


def sampled(volume: PlanningVolume) -> SampledStructures:
    """The volume's structures sampled below the dose voxel, made once per volume."""
    found = _SAMPLED.get(volume)
    if found is None:
        found = _SAMPLED[volume] = sampled_structures(volume)
    return found


def structure_dvhs(volume: PlanningVolume, influence: DoseInfluence,
                   dose_rows_gy: np.ndarray, names=None) -> dict[str, StructureDvh]:
    """Each structure's DVH of a dose given per dij row (the one DVH the window, report and CLI show;
    only those ``names`` when given)."""
    return sampled(volume).dvhs(dose_grid_gy(volume, influence, dose_rows_gy), names)


def metrics_of(dose_rows_gy: np.ndarray, volume: PlanningVolume, influence: DoseInfluence,
               prescribed_gy: float | None = None) -> dict[str, DvhPoints]:
    """The reported DVH points of each structure (V at the prescribed dose among them, when given)."""
    volume_doses = () if prescribed_gy is None else (float(prescribed_gy),)
    return {name: dvh.points(volume_doses)
            for name, dvh in structure_dvhs(volume, influence, dose_rows_gy).items()}


def dvh_description(volume: PlanningVolume) -> str:
    """How the reported DVH samples each structure (lattice, sample count, outline source)."""
    return sampled(volume).describe()


@dataclass(frozen=True, eq=False)
class DeliverablePlan:
    """The optimised fluence after leaf sequencing: the segments, MU and dose that are exported.

    Sequencing rounds each beam's fluence to `levels` intensity levels, so the deliverable dose
    differs a little from the optimised one; it is renormalised to reported target D95 =
    prescription again, like the optimised plan.
    """

    mlc_plan: MlcPlan
    weights: np.ndarray
    dose_rows_gy: np.ndarray
    metrics: dict[str, DvhPoints]   # the reported DVH points (planner.dose.structure_dvh)
    levels: int
    open_field_mu_per_fraction: float = float("nan")  # monitor_units.open_field_mu_per_fraction
    dropped_segments: int = 0      # below the minimum segment MU or area, not delivered
    min_segment_mu: float = 0.0
    min_segment_area_cm2: float = 0.0
    normalisation_text: str = ""  # how the dose was scaled (ImrtResult.normalisation_text, after sequencing)

    @property
    def modulation_factor(self) -> float:
        """MU per fraction over those of open fields on the same beams giving the same coverage."""
        return self.mlc_plan.total_mu_per_fraction / self.open_field_mu_per_fraction


def deliverable_plan(volume: PlanningVolume, influence: DoseInfluence, result: ImrtResult,
                     label: str = "IMRT", levels: int = DEFAULT_LEVELS,
                     min_segment_mu: float = DEFAULT_MIN_SEGMENT_MU,
                     min_segment_area_cm2: float = DEFAULT_MIN_SEGMENT_AREA_CM2, normalisation=None) -> DeliverablePlan:
    """Step-and-shoot segments (Xia & Verhey 1998) with MU per fraction from the DEMO calibration;
    segments below `min_segment_mu` (per fraction) or `min_segment_area_cm2` are not delivered.
    ``normalisation``: the protocol's own scaling the optimised plan had (optimise_plan), again."""
    plan = result.plan
    rx = plan.prescription
    rows = structure_rows(volume, influence)
    calibration = reference_calibration()

    def dose_of(weights: np.ndarray) -> np.ndarray:
        return np.asarray(influence.dij @ weights.astype(influence.dij.dtype), dtype=float)

    def coverage_of(dose: np.ndarray) -> float:
        covered = reported_dose_at_volume_gy(volume, influence, dose, rx.target, rx.coverage_volume_fraction)
        if not covered > 0:
            raise InversePlanError(f"after leaf sequencing {rx.target} has no dose: optimise again")
        return rx.total_dose_gy / covered

    def coverage_factor(weights: np.ndarray) -> float:
        return coverage_of(dose_of(weights))

    words = [rx.normalisation_text()]   # the last scaling's, i.e. the one the sequenced plan got

    def normalisation_factor(weights: np.ndarray) -> float:
        dose = dose_of(weights)
        factor, words[0] = renormalised(volume, influence, dose, coverage_of(dose), rx, normalisation)
        return factor

    sequenced = sequence_deliverable(influence, result.weights, normalisation_factor, levels=levels,
                                     min_segment_weight=calibration.weight_for_mu(min_segment_mu, rx.fractions),
                                     min_segment_area_mm2=100.0 * min_segment_area_cm2)
    dose = influence.dij @ sequenced.weights.astype(influence.dij.dtype)
    mlc_plan = build_mlc_plan(sequenced, influence, volume, rows[rx.target], calibration,
                              rx.fractions, rx.total_dose_gy, label=label, target_roi_name=rx.target)
    dose = np.asarray(dose, dtype=float)
    # the open fields give the prescription's coverage: the same reference with or without a protocol's scaling
    return DeliverablePlan(mlc_plan, sequenced.weights, dose, metrics_of(dose, volume, influence, rx.total_dose_gy),
                           levels, open_field_mu_per_fraction(influence, coverage_factor, calibration, rx.fractions),
                           sequenced.dropped_segments, min_segment_mu, min_segment_area_cm2, words[0])


class ImrtPlanner:
    """The technique's InversePlanner (planner.techniques.interface): the steps above, as the IMRT
    window and ``planner imrt`` reach them through the technique. The steps stay plain functions so
    a test or benchmark calls them directly."""

    MODEL_DESCRIPTION = MODEL_DESCRIPTION
    tg119_phantom = staticmethod(tg119_phantom)
    default_plan = staticmethod(default_plan)
    compute_dose_influence = staticmethod(compute_dose_influence)
    influence_matches = staticmethod(influence_matches)
    optimiser_readouts = staticmethod(optimiser_readouts)
    optimise_plan = staticmethod(optimise_plan)
    deliverable_plan = staticmethod(deliverable_plan)
    dose_grid_gy = staticmethod(dose_grid_gy)
    sampled = staticmethod(sampled)
    structure_dvhs = staticmethod(structure_dvhs)
    dvh_description = staticmethod(dvh_description)
    tg119_goals = staticmethod(tg119_goals)
    dose_from_segments = staticmethod(dose_from_segments)
