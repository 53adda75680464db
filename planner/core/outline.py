"""The lesion outline the physician draws on the ultrasound image.

Coordinates are millimetres in the image's physical frame: x lateral, y depth, increasing
downward. Depth of invasion is measured from the skin surface, not from the transducer, because
the skin line is curved and the stand-off gel above it carries no tissue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from planner.core.errors import PlannerError

Point = tuple[float, float]


class OutlineError(PlannerError, ValueError):
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

    def max_depth_below_skin_mm(self, skin_depth_at: Callable) -> float:
        """Deepest point of the outline below the skin surface (the tumour thickness)."""
        return deepest_point_below_skin(self, skin_depth_at)[2]

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



EDGE_SAMPLE_MM = 0.01


def deepest_point_below_skin(outline: LesionOutline, skin_depth_at: Callable) -> tuple[float, float, float]:
    """(x, y, depth below the skin) of the outline's deepest point, all in mm.

    Relative to a piecewise-linear skin the deepest point may lie between two outline vertices
    (where the skin bends), so every edge is sampled every 0.01 mm, vectorised with numpy.
    ``skin_depth_at`` takes an array of lateral positions.
    """
    v = np.asarray(outline.vertices_mm, dtype=float)
    a, b = v, np.roll(v, -1, axis=0)
    steps = np.maximum(1, (np.abs(b[:, 0] - a[:, 0]) / EDGE_SAMPLE_MM).astype(int))
    counts = steps + 1
    edge = np.repeat(np.arange(len(v)), counts)
    start = np.cumsum(counts) - counts
    t = (np.arange(counts.sum()) - np.repeat(start, counts)) / np.repeat(steps, counts)
    x = a[edge, 0] + t * (b[edge, 0] - a[edge, 0])
    y = a[edge, 1] + t * (b[edge, 1] - a[edge, 1])
    depth = y - np.broadcast_to(np.asarray(skin_depth_at(x), dtype=float), x.shape)
    k = int(np.argmax(depth))
    return float(x[k]), float(y[k]), float(depth[k])
