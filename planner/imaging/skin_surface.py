"""Skin surface (entry echo) detection on a B-mode image.

Why: the prescription depth of superficial radiotherapy is measured from the skin surface, and
on high-frequency dermal ultrasound the surface is the first strong echo below the dark gel or
water stand-off. Detecting it gives the planner a default surface the user then checks and edits;
it is never used without the user seeing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._filters import gaussian_smooth, nan_median_filter_1d
from .calibration import PixelCalibration

__all__ = ["SkinLine", "detect_skin_line"]


@dataclass(frozen=True)
class SkinLine:
    """The skin surface as a polyline in mm: depth ``y_mm[i]`` at lateral ``x_mm[i]``.

    ``x_mm`` is strictly increasing. A plain value: the GUI converts it to its own geometry.
    """

    x_mm: tuple[float, ...]
    y_mm: tuple[float, ...]

    def __post_init__(self) -> None:
        x = tuple(float(v) for v in self.x_mm)
        y = tuple(float(v) for v in self.y_mm)
        if len(x) != len(y) or not x:
            raise ValueError(f"x_mm and y_mm must be non-empty and equally long ({len(x)} vs {len(y)})")
        if not all(np.isfinite(x)) or not all(np.isfinite(y)):
            raise ValueError("skin line coordinates must be finite")
        if any(b <= a for a, b in zip(x, x[1:])):
            raise ValueError("x_mm must be strictly increasing")
        object.__setattr__(self, "x_mm", x)
        object.__setattr__(self, "y_mm", y)

    def depth_at(self, x_mm):
        """Skin depth at lateral position(s) ``x_mm``: linear interpolation, constant beyond ends."""
        result = np.interp(np.asarray(x_mm, dtype=float), self.x_mm, self.y_mm)
        return float(result) if np.ndim(result) == 0 else result


def _luminance(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        rgb = image[..., :3].astype(float)
        return rgb @ np.array([0.299, 0.587, 0.114])
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image (rows, cols) or (rows, cols, 3), got {image.shape}")
    return image.astype(float)


def detect_skin_line(
    image_2d: np.ndarray,
    calibration: PixelCalibration,
    *,
    smooth_axial_mm: float = 0.03,
    smooth_lateral_mm: float = 0.15,
    median_window_mm: float = 1.0,
    ignore_top_mm: float = 0.0,
    edge_fraction: float = 0.75,
) -> SkinLine | None:
    """Find the leading edge of the entry echo in every column.

    Method (chosen to survive speckle): blur (more laterally than axially, as the speckle is
    elongated laterally); per column, threshold halfway between the dark stand-off level (a low
    global percentile) and the column's bright level (capped by a high global percentile, with a
    global floor so an all-dark column does not trigger on noise); take the first crossing,
    climb to the local echo peak and place the edge at half that peak's height above background,
    with sub-pixel interpolation; finally a running median across columns rejects outliers and
    fills columns without an echo. The edge, not the echo's centre, is the interface.

    Returns None when no entry echo can be found (uniform or tiny image): the caller then asks
    the user to draw the surface. Raises ValueError for a missing calibration or a non-image.

    ``edge_fraction`` (0.75): B-mode images are log-compressed, so the interface, where the echo
    amplitude is half its peak (-6 dB), lies high on the grey-level rise: about 87 % of the way
    from background to peak for a 45-50 dB display range. 0.5 would put the surface ~0.03 mm too
    shallow; 0.75 stays just below the -6 dB point, where speckle on the echo peak matters less.
    """
    if calibration is None:
        raise ValueError("a calibration is needed to express the skin line in mm")
    grey = _luminance(image_2d)
    rows, cols = grey.shape
    if rows < 3 or cols < 1 or not np.all(np.isfinite(grey)):
        return None
    if float(grey.max()) <= float(grey.min()):
        return None  # a uniform image has no echo at all
    dy, dx = calibration.mm_per_pixel_y, calibration.mm_per_pixel_x
    smooth = gaussian_smooth(grey, smooth_axial_mm / dy, smooth_lateral_mm / dx)
    first_row = int(min(rows - 2, max(0, round(ignore_top_mm / dy))))

    background = float(np.percentile(smooth, 5))
    bright = float(np.percentile(smooth, 99.5))
    floor = background + 0.3 * (bright - background)
    col_peak = np.minimum(smooth[first_row:].max(axis=0), bright)
    threshold = np.maximum(background + 0.5 * (col_peak - background), floor)

    edge_rows = np.full(cols, np.nan)
    above = smooth[first_row:] >= threshold
    has_hit = above.any(axis=0)
    hit_rows = np.argmax(above, axis=0) + first_row
    peak_search = max(2, int(round(0.15 / dy)))  # the entry echo is ~0.1 mm thick
    for c in np.flatnonzero(has_hit):
        r = int(hit_rows[c])
        profile = smooth[:, c]
        stop = min(rows, r + peak_search + 1)
        peak = r + int(np.argmax(profile[r:stop]))
        half = background + edge_fraction * (profile[peak] - background)
        k = peak
        while k > first_row and profile[k - 1] >= half:
            k -= 1
        if k == first_row or profile[k] == profile[k - 1]:
            edge_rows[c] = float(k)
        else:  # linear sub-pixel crossing between k-1 (below half) and k (at/above half)
            edge_rows[c] = (k - 1) + (half - profile[k - 1]) / (profile[k] - profile[k - 1])

    window = max(3, int(round(median_window_mm / dx)))
    median = nan_median_filter_1d(edge_rows, window)
    tolerance = max(2.0, 0.05 / dy)
    outlier = np.isnan(edge_rows) | (np.abs(edge_rows - median) > tolerance)
    cleaned = np.where(outlier, median, edge_rows)
    good = ~np.isnan(cleaned)
    if not good.any():
        return None
    col_index = np.arange(cols, dtype=float)
    cleaned = np.interp(col_index, col_index[good], cleaned[good])
    x_mm, y_mm = calibration.pixel_to_mm(col_index, cleaned)
    return SkinLine(tuple(np.atleast_1d(x_mm).tolist()), tuple(np.atleast_1d(y_mm).tolist()))
