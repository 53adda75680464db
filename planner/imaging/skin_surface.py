"""Skin surface (entry echo) detection on a B-mode image, with a confidence per column.

Why: the prescription depth of superficial radiotherapy is measured from the skin surface, and
on high-frequency dermal ultrasound the surface is the first strong echo below the dark gel or
water stand-off. Detecting it gives the planner a default surface the user then checks and edits.
Images written by other software carry burned-in text, colour Doppler, calipers and colour bars,
and many come from curved or sector probes whose footprint is an arc or a point; a detector that
followed the text or a fan's edge and said nothing would put the prescription depth anywhere.
So the detector searches only the image's tissue area, ignores coloured and text-like pixels,
keeps the line continuous, and says in words where it is not sure: never a confident wrong line.

It works in pixels (an uncalibrated image still gets a line to show); ``SkinDetection.line_mm``
converts with a calibration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._filters import convolve_axis, gaussian_smooth
from .calibration import DATA_TYPE_TISSUE, PixelCalibration, RegionCalibration

__all__ = ["SkinLine", "SkinDetection", "detect_skin", "detect_skin_on_image", "EDGE_FRACTION"]

#: B-mode images are log-compressed, so the interface, where the echo amplitude is half its peak
#: (-6 dB), lies high on the grey-level rise: about 87 % of the way from background to peak for a
#: 45-50 dB display range (6 dB of 48 dB below the peak). 0.5 would put the surface ~0.03 mm too
#: shallow on a 20 MHz image; 0.75 stays just below the -6 dB point, where speckle on the echo
#: peak matters less.
EDGE_FRACTION = 0.75

# Tuning, all in pixels so that a line is found the same way with or without a calibration.
_SMOOTH_AXIAL_PX = 1.0       # speckle is finer axially (pulse length) than laterally (beam width)
_SMOOTH_LATERAL_PX = 2.5
_CHROMA_MIN = 24             # max-min of R, G, B (0-255) above which a pixel is colour, not B-mode
_SIGNAL_FRACTION = 0.12      # "echo" = above dark level + 12 % of the dark-to-bright range
_ENTRY_MIN = 0.5             # entry score of a candidate (1 = dark above, echoes all below)
_CONF_LOW, _CONF_HIGH = 0.3, 0.7   # entry score mapped to confidence 0..1 between these
_N_SUB = 4                   # sub-windows below a candidate that must all hold echoes
_ARC_SAG = 0.05              # a line whose middle sags this fraction of its width is an arc
_MAX_SLOPE = 1.0             # bound on |d depth / d lateral| between columns (45 degrees)
_CONFIDENT = 0.5             # a column is confident at or above this confidence


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


@dataclass(frozen=True)
class SkinDetection:
    """What the detector found, in image pixels, and how sure it is.

    ``points_px``: (column, row) of the skin line, one per column of the tissue area (rows are
    fractional). ``column_confidence``: 0..1 per point. ``confident``: the whole line may be used
    without the user confirming it; when False, ``problems`` says why in one-line sentences (at
    least one). ``tissue_box_px``: (col0, row0, col1, row1), end-exclusive, the area searched.
    """

    points_px: tuple[tuple[float, float], ...]
    column_confidence: tuple[float, ...]
    confident: bool
    problems: tuple[str, ...]
    tissue_box_px: tuple[int, int, int, int]

    def __post_init__(self) -> None:
        points = tuple((float(c), float(r)) for c, r in self.points_px)
        confidence = tuple(float(v) for v in self.column_confidence)
        if len(points) != len(confidence):
            raise ValueError(f"one confidence per point: {len(points)} points, {len(confidence)} values")
        if not all(0.0 <= v <= 1.0 for v in confidence):
            raise ValueError("column confidences must lie in 0..1")
        if any(b[0] <= a[0] for a, b in zip(points, points[1:])):
            raise ValueError("points must have strictly increasing columns")
        problems = tuple(str(p) for p in self.problems)
        if self.confident and (problems or not points):
            raise ValueError("a confident detection has points and no problems")
        if not self.confident and not problems:
            raise ValueError("a detection that is not confident must say why")
        object.__setattr__(self, "points_px", points)
        object.__setattr__(self, "column_confidence", confidence)
        object.__setattr__(self, "problems", problems)
        object.__setattr__(self, "tissue_box_px", tuple(int(v) for v in self.tissue_box_px))

    def line_mm(self, calibration: PixelCalibration | None) -> SkinLine | None:
        """The points in mm; None when there are no points or no calibration."""
        if calibration is None or not self.points_px:
            return None
        cols, rows = zip(*self.points_px)
        x_mm, y_mm = calibration.pixel_to_mm(np.asarray(cols), np.asarray(rows))
        return SkinLine(tuple(np.atleast_1d(x_mm).tolist()), tuple(np.atleast_1d(y_mm).tolist()))


def detect_skin_on_image(image) -> SkinDetection:
    """The detection Planner runs on an opened image: frame 0 (the one planned on), with the
    region boxes of its Sequence of Ultrasound Regions when the image carries them."""
    return detect_skin(image.frames[0], image.calibration, regions=getattr(image, "regions", None))


def detect_skin(
    image_2d: np.ndarray,
    calibration: PixelCalibration | None = None,
    *,
    regions: Sequence[RegionCalibration] | None = None,
    edge_fraction: float = EDGE_FRACTION,
) -> SkinDetection:
    """Find the skin line (leading edge of the entry echo) and say where it is sure.

    Method:
    1. Blind spots: coloured pixels (colour Doppler, colour bars, coloured text) and text-like
       pixels (bright strokes with sharp lateral edges, which B-mode speckle blurred by the beam
       width does not have) are ignored.
    2. Tissue area: the ultrasound region box (2-D tissue) when one lies inside the image, else
       the columns where echo data starts below a dark layer (annotation borders removed).
    3. Entry score per pixel: the fraction of echo pixels below it, in each of four stacked
       sub-windows (the worst one counts: a line of text or a thin caliper line is not tissue),
       minus the fraction just above it. The skin is where the score peaks: dark gel or no data
       above, echoes all the way down.
    4. Continuity: a shortest path over the columns through each column's shallowest strong
       entry, with a bounded slope (45 degrees), bridging columns where text or shadow hides it.
    5. Edge: per column, the leading edge of the entry echo at ``edge_fraction`` of the rise from
       the level above to the echo peak, sub-pixel.
    6. Confidence per column from the entry score, from agreement of the path with the column's
       own first entry, and from the absence of text or graphics on the line; and a check of the
       line's shape (a sector or curved-array footprint is an arc or a point, not a skin line).

    ``calibration`` is used only for pixel shape (slope bound and arc test); the result is in
    pixels. Raises ValueError for something that is not a 2-D image.
    """
    grey, blind = _grey_and_blind(image_2d)
    rows, cols = grey.shape
    box = _region_box(regions, cols, rows)
    full_box = (0, 0, cols, rows)
    if rows < 8 * _N_SUB or cols < 3 or not np.all(np.isfinite(grey)):
        return _nothing(box or full_box, "the image is too small or not finite: no skin line can be found")
    if float(grey.max()) <= float(grey.min()):
        return _nothing(box or full_box, "no entry echo: the image is uniform")
    col0, row0, col1, row1 = box or full_box
    sub_grey = grey[row0:row1, col0:col1]
    sub_blind = blind[row0:row1, col0:col1]
    result = _detect_in_box(sub_grey, sub_blind, calibration, edge_fraction, search_columns=box is None)
    if result is None:
        return _nothing(box or full_box, "no entry echo: no boundary from a dark layer into echoing "
                                         "tissue was found")
    points, confidence, problems, (c0, c1) = result
    points = tuple((c + col0, r + row0) for c, r in points)
    tissue_box = (col0 + c0, row0, col0 + c1, row1) if box is None else box
    confident = not problems
    return SkinDetection(points, confidence, confident, tuple(problems), tissue_box)


def _nothing(box, problem: str) -> SkinDetection:
    return SkinDetection((), (), False, (problem,), box)


def _grey_and_blind(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Luminance scaled to 0..255 and the mask of pixels the detector must not look at."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        rgb = image[..., :3].astype(float)
        if image.dtype != np.uint8:
            top = float(np.nanmax(rgb)) if rgb.size else 1.0
            rgb = rgb * (255.0 / top) if top > 0 else rgb
        grey = rgb @ np.array([0.299, 0.587, 0.114])
        chroma = rgb.max(axis=-1) - rgb.min(axis=-1)
        coloured = _dilate(chroma >= _CHROMA_MIN, 1, 1)
    elif image.ndim == 2:
        grey = image.astype(float)
        if image.dtype != np.uint8 and grey.size and np.all(np.isfinite(grey)):
            low, high = float(grey.min()), float(grey.max())
            grey = (grey - low) * (255.0 / (high - low)) if high > low else grey - low
        coloured = np.zeros(grey.shape, dtype=bool)
    else:
        raise ValueError(f"expected a 2-D image (rows, cols) or (rows, cols, 3), got {image.shape}")
    return grey, coloured | _text_like(grey)


def _text_like(grey: np.ndarray) -> np.ndarray:
    """Bright pixels with a sharp lateral edge, in clusters: burned-in text, calipers, marks.

    B-mode speckle is blurred laterally by the beam (several pixels), so a bright pixel next to a
    pixel less than half as bright is rare in tissue and, above all, rare in clusters; drawn
    strokes have such edges on both sides of every vertical stroke.
    """
    bright = grey >= 128.0
    jump = np.zeros(grey.shape, dtype=bool)
    if grey.shape[1] >= 3:
        left = np.abs(grey[:, 1:-1] - grey[:, :-2])
        right = np.abs(grey[:, 1:-1] - grey[:, 2:])
        jump[:, 1:-1] = np.maximum(left, right) >= 0.5 * grey[:, 1:-1]
    stroke = (bright & jump).astype(float)
    count = _box_sum(stroke, 2, 3)          # 5 rows x 7 columns
    return _dilate(count >= 3, 2, 2) & _dilate(stroke > 0, 2, 2)


def _box_sum(values: np.ndarray, half_rows: int, half_cols: int) -> np.ndarray:
    kernel_rows = np.ones(2 * half_rows + 1)
    kernel_cols = np.ones(2 * half_cols + 1)
    out = convolve_axis(values, kernel_rows, axis=0)
    return convolve_axis(out, kernel_cols, axis=1)


def _dilate(mask: np.ndarray, half_rows: int, half_cols: int) -> np.ndarray:
    return _box_sum(mask.astype(float), half_rows, half_cols) > 0.5


def _region_box(regions, cols: int, rows: int) -> tuple[int, int, int, int] | None:
    """The largest 2-D tissue region lying inside the image, end-exclusive, or None.

    A box reaching outside the image belongs to another pixel matrix (the image was resized or
    cropped after the regions were written), so it says nothing about where the tissue is here.
    """
    boxes = []
    for region in regions or ():
        box = (region.min_col, region.min_row, region.max_col, region.max_row)
        if region.spatial_format != 1 or region.data_type != DATA_TYPE_TISSUE or None in box:
            continue
        c0, r0, c1, r1 = box
        if 0 <= c0 < c1 <= cols - 1 and 0 <= r0 < r1 <= rows - 1 and r1 - r0 >= 8 * _N_SUB:
            boxes.append((c0, r0, c1 + 1, r1 + 1))
    if not boxes:
        return None
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))


def _window_px(rows: int) -> int:
    """Height of one sub-window: about 1 % of the image depth, at least 4 pixels."""
    return max(4, int(round(rows / 100)))


def _detect_in_box(grey, blind, calibration, edge_fraction, *, search_columns: bool):
    rows, cols = grey.shape
    known = (~blind).astype(float)
    smooth_known = gaussian_smooth(known, _SMOOTH_AXIAL_PX, _SMOOTH_LATERAL_PX)
    smooth = gaussian_smooth(grey * known, _SMOOTH_AXIAL_PX, _SMOOTH_LATERAL_PX)
    valid = smooth_known > 0.3
    smooth = np.where(valid, smooth / np.maximum(smooth_known, 1e-9), np.nan)
    if not valid.any():
        return None
    levels = smooth[valid]
    dark, bright = float(np.percentile(levels, 5)), float(np.percentile(levels, 99))
    if bright - dark < 8.0:
        return None
    floor = dark + _SIGNAL_FRACTION * (bright - dark)

    echo = np.where(valid, smooth > floor, False).astype(float)
    weight = valid.astype(float)
    # lateral box average over 5 columns: one column's speckle dip is not a gap
    echo_sum = _box_sum(echo * weight, 0, 2)
    weight_sum = _box_sum(weight, 0, 2)

    h = _window_px(rows)
    score = _entry_score(echo_sum, weight_sum, h)
    candidates = _candidates(score, h)

    if search_columns:
        c0, c1 = _tissue_columns(candidates, cols)
        if c1 <= c0:
            return None
    else:
        c0, c1 = 0, cols
    if not any(len(candidates[c]) for c in range(c0, c1)):
        return None

    aspect = 1.0 if calibration is None else calibration.mm_per_pixel_x / calibration.mm_per_pixel_y
    max_step = max(1, int(np.ceil(_MAX_SLOPE * aspect)))
    path = _shortest_path(candidates[c0:c1], rows, h, max_step)

    tolerance = 2.0
    confidence = np.zeros(c1 - c0)
    edge_rows = np.full(c1 - c0, np.nan)
    crossed = np.zeros(c1 - c0, dtype=bool)
    above = np.zeros(c1 - c0, dtype=bool)
    margin = h
    for i, c in enumerate(range(c0, c1)):
        r = int(path[i])
        near = blind[max(0, r - margin):r + margin + 1, max(0, c - 2):c + 3]
        if near.any():
            crossed[i] = True
        cands = candidates[c]
        if cands:
            first = cands[0]
            if abs(first - r) <= tolerance:
                confidence[i] = float(np.clip((score[first, c] - _CONF_LOW) / (_CONF_HIGH - _CONF_LOW), 0, 1))
            elif first < r - tolerance:
                above[i] = True
        edge = _leading_edge(smooth[:, c], r, h, edge_fraction)
        if edge is None:
            confidence[i] = 0.0
        else:
            edge_rows[i] = edge
    confidence[crossed] = 0.0
    confidence[above] = 0.0
    missing = np.isnan(edge_rows)
    if missing.all():
        return None
    if missing.any():
        index = np.arange(len(edge_rows))
        edge_rows = np.interp(index, index[~missing], edge_rows[~missing])

    problems = []
    runs_crossed = _runs(crossed)
    if runs_crossed:
        problems.append(f"burned-in text or graphics cross the skin line at {_describe_runs(runs_crossed, c0)}")
    weak = (confidence < _CONFIDENT) & ~crossed & ~above
    runs_above = _runs(above & ~crossed)
    if runs_above:
        problems.append(f"another entry boundary lies above the line at {_describe_runs(runs_above, c0)}")
    runs_weak = _runs(weak)
    if runs_weak:
        problems.append(f"no clear entry echo at {_describe_runs(runs_weak, c0)}")
    arc = _arc_problem(edge_rows, aspect)
    if arc:
        problems.insert(0, arc)
    points = tuple((float(c), float(r)) for c, r in zip(range(c0, c1), edge_rows))
    return points, tuple(float(v) for v in confidence), problems, (c0, c1)


def _entry_score(echo_sum: np.ndarray, weight_sum: np.ndarray, h: int) -> np.ndarray:
    """Per pixel: min over the sub-windows below of the echo fraction, minus the fraction above.

    Window sums come from cumulative sums along the rows. Rows whose windows would leave the
    image, or see mostly ignored pixels, score -1.
    """
    rows, cols = echo_sum.shape
    zero = np.zeros((1, cols))
    cum_echo = np.vstack([zero, np.cumsum(echo_sum, axis=0)])
    cum_weight = np.vstack([zero, np.cumsum(weight_sum, axis=0)])
    full = 5.0 * h  # 5 columns x h rows of weight when nothing is ignored

    def window(start: np.ndarray, stop: np.ndarray):
        e = cum_echo[stop] - cum_echo[start]
        w = cum_weight[stop] - cum_weight[start]
        return e, w

    r = np.arange(rows)
    score = np.full((rows, cols), -1.0)
    usable = r + _N_SUB * h <= rows
    ru = r[usable]
    worst = np.full((len(ru), cols), np.inf)
    ok = np.ones((len(ru), cols), dtype=bool)
    for k in range(_N_SUB):
        e, w = window(ru + k * h, ru + (k + 1) * h)
        ok &= w >= 0.5 * full
        worst = np.minimum(worst, e / np.maximum(w, 1e-9))
    start = np.maximum(ru - 2 * h, 0)
    e, w = window(start, ru)
    above = np.where(w > 0, e / np.maximum(w, 1e-9), 0.0)  # above the first row: nothing, dark
    score[usable] = np.where(ok, worst - above, -1.0)
    return score


def _candidates(score: np.ndarray, h: int) -> list[list[int]]:
    """Per column, the rows (shallowest first) where the entry score has a local peak >= 0.5."""
    rows, cols = score.shape
    pad = np.pad(score, ((h, h), (0, 0)), mode="constant", constant_values=-np.inf)
    local_max = np.lib.stride_tricks.sliding_window_view(pad, 2 * h + 1, axis=0).max(axis=-1)
    peak = (score >= _ENTRY_MIN) & (score >= local_max)
    result: list[list[int]] = [[] for _ in range(cols)]
    rr, cc = np.nonzero(peak)
    for r, c in zip(rr.tolist(), cc.tolist()):
        column = result[c]
        if not column or r - column[-1] > h:  # a plateau counts once, at its top
            column.append(r)
    return result


def _tissue_columns(candidates: list[list[int]], cols: int) -> tuple[int, int]:
    """Columns of the tissue area: the longest run of columns with an entry, joined with other
    runs across gaps up to a tenth of the image width (a shadow under a crust or hair)."""
    has = np.array([bool(c) for c in candidates])
    runs = _runs(has)
    if not runs:
        return 0, 0
    main = max(runs, key=lambda run: run[1] - run[0])
    start, stop = main
    gap = max(3, cols // 10)
    for a, b in sorted(runs):
        if b - a >= 3 and a >= stop and a - stop <= gap:
            stop = b
    for a, b in sorted(runs, reverse=True):
        if b - a >= 3 and b <= start and start - b <= gap:
            start = a
    return start, stop


def _shortest_path(candidates: list[list[int]], rows: int, h: int, max_step: int) -> np.ndarray:
    """Rows of the cheapest path over the columns with |row change| <= max_step per column.

    Cost of a row in a column: its distance to the column's nearest candidate (capped), plus a
    penalty for passing a deeper candidate rather than the shallowest: the skin is the first
    entry, a deeper one (the floor of a cyst, a fascia under fat) only when the first is missing.
    """
    n = len(candidates)
    cap = 3.0 * h
    rank_penalty = 0.5 * h
    r = np.arange(rows, dtype=float)
    cost = np.full((n, rows), cap)
    for i, cands in enumerate(candidates):
        for rank, row in enumerate(cands):
            cost[i] = np.minimum(cost[i], np.minimum(np.abs(r - row), cap) + rank_penalty * min(rank, 1))
    total = cost[0].copy()
    back = np.zeros((n, rows), dtype=np.int16)
    shifts = range(-max_step, max_step + 1)
    for i in range(1, n):
        best = np.full(rows, np.inf)
        arg = np.zeros(rows, dtype=np.int16)
        for s in shifts:
            shifted = np.full(rows, np.inf)
            if s >= 0:
                shifted[s:] = total[:rows - s]
            else:
                shifted[:s] = total[-s:]
            better = shifted < best
            best = np.where(better, shifted, best)
            arg = np.where(better, s, arg)
        total = best + cost[i]
        back[i] = arg
    path = np.zeros(n, dtype=int)
    path[-1] = int(np.argmin(total))
    for i in range(n - 1, 0, -1):
        path[i - 1] = path[i] - back[i, path[i]]
    return path


def _leading_edge(profile: np.ndarray, row: int, h: int, edge_fraction: float) -> float | None:
    """Sub-pixel row where the rise into the entry echo near ``row`` crosses ``edge_fraction``
    of the way from the level just above to the echo's peak; None if there is no rise."""
    n = len(profile)
    lo = max(0, row - 2)
    hi = min(n, row + h + 1)
    window = profile[lo:hi]
    if window.size == 0 or np.all(np.isnan(window)):
        return None
    peak = lo + int(np.nanargmax(window))
    above = profile[max(0, row - 2 * h):max(0, row - 1)]
    above = above[np.isfinite(above)]
    base = float(np.median(above)) if above.size else float(np.nanmin(window))
    top = float(profile[peak])
    if not top > base:
        return None
    level = base + edge_fraction * (top - base)
    k = peak
    while k > 0 and np.isfinite(profile[k - 1]) and profile[k - 1] >= level:
        k -= 1
    if k == 0 or not np.isfinite(profile[k - 1]) or profile[k] == profile[k - 1]:
        return float(k)
    return (k - 1) + (level - profile[k - 1]) / (profile[k] - profile[k - 1])


def _arc_problem(edge_rows: np.ndarray, aspect: float) -> str | None:
    """A problem sentence when the line is an arc bulging towards the probe (curved array) or a
    peak (sector apex): its middle higher than its ends by more than 5 % of its width."""
    n = len(edge_rows)
    if n < 10:
        return None
    u = np.linspace(-1.0, 1.0, n)
    depth = edge_rows / aspect  # in column-pixel units, so width and sag compare like for like
    a, _, _ = np.polyfit(u, depth, 2)
    sag = float(a)  # depth at the ends minus depth at the middle, relative to the chord
    if sag > _ARC_SAG * n:
        return (f"the probe's footprint is an arc or a point (sector or curved array): the entry "
                f"boundary bulges {100 * sag / n:.0f} % of its width, no flat skin line")
    return None


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) end-exclusive of each run of True values."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    changes = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(changes[::2], changes[1::2])]


def _describe_runs(runs: list[tuple[int, int]], offset: int) -> str:
    parts = [f"{a + offset}–{b - 1 + offset}" if b - a > 1 else f"{a + offset}" for a, b in runs[:3]]
    more = f" and {len(runs) - 3} more places" if len(runs) > 3 else ""
    return "columns " + ", ".join(parts) + more
