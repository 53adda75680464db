"""Plan read-outs from the dose grid and the beam data: lesion coverage, surface dose, isodose depths.

Definitions (field names carry the units):
* lesion pixels: grid points (pixel centres) inside the LesionOutline polygon by the even-odd rule;
  every pixel has the same area on a regular grid, so area fractions are pixel fractions.
* D_x (D98, D90): the minimum dose received by the best-covered x % of the lesion area, i.e. the
  (100 − x)th percentile of the lesion pixel doses (numpy linear percentile). Dmin, Dmean over the same
  pixels. Computed in the 2-D ultrasound plane only (an area, not a volume).
* deepest point: the outline point farthest below the skin surface, found like
  LesionOutline.max_depth_below_skin_mm (edges sampled every 0.01 mm), vectorised; its dose is
  evaluated from the beam model at that exact point, not read off the grid.
* depths of the 90 % and 80 % isodoses: on the central axis, where the PDD (% of the surface dose,
  which is Dmax for these beams: planner.dose.coverage) first falls to 90 % / 80 %, linear between
  PDD points; None if it does not within the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.core.outline import LesionOutline, deepest_point_below_skin
from planner.core.skin_surface import SkinSurface
from planner.dose.kv_dose import isodose_depth_mm


@dataclass(frozen=True)
class DoseMetrics:
    surface_dose_gy: float                     # central axis, per fraction
    deepest_point_mm: tuple[float, float]      # (x, y) in the image frame
    deepest_point_depth_mm: float              # below the skin surface
    dose_at_deepest_point_gy: float | None     # None (with reason) if outside the beam data
    lesion_pixel_count: int
    lesion_d98_gy: float | None
    lesion_d90_gy: float | None
    lesion_dmin_gy: float | None
    lesion_dmean_gy: float | None
    depth_90_percent_isodose_mm: float | None
    depth_80_percent_isodose_mm: float | None
    notes: tuple[str, ...] = ()


def deepest_point(outline: LesionOutline, skin: SkinSurface) -> tuple[float, float, float]:
    """(x, y, depth below skin) of the outline's deepest point (the core's definition)."""
    return deepest_point_below_skin(outline, skin.depth_at)


def polygon_mask(outline: LesionOutline, x_mm: np.ndarray, y_mm: np.ndarray) -> tuple[slice, slice, np.ndarray]:
    """Even-odd rule on pixel centres, computed on the polygon's bounding box only.

    A row y crosses an edge when exactly one end lies above y (half-open rule); a pixel is inside
    when an odd number of that row's crossings lie to its left. Vectorised with one sorted key
    array (row index × span + crossing x) and a searchsorted. Returns (row slice, column slice,
    boolean mask of that box).
    """
    v = np.asarray(outline.vertices_mm, dtype=float)
    c0, c1 = np.searchsorted(x_mm, v[:, 0].min()), np.searchsorted(x_mm, v[:, 0].max(), side="right")
    r0, r1 = np.searchsorted(y_mm, v[:, 1].min()), np.searchsorted(y_mm, v[:, 1].max(), side="right")
    xs, ys = x_mm[c0:c1], y_mm[r0:r1]
    if xs.size == 0 or ys.size == 0:
        return slice(r0, r1), slice(c0, c1), np.zeros((ys.size, xs.size), dtype=bool)
    a, b = v, np.concatenate((v[1:], v[:1]))
    x1, y1, x2, y2 = a[:, 0:1], a[:, 1:2], b[:, 0:1], b[:, 1:2]            # (E, 1)
    crosses = (y1 > ys[None, :]) != (y2 > ys[None, :])                     # (E, R)
    dy = np.where(y2 == y1, 1.0, y2 - y1)
    xi = x1 + (ys[None, :] - y1) * (x2 - x1) / dy                          # (E, R)
    span = float(xs[-1] - xs[0]) + 4.0 * float(v[:, 0].max() - v[:, 0].min()) + 1.0
    origin = min(float(xs[0]), float(v[:, 0].min())) - 1.0
    rows = np.broadcast_to(np.arange(ys.size), crosses.shape)
    keys = np.sort(rows[crosses] * span + (xi[crosses] - origin))
    pixel = np.arange(ys.size)[:, None] * span + (xs[None, :] - origin)     # (R, C)
    left = np.searchsorted(keys, pixel, side="left")
    row_start = np.searchsorted(keys, np.arange(ys.size) * span, side="left")
    inside = ((left - row_start[:, None]) & 1).astype(bool)
    return slice(r0, r1), slice(c0, c1), inside


def compute_metrics(dose_gy: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, outline: LesionOutline,
                    skin: SkinSurface, surface_dose_gy: float, pdd: tuple[tuple[float, float], ...],
                    point_dose_gy, deepest: tuple[float, float, float] | None = None) -> DoseMetrics:
    """``point_dose_gy(x, y)`` evaluates the dose model at one point (Gy; NaN outside the data).

    ``deepest`` = deepest_point(outline, skin) if the caller has it already.
    """
    notes = []
    x, y, depth = deepest if deepest is not None else deepest_point(outline, skin)
    d_deep = float(point_dose_gy(x, y))
    if not np.isfinite(d_deep):
        notes.append(f"the lesion's deepest point ({depth:.2f} mm below the skin) lies outside the beam data")
        d_deep = None
    rows, cols, mask = polygon_mask(outline, x_mm, y_mm)
    values = dose_gy[rows, cols][mask]
    d98 = d90 = dmin = dmean = None
    if values.size == 0:
        notes.append("the lesion outline encloses no grid point; lesion dose statistics not available")
    elif not np.all(np.isfinite(values)):
        notes.append(f"{int(np.count_nonzero(~np.isfinite(values)))} lesion grid points lie outside the beam data; "
                     f"lesion dose statistics not available")
    else:
        d98, d90 = (float(v) for v in np.percentile(values, [2.0, 10.0]))
        dmin, dmean = float(values.min()), float(values.mean())
    return DoseMetrics(
        surface_dose_gy=float(surface_dose_gy), deepest_point_mm=(x, y), deepest_point_depth_mm=depth,
        dose_at_deepest_point_gy=d_deep, lesion_pixel_count=int(values.size), lesion_d98_gy=d98,
        lesion_d90_gy=d90, lesion_dmin_gy=dmin, lesion_dmean_gy=dmean,
        depth_90_percent_isodose_mm=isodose_depth_mm(pdd, 90.0),
        depth_80_percent_isodose_mm=isodose_depth_mm(pdd, 80.0), notes=tuple(notes))
