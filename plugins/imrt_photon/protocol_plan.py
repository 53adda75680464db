"""A clinical protocol made into an IMRT plan on a CT (issue 18, point 6): its structures matched on
the CT, its derived structures (a cord PRV, PTV minus PRV) added to the volume, its prescription and
the starting objectives its goals give (planner.core.protocols), as the InversePlan the IMRT steps
(planning.py) optimise.

Why apart from planning.py: the protocol step is the same for the window and the command line, and
needs nothing of the optimiser but the plan it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.core.inverse_plan import InversePlan, InversePrescription
from planner.core.protocols.derived import derive_structures
from planner.core.protocols.goals import measure
from planner.core.protocols.matching import match_structures
from planner.core.protocols.objectives import starting_objectives
from planner.core.protocols.protocol import Protocol, parse_metric
from planner.core.volume import PlanningVolume

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
                  explicit: dict[str, str] | None = None) -> ProtocolPlan:
    """The protocol's plan on ``volume`` (on the dose grid). ``ct_types``: the CT's structure names
    with their RT ROI Interpreted Type; ``explicit``: the planner's Protocol=CT mapping. A protocol
    structure the CT lacks, or two that fit it, stop with a StructureMatchError naming them."""
    known = {name: kind for name, kind in ct_types.items() if name in volume.masks}
    mapping = match_structures(protocol, known, explicit)
    volume, mapping = derive_structures(volume, protocol, mapping)
    # a coverage of 100 % cannot be a normalisation volume: InversePlan.problems refuses it
    rx = InversePrescription(target=mapping[protocol.target], dose_per_fraction_gy=protocol.dose_per_fraction_gy,
                             fractions=int(protocol.fractions.value), coverage_volume_fraction=coverage_fraction(protocol))
    plan = InversePlan(prescription=rx, objectives=starting_objectives(protocol, mapping))
    return ProtocolPlan(protocol, volume, mapping, plan, known)


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


def limits_headroom(protocol: Protocol, mapping: dict[str, str], dvhs: dict) -> Headroom | None:
    """The Headroom of a dose (its DVHs by CT name), or None when it cannot be said by scaling: no
    priority-1 dose limit, a priority-1 volume limit (V_x ≤ p does not scale with the dose), or no
    coverage goal on the target."""
    limits = [g for g in protocol.goals if g.priority == 1 and g.comparison == "<="]
    coverage = next((g for g in protocol.goals if g.structure == protocol.target and g.comparison == ">="), None)
    if not limits or coverage is None or any(g.unit != "Gy" for g in limits):
        return None
    values = [(measure(dvhs[mapping[g.structure]], g.metric, g.unit), g) for g in limits]
    scales = [(g.limit.value / value, g) for value, g in values if value > 0]   # an organ with no dose limits nothing
    if not scales:
        return None
    k, limiting = min(scales, key=lambda s: s[0])
    value = measure(_ScaledDvh(dvhs[mapping[coverage.structure]], k), coverage.metric, coverage.unit)
    return Headroom(k, f"{mapping[limiting.structure]} {limiting.text}", f"{mapping[coverage.structure]} {coverage.text}",
                    value, coverage.unit)
