"""The clinical goals of a protocol judged on a plan's honest DVH, and every organ at risk watched.

Input: each structure's DVH as planner.dose.structure_dvh.StructureDvh gives it (structures sampled
below the dose voxel; any object with the same four read-outs will do — core does not import the
dose layer). Output: one row per goal with its value, its limit and whether it is met — "met" is
computed here and nowhere else — then, for every ORGAN structure of the CT that no goal names, its
D0.03cc and Dmean with no limit; and a warning for a spinal cord, brainstem or cauda equina (by
TG-263 name) that the protocol sets no limit for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol as Interface

from planner.core.protocols.matching import SERIAL_CNS, tg263_name
from planner.core.protocols.protocol import Goal, Protocol, ProtocolError, parse_metric

NEAR_MAX_METRIC = "D0.03cc"
# A goal is judged on its value as every view shows it (plugins/imrt_photon/planning.py judges
# TG-119's goals the same way: Gy to 0.01), so a table never reads "14.00 Gy ≤ 14 Gy: not met".
SHOWN_DECIMALS = {"Gy": 2, "%": 1, "cc": 2, "months": 1}   # months: re-irradiation intervals


class DoseVolume(Interface):
    """What a goal reads from a structure's DVH (planner.dose.structure_dvh.StructureDvh)."""

    @property
    def mean_gy(self) -> float: ...

    def dose_at_volume_cc_gy(self, volume_cc: float) -> float: ...

    def dose_at_volume_percent_gy(self, volume_percent: float) -> float: ...

    def volume_at_dose(self, dose_gy: float): ...  # .volume_cc, .volume_percent


@dataclass(frozen=True)
class GoalResult:
    """One row of the clinical goals table. `limit` and `met` are None for an organ watched without a goal."""

    goal: str
    structure: str
    value: float
    unit: str
    limit: float | None
    met: bool | None
    priority: int | None
    source: str = ""

    def as_dict(self) -> dict:
        key = "value_percent" if self.unit == "%" else "value_cc" if self.unit == "cc" else "value_gy"
        limit_key = {"%": "limit_percent", "cc": "limit_cc"}.get(self.unit, "limit_gy")
        return {"goal": self.goal, "structure": self.structure, key: self.value, limit_key: self.limit,
                "met": self.met, "priority": self.priority}


@dataclass(frozen=True)
class GoalReport:
    rows: tuple[GoalResult, ...]
    warnings: tuple[str, ...]

    @property
    def all_met(self) -> bool:
        return all(r.met for r in self.rows if r.met is not None)


def measure(dvh: DoseVolume, metric: str, unit: str) -> float:
    """The metric's value on one DVH, in `unit` (Gy for a dose, % or cc for a volume)."""
    kind, number = parse_metric(metric)
    if kind == "dose_at_percent":
        return dvh.dose_at_volume_percent_gy(number)
    if kind == "dose_at_cc":
        return dvh.dose_at_volume_cc_gy(number)
    if kind == "mean":
        return dvh.mean_gy
    at = dvh.volume_at_dose(number)
    return at.volume_percent if unit == "%" else at.volume_cc


def is_met(goal: Goal, value: float) -> bool:
    """The goal's one test, on the value as shown (SHOWN_DECIMALS). A value that cannot be read (a
    structure smaller than the goal's volume: NaN) is not met."""
    if not math.isfinite(value):
        return False
    shown = round(value, SHOWN_DECIMALS[goal.unit])
    return shown <= goal.limit.value if goal.comparison == "<=" else shown >= goal.limit.value


def evaluate_goals(protocol: Protocol, mapping: dict[str, str], dvhs: dict[str, DoseVolume],
                   ct_types: dict[str, str]) -> GoalReport:
    """The goals table: each goal on its CT structure (``mapping``: protocol name → CT name, derived
    structures included), then each ORGAN structure of ``ct_types`` (CT name → RT ROI Interpreted
    Type) that no goal names, with its D0.03cc and Dmean. A goal whose structure has no DVH is a
    ProtocolError naming it: a goal is never skipped."""
    rows = []
    for goal in protocol.goals:
        ct = mapping.get(goal.structure)
        if ct is None or ct not in dvhs:
            raise ProtocolError(f"goal {goal.metric} on {goal.structure}: no dose-volume histogram for "
                                f"{ct or goal.structure} (is it mapped and on the dose grid?)")
        value = measure(dvhs[ct], goal.metric, goal.unit)
        rows.append(GoalResult(goal.metric, ct, value, goal.unit, goal.limit.value, is_met(goal, value),
                               goal.priority, goal.limit.source))
    limited = {mapping.get(g.structure) for g in protocol.goals if g.comparison == "<="}
    named = {mapping.get(g.structure) for g in protocol.goals}
    unread = []
    for ct, kind in ct_types.items():
        if kind.upper() == "ORGAN" and ct not in named:
            dvh = dvhs.get(ct)
            if dvh is None:
                unread.append(f"{ct}: organ without a dose-volume histogram (outside the dose grid?): not watched")
                continue
            rows.append(GoalResult(NEAR_MAX_METRIC, ct, dvh.dose_at_volume_cc_gy(0.03), "Gy", None, None, None))
            rows.append(GoalResult("Dmean", ct, dvh.mean_gy, "Gy", None, None, None))
    warnings = tuple(f"{ct} ({tg263_name(ct)}) has no dose limit in protocol {protocol.id}: its dose is shown, not judged"
                     for ct in ct_types if tg263_name(ct) in SERIAL_CNS and ct not in limited)
    return GoalReport(tuple(rows), tuple(unread) + warnings)
