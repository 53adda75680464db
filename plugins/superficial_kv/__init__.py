"""Superficial kV X-ray cones for image-guided superficial radiotherapy (IGSRT)."""

from __future__ import annotations

from dataclasses import dataclass

from planner.techniques.interface import FractionationPreset, Machine, by_id
from plugins.superficial_kv.machine_data import FRACTIONATION_PRESETS, SUPERFICIAL_UNIT


@dataclass(frozen=True)
class SuperficialKV:
    id: str = "superficial-kv"
    name: str = "Superficial kV X-rays (IGSRT)"
    machines: tuple[Machine, ...] = (SUPERFICIAL_UNIT,)
    fractionation_presets: tuple[FractionationPreset, ...] = FRACTIONATION_PRESETS

    def machine(self, machine_id: str) -> Machine:
        return by_id(self.machines, machine_id, "machine for superficial kV")


technique = SuperficialKV()
