"""The optimiser's starting objectives derived from a protocol's clinical goals: one rule
(goal_objective), so a protocol's goals and the optimiser's first terms never disagree in kind."""

from __future__ import annotations

from dataclasses import replace

from planner.core.inverse_plan import Objective
from planner.core.protocols.protocol import Goal, Protocol, parse_metric

# The optimiser weight of a goal's objective by the goal's priority (1 = must be met). Planner's
# choice, taken from the TG-119 set tuned in issue 14 (plugins/imrt_photon/plans.py): 1000 for the
# target and 300 for the organ there; 30 is the body's weight there, used for a priority-3 wish.
WEIGHT_BY_PRIORITY = {1: 1000.0, 2: 300.0, 3: 30.0}


def goal_objective(goal: Goal, volume_cc: float | None = None) -> Objective:
    """The optimiser's starting term for one goal — the one rule: the term that states the goal.

    - the goal's own ``objective`` when the file gives one (with its sources);
    - a lower bound (D_v ≥ x, V_x ≥ p) → ``min_dose`` at the goal's dose: every point of the
      structure pushed up to it, the plan then normalised to the prescription;
    - D_v% ≤ x and V_x ≤ p % → ``max_dvh``: x Gy at v (or p) % of the structure;
    - an absolute volume (D_v cc ≤ x, V_x ≤ v cc) → ``max_dvh`` at v / the structure's volume when
      ``volume_cc`` is known and larger than v; else ``max_dose`` at x, the whole structure held
      below the limit: stricter than the goal, never looser;
    - Dmean ≤ x → ``mean_dose`` at x;
    - weight by priority, WEIGHT_BY_PRIORITY.
    """
    if goal.objective is not None:
        o = goal.objective
        return Objective(o.structure or goal.structure, o.kind, o.dose_gy.value, weight=o.weight.value)
    kind, number = parse_metric(goal.metric)
    weight = WEIGHT_BY_PRIORITY[goal.priority]
    dose = number if kind == "volume_at_dose" else goal.limit.value
    if goal.comparison == ">=":
        return Objective(goal.structure, "min_dose", dose, weight=weight)
    if kind == "mean":
        return Objective(goal.structure, "mean_dose", dose, weight=weight)
    if kind == "dose_at_percent" or (kind == "volume_at_dose" and goal.unit == "%"):
        percent = number if kind == "dose_at_percent" else goal.limit.value
        return Objective(goal.structure, "max_dvh", dose, weight=weight, volume_fraction=percent / 100.0)
    volume = number if kind == "dose_at_cc" else goal.limit.value
    if volume_cc is not None and 0 < volume < volume_cc:
        return Objective(goal.structure, "max_dvh", dose, weight=weight, volume_fraction=volume / volume_cc)
    return Objective(goal.structure, "max_dose", dose, weight=weight)


def starting_objectives(protocol: Protocol, mapping: dict[str, str] | None = None,
                        volumes_cc: dict[str, float] | None = None) -> tuple[Objective, ...]:
    """Every goal's objective (goal_objective) in the file's order, then the file's goal-free terms
    (e.g. a body's dose ceiling), each on its CT structure when ``mapping`` (protocol → CT name) is
    given. ``volumes_cc``: the structures' volumes by protocol name, for absolute-volume goals."""
    volumes_cc = volumes_cc or {}
    terms = [goal_objective(g, volumes_cc.get(g.structure)) for g in protocol.goals]
    terms += [Objective(o.structure, o.kind, o.dose_gy.value, weight=o.weight.value) for o in protocol.extra_objectives]
    if mapping is None:
        return tuple(terms)
    return tuple(replace(t, structure=mapping.get(t.structure, t.structure)) for t in terms)
