"""Safety checks of a kV plan. Each problem is a Finding: "refuse" (no treatment time is given and
the plan must not be approved as it stands) or "warn" (deliverable, but look again).

Limits and why:
* useful depth: the prescription point must receive at least 50 % of the surface dose
  (DEFAULT_MIN_USEFUL_PDD_PERCENT). Below that the skin surface gets more than twice the prescribed
  dose; superficial beams are used where the 90 % level covers the target (physics-data §1.2).
* dose per fraction: the SURFACE dose per fraction (the hottest point of a kV beam) must not exceed
  22.5 Gy (DEFAULT_MAX_SURFACE_DOSE_PER_FRACTION_GY), the highest single fraction in the published
  superficial regimens (Chan, Dhadda, Swindell 2007: 18–22.5 Gy × 1, 22.5 Gy with more necrosis
  than 20 Gy; physics-data §4.1). A lower value such as 10 Gy would refuse the unit's own published
  single-fraction presets (18 and 20 Gy × 1). Configurable per clinic (SafetyLimits).
* cone: smaller than the lesion width → refuse (part of the visible lesion is outside the field);
  smaller than the width + 2 × lateral margin (default 5 mm, physics-data §4.3) → warn.
* coverage: the lesion's deepest point outside the prescription isodose → warn (under-dosed); made
  by planner.dose.image_dose.lesion_coverage from the dose at the point itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.dose.commissioning import Commissioning, ConeCommissioning
from planner.dose.dose_plane import DoseCalculationError
from planner.dose.kv_dose import AbsoluteDose, pdd_percent_at
from planner.dose.recommendation import DEFAULT_LATERAL_MARGIN_MM
from planner.core.treatment_unit import Machine, UnknownChoice

DEFAULT_MIN_USEFUL_PDD_PERCENT = 50.0
DEFAULT_MAX_SURFACE_DOSE_PER_FRACTION_GY = 22.5

REFUSE = "refuse"
WARN = "warn"


@dataclass(frozen=True)
class Finding:
    severity: str        # "refuse" | "warn"
    message: str
    code: str = ""       # stable identifier for tests and the GUI (e.g. "cone-too-small")

    def __post_init__(self) -> None:
        if self.severity not in (REFUSE, WARN):
            raise ValueError(f"severity must be 'refuse' or 'warn', got {self.severity!r}")


@dataclass(frozen=True)
class SafetyLimits:
    max_surface_dose_per_fraction_gy: float = DEFAULT_MAX_SURFACE_DOSE_PER_FRACTION_GY
    min_useful_pdd_percent: float = DEFAULT_MIN_USEFUL_PDD_PERCENT
    lateral_margin_mm: float = DEFAULT_LATERAL_MARGIN_MM

    def __post_init__(self) -> None:
        for name in ("max_surface_dose_per_fraction_gy", "min_useful_pdd_percent", "lateral_margin_mm"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"safety limit {name} must be a finite number ≥ 0, got {v!r}")
        if self.max_surface_dose_per_fraction_gy == 0:
            raise ValueError("the maximum surface dose per fraction must be above 0 Gy")


def refused(findings) -> bool:
    return any(f.severity == REFUSE for f in findings)


def check_energy(machine: Machine, energy_id: str) -> list[Finding]:
    try:
        energy = machine.energy(energy_id)
    except UnknownChoice as err:
        return [Finding(REFUSE, f"energy not available: {err}", "unknown-energy")]
    if energy.hvl_mm_al is None:
        return [Finding(REFUSE, f"{energy.label}: the beam quality (HVL) is not commissioned; no beam data can be "
                                f"computed", "hvl-not-commissioned")]
    return []


def check_cone(machine: Machine, applicator_id: str, lesion_width_mm: float | None,
               limits: SafetyLimits = SafetyLimits(), what: str = "cone") -> list[Finding]:
    """Is the cone (or applicator: ``what``) wide enough for the lesion and its lateral margin?"""
    try:
        cone = machine.applicator(applicator_id)
    except UnknownChoice as err:
        return [Finding(REFUSE, f"{what} not available: {err}", "unknown-cone")]
    if lesion_width_mm is None:
        return []
    if cone.diameter_mm < lesion_width_mm:
        return [Finding(REFUSE, f"the {cone.label} {what} is narrower than the lesion ({lesion_width_mm:.2f} mm): "
                                f"part of the lesion lies outside the field", "cone-smaller-than-lesion")]
    need = lesion_width_mm + 2 * limits.lateral_margin_mm
    if cone.diameter_mm < need - 1e-9:
        return [Finding(WARN, f"the {cone.label} {what} is smaller than the lesion width {lesion_width_mm:.2f} mm + "
                              f"2 × {limits.lateral_margin_mm:g} mm margin = {need:.2f} mm", "cone-margin")]
    return []


def check_commissioning(entry: ConeCommissioning | None, commissioning: Commissioning | None) -> list[Finding]:
    out: list[Finding] = []
    if commissioning is None or entry is None:
        return [Finding(REFUSE, "no commissioning data for this energy and cone: SSD and output not commissioned",
                        "not-commissioned")]
    if entry.ssd_cm.value is None:
        out.append(Finding(REFUSE, "SSD not commissioned for this energy and cone: no beam data can be computed",
                           "ssd-not-commissioned"))
    if entry.air_kerma_rate_gy_per_min.value is None:
        out.append(Finding(REFUSE, "output (air-kerma rate) not commissioned for this energy and cone: no "
                                   "treatment time", "output-not-commissioned"))
    if entry.timer_end_effect_min.value is None:
        out.append(Finding(REFUSE, "timer end effect not commissioned for this energy and cone: no treatment time",
                           "end-effect-not-commissioned"))
    if commissioning.is_demo:
        out.append(Finding(WARN, "DEMO commissioning: SSD, output and end effect are illustrative values, not "
                                 "measured, not for clinical use", "demo-commissioning"))
    return out


def check_prescription_depth(pdd, depth_mm: float, limits: SafetyLimits = SafetyLimits(),
                             what: str = "the prescription point") -> list[Finding]:
    try:
        pct = pdd_percent_at(pdd, depth_mm)
    except DoseCalculationError as err:
        return [Finding(REFUSE, f"{what}: {err}", "depth-outside-data")]
    if pct < limits.min_useful_pdd_percent:
        return [Finding(REFUSE, f"{what} at {depth_mm:.2f} mm receives {pct:.1f} % of Dmax (the surface dose), below the "
                                f"useful {limits.min_useful_pdd_percent:g} % (the skin would get "
                                f"{100 / pct if pct > 0 else float('inf'):.1f} × the prescription); choose a higher "
                                f"energy or another technique", "depth-not-useful")]
    return []


def check_doses(dose: AbsoluteDose, limits: SafetyLimits = SafetyLimits()) -> list[Finding]:
    out: list[Finding] = []
    for name, v in (("prescribed dose per fraction", dose.prescribed_dose_gy),
                    ("surface dose per fraction", dose.surface_dose_gy),
                    ("dose at the prescription depth", dose.dose_at_prescription_depth_gy)):
        if not (math.isfinite(v) and v > 0):
            out.append(Finding(REFUSE, f"{name} is {v:g} Gy: a dose must be above 0 Gy", "non-positive-dose"))
    if math.isfinite(dose.surface_dose_gy) and dose.surface_dose_gy > limits.max_surface_dose_per_fraction_gy:
        out.append(Finding(REFUSE, f"Dmax (the surface dose) per fraction would be {dose.surface_dose_gy:.2f} Gy, above "
                                   f"the safety limit {limits.max_surface_dose_per_fraction_gy:g} Gy: lower the dose "
                                   f"per fraction (more fractions), or prescribe to a higher isodose or a shallower "
                                   f"point", "dose-above-limit"))
    if dose.treatment_time_min is not None and not (math.isfinite(dose.treatment_time_min) and dose.treatment_time_min > 0):
        out.append(Finding(REFUSE, f"treatment time {dose.treatment_time_min!r} min is not a positive number",
                           "bad-time"))
    return out
