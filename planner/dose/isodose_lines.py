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


def isodose_segments(dose: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, level: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """x and y of segment end points (2 per segment) where ``dose`` crosses ``level``.

    ``dose`` has shape (len(y_mm), len(x_mm)), rows along y.
    """
    d = np.asarray(dose, dtype=float)
    x = np.asarray(x_mm, dtype=float)
    y = np.asarray(y_mm, dtype=float)
    above = d >= level
    case = (above[:-1, :-1] * 1 + above[:-1, 1:] * 2 + above[1:, 1:] * 4 + above[1:, :-1] * 8).astype(np.int8)
    rows, cols = np.nonzero((case != 0) & (case != 15))  # only cells the line passes through
    case = case[rows, cols]
    tl, tr, br, bl = d[rows, cols], d[rows, cols + 1], d[rows + 1, cols + 1], d[rows + 1, cols]
    x0, x1, y0, y1 = x[cols], x[cols + 1], y[rows], y[rows + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        edges = (  # (x, y) of the crossing on each edge of every crossed cell
            (x0 + (level - tl) / (tr - tl) * (x1 - x0), y0),  # top
            (x1, y0 + (level - tr) / (br - tr) * (y1 - y0)),  # right
            (x0 + (level - bl) / (br - bl) * (x1 - x0), y1),  # bottom
            (x0, y0 + (level - tl) / (bl - tl) * (y1 - y0)),  # left
        )
    xs, ys = [], []
    for code, segments in _SEGMENTS.items():
        cells = case == code
        if not cells.any():
            continue
        for e1, e2 in segments:
            ax, ay = edges[e1][0][cells], edges[e1][1][cells]
            bx, by = edges[e2][0][cells], edges[e2][1][cells]
            xs.append(np.column_stack([ax, bx]).ravel())
            ys.append(np.column_stack([ay, by]).ravel())
    if not xs:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs), np.concatenate(ys)
