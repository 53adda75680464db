"""A scale the user draws on an image that came without one (a photo, a PNG export).

Drawing a known distance gives millimetres per pixel. Pixels are assumed square, which the
description says, because the physicist reading the plan must know the scale was hand-made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.core.errors import PlannerError


class CalibrationError(PlannerError, ValueError):
    """A hand calibration that cannot give a scale."""


@dataclass(frozen=True)
class ManualCalibration:
    known_distance_mm: float
    measured_pixels: float

    def __post_init__(self) -> None:
        for name, value, unit in (("known distance", self.known_distance_mm, "mm"),
                                  ("drawn line", self.measured_pixels, "pixels")):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise CalibrationError(f"the {name} must be above 0 {unit}, got {value!r}")
        if self.measured_pixels < 10:
            raise CalibrationError(f"the drawn line is only {self.measured_pixels:.1f} pixels long; draw at least "
                                   "10 pixels (longer is more accurate)")
        object.__setattr__(self, "known_distance_mm", float(self.known_distance_mm))
        object.__setattr__(self, "measured_pixels", float(self.measured_pixels))

    @property
    def mm_per_pixel(self) -> float:
        return self.known_distance_mm / self.measured_pixels

    def describe(self) -> str:
        return (f"user calibration: {self.known_distance_mm:g} mm drawn over {self.measured_pixels:.1f} pixels "
                f"({self.mm_per_pixel:.4f} mm/pixel, square pixels assumed)")
