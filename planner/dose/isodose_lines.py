"""Isodose lines on a dose grid by marching squares, vectorised with numpy.

Returns unconnected line segments (pairs of points), which a plot draws in one call: fast
enough to redraw every isodose on every outline edit, where a connected-contour tracer in pure
Python is not.
"""

from __future__ import annotations

import numpy as np

# For each of the 16 corner cases (bit 1 top-left, 2 top-right, 4 bottom-right, 8 bottom-left
# at or above the level), the edges a segment joins: 0 top, 1 right, 2 bottom, 3 left.
_SEGMENTS = {
    1: ((3, 0),), 2: ((0, 1),), 3: ((3, 1),), 4: ((1, 2),), 5: ((3, 0), (1, 2)), 6: ((0, 2),),
    7: ((3, 2),), 8: ((2, 3),), 9: ((0, 2),), 10: ((0, 1), (2, 3)), 11: ((1, 2),), 12: ((1, 3),),
    13: ((0, 1),), 14: ((0, 3),),
}
# The same as lookup arrays by case: the edges of each cell's first segment, and of the second
# segment of the two saddle cases (-1 where there is none).
_FIRST = np.zeros((2, 16), dtype=np.intp)
_SECOND = np.full((2, 16), -1, dtype=np.intp)
for _code, _pairs in _SEGMENTS.items():
    _FIRST[:, _code] = _pairs[0]
    if len(_pairs) == 2:
        _SECOND[:, _code] = _pairs[1]


def isodose_segments(dose: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, level: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """x and y of segment end points (2 per segment) where ``dose`` crosses ``level``.

    ``dose`` has shape (len(y_mm), len(x_mm)), rows along y.
    """
    d = np.asarray(dose, dtype=float)
    return _segments(d, d >= level, np.asarray(x_mm, dtype=float), np.asarray(y_mm, dtype=float), level)


def isodose_segments_for_levels(dose: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, levels
                                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``isodose_segments`` for several levels, classifying the grid against all levels at once."""
    d = np.asarray(dose, dtype=float)
    x, y = np.asarray(x_mm, dtype=float), np.asarray(y_mm, dtype=float)
    order = np.argsort(levels)
    sorted_levels = np.asarray(levels, dtype=float)[order]
    band = np.searchsorted(sorted_levels, d, side="right").astype(np.int8)  # how many levels each point reaches
    results: list = [None] * len(levels)
    for rank, index in enumerate(order):
        results[index] = _segments(d, band > rank, x, y, float(sorted_levels[rank]))
    return results


def _segments(d: np.ndarray, above: np.ndarray, x: np.ndarray, y: np.ndarray, level: float
              ) -> tuple[np.ndarray, np.ndarray]:
    a = above.view(np.int8)
    case = a[:-1, :-1] + 2 * a[:-1, 1:] + 4 * a[1:, 1:] + 8 * a[1:, :-1]
    rows, cols = np.nonzero((case != 0) & (case != 15))  # only cells the line passes through
    case = case[rows, cols]
    tl, tr, br, bl = d[rows, cols], d[rows, cols + 1], d[rows + 1, cols + 1], d[rows + 1, cols]
    x0, x1, y0, y1 = x[cols], x[cols + 1], y[rows], y[rows + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        edge_x = np.stack((x0 + (level - tl) / (tr - tl) * (x1 - x0), x1,    # top, right,
                           x0 + (level - bl) / (br - bl) * (x1 - x0), x0))   # bottom, left
        edge_y = np.stack((y0, y0 + (level - tr) / (br - tr) * (y1 - y0),
                           y1, y0 + (level - tl) / (bl - tl) * (y1 - y0)))
    # Every crossed cell has one segment; the two saddle cases (5, 10) have a second.
    cell = np.arange(case.size)
    first_a, first_b = _FIRST[0][case], _FIRST[1][case]
    saddle = np.nonzero(_SECOND[0][case] >= 0)[0]
    second_a, second_b = _SECOND[0][case[saddle]], _SECOND[1][case[saddle]]
    xs = np.empty(2 * (case.size + saddle.size))
    ys = np.empty_like(xs)
    xs[0:2 * case.size:2], xs[1:2 * case.size:2] = edge_x[first_a, cell], edge_x[first_b, cell]
    ys[0:2 * case.size:2], ys[1:2 * case.size:2] = edge_y[first_a, cell], edge_y[first_b, cell]
    xs[2 * case.size::2], xs[2 * case.size + 1::2] = edge_x[second_a, saddle], edge_x[second_b, saddle]
    ys[2 * case.size::2], ys[2 * case.size + 1::2] = edge_y[second_a, saddle], edge_y[second_b, saddle]
    return xs, ys
