"""Isodose lines inside the patient only: the one contouring the window and the reports share.

Above the skin the dose grid holds no dose (gel, air: zero, planner.dose.dose_plane), so the step from there to
the surface dose would contour as a false line along the skin. Each column's dose at the skin (its first grid
row at or below ``skin_depth_at``) is therefore carried up to the top of the grid before contouring, and
segments whose midpoint lies above the skin are dropped. Segments in cells with a corner without beam data
(NaN) are dropped too, rather than drawn along the data's edge. Pure NumPy (no Qt): the plan report, the course
report and the window (planner.ui.dose_overlay) draw the same lines.
"""

from __future__ import annotations

import numpy as np

from planner.dose.isodose_lines import isodose_segments_for_levels


def surface_dose_carried_up(dose: np.ndarray, y_mm: np.ndarray, skin_y_mm: np.ndarray) -> np.ndarray:
    """``dose`` (len(y_mm), columns) with each column's value at its first row at or below ``skin_y_mm`` (one depth
    per column) copied to the rows above it."""
    d = np.asarray(dose, dtype=float)
    y = np.asarray(y_mm, dtype=float)
    first_row = np.minimum(np.searchsorted(y, np.asarray(skin_y_mm, dtype=float)), y.size - 1)
    at_skin = d[first_row, np.arange(d.shape[1])]
    return np.where(np.arange(y.size)[:, None] < first_row[None, :], at_skin[None, :], d)


def isodoses_below_skin(dose: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, levels, skin_depth_at
                        ) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each of ``levels`` (in the unit of ``dose``), the x and y of its segment end points (2 per segment)
    below the skin line ``skin_depth_at`` (x mm → depth mm), as the module doc says."""
    x, y = np.asarray(x_mm, dtype=float), np.asarray(y_mm, dtype=float)
    carried = surface_dose_carried_up(dose, y, skin_depth_at(x))
    missing = ~np.isfinite(carried)
    missing_cell = missing[:-1, :-1] | missing[:-1, 1:] | missing[1:, :-1] | missing[1:, 1:]
    kept = []
    for xs, ys in isodose_segments_for_levels(carried, x, y, levels):
        if xs.size:
            mid_x, mid_y = (xs[::2] + xs[1::2]) / 2, (ys[::2] + ys[1::2]) / 2
            col = np.clip(np.searchsorted(x, mid_x) - 1, 0, x.size - 2)
            row = np.clip(np.searchsorted(y, mid_y) - 1, 0, y.size - 2)
            keep = np.repeat((mid_y >= np.asarray(skin_depth_at(mid_x))) & ~missing_cell[row, col], 2)
            xs, ys = xs[keep], ys[keep]
        kept.append((xs, ys))
    return kept
