"""A clinical protocol made into an IMRT plan on a CT (issue 18, point 6): its structures matched on
the CT, its derived structures (a cord PRV, PTV minus PRV) added to the volume, its prescription and
the starting objectives its goals give (planner.core.protocols), as the InversePlan the IMRT steps
(planning.py) optimise.

Why apart from planning.py: the protocol step is the same for the window and the command line, and
needs nothing of the optimiser but the plan it is given.

A re-irradiation (issue 18, point 4): ``protocol_plan(..., prior=PriorCourseDose)`` places the
earlier course's dose on the CT (same frame of reference, its grid covering the limited structure,
else a one-line stop) and gives the plan a ``Reirradiation``: the background dose the optimiser caps
the new course against (``optimise_plan(..., background=chosen.reirradiation)``) and the judge of
the protocol's re-irradiation limits on the cumulative EQD2 (``Reirradiation.judge``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from planner.core.inverse_plan import InversePlan, InversePlanError, InversePrescription
from planner.core.protocols.derived import derive_structures
from planner.core.protocols.goals import measure
from planner.core.protocols.matching import match_structures
from planner.core.protocols.objectives import WEIGHT_BY_PRIORITY, starting_objectives
from planner.core.protocols.protocol import Protocol, ReirradiationLimits, parse_metric
from planner.core.reirradiation import (PriorCourseDose, ReirradiationError, ReirradiationRow, check_covers,
                                        check_same_frame, eqd2_gy, interval_months, judge_limits, new_course_caps_gy)
from planner.core.volume import PlanningVolume, VoxelGrid
from planner.dose.structure_dvh import StructureDvh, StructureSamples, dose_at_samples_gy

from .planning import sampled

# The prescription's normalisation when the protocol states no coverage goal at the prescribed
# dose: D95, as TG-119 normalises (InversePrescription's default).
DEFAULT_COVERAGE_FRACTION = InversePrescription().coverage_volume_fraction


@dataclass(frozen=True)
class ProtocolPlan:
    """The protocol's plan on one CT: the volume with the derived structures, the protocol → CT
    names (derived ones included), the InversePlan, and the CT's structures with their RT ROI
    Interpreted Type (those on the volume: the organs the goals table watches)."""

    protocol: Protocol
    volume: PlanningVolume
    mapping: dict[str, str]
    plan: InversePlan
    ct_types: dict[str, str]
    reirradiation: Reirradiation | None = None   # with an earlier course's dose (prior=)

    @property
    def normalisation(self) -> LimitsNormalisation | None:
        """What optimise_plan / deliverable_plan scale the dose by after the coverage normalisation:
        the protocol's limits for ``"normalisation": {"to": "limits"}``, else None (coverage alone)."""
        return LimitsNormalisation(self) if self.protocol.normalisation.to == "limits" else None


def coverage_fraction(protocol: Protocol) -> float:
    """The target volume fraction the plan is normalised on: the protocol's own coverage goal at the
    prescribed dose (V16Gy ≥ 90 % → D90 = 16 Gy; D95% ≥ 50 Gy → D95 = 50 Gy), so that the coverage
    the protocol asks for is exactly what normalisation gives and the organs get no more dose than
    it needs; D95 when the protocol has no such goal."""
    rx = protocol.dose_gy.value
    for goal in protocol.goals:
        if goal.structure != protocol.target or goal.comparison != ">=":
            continue
        kind, number = parse_metric(goal.metric)
        if kind == "volume_at_dose" and goal.unit == "%" and number == rx:
            return goal.limit.value / 100.0
        if kind == "dose_at_percent" and goal.limit.value == rx:
            return number / 100.0
    return DEFAULT_COVERAGE_FRACTION


def protocol_plan(volume: PlanningVolume, protocol: Protocol, ct_types: dict[str, str],
                  explicit: dict[str, str] | None = None, prior: PriorCourseDose | None = None) -> ProtocolPlan:
    """The protocol's plan on ``volume`` (on the dose grid). ``ct_types``: the CT's structure names
    with their RT ROI Interpreted Type; ``explicit``: the planner's Protocol=CT mapping. A protocol
    structure the CT lacks, or two that fit it, stop with a StructureMatchError naming them.
    ``prior``: an earlier course's dose (planner.dicom.prior_dose_read.read_prior_course), placed as
    the plan's Reirradiation; a protocol without re-irradiation limits, another frame of reference, a
    grid that misses the limited structure or an earlier dose that alone reaches the cumulative limit
    stop with a ReirradiationError."""
    known = {name: kind for name, kind in ct_types.items() if name in volume.masks}
    mapping = match_structures(protocol, known, explicit)
    volume, mapping = derive_structures(volume, protocol, mapping)
    # a coverage of 100 % cannot be a normalisation volume: InversePlan.problems refuses it
    rx = InversePrescription(target=mapping[protocol.target], dose_per_fraction_gy=protocol.dose_per_fraction_gy,
                             fractions=int(protocol.fractions.value), coverage_volume_fraction=coverage_fraction(protocol))
    plan = InversePlan(prescription=rx, objectives=starting_objectives(protocol, mapping))
    background = None if prior is None else place_prior(volume, protocol, mapping, prior)
    return ProtocolPlan(protocol, volume, mapping, plan, known, background)


# ------------------------------------------------------------------------------------ re-irradiation

@dataclass(frozen=True, eq=False)
class CappedMaxDose:
    """A max-dose term with a cap per point of its structure (the optimiser's samples, in their
    order): the optimiser's "max_dose" term (optimise._term) read element-wise, the squared
    overdose above each point's own cap. Derived from the earlier course each time, never stored in
    the InversePlan (which stays a plain, serialisable value)."""

    structure: str
    dose_gy: np.ndarray
    weight: float
    kind: str = "max_dose"
    volume_fraction: float = 0.0

    def describe(self) -> str:
        return (f"{self.structure} dose ≤ its re-irradiation cap at each point "
                f"({float(self.dose_gy.min()):.2f}–{float(self.dose_gy.max()):.2f} Gy)")


@dataclass(frozen=True)
class ReirradiationReport:
    """The re-irradiation limits judged on one dose of the new course, with the EQD2 DVHs they were
    read from (the limited structure's cumulative and this course's own, for the window)."""

    structure: str
    alpha_beta_gy: float
    rows: tuple[ReirradiationRow, ...]
    months: float | None
    prior: PriorCourseDose
    cumulative_eqd2: StructureDvh
    course_eqd2: StructureDvh
    note: str = ""

    @property
    def all_met(self) -> bool:
        return all(r.met for r in self.rows)

    def as_dict(self) -> dict:
        return {"prior": self.prior.as_dict(), "structure": self.structure, "alpha_beta_gy": self.alpha_beta_gy,
                "limits": [r.as_dict() for r in self.rows], "interval_months": self.months,
                "eqd2": "EQD2 = D (d + α/β) / (2 + α/β) at each DVH sample, the earlier course's dose interpolated "
                        "there; cumulative = the sum of both courses' EQD2 point by point",
                "note": self.note}


@dataclass(frozen=True, eq=False)
class Reirradiation:
    """An earlier course placed on the CT for one protocol: what the optimiser caps the new course
    against and what judges its limits. ``structure`` is the CT's name of the limited structure."""

    prior: PriorCourseDose
    limits: ReirradiationLimits
    structure: str
    alpha_beta_gy: float
    fractions: int              # the new course's
    months: float | None        # from the earlier plan's date to the CT's; None when unknown
    samples: StructureSamples   # the structure's DVH samples (planning.sampled), where the limits are read
    prior_eqd2_gy: np.ndarray   # the earlier course's EQD2 at those samples

    def optimiser_terms(self, samples: dict[str, StructureSamples]) -> tuple[CappedMaxDose, ...]:
        """The new course's per-point caps on the limited structure at the optimiser's samples
        (planner.core.reirradiation.new_course_caps_gy), weighted as a priority-1 goal."""
        prior_eqd2 = eqd2_gy(_prior_gy_at(self.prior, samples[self.structure]), self.prior.fractions,
                             self.alpha_beta_gy)
        caps = new_course_caps_gy(self.limits, prior_eqd2, self.fractions, self.alpha_beta_gy)
        return (CappedMaxDose(self.structure, caps, WEIGHT_BY_PRIORITY[1]),)

    def judge(self, dvhs: dict) -> ReirradiationReport:
        """The limits on one dose of the new course, given as its DVHs by CT name (planning.structure_dvhs:
        the limited structure's doses at ``samples``)."""
        cumulative, own, rows = self._judged(self._new_dose_gy(dvhs))
        return ReirradiationReport(self.structure, self.alpha_beta_gy, rows, self.months, self.prior, cumulative,
                                   own, self.limits.note)

    def headroom(self, dvhs: dict) -> tuple[float, str]:
        """The largest factor the new course's dose may be scaled by with its dose limits still met
        (cumulative, course, share: each grows with the scale; the interval does not scale), by
        bisection to 1e-4, and the limits' words."""
        new = self._new_dose_gy(dvhs)

        def met(k: float) -> bool:
            return all(r.met for r in self._judged(k * new)[2] if r.unit != "months")

        low, high = 0.0, 1.0
        while met(high) and high < 1e3:
            low, high = high, 2 * high
        while high - low > 1e-4:
            mid = (low + high) / 2
            low, high = (mid, high) if met(mid) else (low, mid)
        # the limit the bisection stopped at: the first one not met just above the factor
        first = next(r for r in self._judged(high * new)[2] if r.unit != "months" and not r.met)
        return low, f"{self.structure} {first.text} (re-irradiation)"

    def _new_dose_gy(self, dvhs: dict) -> np.ndarray:
        dose = np.asarray(dvhs[self.structure].dose_gy, dtype=float)
        if dose.shape != self.prior_eqd2_gy.shape:
            raise ReirradiationError(f"{self.structure}'s dose is read at {dose.size} samples, the earlier course's at "
                                     f"{self.prior_eqd2_gy.size}: not the same structure sampling")
        return dose

    def _judged(self, new_dose_gy: np.ndarray):
        course = eqd2_gy(new_dose_gy, self.fractions, self.alpha_beta_gy)
        cumulative = StructureDvh(self.structure, self.prior_eqd2_gy + course, self.samples.cell_cc)
        own = StructureDvh(self.structure, course, self.samples.cell_cc)
        _, volume_cc = parse_metric(self.limits.metric)
        rows = judge_limits(self.limits, cumulative.dose_at_volume_cc_gy(volume_cc),
                            own.dose_at_volume_cc_gy(volume_cc), self.months)
        return cumulative, own, rows

    def prior_on_grid_gy(self, grid: VoxelGrid) -> np.ndarray:
        """The earlier course's dose at another grid's voxel centres [x, y, z] (for isodose lines of
        the cumulative EQD2); NaN where the earlier grid does not reach."""
        lattice = StructureSamples("grid", grid.x_mm, grid.y_mm, grid.z_mm, np.arange(int(np.prod(grid.shape))),
                                   grid.voxel_volume_cm3, "voxel centres")
        dose = dose_at_samples_gy(lattice, self.prior.grid, self.prior.dose_gy).reshape(grid.shape)
        inside = [(a >= p.min() - abs(p[1] - p[0]) / 2) & (a <= p.max() + abs(p[1] - p[0]) / 2) if p.size > 1
                  else np.isclose(a, p[0]) for a, p in zip((grid.x_mm, grid.y_mm, grid.z_mm),
                                                            (self.prior.grid.x_mm, self.prior.grid.y_mm,
                                                             self.prior.grid.z_mm))]
        covered = inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :]
        return np.where(covered, dose, np.nan)

    def cumulative_eqd2_on_grid_gy(self, grid: VoxelGrid, new_dose_gy: np.ndarray) -> np.ndarray:
        """Both courses' EQD2 summed at ``grid``'s voxel centres (the new course's dose [x, y, z] on
        that grid), for isodose lines: at the limited structure's α/β everywhere, so a figure for
        that organ only; NaN where the earlier grid does not reach."""
        prior_gy = self.prior_on_grid_gy(grid)
        total = (eqd2_gy(np.nan_to_num(prior_gy), self.prior.fractions, self.alpha_beta_gy)
                 + eqd2_gy(np.asarray(new_dose_gy, dtype=float), self.fractions, self.alpha_beta_gy))
        return np.where(np.isnan(prior_gy), np.nan, total)


def _prior_gy_at(prior: PriorCourseDose, samples: StructureSamples) -> np.ndarray:
    """The earlier course's dose interpolated at a structure's samples (its grid must cover them)."""
    check_covers(prior, samples.name, samples_bounds_mm(samples))
    return dose_at_samples_gy(samples, prior.grid, prior.dose_gy)


def samples_bounds_mm(samples: StructureSamples):
    """((x0, x1), (y0, y1), (z0, z1)) of the samples inside a structure."""
    idx = np.unravel_index(samples.inside, (samples.x_mm.size, samples.y_mm.size, samples.z_mm.size))
    return tuple((float(axis[i].min()), float(axis[i].max())) for axis, i in zip((samples.x_mm, samples.y_mm,
                                                                                     samples.z_mm), idx))


def ct_date(volume: PlanningVolume) -> dt.date | None:
    """The CT's Study Date (the planning CT: the new course starts no earlier), None when unknown."""
    origin = volume.dicom_origin
    text = "" if origin is None else dict(origin.patient_study).get("study_date", "")
    try:
        return dt.datetime.strptime(text.strip(), "%Y%m%d").date() if text and text.strip() else None
    except ValueError:
        return None


def place_prior(volume: PlanningVolume, protocol: Protocol, mapping: dict[str, str],
                prior: PriorCourseDose) -> Reirradiation:
    """The earlier course placed on ``volume`` (with the derived structures) for ``protocol``, each
    doubt a one-line ReirradiationError (see protocol_plan)."""
    limits = protocol.reirradiation
    if limits is None:
        raise ReirradiationError(f"protocol {protocol.id} sets no re-irradiation limits: an earlier course's dose "
                                 f"needs a protocol with a reirradiation section")
    check_same_frame(prior, volume.frame_of_reference_uid)
    structure = mapping[limits.structure]
    samples = sampled(volume).samples.get(structure)
    if samples is None:
        raise ReirradiationError(f"{structure} has no samples on the dose grid: its cumulative dose cannot be read")
    alpha_beta = protocol.alpha_beta_gy[limits.structure].value
    placed = Reirradiation(prior, limits, structure, alpha_beta, int(protocol.fractions.value),
                           # to the planning CT's date: the new course cannot start before it, so the
                           # interval is never overstated
                           interval_months(prior.plan_date, ct_date(volume)), samples,
                           eqd2_gy(_prior_gy_at(prior, samples), prior.fractions, alpha_beta))
    # stops before the long dose-influence step when the earlier dose alone reaches the limit
    new_course_caps_gy(limits, placed.prior_eqd2_gy, placed.fractions, alpha_beta)
    return placed


@dataclass(frozen=True)
class Headroom:
    """How far the plan's dose could be scaled before its first priority-1 dose limit is reached,
    and the target's coverage goal there: the coverage those limits allow this dose distribution
    (a rescaled plan, not the plan as normalised)."""

    scale: float
    limiting_goal: str     # "SpinalCord D0.35cc ≤ 10 Gy"
    coverage_goal: str     # "PTV V16Gy ≥ 90 %"
    coverage: float        # the coverage goal's value at that scale, in its unit
    unit: str


class _ScaledDvh:
    """A DVH of the dose times ``k`` (doses scale, volumes at a dose are read at dose / k)."""

    def __init__(self, dvh, k: float) -> None:
        self.dvh, self.k = dvh, k

    @property
    def mean_gy(self) -> float:
        return self.dvh.mean_gy * self.k

    def dose_at_volume_cc_gy(self, volume_cc: float) -> float:
        return self.dvh.dose_at_volume_cc_gy(volume_cc) * self.k

    def dose_at_volume_percent_gy(self, volume_percent: float) -> float:
        return self.dvh.dose_at_volume_percent_gy(volume_percent) * self.k

    def volume_at_dose(self, dose_gy: float):
        return self.dvh.volume_at_dose(dose_gy / self.k)


def limits_headroom(protocol: Protocol, mapping: dict[str, str], dvhs: dict,
                    reirradiation: Reirradiation | None = None) -> Headroom | None:
    """The Headroom of a dose (its DVHs by CT name), or None when it cannot be said by scaling: no
    priority-1 dose limit, a priority-1 volume limit (V_x ≤ p does not scale with the dose), or no
    coverage goal on the target. With a ``reirradiation`` its limits on the cumulative EQD2 are
    priority-1 limits too (Reirradiation.headroom)."""
    limits = [g for g in protocol.goals if g.priority == 1 and g.comparison == "<="]
    coverage = next((g for g in protocol.goals if g.structure == protocol.target and g.comparison == ">="), None)
    if coverage is None or any(g.unit != "Gy" for g in limits):
        return None
    values = [(measure(dvhs[mapping[g.structure]], g.metric, g.unit), g) for g in limits]
    # an organ with no dose limits nothing
    scales = [(g.limit.value / value, f"{mapping[g.structure]} {g.text}") for value, g in values if value > 0]
    if reirradiation is not None:
        scales.append(reirradiation.headroom(dvhs))
    if not scales:
        return None
    k, limiting = min(scales, key=lambda s: s[0])
    value = measure(_ScaledDvh(dvhs[mapping[coverage.structure]], k), coverage.metric, coverage.unit)
    return Headroom(k, limiting, f"{mapping[coverage.structure]} {coverage.text}", value, coverage.unit)


# ------------------------------------------------------------------------- normalised to the limits

# The planning margin below the first priority-1 limit when a plan is scaled to its limits, as a
# fraction of the dose there. Why 2 %: a near-maximum read on the DVH's 0.5 mm lattice is not the
# converged value at a surface facing a steep fall-off. On the 2.5 mm spine SBRT re-irradiation plan
# the cord's D0.03cc read 8.870 Gy (0.5 mm), 8.989 (0.25 mm), 8.933 (0.125 mm) and 8.939 Gy
# (0.0625 mm): 0.8 % below the converged value at 0.5 mm (scripts/near_max_lattice.py); at 5 mm an
# independent reading of the exported RT Dose on the phantom's own cylinder also 0.8 % above Planner's.
# Twice that, so the limit holds for what the lattice cannot resolve; tests/cli/test_imrt_reirradiation.py
# checks the exported plan's converged near-maximum against the limits.
LIMITS_MARGIN = 0.02


@dataclass(frozen=True, eq=False)
class LimitsNormalisation:
    """A protocol plan scaled to ``1 − margin`` of the dose at which its first priority-1 limit
    (organ dose limits, and an earlier course's re-irradiation limits) is reached, so the target is
    covered as far as those limits allow; never beyond the dose at which the coverage goal reads
    100 % (more dose would cover nothing more)."""

    chosen: ProtocolPlan
    margin: float = LIMITS_MARGIN

    @property
    def structures(self) -> frozenset[str]:
        """The CT names whose DVHs ``rescale`` reads: the target, the priority-1 limits' organs and
        the re-irradiation's limited structure."""
        c = self.chosen
        names = {c.mapping[c.protocol.target]} | {c.mapping[g.structure] for g in c.protocol.goals
                                                   if g.priority == 1 or g.structure == c.protocol.target}
        return frozenset(names | ({c.reirradiation.structure} if c.reirradiation is not None else set()))

    def rescale(self, dvhs: dict) -> tuple[float, str]:
        """The factor for a dose (its DVHs by CT name, already normalised to coverage) and the words
        saying what it is (without the factor: the same words describe the plan before and after)."""
        c = self.chosen
        room = limits_headroom(c.protocol, c.mapping, dvhs, c.reirradiation)
        target = c.mapping[c.protocol.target]
        least = float(dvhs[target].dose_desc_gy[-1])
        rx = c.protocol.dose_gy.value
        full = rx / least if least > 0 else float("inf")
        if room is None and full == float("inf"):
            raise InversePlanError(f"{c.protocol.id} normalises to its limits, but no priority-1 limit is reached at any "
                                f"dose and {target} gets no dose everywhere: optimise again")
        keep = f"{100 * (1 - self.margin):g} %"
        if room is None or full <= room.scale * (1 - self.margin):
            return full, (f"scaled until {target} V{rx:g}Gy = 100 % on the reported DVH (structures sampled below the "
                          f"dose voxel), below {keep} of the dose at which a priority-1 limit is reached")
        return room.scale * (1 - self.margin), (
            f"scaled to {keep} of the dose at which {room.limiting_goal} is reached on the reported DVH (structures "
            f"sampled below the dose voxel; a {100 * self.margin:g} % planning margin): {target} covered as far as "
            f"the priority-1 limits allow")
