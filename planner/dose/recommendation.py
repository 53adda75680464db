"""Decision support: which energy and which cone would cover the lesion. Returned, never applied.

Energy: the lowest tube potential whose chosen isodose (default 90 % of the surface dose, the
"90 % of the surface dose" depth convention quoted for superficial units, physics-data §1.2) reaches
the lesion's maximum depth below the skin plus a depth margin. The lowest sufficient energy is
preferred because it spares the tissue below the lesion (steeper fall-off).

Default depth margin 0.5 mm: ultrasound-measured tumour thickness has been found SHALLOWER than
histology by 0.14 mm (HFUS, 90 patients: 1.33 vs 1.47 mm) and 0.21 mm (50 MHz, Nassiri-Kashani 2013:
1.354 vs 1.561 mm) on average (physics-data §5); 0.5 mm covers more than twice the larger mean
under-estimate plus the ~0.1 mm axial resolution of 20–25 MHz probes (Dines 1984, §5). It is a
physicist's default, not a published standard (the IGSRT "90 % isodose at depth + margin"
convention itself was NOT FOUND in retrievable text, physics-data §4.1): change it per clinic.

Cone: the smallest cone whose nominal diameter ≥ lesion width + 2 × lateral margin. Default lateral
margin 5 mm a side: mean microscopic extension beyond the clinical border of NMSC 5.2 mm (Choo,
physics-data §4.3), and 4–6 mm surgical margins; a 5 mm margin covers ~62 % of lesions, 10 mm ~95 %
(same source) — the physician decides, the margin is a parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from planner.core.prescription import DEFAULT_ISODOSE_PERCENT
from planner.dose.kv_dose import isodose_depth_mm
from planner.techniques.interface import Machine

DEFAULT_DEPTH_MARGIN_MM = 0.5
DEFAULT_LATERAL_MARGIN_MM = 5.0


@dataclass(frozen=True)
class Recommendation:
    """``choice_id`` None means no option suffices; ``reason`` says why in one sentence."""

    what: str                      # "energy" | "cone"
    choice_id: str | None
    reason: str
    requirement_mm: float          # the depth or diameter that had to be reached
    achieved_mm: float | None      # what the chosen (or best available) option gives


@dataclass(frozen=True)
class EnergyCandidate:
    energy_id: str
    kvp: float
    pdd: tuple[tuple[float, float], ...]     # (depth mm, % of surface dose) for the cone in question


def _check(name: str, value: float, allow_zero: bool = True) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value)) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")


def recommend_cone(machine: Machine, lesion_width_mm: float,
                   lateral_margin_mm: float = DEFAULT_LATERAL_MARGIN_MM) -> Recommendation:
    _check("lesion width (mm)", lesion_width_mm)
    _check("lateral margin (mm)", lateral_margin_mm)
    need = lesion_width_mm + 2.0 * lateral_margin_mm
    cones = sorted(machine.applicators, key=lambda a: a.diameter_mm)
    if not cones:
        return Recommendation("cone", None, f"{machine.name} offers no cones", need, None)
    for cone in cones:
        if cone.diameter_mm >= need - 1e-9:
            return Recommendation(
                "cone", cone.id,
                f"{cone.label} is the smallest cone covering the lesion width {lesion_width_mm:.2f} mm "
                f"+ 2 × {lateral_margin_mm:g} mm margin = {need:.2f} mm", need, cone.diameter_mm)
    largest = cones[-1]
    return Recommendation(
        "cone", None,
        f"no cone suffices: the lesion width {lesion_width_mm:.2f} mm + 2 × {lateral_margin_mm:g} mm margin = "
        f"{need:.2f} mm exceeds the largest cone ({largest.label}); consider abutting fields or another technique",
        need, largest.diameter_mm)


def recommend_energy(candidates: Sequence[EnergyCandidate], lesion_max_depth_mm: float,
                     isodose_percent: float = DEFAULT_ISODOSE_PERCENT,
                     depth_margin_mm: float = DEFAULT_DEPTH_MARGIN_MM) -> Recommendation:
    _check("lesion maximum depth (mm)", lesion_max_depth_mm)
    _check("depth margin (mm)", depth_margin_mm)
    if not (isinstance(isodose_percent, (int, float)) and 0 < isodose_percent <= 100):
        raise ValueError(f"isodose must be above 0 % and at most 100 %, got {isodose_percent!r}")
    need = lesion_max_depth_mm + depth_margin_mm
    if not candidates:
        return Recommendation("energy", None, "no energies to choose from", need, None)
    best_id, best_depth = None, -1.0
    for c in sorted(candidates, key=lambda c: c.kvp):
        reach = isodose_depth_mm(c.pdd, isodose_percent)
        if reach is None:     # the isodose is not crossed within the data: it reaches at least the table end
            reach = float(c.pdd[-1][0])
        if reach >= need - 1e-9:
            return Recommendation(
                "energy", c.energy_id,
                f"{c.kvp:g} kV is the lowest energy whose {isodose_percent:g} % isodose ({reach:.2f} mm) reaches "
                f"the lesion's maximum depth {lesion_max_depth_mm:.2f} mm + {depth_margin_mm:g} mm margin "
                f"= {need:.2f} mm", need, reach)
        if reach > best_depth:
            best_id, best_depth = c, reach
    return Recommendation(
        "energy", None,
        f"no energy suffices: the deepest {isodose_percent:g} % isodose is {best_depth:.2f} mm at "
        f"{best_id.kvp:g} kV, short of the lesion's maximum depth {lesion_max_depth_mm:.2f} mm + "
        f"{depth_margin_mm:g} mm margin = {need:.2f} mm; consider a lower isodose or another "
        f"technique (e.g. electrons or brachytherapy)", need, best_depth)
