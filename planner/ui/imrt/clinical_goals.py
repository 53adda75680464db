"""A protocol's goals as the IMRT window's goals table shows them (planner.ui.imrt.goals_table):
one row per goal (goal, structure, value with its unit, limit, verdict written, priority), then each
organ no goal names (D0.03cc and Dmean, "no goal"), and the coverage the priority-1 limits allow.

The values and verdicts are the core's (planner.core.protocols.goals, through plugins.imrt_photon.
protocol_goals); here they are only written out, to the decimals the core judges them on.
"""

from __future__ import annotations

from planner.core.protocols.goals import SHOWN_DECIMALS
from planner.ui.imrt.goals_table import MET_TEXT, NO_GOAL_TEXT, NOT_MET_TEXT


def value_text(value: float, unit: str) -> str:
    return f"{value:.{SHOWN_DECIMALS[unit]}f} {unit}"


def clinical_rows(report, protocol) -> list[tuple[tuple[str, ...], bool | None]]:
    """The table's rows of a GoalReport: its goal rows come first, in the protocol's goal order."""
    judged = [r for r in report.rows if r.limit is not None]
    rows = [((r.goal, r.structure, value_text(r.value, r.unit),
              f"{'≤' if goal.comparison == '<=' else '≥'} {goal.limit.value:g} {goal.unit}",
              MET_TEXT if r.met else NOT_MET_TEXT, f"P{r.priority}"), r.met)
            for goal, r in zip(protocol.goals, judged)]
    rows += [((r.goal, r.structure, value_text(r.value, r.unit), "—", NO_GOAL_TEXT, "—"), None)
             for r in report.rows if r.limit is None]
    return rows


def headroom_text(headroom) -> str:
    """What the priority-1 limits allow this dose (planner imrt prints the same figures), or ""."""
    if headroom is None:
        return ""
    return (f"Coverage the priority-1 limits allow: the dose × {headroom.scale:.3f} reaches "
            f"{headroom.limiting_goal}, where {headroom.coverage_goal} reads "
            f"{value_text(headroom.coverage, headroom.unit)} (a rescaled plan, not this one).")


def protocol_text(chosen) -> str:
    """The protocol applied and the structures mapped onto CT structures of other names (all of
    them: protocol_mapping_text)."""
    p = chosen.protocol
    renamed = ", ".join(f"{k} = {v}" for k, v in chosen.mapping.items() if k != v)
    return (f"Protocol {p.id} version {p.version}: {p.title}. "
            + (f"Structures mapped: {renamed}." if renamed else "Its structures are the CT's of the same names."))


def protocol_mapping_text(chosen) -> str:
    return "Protocol structure = CT structure:\n" + "\n".join(f"{k} = {v}" for k, v in chosen.mapping.items())
