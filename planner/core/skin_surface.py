"""The skin surface on the ultrasound image: where depth below the skin is measured from.

Found from the entry echo when an image is opened, then the physician's to correct; a corrected
surface is part of the plan. Coordinates in mm, x lateral, y depth increasing downward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.core.errors import PlannerError

Point = tuple[float, float]


class SkinSurfaceError(PlannerError, ValueError):
    """A skin surface that cannot be measured from."""


@dataclass(frozen=True)
class SkinSurface:
    """A polyline ordered by lateral position; outside its ends the depth is held constant.

    ``doubts``: why this line may not be the skin (a detector's low confidence, in words). A line
    with doubts is shown but no depth is measured from it until the user confirms or redraws it;
    a line the user drew, moved or confirmed has none.
    """

    points_mm: tuple[Point, ...]
    doubts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        points = tuple(sorted((float(x), float(y)) for x, y in self.points_mm))
        if len(points) < 2:
            raise SkinSurfaceError(f"a skin surface needs at least 2 points, got {len(points)}")
        xs = np.array([p[0] for p in points])
        if not np.all(np.isfinite(xs)) or not np.all(np.isfinite([p[1] for p in points])):
            raise SkinSurfaceError("a skin surface point is not a finite coordinate")
        if np.any(np.diff(xs) <= 0):
            raise SkinSurfaceError("two skin surface points share a lateral position")
        object.__setattr__(self, "points_mm", points)
        object.__setattr__(self, "doubts", tuple(str(d) for d in self.doubts))

    @property
    def confirmed(self) -> bool:
        """True when depths may be measured from this line (no open doubt)."""
        return not self.doubts

    def confirm(self) -> "SkinSurface":
        """The same line, accepted by the user as the skin."""
        return SkinSurface(self.points_mm)

    def depth_at(self, x_mm):
        """Depth of the skin (mm) at lateral position(s) ``x_mm``, linear between points."""
        xs, ys = zip(*self.points_mm)
        result = np.interp(x_mm, xs, ys)
        return float(result) if np.ndim(result) == 0 else result

    @classmethod
    def from_samples(cls, x_mm, y_mm, max_points: int = 16, doubts: tuple[str, ...] = ()) -> "SkinSurface":
        """A few editable points that follow a densely sampled surface (a detector's output).

        Points are taken where the surface bends most, not evenly, so a physician gets handles
        where they matter and the simplified line stays within a fraction of a pixel of the samples.
        """
        x = np.asarray(x_mm, dtype=float)
        y = np.asarray(y_mm, dtype=float)
        keep = _simplify(x, y, max_points)
        return cls(tuple(zip(x[keep].tolist(), y[keep].tolist())), tuple(doubts))


def _simplify(x: np.ndarray, y: np.ndarray, max_points: int) -> np.ndarray:
    """Greedy insertion of the sample farthest from the current polyline (Douglas–Peucker order)."""
    chosen = [0, len(x) - 1]
    while len(chosen) < min(max_points, len(x)):
        order = np.sort(chosen)
        fitted = np.interp(x, x[order], y[order])
        error = np.abs(fitted - y)
        error[order] = -1.0
        worst = int(np.argmax(error))
        if error[worst] <= 0:
            break
        chosen.append(worst)
    return np.sort(np.array(chosen))
