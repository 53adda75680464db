"""Which commissioned beam a plan's dose needs, looked up through its technique.

Why here: a technique owns its machines and their commissioning; the dose engines, the report, the
export and the review ask these two functions, so "this machine's commissioning" has one meaning.
"""

from __future__ import annotations

from planner.core.plan import Plan
from planner.dose.commissioning import Commissioning
from planner.techniques.interface import Technique

__all__ = ["beam_key", "machine_commissioning"]


def machine_commissioning(technique: Technique, machine_id: str) -> Commissioning | None:
    """The clinic's commissioning of one machine of ``technique``, or None."""
    return technique.commissioning_for(machine_id)


def beam_key(technique: Technique, plan: Plan):
    """(energy, applicator, SSD in cm) whose beam data the plan's dose needs, or None when the
    machine's commissioning has no SSD for them (the engine then says what is missing)."""
    commissioning = machine_commissioning(technique, plan.setup.machine_id)
    entry = None if commissioning is None else commissioning.entry(plan.setup.energy_id, plan.setup.applicator_id)
    if entry is None or entry.ssd_cm.value is None:
        return None
    machine = technique.machine(plan.setup.machine_id)
    try:
        return machine.energy(plan.setup.energy_id), machine.applicator(plan.setup.applicator_id), entry.ssd_cm.value
    except KeyError:
        return None
