"""Surface electronic brachytherapy (HDR eBx): miniature X-ray sources in flattened surface applicators.

Machines and regimens: plugins/ebx_surface/machine_data.py (every number with its source).
Beam model for the shared kV Monte Carlo: plugins/ebx_surface/applicator_model.py.
Dose, dwell time and dose plane: plugins/ebx_surface/dose_engine.py (absolute dose from the
commissioned reference dose rate: applicator_dose.py; commissioning files: commissioning.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.core.prescription import PrescriptionPoint
from planner.dose.commissioning import Commissioning
from planner.techniques.interface import FractionationPreset, Machine, by_id
from plugins.ebx_surface.commissioning import load_demo_commissioning
from plugins.ebx_surface.dose_engine import EbxDoseEngine
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
    # Planned on a surface image: a dose engine, no inverse planner (planner.techniques.interface).
    dose_engine: EbxDoseEngine = field(default_factory=lambda: EbxDoseEngine((ESTEYA_UNIT, XOFT_UNIT)),
                                       compare=False, repr=False)
    inverse_planner: None = None
    # The bundled commissioning files are illustrative DEMO files; a clinic loads its own.
    commissioning: tuple[Commissioning, ...] = field(
        default_factory=lambda: tuple(load_demo_commissioning(m) for m in (ESTEYA_UNIT, XOFT_UNIT)),
        compare=False, repr=False)

    def machine(self, machine_id: str) -> Machine:
        return by_id(self.machines, machine_id, "machine for surface eBx")

    def commissioning_for(self, machine_id: str) -> Commissioning | None:
        return next((c for c in self.commissioning if c.machine_id == machine_id), None)


technique = ElectronicBrachytherapySurface()
