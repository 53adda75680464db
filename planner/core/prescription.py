"""Prescription and fractionation: what the physician orders, checked before anything uses it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.core.errors import PlannerError

# Isodose percentages are percent of Dmax, the central-axis maximum (the surface for kV and eBx beams):
# planner.dose.coverage. 90 %: the "90 % of the surface dose" depth convention (physics-data §1.2, Xstrahl 150 MC study).
DEFAULT_ISODOSE_PERCENT = 90.0


class PrescriptionError(PlannerError, ValueError):
    """A prescription that cannot be delivered as written; the message says which number and why."""


@dataclass(frozen=True)
class PrescriptionPoint:
    """Where the prescribed dose applies. Use the constructors below."""

    mode: str                         # "surface" | "depth" | "isodose"
    depth_mm: float | None = None     # for "depth"
    isodose_percent: float = DEFAULT_ISODOSE_PERCENT   # for "isodose"

    def __post_init__(self) -> None:
        if self.mode not in ("surface", "depth", "isodose"):
            raise PrescriptionError(f"prescription point must be 'surface', 'depth' or 'isodose', got {self.mode!r}")
        if self.mode == "depth":
            d = self.depth_mm
            if d is None or not isinstance(d, (int, float)) or not math.isfinite(d) or d < 0:
                raise PrescriptionError(f"prescription depth must be a finite number ≥ 0 mm, got {d!r}")
        if self.mode == "isodose":
            x = self.isodose_percent
            if not isinstance(x, (int, float)) or not math.isfinite(x) or not 0 < x <= 100:
                raise PrescriptionError(f"prescription isodose must be above 0 % and at most 100 %, got {x!r}")

    @staticmethod
    def surface() -> "PrescriptionPoint":
        return PrescriptionPoint("surface")

    @staticmethod
    def at_depth(depth_mm: float) -> "PrescriptionPoint":
        return PrescriptionPoint("depth", depth_mm=depth_mm)

    @staticmethod
    def isodose(percent: float = DEFAULT_ISODOSE_PERCENT) -> "PrescriptionPoint":
        return PrescriptionPoint("isodose", isodose_percent=percent)

    def describe(self) -> str:
        """The mode in words; isodose percentages are percent of Dmax (planner.dose.coverage)."""
        if self.mode == "surface":
            return "at the surface"
        if self.mode == "depth":
            return f"at {self.depth_mm:g} mm depth"
        return f"to the {self.isodose_percent:g} % isodose"


@dataclass(frozen=True)
class Prescription:
    dose_per_fraction_gy: float
    fractions: int
    point: PrescriptionPoint = PrescriptionPoint("isodose")  # to the 90 % isodose (Dmax = D / 0.9)

    def __post_init__(self) -> None:
        d = self.dose_per_fraction_gy
        if not isinstance(d, (int, float)) or not math.isfinite(d):
            raise PrescriptionError(f"dose per fraction must be a number of Gy, got {d!r}")
        if d <= 0:
            raise PrescriptionError(f"dose per fraction must be above 0 Gy, got {d:g} Gy")
        if isinstance(self.fractions, bool) or not isinstance(self.fractions, int):
            raise PrescriptionError(f"number of fractions must be a whole number, got {self.fractions!r}")
        if self.fractions < 1:
            raise PrescriptionError(f"number of fractions must be at least 1, got {self.fractions}")
        object.__setattr__(self, "dose_per_fraction_gy", float(d))

    @property
    def total_dose_gy(self) -> float:
        return self.dose_per_fraction_gy * self.fractions

    def describe(self) -> str:
        return f"{self.total_dose_gy:g} Gy in {self.fractions} × {self.dose_per_fraction_gy:g} Gy"

    def with_point(self, point: PrescriptionPoint) -> "Prescription":
        return Prescription(self.dose_per_fraction_gy, self.fractions, point)
