"""Pixel-to-millimetre calibration of 2-D images, above all ultrasound.

Why this module is strict: every depth the planner prescribes to is measured on the image, so a
wrong scale is a wrong dose depth. Ultrasound files normally carry no Pixel Spacing; the scale is
given per rectangular region in the Sequence of Ultrasound Regions (0018,6011). We use a region
only when it is a 2-D image with centimetre units in both directions, strictly positive deltas
and a pixel box that lies inside the image. Anything else yields a specific problem sentence and
no calibration from that region, so the user is told to calibrate by hand instead of silently
measuring with a wrong scale.

Conventions: x is lateral (columns, increasing to the right), y is depth (rows, increasing
downward). ``(x0_mm, y0_mm)`` is the physical position of the CENTRE of pixel (col 0, row 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

__all__ = [
    "PixelCalibration",
    "RegionCalibration",
    "CalibrationResult",
    "parse_ultrasound_regions",
    "calibration_from_dataset",
    "calibration_for_pixel",
    "pixel_spacing_calibration",
    "cm_to_mm",
]

SPATIAL_FORMAT_2D = 1
DATA_TYPE_TISSUE = 1
UNITS_CM = 3

#: Region Spatial Format (0018,6012), PS3.3 C.8.5.5.1.1
SPATIAL_FORMAT_NAMES = {0: "none", 1: "2-D", 2: "M-mode", 3: "spectral", 4: "waveform", 5: "graphics"}
#: Region Data Type (0018,6014), PS3.3 C.8.5.5.1.2
DATA_TYPE_NAMES = {
    1: "tissue", 2: "colour flow", 3: "PW spectral Doppler", 4: "CW spectral Doppler",
    5: "Doppler mean trace", 6: "Doppler mode trace", 7: "Doppler max trace", 8: "volume trace",
    9: "ECG trace", 10: "pulse trace", 11: "phonocardiogram trace", 12: "grey bar",
    13: "colour bar", 14: "integrated backscatter", 15: "area trace", 16: "d(area)/dt",
    17: "other physiological input",
}
#: Physical Units X/Y Direction (0018,6024/6026), PS3.3 C.8.5.5.1.15
UNIT_NAMES = {
    0: "none", 1: "percent", 2: "dB", 3: "cm", 4: "seconds", 5: "hertz", 6: "dB/seconds",
    7: "cm/sec", 8: "cm2", 9: "cm2/sec", 10: "cm3", 11: "cm3/sec", 12: "degrees",
}


def cm_to_mm(value_cm: float) -> float:
    """Centimetres to millimetres by an exact decimal shift of the stored value.

    ``0.005 * 10`` happens to be 0.05 in binary floating point, but e.g. ``10 * -1.5975`` need not
    be ``-15.975``; shifting the shortest decimal representation keeps the value a file states
    (and the generator of the demo wrote) bit for bit.
    """
    try:
        return float(Decimal(repr(float(value_cm))) * 10)
    except (InvalidOperation, ValueError, OverflowError):
        return float(value_cm) * 10.0


@dataclass(frozen=True)
class PixelCalibration:
    """Linear mapping between pixel indices and millimetres.

    ``x_mm(col) = x0_mm + col * mm_per_pixel_x`` and ``y_mm(row) = y0_mm + row * mm_per_pixel_y``;
    integer pixel indices denote pixel centres. ``source`` says in words where the numbers came
    from, because a physicist checking a plan must be able to see it.
    """

    mm_per_pixel_x: float
    mm_per_pixel_y: float
    x0_mm: float
    y0_mm: float
    source: str

    def __post_init__(self) -> None:
        for name in ("mm_per_pixel_x", "mm_per_pixel_y"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("x0_mm", "y0_mm"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError("source must be a non-empty description of where the scale came from")

    def pixel_to_mm(self, col: Any, row: Any) -> tuple[Any, Any]:
        """(col, row) pixel coordinates (floats or arrays, fractional allowed) to (x_mm, y_mm)."""
        x_mm = self.x0_mm + np.asarray(col, dtype=float) * self.mm_per_pixel_x
        y_mm = self.y0_mm + np.asarray(row, dtype=float) * self.mm_per_pixel_y
        return _unwrap(x_mm), _unwrap(y_mm)

    def mm_to_pixel(self, x_mm: Any, y_mm: Any) -> tuple[Any, Any]:
        """(x_mm, y_mm) to fractional (col, row); round yourself if you need an index."""
        col = (np.asarray(x_mm, dtype=float) - self.x0_mm) / self.mm_per_pixel_x
        row = (np.asarray(y_mm, dtype=float) - self.y0_mm) / self.mm_per_pixel_y
        return _unwrap(col), _unwrap(row)


def _unwrap(value: np.ndarray) -> Any:
    """0-d arrays become Python floats so scalar callers get scalars back."""
    return float(value) if np.ndim(value) == 0 else value


@dataclass(frozen=True)
class RegionCalibration:
    """One item of the Sequence of Ultrasound Regions after validation.

    ``calibration`` is set only for a usable 2-D region with cm units; ``problem`` says why a 2-D
    region was rejected (non-2-D regions such as waveforms are simply not spatial and carry
    neither). ``index`` is 1-based, as the user would count.
    """

    index: int
    spatial_format: int | None
    data_type: int | None
    min_col: int | None
    min_row: int | None
    max_col: int | None
    max_row: int | None
    calibration: PixelCalibration | None
    problem: str | None
    note: str | None = None

    @property
    def description(self) -> str:
        return f"region {self.index} ({_kind(self.spatial_format, self.data_type)})"

    @property
    def is_2d(self) -> bool:
        return self.spatial_format == SPATIAL_FORMAT_2D

    @property
    def area_px(self) -> int:
        if None in (self.min_col, self.min_row, self.max_col, self.max_row):
            return 0
        return max(0, self.max_col - self.min_col + 1) * max(0, self.max_row - self.min_row + 1)

    def contains(self, col: float, row: float) -> bool:
        """True if the pixel (centre) lies in the inclusive pixel box of the region."""
        if None in (self.min_col, self.min_row, self.max_col, self.max_row):
            return False
        return (self.min_col - 0.5 <= col <= self.max_col + 0.5
                and self.min_row - 0.5 <= row <= self.max_row + 0.5)


@dataclass(frozen=True)
class CalibrationResult:
    """The default calibration of an image plus every region and every problem found."""

    calibration: PixelCalibration | None
    regions: tuple[RegionCalibration, ...]
    problems: tuple[str, ...]


def _kind(spatial_format: int | None, data_type: int | None) -> str:
    fmt = SPATIAL_FORMAT_NAMES.get(spatial_format, f"spatial format {spatial_format}")
    dtype = DATA_TYPE_NAMES.get(data_type, f"data type {data_type}")
    return f"{fmt} {dtype}"


def _get(item: Any, keyword: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(keyword)
    try:
        return getattr(item, keyword, None)
    except Exception:  # a corrupt element can raise on access
        return None


def _scalar(value: Any) -> Any:
    """Unwrap a one-valued MultiValue/list; '' and empty lists are 'missing'."""
    if value is None or (isinstance(value, (str, bytes)) and not value):
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return value[0] if len(value) == 1 else None
    return value


def _as_int(value: Any) -> int | None:
    number = _as_float(value)
    if number is None or not math.isfinite(number) or number != int(number):
        return None
    return int(number)


def _as_float(value: Any) -> float | None:
    value = _scalar(value)
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number


def _unit_name(code: int | None) -> str:
    if code is None:
        return "missing"
    return UNIT_NAMES.get(code, f"code {code}")


def parse_ultrasound_regions(
    regions: Sequence[Any] | None,
    image_cols: int | None = None,
    image_rows: int | None = None,
) -> tuple[RegionCalibration, ...]:
    """Validate each region item (pydicom Dataset or mapping of keywords).

    With ``image_cols``/``image_rows`` the region boxes are also checked against the image size:
    a box reaching outside the image means the pixel matrix was resized or cropped after the
    metadata was written, so its deltas cannot be trusted.
    """
    parsed: list[RegionCalibration] = []
    for number, item in enumerate(regions or (), start=1):
        parsed.append(_parse_region(number, item, image_cols, image_rows))
    return tuple(parsed)


def _parse_region(number: int, item: Any, image_cols: int | None,
                  image_rows: int | None) -> RegionCalibration:
    spatial_format = _as_int(_get(item, "RegionSpatialFormat"))
    data_type = _as_int(_get(item, "RegionDataType"))
    box = [_as_int(_get(item, k)) for k in
           ("RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1", "RegionLocationMaxY1")]
    min_col, min_row, max_col, max_row = box

    def result(calibration: PixelCalibration | None = None, problem: str | None = None,
               note: str | None = None) -> RegionCalibration:
        return RegionCalibration(number, spatial_format, data_type, min_col, min_row, max_col,
                                 max_row, calibration, problem, note)

    if spatial_format != SPATIAL_FORMAT_2D:
        return result()  # M-mode, Doppler, waveforms, graphics: not a spatial image

    label = f"region {number} ({_kind(spatial_format, data_type)})"
    reasons: list[str] = []

    units_x = _as_int(_get(item, "PhysicalUnitsXDirection"))
    units_y = _as_int(_get(item, "PhysicalUnitsYDirection"))
    if units_x != UNITS_CM or units_y != UNITS_CM:
        reasons.append(f"physical units are {_unit_name(units_x)} x {_unit_name(units_y)}, not cm x cm")

    deltas: dict[str, float] = {}
    for axis in ("X", "Y"):
        delta = _as_float(_get(item, f"PhysicalDelta{axis}"))
        if delta is None:
            reasons.append(f"Physical Delta {axis} is missing")
        elif not math.isfinite(delta) or delta <= 0:
            reasons.append(f"Physical Delta {axis} is {delta!r}, not a positive number")
        else:
            deltas[axis] = delta

    if None in box:
        reasons.append("its pixel box (Region Location Min/Max) is missing")
    elif min_col > max_col or min_row > max_row:
        reasons.append(f"its pixel box columns {min_col}-{max_col}, rows {min_row}-{max_row} is empty")
    elif image_cols is not None and image_rows is not None and (
            min_col < 0 or min_row < 0 or max_col > image_cols - 1 or max_row > image_rows - 1):
        reasons.append(
            f"its pixel box columns {min_col}-{max_col}, rows {min_row}-{max_row} lies outside the "
            f"{image_cols}x{image_rows} image (columns 0-{image_cols - 1}, rows 0-{image_rows - 1}); "
            "the image was probably resized or cropped after calibration")

    if reasons:
        return result(problem=f"{label} not used for calibration: " + "; ".join(reasons))

    dx_mm = cm_to_mm(deltas["X"])
    dy_mm = cm_to_mm(deltas["Y"])
    # PS3.3 C.8.5.5.1.16: the reference pixel is an offset from the region's top-left corner
    # (Region Location Min X0/Y0), not from the image origin, and may be negative.
    ref_dx = _as_int(_get(item, "ReferencePixelX0"))
    ref_dy = _as_int(_get(item, "ReferencePixelY0"))
    note = None
    if ref_dx is None or ref_dy is None:
        note = (f"{label} has no Reference Pixel X0/Y0: its top-left pixel is taken as the mm "
                "origin (distances and depths between points are unaffected)")
        ref_dx = 0 if ref_dx is None else ref_dx
        ref_dy = 0 if ref_dy is None else ref_dy
    ref_col = min_col + ref_dx
    ref_row = min_row + ref_dy
    phys_x = _as_float(_get(item, "ReferencePixelPhysicalValueX"))
    phys_y = _as_float(_get(item, "ReferencePixelPhysicalValueY"))
    phys_x_mm = 0.0 if phys_x is None or not math.isfinite(phys_x) else cm_to_mm(phys_x)
    phys_y_mm = 0.0 if phys_y is None or not math.isfinite(phys_y) else cm_to_mm(phys_y)
    x0_mm = phys_x_mm - ref_col * dx_mm if ref_col else phys_x_mm
    y0_mm = phys_y_mm - ref_row * dy_mm if ref_row else phys_y_mm
    calibration = PixelCalibration(
        mm_per_pixel_x=dx_mm, mm_per_pixel_y=dy_mm, x0_mm=x0_mm, y0_mm=y0_mm,
        source=f"Sequence of Ultrasound Regions, {label[:-1]}, cm)",
    )
    return result(calibration=calibration, note=note)


def _best_region(regions: Sequence[RegionCalibration]) -> RegionCalibration | None:
    """Largest usable 2-D tissue region; failing that the largest usable 2-D region of any type."""
    usable = [r for r in regions if r.calibration is not None]
    if not usable:
        return None
    tissue = [r for r in usable if r.data_type == DATA_TYPE_TISSUE]
    pool = tissue or usable
    return max(pool, key=lambda r: (r.area_px, -r.index))


def pixel_spacing_calibration(dataset: Any) -> tuple[PixelCalibration | None, str | None]:
    """Pixel Spacing (0028,0030) = [row spacing (y, between rows), column spacing (x)] in mm."""
    spacing = _get(dataset, "PixelSpacing")
    if spacing is None or (isinstance(spacing, str) and not spacing):
        return None, None
    try:
        values = [float(v) for v in spacing]
    except (TypeError, ValueError):
        return None, f"Pixel Spacing (0028,0030) not used: {spacing!r} is not two numbers"
    if len(values) != 2:
        return None, f"Pixel Spacing (0028,0030) not used: it has {len(values)} values instead of 2"
    row_spacing_mm, col_spacing_mm = values
    if not all(math.isfinite(v) and v > 0 for v in values):
        return None, f"Pixel Spacing (0028,0030) not used: {values} are not both positive"
    return PixelCalibration(
        mm_per_pixel_x=col_spacing_mm, mm_per_pixel_y=row_spacing_mm, x0_mm=0.0, y0_mm=0.0,
        source="Pixel Spacing (0028,0030)",
    ), None


def _image_size(dataset: Any) -> tuple[int | None, int | None]:
    return _as_int(_get(dataset, "Columns")), _as_int(_get(dataset, "Rows"))


def calibration_from_dataset(dataset: Any) -> CalibrationResult:
    """Default calibration of a DICOM dataset, with every problem found on the way.

    Order: the largest usable 2-D region of the Sequence of Ultrasound Regions, else Pixel
    Spacing, else none (problem starting with "no calibration:").
    """
    cols, rows = _image_size(dataset)
    raw_regions = _get(dataset, "SequenceOfUltrasoundRegions")
    regions = parse_ultrasound_regions(raw_regions, cols, rows)
    problems = [r.problem for r in regions if r.problem]

    best = _best_region(regions)
    if best is not None:
        if best.note:
            problems.append(best.note)
        usable = [r for r in regions if r.calibration is not None]
        scales = {(r.calibration.mm_per_pixel_x, r.calibration.mm_per_pixel_y) for r in usable}
        if len(scales) > 1:
            problems.append(
                f"{len(usable)} calibrated 2-D regions have different pixel sizes; the default "
                f"scale is {best.description} (the largest); measure within one region at a time")
        return CalibrationResult(best.calibration, regions, tuple(problems))

    calibration, spacing_problem = pixel_spacing_calibration(dataset)
    if spacing_problem:
        problems.append(spacing_problem)
    if calibration is not None:
        return CalibrationResult(calibration, regions, tuple(problems))

    if regions:
        kinds = ", ".join(r.description for r in regions)
        why = f"no usable 2-D region in cm among the ultrasound regions ({kinds})"
    else:
        why = "the file has no Sequence of Ultrasound Regions"
    why += " and no usable Pixel Spacing (0028,0030)"
    problems.append(f"no calibration: {why}; draw a known distance to calibrate")
    return CalibrationResult(None, regions, tuple(problems))


def calibration_for_pixel(
    dataset_or_regions: Any,
    col: float,
    row: float,
    *,
    image_size: tuple[int, int] | None = None,
) -> PixelCalibration | None:
    """Calibration valid at pixel (col, row): the usable 2-D region containing it.

    Accepts a pydicom Dataset (its Rows/Columns are used to validate boxes) or a sequence of
    region items (pass ``image_size=(cols, rows)`` to validate boxes). Where regions overlap,
    a tissue region wins over others, then the smallest box. Returns None when the image has
    usable regions but none contains the pixel: a measurement there would have no meaning.
    A dataset without any usable region falls back to its Pixel Spacing (valid everywhere).
    """
    if isinstance(dataset_or_regions, (list, tuple)) or type(dataset_or_regions).__name__ == "Sequence":
        regions_raw, dataset = dataset_or_regions, None
        cols, rows = image_size if image_size is not None else (None, None)
    else:
        dataset = dataset_or_regions
        regions_raw = _get(dataset, "SequenceOfUltrasoundRegions")
        cols, rows = image_size if image_size is not None else _image_size(dataset)
    regions = parse_ultrasound_regions(regions_raw, cols, rows)
    usable = [r for r in regions if r.calibration is not None]
    if not usable:
        return pixel_spacing_calibration(dataset)[0] if dataset is not None else None
    containing = [r for r in usable if r.contains(col, row)]
    if not containing:
        return None
    best = min(containing, key=lambda r: (r.data_type != DATA_TYPE_TISSUE, r.area_px, r.index))
    return best.calibration
