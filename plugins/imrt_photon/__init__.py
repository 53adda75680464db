"""IMRT with 6 MV photons (issue 8): inverse planning on a CT volume or the TG-119 phantom.

Planning steps (no Qt): plugins/imrt_photon/planning.py. Beam data and their source:
beam_data.py and data/README.md. The window for it is planner/ui/imrt/.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.techniques.interface import Energy, FractionationPreset, Machine, MachineParameter, by_id
from plugins.imrt_photon.planning import ImrtPlanner
from plugins.imrt_photon.beam_data import generic_6mv

_BEAM_DATA = ("matRad's generic 6 MV machine: SVD pencil-beam kernels (Bortfeld 1993), pyRadPlan 0.5.0 "
              "photons_Generic.mat, BSD-3 (plugins/imrt_photon/data/README.md)")

GENERIC_6MV_LINAC = Machine(
    id="generic-6mv",
    name="Generic 6 MV linac (matRad beam data; DEMO, not a commissioned machine)",
    energies=(Energy("6mv", 6000.0, None, _BEAM_DATA),),
    applicators=(),
    parameters=(MachineParameter("source-axis distance", generic_6mv().sad_mm, "mm", _BEAM_DATA),),
)

FRACTIONATION_PRESETS = (
    FractionationPreset("TG-119 test: 50 Gy in 25 × 2 Gy", 2.0, 25,
                        "AAPM TG-119, Ezzell et al., Med Phys 36(11):5359-5373 (2009): C-shape prescription"),
)


@dataclass(frozen=True)
class ImrtPhoton:
    id: str = "imrt-photon"
    name: str = "IMRT, 6 MV photons (inverse planned on CT)"
    machines: tuple[Machine, ...] = (GENERIC_6MV_LINAC,)
    fractionation_presets: tuple[FractionationPreset, ...] = FRACTIONATION_PRESETS
    # Planned on a CT volume by inverse optimisation; the inverse plan holds its prescription (target D95).
    inverse_planner: ImrtPlanner = field(default_factory=ImrtPlanner, compare=False, repr=False)
    dose_engine: None = None
    default_prescription_point: None = None

    def machine(self, machine_id: str) -> Machine:
        return by_id(self.machines, machine_id, f"machine of {self.name}")

    def commissioning_for(self, machine_id: str) -> None:
        """None: the 6 MV beam data and MU calibration are the plugin's DEMO data, not a clinic's file."""
        return None


technique = ImrtPhoton()
