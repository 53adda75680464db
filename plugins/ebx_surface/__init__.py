"""Surface electronic brachytherapy (HDR eBx): miniature X-ray sources in flattened surface applicators.

Machines and regimens: plugins/ebx_surface/machine_data.py (every number with its source).
Beam model for the shared kV Monte Carlo: plugins/ebx_surface/applicator_model.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.core.prescription import PrescriptionPoint
from planner.techniques.interface import FractionationPreset, Machine, by_id
from plugins.ebx_surface.machine_data import (
    ESTEYA_UNIT,
    FRACTIONATION_PRESETS,
    TYPICAL_PRESCRIPTION_DEPTH_MM,
    XOFT_UNIT,
)


@dataclass(frozen=True)
class ElectronicBrachytherapySurface:
    id: str = "ebx-surface"
    name: str = "Electronic brachytherapy, surface applicators (HDR eBx)"
    machines: tuple[Machine, ...] = (ESTEYA_UNIT, XOFT_UNIT)
    fractionation_presets: tuple[FractionationPreset, ...] = FRACTIONATION_PRESETS
    # eBx is prescribed at depth, commonly 3–5 mm (machine_data.TYPICAL_PRESCRIPTION_DEPTH_MM).
    default_prescription_point: PrescriptionPoint = PrescriptionPoint.at_depth(TYPICAL_PRESCRIPTION_DEPTH_MM[0])

    def machine(self, machine_id: str) -> Machine:
        return by_id(self.machines, machine_id, "machine for surface eBx")


technique = ElectronicBrachytherapySurface()
