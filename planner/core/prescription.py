"""Prescription and fractionation: what the physician orders, checked before anything uses it."""

from __future__ import annotations

import math
from dataclasses import dataclass


class PrescriptionError(ValueError):
    """A prescription that cannot be delivered as written; the message says which number and why."""


@dataclass(frozen=True)
class Prescription:
    dose_per_fraction_gy: float
    fractions: int

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
