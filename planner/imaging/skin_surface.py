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

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._filters import gaussian_smooth
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
_STROKE_MIN, _BLACK_MAX = 96.0, 40.0   # grey levels (0-255) of a text stroke and of black
_CHROMA_MIN = 24             # max-min of R, G, B (0-255) above which a pixel is colour, not B-mode
_ECHO_BOX_PX = (2, 4)        # half-size (rows, cols) of the box averaged to decide echo or not:
                             # speckle nulls average out
_SIGNAL_FRACTION = 0.10      # "echo" = above the dark level + 10 % of the dark-to-bright range
_STRONG_FRACTION = 0.40      # "strong echo" (an entry echo, a reflector): + 40 %
_ENTRY_ECHO_FRACTION = 0.25  # an entry needs an echo this bright (box mean) within h rows below
_ENTRY_MIN = 0.5             # entry score of a candidate (1 = dark above, echoes all below)
_CONF_LOW, _CONF_HIGH = 0.3, 0.7   # entry score mapped to confidence 0..1 between these
_N_SUB = 4                   # sub-windows below a candidate that must all hold echoes
_ARC_SAG = 0.05              # a line bending this fraction of its width off straight is an arc
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
    return detect_skin(image.frames[0], image.calibration, regions=image.regions)


def detect_skin(
    image_2d: np.ndarray,
    calibration: PixelCalibration | None = None,
    *,
    regions: Sequence[RegionCalibration] | None = None,
    edge_fraction: float = EDGE_FRACTION,
) -> SkinDetection:
    """Find the skin line (leading edge of the entry echo) and say where it is sure.

    Method:
    1. Blind spots: coloured pixels (colour Doppler, colour bars, coloured text), text-like
       pixels (narrow bright strokes with black on both sides, which B-mode speckle blurred by
       the beam width does not have) are ignored.
    2. Tissue area: inside the ultrasound region box (2-D tissue) when one lies inside the
       image, the largest connected patch of echoes: its columns, down to its bottom, up to the
       image top (annotation borders beside and below it are left out).
    3. Entry score per pixel: the fraction of echo pixels below it, in each of four stacked
       sub-windows (the worst one counts: a line of text or a thin caliper line is not tissue),
       minus the fraction just above it. Candidates are its peaks with an echo right below.
    4. Continuity: a shortest path over the columns through each column's shallowest candidate,
       with a bounded slope (45 degrees), bridging columns where text or a shadow hides it.
    5. Edge: per column, the leading edge of the entry echo at ``edge_fraction`` of the rise from
       the level above to the echo peak, sub-pixel.
    6. Confidence per column from the entry score and the path's agreement with the column's
       own first candidate; zero where ignored pixels touch the line or strong echoes lie above
       it; and a check of the line's shape (a sector or curved-array footprint is an arc or a
       point, not a skin line). ``confident`` only when every column is confident (gaps of one or
       two columns between confident ones are bridged) and the shape is not an arc.

    ``calibration`` is used only for pixel shape (slope bound and arc test); the result is in
    pixels. Raises ValueError for something that is not a 2-D image.
    """
    grey, blind = _grey_and_blind(image_2d)
    rows, cols = grey.shape
    crop = _region_box(regions, cols, rows) or (0, 0, cols, rows)
    if rows < 8 * _N_SUB or cols < 8 or not np.all(np.isfinite(grey)):
        return _nothing(crop, "the image is too small or not finite: no skin line can be found")
    if float(grey.max()) <= float(grey.min()):
        return _nothing(crop, "no entry echo: the image is uniform")
    col0, row0, col1, row1 = crop
    found = _detect_in(grey[row0:row1, col0:col1], blind[row0:row1, col0:col1], calibration,
                       edge_fraction)
    if isinstance(found, str):
        return _nothing(crop, found)
    points, confidence, problems, (c0, r0, c1, r1) = found
    return SkinDetection(
        points_px=tuple((c + col0, r + row0) for c, r in points),
        column_confidence=confidence,
        confident=not problems,
        problems=tuple(problems),
        tissue_box_px=(col0 + c0, row0 + r0, col0 + c1, row0 + r1),
    )


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


def _running(op, values: np.ndarray, half: int, axis: int) -> np.ndarray:
    """Running max or min (``op``) over 2 * half + 1 samples along an axis, edges replicated."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (half, half)
    padded = np.pad(values, pad, mode="edge")
    length = values.shape[axis]
    out = np.take(padded, np.arange(0, length), axis=axis)
    for offset in range(1, 2 * half + 1):
        window = [slice(None), slice(None)]
        window[axis] = slice(offset, offset + length)
        out = op(out, padded[tuple(window)])
    return out


def _text_like(grey: np.ndarray) -> np.ndarray:
    """Burned-in text, calipers and drawn lines: narrow bright strokes on black, in clusters.

    A stroke pixel is bright (>= 96 of 255) with near-black pixels (<= 40) within 3 columns on
    BOTH sides. B-mode speckle is blurred laterally by the beam width, so a bright speckle flanked
    by black on both sides is rare and rarer still in clusters, and the edge of the image data
    (tissue on one side, black border on the other) is not a stroke.
    """
    bright = grey >= _STROKE_MIN
    dark = grey <= _BLACK_MAX
    left = np.zeros(grey.shape, dtype=bool)
    right = np.zeros(grey.shape, dtype=bool)
    for k in range(1, 4):
        left[:, k:] |= dark[:, :-k]
        right[:, :-k] |= dark[:, k:]
    stroke = bright & left & right
    count = _box_sum(stroke, 2, 3)          # 5 rows x 7 columns
    return _dilate(count >= 3, 1, 1) & _dilate(stroke, 1, 2)


def _box_sum(values: np.ndarray, half_rows: int, half_cols: int) -> np.ndarray:
    """Sum over a (2 half_rows + 1) x (2 half_cols + 1) box, zero outside the image; exact
    integer sums for a boolean mask, float32 sums (ample for grey levels) otherwise."""
    values = np.asarray(values)
    out = values.astype(np.int32) if values.dtype == bool else values.astype(np.float32)
    for axis, half in ((0, half_rows), (1, half_cols)):
        if half <= 0:
            continue
        pad = [(0, 0), (0, 0)]
        pad[axis] = (half + 1, half)
        cumulative = np.cumsum(np.pad(out, pad), axis=axis, dtype=out.dtype)
        length = out.shape[axis]
        hi = [slice(None), slice(None)]
        lo = [slice(None), slice(None)]
        hi[axis] = slice(2 * half + 1, 2 * half + 1 + length)
        lo[axis] = slice(0, length)
        out = cumulative[tuple(hi)] - cumulative[tuple(lo)]
    return out


def _dilate(mask: np.ndarray, half_rows: int, half_cols: int) -> np.ndarray:
    """Boolean dilation by a (2 half_rows + 1) x (2 half_cols + 1) box."""
    out = np.asarray(mask, dtype=bool)
    if half_rows > 0:
        out = _running(np.logical_or, out, half_rows, axis=0)
    if half_cols > 0:
        out = _running(np.logical_or, out, half_cols, axis=1)
    return out


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


_NO_ECHO = "no entry echo: no boundary from a dark layer into echoing tissue was found"


def _detect_in(grey, blind, calibration, edge_fraction):
    """The detection inside one crop (a region box or the whole image); a problem string when
    nothing can be found, else (points, confidences, problems, tissue box within the crop)."""
    coarse, valid = _masked_box_mean(grey, ~blind, *_ECHO_BOX_PX)
    levels = coarse[valid]
    if levels.size == 0:
        return "no entry echo: the image holds only text, graphics or colour"
    dark, bright = float(np.percentile(levels, 5)), float(np.percentile(levels, 99))
    if bright - dark < 8.0:
        return _NO_ECHO
    floor = dark + _SIGNAL_FRACTION * (bright - dark)
    echo = valid & (np.nan_to_num(coarse, nan=dark) > floor)
    h = _window_px(grey.shape[0])
    box = _tissue_area(echo, valid, h)
    if box is None:
        return _NO_ECHO
    c0, r0, c1, r1 = _trim_columns(box, grey, blind, floor)
    grey, blind = grey[r0:r1, c0:c1], blind[r0:r1, c0:c1]
    echo, valid = echo[r0:r1, c0:c1], valid[r0:r1, c0:c1]
    coarse = np.nan_to_num(coarse[r0:r1, c0:c1], nan=dark)
    rows, n = r1 - r0, c1 - c0
    if rows < _N_SUB * h + 2:
        return _NO_ECHO

    # lateral box average over 5 columns: one column's speckle dip is not a gap
    echo_sum = _box_sum(echo & valid, 0, 2)
    weight_sum = _box_sum(valid, 0, 2)
    score = _entry_score(echo_sum, weight_sum, h)
    # an entry is where the entry echo starts: a strong echo within h rows below it (a patch of
    # noisy gel that merges with the tissue below is not one)
    strong_coarse = (coarse > dark + _ENTRY_ECHO_FRACTION * (bright - dark)).astype(float)
    strong_soon = _window_any(strong_coarse, -2, h)
    candidates = _candidates(np.where(strong_soon, score, -1.0), h)
    if not any(candidates):
        return _NO_ECHO

    aspect = 1.0 if calibration is None else calibration.mm_per_pixel_x / calibration.mm_per_pixel_y
    max_step = max(1, int(np.ceil(_MAX_SLOPE * aspect)))
    path = _shortest_path(candidates, rows, h, max_step)

    # Fine profile for the edge, only in the band of rows the line and its checks look at.
    # Blind pixels count as dark, so an edge is never pulled towards a text row (a column where
    # blind pixels touch the line is flagged anyway).
    top = max(0, int(path.min()) - 8 * h - 4)
    bottom = min(rows, int(path.max()) + 4 * h + 4)
    smooth = np.full((rows, n), np.nan)
    band = np.where(blind[top:bottom], dark, grey[top:bottom])
    smooth[top:bottom] = gaussian_smooth(band, _SMOOTH_AXIAL_PX, _SMOOTH_LATERAL_PX)
    strong = (np.nan_to_num(smooth, nan=dark) > dark + _STRONG_FRACTION * (bright - dark)) & valid
    strong_sum = _box_sum(strong, 0, 2)

    edge_rows = _leading_edges(smooth, path, h, edge_fraction)
    found = np.isfinite(edge_rows)
    line = np.where(found, edge_rows, path).astype(float)
    confidence = np.zeros(n)
    above = np.zeros(n, dtype=bool)
    for c in range(n):
        cands = candidates[c]
        if cands and abs(cands[0] - int(path[c])) <= 2:
            confidence[c] = float(np.clip((score[cands[0], c] - _CONF_LOW) / (_CONF_HIGH - _CONF_LOW), 0, 1))
        elif cands and cands[0] < path[c]:
            above[c] = True
    confidence[~found] = 0.0
    # echoes above the line that are not its entry (a thin entry echo over a dark band, a
    # structure in the stand-off): two rows, 2 h to 8 h above, with a strong echo in 3 of 5 columns
    strong_above = _gather(strong_sum, path, np.arange(-8 * h, -2 * h))
    above |= np.count_nonzero(strong_above >= 3, axis=0) >= 2
    # blind pixels on the line itself (a row either side, a column either side): edge not seen
    blind_near = _dilate(blind, 0, 1).astype(float)
    first = np.floor(line).astype(int)
    crossed = np.any(_gather(blind_near, first, np.arange(-1, 3)) > 0.5, axis=0)
    confidence[crossed | above] = 0.0
    _bridge_short_gaps(confidence, crossed | above | ~found)
    missing = np.isnan(edge_rows)
    if missing.all():
        return _NO_ECHO
    if missing.any():
        index = np.arange(n)
        edge_rows = np.interp(index, index[~missing], edge_rows[~missing])

    problems = []
    arc = _arc_problem(edge_rows, aspect)
    if arc:
        problems.append(arc)
    if crossed.any():
        problems.append("burned-in text or graphics cross the skin line at "
                        + _describe_runs(_runs(crossed), c0))
    if (above & ~crossed).any():
        problems.append("echoes above the line: the skin may lie higher at "
                        + _describe_runs(_runs(above & ~crossed), c0))
    weak = (confidence < _CONFIDENT) & ~crossed & ~above
    if weak.any():
        problems.append("no clear entry echo at " + _describe_runs(_runs(weak), c0))
    points = tuple((float(c + c0), float(r + r0)) for c, r in enumerate(edge_rows))
    return points, tuple(float(v) for v in confidence), problems, (c0, r0, c1, r1)


def _bridge_short_gaps(confidence: np.ndarray, flagged: np.ndarray, longest: int = 2) -> None:
    """Columns without an entry of their own, at most ``longest`` wide, between confident
    columns, take the lowest confidence accepted: the line there is held by its neighbours
    (its slope is bounded) and a speckle dip of one or two columns is not a missing skin."""
    weak = (confidence < _CONFIDENT) & ~flagged
    for start, stop in _runs(weak):
        if stop - start > longest or start == 0 or stop == len(confidence):
            continue
        if confidence[start - 1] >= _CONFIDENT and confidence[stop] >= _CONFIDENT:
            confidence[start:stop] = _CONFIDENT


def _masked_box_mean(grey, known, half_rows: int, half_cols: int):
    """Box mean that ignores blind pixels; NaN where the box sees mostly blind pixels.
    Returns (mean, valid)."""
    weight = _box_sum(known, half_rows, half_cols)
    total = _box_sum(np.where(known, grey, 0.0), half_rows, half_cols)
    valid = weight > 0.3 * (2 * half_rows + 1) * (2 * half_cols + 1)
    return np.where(valid, total / np.maximum(weight, 1e-9), np.nan), valid


def _tissue_area(echo: np.ndarray, valid: np.ndarray, h: int) -> tuple[int, int, int, int] | None:
    """(col0, row0, col1, row1) end-exclusive: the image's tissue area without annotation borders.

    The ultrasound data is the largest connected patch of echoes (on a grid of h x h cells, a
    cell counting when half its pixels echo); text, tool bars and scales beside or below it are
    other, smaller patches. Its columns and its bottom bound the area. Upwards it reaches to the
    top of the image: the dark stand-off or black border above the skin must stay in view, and
    so must any echo above the line (a thin entry echo over a dark band would otherwise be cut
    off as "another patch" and the dermis below taken for the skin).
    """
    rows, cols = echo.shape
    n_r, n_c = rows // h, cols // h
    if n_r < 2 or n_c < 2:
        return None
    cells = echo[:n_r * h, :n_c * h].reshape(n_r, h, n_c, h).mean(axis=(1, 3)) >= 0.5
    labels = _label(cells)
    if labels.max() < 0:
        return None
    sizes = np.bincount(labels[labels >= 0])
    main = int(np.argmax(sizes))
    rr, cc = np.nonzero(labels == main)
    bottom, left, right = rr.max() + 1, cc.min(), cc.max() + 1
    return (left * h, 0, min(cols, right * h), min(rows, bottom * h))


def _trim_columns(box, grey, blind, floor):
    """Narrow the area to columns that hold echo data themselves: the blurred map used for the
    patches spreads a few pixels into the black border beside the data."""
    c0, r0, c1, r1 = box
    inside = (grey[r0:r1, c0:c1] > floor) & ~blind[r0:r1, c0:c1]
    fraction = inside.mean(axis=0)
    keep = np.flatnonzero(fraction >= 0.5 * float(np.median(fraction)))
    if keep.size == 0:
        return box
    return (c0 + int(keep[0]), r0, c0 + int(keep[-1]) + 1, r1)


def _label(cells: np.ndarray) -> np.ndarray:
    """8-connected component labels of a boolean grid (-1 off), by min-label propagation."""
    n_r, n_c = cells.shape
    big = n_r * n_c
    labels = np.where(cells, np.arange(big).reshape(n_r, n_c), big)
    while True:
        padded = np.pad(labels, 1, constant_values=big)
        best = labels.copy()
        for dr in (0, 1, 2):
            for dc in (0, 1, 2):
                best = np.minimum(best, padded[dr:dr + n_r, dc:dc + n_c])
        best = np.where(cells, best, big)
        flat = best.ravel()
        on = flat < big
        flat[on] = np.minimum(flat[on], flat[flat[on]])  # pointer jumping: follow the label's own label
        best = flat.reshape(n_r, n_c)
        if np.array_equal(best, labels):
            break
        labels = best
    out = np.full((n_r, n_c), -1)
    _, out[cells] = np.unique(labels[cells], return_inverse=True)
    return out


def _entry_score(echo_sum: np.ndarray, weight_sum: np.ndarray, h: int) -> np.ndarray:
    """Per pixel: min over the sub-windows below of the echo fraction, minus the fraction above.

    Window sums come from cumulative sums along the rows. Rows whose windows would leave the
    image, or see mostly ignored pixels, score -1; above the first row counts as dark.
    """
    rows, cols = echo_sum.shape
    zero = np.zeros((1, cols), dtype=np.int64)
    cum_echo = np.vstack([zero, np.cumsum(echo_sum, axis=0, dtype=np.int64)])
    cum_weight = np.vstack([zero, np.cumsum(weight_sum, axis=0, dtype=np.int64)])
    full = 5 * h  # 5 columns x h rows of weight when nothing is ignored
    score = np.full((rows, cols), -1.0, dtype=np.float32)
    n = rows - _N_SUB * h + 1  # rows whose windows fit: 0 .. n-1
    if n <= 0:
        return score
    worst = np.full((n, cols), np.inf, dtype=np.float32)
    ok = np.ones((n, cols), dtype=bool)
    for k in range(_N_SUB):
        e = cum_echo[(k + 1) * h:(k + 1) * h + n] - cum_echo[k * h:k * h + n]
        w = cum_weight[(k + 1) * h:(k + 1) * h + n] - cum_weight[k * h:k * h + n]
        ok &= 2 * w >= full
        worst = np.minimum(worst, e / np.maximum(w, 1).astype(np.float32))
    start = np.maximum(np.arange(n) - 2 * h, 0)
    e = cum_echo[:n] - cum_echo[start]
    w = cum_weight[:n] - cum_weight[start]
    above = np.where(w > 0, e / np.maximum(w, 1).astype(np.float32), 0.0)
    score[:n] = np.where(ok, worst - above, -1.0)
    return score


def _window_any(mask: np.ndarray, first: int, last: int) -> np.ndarray:
    """True where ``mask`` holds anywhere in rows r + first .. r + last of the same column."""
    rows = mask.shape[0]
    cumulative = np.vstack([np.zeros((1, mask.shape[1])), np.cumsum(mask, axis=0)])
    r = np.arange(rows)
    lo = np.clip(r + first, 0, rows)
    hi = np.clip(r + last + 1, 0, rows)
    return (cumulative[hi] - cumulative[lo]) > 0


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
    width = 2 * max_step + 1
    padded = np.full(rows + 2 * max_step, np.inf)
    choices = np.lib.stride_tricks.sliding_window_view(padded, width)  # row j sees j-m .. j+m
    index = np.arange(rows)
    for i in range(1, n):
        padded[max_step:max_step + rows] = total
        arg = np.argmin(choices, axis=1)
        total = choices[index, arg] + cost[i]
        back[i] = max_step - arg  # the row moved by this much from the previous column
    path = np.zeros(n, dtype=int)
    path[-1] = int(np.argmin(total))
    for i in range(n - 1, 0, -1):
        path[i - 1] = path[i] - back[i, path[i]]
    return path


def _gather(values: np.ndarray, rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """values[rows[c] + offsets[k], c] as a (len(offsets), columns) array, NaN outside."""
    index = rows[None, :] + offsets[:, None]
    inside = (index >= 0) & (index < values.shape[0])
    picked = values[np.clip(index, 0, values.shape[0] - 1), np.arange(values.shape[1])[None, :]]
    return np.where(inside, picked, np.nan)


def _leading_edges(smooth: np.ndarray, path: np.ndarray, h: int, edge_fraction: float) -> np.ndarray:
    """Per column, the sub-pixel row where the rise into the entry echo near the path crosses
    ``edge_fraction`` of the way from the level just above to the echo's peak; NaN if no rise.

    The peak is the brightest row from 2 rows above the path to h below, then climbed while
    still rising (at most 4 h below the path); the level above is the median of the rows 2 to 2 h
    above the path. Vectorised over the columns (it runs whenever an image is opened).
    """
    n = smooth.shape[1]
    offsets = np.arange(-8 * h, 4 * h + 1)          # the band the fine profile was computed in
    profile = _gather(smooth, path, offsets)        # (len(offsets), n)
    zero = 8 * h                                    # index of the path row in ``offsets``
    start = profile[zero - 2:zero + h + 1]
    has = np.any(np.isfinite(start), axis=0)
    peak = zero - 2 + np.argmax(np.nan_to_num(start, nan=-np.inf), axis=0)
    columns = np.arange(n)
    rising = has.copy()
    for _ in range(4 * h):
        nxt = np.minimum(peak + 1, len(offsets) - 1)
        step = rising & (peak + 1 < len(offsets)) & (profile[nxt, columns] > profile[peak, columns])
        if not step.any():
            break
        peak = peak + step
        rising &= step
    above = profile[zero - 2 * h:zero - 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: handled just below
        base = np.nanmedian(above, axis=0)
    fallback = np.min(np.where(np.isfinite(start), start, np.inf), axis=0)
    base = np.where(np.isfinite(base), base, fallback)
    top = profile[peak, columns]
    good = has & np.isfinite(top) & (top > base)
    level = base + edge_fraction * (top - base)
    index = np.arange(len(offsets))[:, None]
    below = ~(profile >= level[None, :]) & (index <= peak[None, :])   # NaN counts as below
    last_below = np.where(below.any(axis=0), len(offsets) - 1 - np.argmax(below[::-1], axis=0), -1)
    k = last_below + 1                              # first row at or above the level
    previous = profile[np.maximum(last_below, 0), columns]
    current = profile[k, columns]
    interpolate = (last_below >= 0) & np.isfinite(previous) & (current != previous)
    with np.errstate(all="ignore"):
        fraction = np.where(interpolate, (level - previous) / (current - previous), 0.0)
    edge = np.where(interpolate, last_below + fraction, k.astype(float))
    return np.where(good, path + (edge - zero), np.nan)


def _arc_problem(edge_rows: np.ndarray, aspect: float) -> str | None:
    """A problem sentence when the line is an arc rather than a skin surface under a flat probe.

    A curved array's near field is an arc centred on its virtual apex (middle deepest); a phased
    array's sector starts at a point (middle shallowest). Either way the entry boundary is the
    probe's footprint, not the skin: flagged when the line departs from its best straight line
    (tilt allowed) by more than 5 % of its width, peak to peak. Dermal skin under a stand-off
    bends far less (the demo's: about 1 %); a strongly curved skin is flagged too, which only
    asks the user to confirm.
    """
    n = len(edge_rows)
    if n < 10:
        return None
    u = np.linspace(-1.0, 1.0, n)
    depth = edge_rows / aspect  # in column-pixel units, so width and bend compare like for like
    straight = np.polyval(np.polyfit(u, depth, 1), u)
    bend = float(np.ptp(depth - straight))
    if bend > _ARC_SAG * n:
        middle_deeper = np.polyfit(u, depth, 2)[0] < 0
        shape = "its middle deeper than its ends" if middle_deeper else "its middle shallower than its ends"
        return (f"the line is an arc ({shape}, bending {100 * bend / n:.0f} % of its width): the "
                f"probe's footprint is an arc or a point (curved array or sector), no flat skin line")
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
