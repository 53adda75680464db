"""Superficial kV X-ray cones for image-guided superficial radiotherapy (IGSRT)."""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.dose.commissioning import Commissioning, load_demo_commissioning
from planner.techniques.interface import FractionationPreset, Machine, by_id
from plugins.superficial_kv.dose_engine import SuperficialDoseEngine
from plugins.superficial_kv.machine_data import FRACTIONATION_PRESETS, SUPERFICIAL_UNIT


@dataclass(frozen=True)
class SuperficialKV:
    id: str = "superficial-kv"
    name: str = "Superficial kV X-rays (IGSRT)"
    machines: tuple[Machine, ...] = (SUPERFICIAL_UNIT,)
    fractionation_presets: tuple[FractionationPreset, ...] = FRACTIONATION_PRESETS
    # Prescribed at the 90 % isodose at the lesion's depth (planner.techniques.new_plan).
    default_prescription_point: None = None
    # Planned on a surface image: a dose engine, no inverse planner (planner.techniques.interface).
    dose_engine: SuperficialDoseEngine = field(default_factory=SuperficialDoseEngine, compare=False, repr=False)
    inverse_planner: None = None
    # The bundled commissioning is the illustrative demo file; a clinic loads its own.
    commissioning: Commissioning = field(default_factory=lambda: load_demo_commissioning(SUPERFICIAL_UNIT),
                                         compare=False, repr=False)

    def machine(self, machine_id: str) -> Machine:
        return by_id(self.machines, machine_id, "machine for superficial kV")

    def commissioning_for(self, machine_id: str) -> Commissioning | None:
        return self.commissioning if self.commissioning.machine_id == machine_id else None


technique = SuperficialKV()
