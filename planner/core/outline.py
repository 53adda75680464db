"""The lesion outline the physician draws on the ultrasound image.

Coordinates are millimetres in the image's physical frame: x lateral, y depth, increasing
downward. Depth of invasion is measured from the skin surface, not from the transducer, because
the skin line is curved and the stand-off gel above it carries no tissue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

Point = tuple[float, float]


class OutlineError(ValueError):
    """An outline that cannot describe a lesion (too few vertices, non-finite coordinates)."""


@dataclass(frozen=True)
class LesionOutline:
    """A closed polygon in mm; the last vertex joins the first."""

    vertices_mm: tuple[Point, ...]

    def __post_init__(self) -> None:
        vertices = tuple((float(x), float(y)) for x, y in self.vertices_mm)
        if len(vertices) < 3:
            raise OutlineError(f"a lesion outline needs at least 3 vertices, got {len(vertices)}")
        for x, y in vertices:
            if not (_finite(x) and _finite(y)):
                raise OutlineError(f"outline vertex ({x}, {y}) mm is not a finite coordinate")
        object.__setattr__(self, "vertices_mm", vertices)

    @property
    def area_mm2(self) -> float:
        """Shoelace area; orientation-independent."""
        total = 0.0
        n = len(self.vertices_mm)
        for i in range(n):
            x1, y1 = self.vertices_mm[i]
            x2, y2 = self.vertices_mm[(i + 1) % n]
            total += x1 * y2 - x2 * y1
        return abs(total) / 2.0

    @property
    def lateral_width_mm(self) -> float:
        xs = [x for x, _ in self.vertices_mm]
        return max(xs) - min(xs)

    @property
    def lateral_centre_mm(self) -> float:
        xs = [x for x, _ in self.vertices_mm]
        return (max(xs) + min(xs)) / 2.0

    def max_depth_below_skin_mm(self, skin_depth_at: Callable[[float], float]) -> float:
        """Deepest point of the outline below the skin surface (the tumour thickness).

        The deepest point of a polygon relative to a piecewise-linear surface lies on a vertex
        of one or the other, so the edges are sampled finely enough (0.01 mm) to catch a skin
        line that bends between two outline vertices.
        """
        deepest = float("-inf")
        n = len(self.vertices_mm)
        for i in range(n):
            x1, y1 = self.vertices_mm[i]
            x2, y2 = self.vertices_mm[(i + 1) % n]
            steps = max(1, int(abs(x2 - x1) / 0.01))
            for k in range(steps + 1):
                t = k / steps
                x = x1 + t * (x2 - x1)
                y = y1 + t * (y2 - y1)
                deepest = max(deepest, y - skin_depth_at(x))
        return deepest

    def moved_vertex(self, index: int, to_mm: Point) -> "LesionOutline":
        vertices = list(self.vertices_mm)
        vertices[index] = (float(to_mm[0]), float(to_mm[1]))
        return LesionOutline(tuple(vertices))

    def translated(self, dx_mm: float, dy_mm: float) -> "LesionOutline":
        return LesionOutline(tuple((x + dx_mm, y + dy_mm) for x, y in self.vertices_mm))


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))


@dataclass(frozen=True)
class LesionMetrics:
    """The read-outs a physician plans from, all in mm below the skin surface or across it."""

    max_depth_below_skin_mm: float
    lateral_width_mm: float
    area_mm2: float


def measure_lesion(outline: LesionOutline, skin_depth_at: Callable[[float], float]) -> LesionMetrics:
    return LesionMetrics(
        max_depth_below_skin_mm=outline.max_depth_below_skin_mm(skin_depth_at),
        lateral_width_mm=outline.lateral_width_mm,
        area_mm2=outline.area_mm2,
    )


def points_inside(outline: LesionOutline, x_mm, y_mm):
    """Even-odd test of many points at once (numpy arrays of equal shape) against the polygon."""
    import numpy as np

    x = np.asarray(x_mm, dtype=float)
    y = np.asarray(y_mm, dtype=float)
    inside = np.zeros(np.broadcast(x, y).shape, dtype=bool)
    vertices = outline.vertices_mm
    n = len(vertices)
    for i in range(n):
        x1, y1 = vertices[i]
        x2, y2 = vertices[(i + 1) % n]
        if y1 == y2:
            continue
        crosses = (y1 > y) != (y2 > y)
        x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < x_cross)
    return inside
