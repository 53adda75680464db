"""What a clinic commissions for each eBx surface applicator, and the bundled DEMO files.

eBx units are calibrated as a dose rate to water on the applicator's central axis at a reference
depth, measured with the applicator and its end cap in place (not as an air-kerma rate at a cone
end, as kV units are: planner.dose.commissioning). Per (energy, applicator):

- ``ssd_cm``: source-to-surface distance with the applicator on the skin (cm), > 0; the beam
  data (planner's Monte Carlo, plugins/ebx_surface/applicator_model.py) are computed at it.
- ``reference_dose_rate_gy_per_min``: Ḋ_ref, dose rate to water on the central axis at
  ``reference_depth_mm`` (Gy/min), > 0.
- ``reference_depth_mm``: where Ḋ_ref was measured (mm below the surface), ≥ 0.
- ``timer_end_effect_min``: ε, as for kV units (delivered dose = Ḋ·(t_set − ε)), any finite number.

Same file format as kV commissioning ("format": "planner-commissioning", version 1), with these
quantities in each entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from planner.dose.commissioning import Commissioning, CommissioningSchema, load_commissioning
from planner.techniques.interface import CommissionedValue, Machine


@dataclass(frozen=True)
class ApplicatorCommissioning:
    energy_id: str
    applicator_id: str
    ssd_cm: CommissionedValue
    reference_dose_rate_gy_per_min: CommissionedValue
    reference_depth_mm: CommissionedValue
    timer_end_effect_min: CommissionedValue


EBX_APPLICATOR_SCHEMA = CommissioningSchema(
    {"ssd_cm": ("cm", "positive"),
     "reference_dose_rate_gy_per_min": ("Gy/min", "positive"),
     "reference_depth_mm": ("mm", "non-negative"),
     "timer_end_effect_min": ("min", "finite")},
    ApplicatorCommissioning,
    {"ssd_cm": "source-to-surface distance", "reference_dose_rate_gy_per_min": "dose rate at the reference depth",
     "reference_depth_mm": "reference depth", "timer_end_effect_min": "timer end effect"})


def demo_commissioning_path(machine: Machine) -> Path:
    """``resources/commissioning/demo-<machine id>.json`` at the repository root."""
    return Path(__file__).resolve().parents[2] / "resources" / "commissioning" / f"demo-{machine.id}.json"


def load_demo_commissioning(machine: Machine) -> Commissioning:
    return load_commissioning(demo_commissioning_path(machine), machine, EBX_APPLICATOR_SCHEMA)


def load_applicator_commissioning(path, machine: Machine) -> Commissioning:
    """A clinic's own commissioning file for ``machine`` (raises CommissioningError with the file, entry, field)."""
    return load_commissioning(path, machine, EBX_APPLICATOR_SCHEMA)
