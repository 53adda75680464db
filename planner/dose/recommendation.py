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

When no energy reaches the depth plus the margin but one reaches the lesion's deepest point itself,
that energy is offered, saying by how much it misses the margin: the physician decides, and "no
energy" would hide that the lesion can be covered.

Energy and cone together (recommend_energy_and_cone): a wider cone gives a deeper isodose (more
phantom scatter reaches the axis), so when no energy meets depth + margin with the smallest
covering cone, the next wider cones are tried before the margin is given up; the cone then named is
the first with which an energy meets it, and its reason says why it is wider than needed.

Cone: the smallest cone whose nominal diameter ≥ lesion width + 2 × lateral margin. Default lateral
margin 5 mm a side: mean microscopic extension beyond the clinical border of NMSC 5.2 mm (Choo,
physics-data §4.3), and 4–6 mm surgical margins; a 5 mm margin covers ~62 % of lesions, 10 mm ~95 %
(same source) — the physician decides, the margin is a parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from planner.core.prescription import DEFAULT_ISODOSE_PERCENT
from planner.dose.kv_dose import isodose_depth_mm
from planner.core.treatment_unit import Machine

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
    margin_missed_mm: float | None = None   # the chosen option covers the lesion but misses the margin by this


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
    """The lowest energy whose isodose (% of Dmax) reaches depth + margin; else the lowest that reaches
    the lesion itself, with the margin it misses; else none, with the deepest available."""
    _check("lesion maximum depth (mm)", lesion_max_depth_mm)
    _check("depth margin (mm)", depth_margin_mm)
    if not (isinstance(isodose_percent, (int, float)) and 0 < isodose_percent <= 100):
        raise ValueError(f"isodose must be above 0 % and at most 100 %, got {isodose_percent!r}")
    need = lesion_max_depth_mm + depth_margin_mm
    if not candidates:
        return Recommendation("energy", None, "no energies to choose from", need, None)
    reaches = [(c, _reach_mm(c, isodose_percent)) for c in sorted(candidates, key=lambda c: c.kvp)]
    iso = f"{isodose_percent:g} % isodose"
    for c, reach in reaches:
        if reach >= need - 1e-9:
            return Recommendation(
                "energy", c.energy_id,
                f"{c.kvp:g} kV is the lowest energy whose {iso} ({reach:.2f} mm) reaches the lesion's maximum depth "
                f"{lesion_max_depth_mm:.2f} mm + {depth_margin_mm:g} mm margin = {need:.2f} mm", need, reach)
    for c, reach in reaches:
        if reach >= lesion_max_depth_mm - 1e-9:
            missed = need - reach
            return Recommendation(
                "energy", c.energy_id,
                f"{c.kvp:g} kV is the lowest energy whose {iso} ({reach:.2f} mm) reaches the lesion's maximum depth "
                f"{lesion_max_depth_mm:.2f} mm, but it misses the {depth_margin_mm:g} mm margin by {missed:.2f} mm",
                need, reach, margin_missed_mm=missed)
    best, best_depth = max(reaches, key=lambda cr: cr[1])
    return Recommendation(
        "energy", None,
        f"no energy suffices: the deepest {iso} is {best_depth:.2f} mm at {best.kvp:g} kV, short of the lesion's "
        f"maximum depth {lesion_max_depth_mm:.2f} mm; consider a lower isodose or another technique (e.g. electrons "
        f"or brachytherapy)", need, best_depth)


def _reach_mm(candidate: EnergyCandidate, isodose_percent: float) -> float:
    reach = isodose_depth_mm(candidate.pdd, isodose_percent)
    # the isodose is not crossed within the data: it reaches at least the table's end
    return float(candidate.pdd[-1][0]) if reach is None else reach


def recommend_energy_and_cone(machine: Machine, lesion_width_mm: float, lesion_max_depth_mm: float,
                              candidates_for_cone: Callable[[str], Sequence[EnergyCandidate]], *,
                              isodose_percent: float = DEFAULT_ISODOSE_PERCENT,
                              depth_margin_mm: float = DEFAULT_DEPTH_MARGIN_MM,
                              lateral_margin_mm: float = DEFAULT_LATERAL_MARGIN_MM,
                              ) -> tuple[Recommendation, Recommendation | None]:
    """(cone, energy) judged together (module doc). ``candidates_for_cone(cone_id)`` gives the
    energies with their PDDs for that cone; the energy is None when no cone suffices laterally."""
    smallest = recommend_cone(machine, lesion_width_mm, lateral_margin_mm)
    if smallest.choice_id is None:
        return smallest, None
    cones = sorted(machine.applicators, key=lambda a: a.diameter_mm)
    first = next(i for i, a in enumerate(cones) if a.id == smallest.choice_id)
    at_smallest = recommend_energy(candidates_for_cone(smallest.choice_id), lesion_max_depth_mm, isodose_percent,
                                   depth_margin_mm)
    if at_smallest.choice_id is not None and at_smallest.margin_missed_mm is None:
        return smallest, at_smallest
    for cone in cones[first + 1:]:
        energy = recommend_energy(candidates_for_cone(cone.id), lesion_max_depth_mm, isodose_percent, depth_margin_mm)
        if energy.choice_id is not None and energy.margin_missed_mm is None:
            wider = Recommendation(
                "cone", cone.id,
                f"{cone.label}: wider than the {_label(cones, smallest.choice_id)} that covers the lesion width "
                f"{lesion_width_mm:.2f} mm + 2 × {lateral_margin_mm:g} mm margin, because with it the "
                f"{isodose_percent:g} % isodose reaches {energy.requirement_mm:.2f} mm (the lesion's depth + "
                f"{depth_margin_mm:g} mm margin); with the {_label(cones, smallest.choice_id)} it reaches "
                f"{at_smallest.achieved_mm:.2f} mm at most", smallest.requirement_mm, cone.diameter_mm)
            return wider, energy
    return smallest, at_smallest


def _label(cones, cone_id: str) -> str:
    return next(a.label for a in cones if a.id == cone_id)
