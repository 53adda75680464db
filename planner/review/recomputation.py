"""What the surface and the IMRT reviews share when they compute a signed plan's dose again: the
tolerance, the comparison's result and finding the plan's technique (planner.review.plan_review
for surface plans, planner.review.imrt_review for IMRT plans)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from planner.techniques.registry import discover_techniques

REPRODUCTION_TOLERANCE = 0.001          # 0.1 %: the engine is deterministic (fixed seed, cached beam data)


@dataclass(frozen=True)
class FigureComparison:
    """One signed dose figure of an IMRT plan against the one recomputed from its segments."""

    name: str                      # "PTV D95", "Core Dmean", "dose at the isocentre"
    signed_gy: float
    recomputed_gy: float | None    # None: the recomputed dose has no such figure
    reproduced: bool

    def describe(self) -> str:
        if self.recomputed_gy is None:
            return f"{self.name} signed {self.signed_gy:.4f} Gy, not recomputed"
        return (f"{self.name} signed {self.signed_gy:.4f} Gy, recomputed {self.recomputed_gy:.4f} Gy "
                f"({(self.signed_gy - self.recomputed_gy) / self.recomputed_gy * 100:+.2f} %)")


@dataclass(frozen=True)
class Recomputation:
    """The dose of the embedded plan computed again, and how it compares with the signed record.
    An IMRT plan has no treatment time: its dose is the dose at the isocentre, and ``figures`` holds
    every signed figure's comparison (planner.review.imrt_review)."""

    signed_time_min: float | None
    recomputed_time_min: float | None
    signed_dose_gy: float | None
    recomputed_dose_gy: float | None
    reproduced: bool
    message: str
    figures: tuple[FigureComparison, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out = vars(self).copy()
        out["figures"] = [vars(f).copy() for f in self.figures]
        return out


def find_technique(technique_id: str, registry, part: Callable[[Any], Any], part_name: str) -> tuple[Any, Any, str]:
    """(technique, its ``part(technique)``, "") for the technique a signed plan names, from the
    registry (None: the installed plugins), or the part None and why the dose cannot be recomputed
    (an unknown id, a broken plugin, a technique without that part)."""
    try:
        technique = (registry or discover_techniques()).get(technique_id)
    except Exception as exc:  # noqa: BLE001 - whatever a plugin raises, the review says so, never crashes
        return None, None, f"the plan's technique {technique_id!r} is not available: {exc}"
    found = part(technique)
    why = "" if found is not None else f"technique {technique.id} has no {part_name}: the dose cannot be recomputed"
    return technique, found, why


__all__ = ["REPRODUCTION_TOLERANCE", "FigureComparison", "Recomputation", "find_technique"]
