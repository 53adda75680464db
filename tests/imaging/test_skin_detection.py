"""The skin-line detector is never confidently wrong.

Per case, one right outcome, stated here: either confident and within 0.3 mm (2 pixels where the
image has no calibration) of a reference line at every column of the tissue area, or not
confident with a specific problem. References come from outside the detector: the synthetic
generator's own surface, and lines marked by hand on the pydicom example files
(tests/data/skin_reference/*.json say how).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from planner.core.skin_surface import SkinSurface
from planner.imaging import (
    PixelCalibration,
    SkinDetection,
    UltrasoundImage,
    detect_skin,
    detect_skin_on_image,
    load_demo_case,
    load_ultrasound,
    parse_ultrasound_regions,
)
from planner.imaging.planning_image import detect_skin_surface
from planner.imaging.synthetic import ANNOTATION_LAYOUTS, make_annotated_ultrasound

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "skin_reference"
TOLERANCE_MM = 0.3   # the bound on a confident line
TOLERANCE_PX = 2.0   # the same where the image has no calibration


def _reference(name: str) -> dict:
    return json.loads((REFERENCE / f"{name}.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def _pydicom_case(name: str) -> tuple[UltrasoundImage, SkinDetection]:
    from pydicom import examples

    path = examples.get_path(name)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == _reference(name)["sha256"], (
        f"{path.name} is not the file the reference was marked on")
    image = load_ultrasound(path)  # as Planner opens it
    return image, detect_skin_on_image(image)


@lru_cache(maxsize=None)
def _annotated(layout: str):
    case = make_annotated_ultrasound(layout)
    return case, detect_skin(case.pixels_rgb, case.calibration)


def _columns_and_rows(detection: SkinDetection) -> tuple[np.ndarray, np.ndarray]:
    points = np.asarray(detection.points_px)
    return points[:, 0].astype(int), points[:, 1]


# --------------------------------------------------------------------------- the three pydicom files

def test_linear_scan_with_text_above_is_confident_and_on_the_hand_marked_line():
    reference = _reference("rgb_color")
    image, detection = _pydicom_case("rgb_color")
    assert image.calibration is None
    assert detection.confident, detection.problems
    first, last = reference["tissue_columns"]
    assert detection.tissue_box_px[0] == first and detection.tissue_box_px[2] == last + 1
    columns, rows = _columns_and_rows(detection)
    marked = np.asarray(reference["skin_line_px"], dtype=float)
    expected = np.interp(columns, marked[:, 0], marked[:, 1])
    assert np.max(np.abs(rows - expected)) <= TOLERANCE_PX
    assert detection.line_mm(image.calibration) is None  # no mm without a scale


def test_curved_array_scan_is_not_confident_and_says_the_footprint_is_an_arc():
    reference = _reference("palette_color")
    _, detection = _pydicom_case("palette_color")
    assert not detection.confident
    assert "the line is an arc" in detection.problems[0]
    assert "curved array or sector" in detection.problems[0]
    # the line shown follows the probe's footprint, not the text beside it (4 pixels: the hand
    # marks are 5-20 columns apart and cut the fan's sharp corners)
    columns, rows = _columns_and_rows(detection)
    marked = np.asarray(reference["footprint_px"], dtype=float)
    inside = (columns >= marked[0, 0]) & (columns <= marked[-1, 0])
    expected = np.interp(columns[inside], marked[:, 0], marked[:, 1])
    assert np.max(np.abs(rows[inside] - expected)) <= 4.0


def test_sector_scan_is_not_confident_and_its_line_stays_on_the_sector():
    reference = _reference("ybr_color")
    _, detection = _pydicom_case("ybr_color")
    assert not detection.confident
    assert "the line is an arc" in detection.problems[0] and "its middle shallower" in detection.problems[0]
    columns, rows = _columns_and_rows(detection)
    (c0, c1), (r0, r1) = reference["sector_area_px"]["columns"], reference["sector_area_px"]["rows"]
    assert c0 <= columns.min() and columns.max() <= c1  # not in the text at either side
    assert r0 <= rows.min() and rows.max() <= r1        # not deep in the heart, not the tool bar


# --------------------------------------------------------------------------- the demo

def test_the_demo_is_confident_and_within_0_3_mm_of_its_generators_skin():
    case = load_demo_case()
    detection = detect_skin_on_image(case.image)
    assert detection.confident, detection.problems
    assert detection.tissue_box_px == (0, 0, case.image.cols, case.image.rows)
    line = detection.line_mm(case.image.calibration)
    np.testing.assert_allclose(line.x_mm, case.skin_line.x_mm, atol=1e-9)
    assert np.max(np.abs(np.asarray(line.y_mm) - np.asarray(case.skin_line.y_mm))) <= TOLERANCE_MM


def test_the_demos_planned_surface_has_no_doubts():
    surface = detect_skin_surface(load_demo_case().image)
    assert isinstance(surface, SkinSurface) and surface.doubts == () and surface.confirmed


# --------------------------------------------------------------------------- synthetic annotations

#: layout -> (confident?, words of the expected problem, columns it must name lie within)
EXPECTED = {
    "scanner_screen": (True, None),
    "text_in_standoff": (True, None),
    "text_on_skin": (False, "burned-in text or graphics cross the skin line"),
    "colour_box_on_skin": (False, "burned-in text or graphics cross the skin line"),
    "dark_band_under_entry_echo": (False, "echoes above the line: the skin may lie higher"),
}


def test_every_annotation_layout_has_an_expected_outcome():
    assert set(EXPECTED) == set(ANNOTATION_LAYOUTS)


@pytest.mark.parametrize("layout", ANNOTATION_LAYOUTS)
def test_annotated_image_gives_its_one_right_outcome(layout):
    case, detection = _annotated(layout)
    confident, problem = EXPECTED[layout]
    columns, rows = _columns_and_rows(detection)
    error_mm = np.abs(rows - case.skin_rows_px[columns]) * case.calibration.mm_per_pixel_y
    assert np.all(np.isfinite(error_mm))  # the tissue area is the B-mode area, not the screen
    assert detection.confident is confident, detection.problems
    if confident:
        assert detection.problems == ()
        assert np.max(error_mm) <= TOLERANCE_MM
    else:
        assert any(p.startswith(problem) for p in detection.problems), detection.problems
    # column by column too: wherever the detector says it is sure, it is right
    sure = np.asarray(detection.column_confidence) >= 0.5
    assert np.max(error_mm[sure]) <= TOLERANCE_MM


def test_the_screen_layout_searches_only_the_b_mode_columns():
    case, detection = _annotated("scanner_screen")
    col0, _, col1, _ = case.bmode_box_px
    assert (detection.tissue_box_px[0], detection.tissue_box_px[2]) == (col0, col1)


@pytest.mark.parametrize("layout", ["text_on_skin", "colour_box_on_skin"])
def test_the_crossing_is_reported_where_the_drawing_touches_the_skin(layout):
    case, detection = _annotated(layout)
    first, last = case.crossing_columns  # from the drawing, not from the detector
    columns, _ = _columns_and_rows(detection)
    crossed = [c for c, p in zip(columns, detection.column_confidence) if p == 0.0]
    sentence = next(p for p in detection.problems if p.startswith("burned-in text"))
    assert crossed and first - 3 <= min(crossed) and max(crossed) <= last + 3, sentence


def test_a_thin_entry_echo_over_a_dark_band_is_not_mistaken_for_a_confident_deeper_skin():
    case, detection = _annotated("dark_band_under_entry_echo")
    columns, rows = _columns_and_rows(detection)
    band = (columns >= 100) & (columns < 300)
    confidence = np.asarray(detection.column_confidence)
    wrong = np.abs(rows - case.skin_rows_px[columns]) > TOLERANCE_MM / case.calibration.mm_per_pixel_y
    assert wrong[band].any()                  # the band does fool the line somewhere ...
    assert not np.any(confidence[wrong] >= 0.5)  # ... but never where it says it is sure


def test_a_detection_with_doubts_becomes_a_surface_with_doubts():
    case, detection = _annotated("text_on_skin")
    image = UltrasoundImage(
        frames=case.pixels_rgb[None], calibration=case.calibration, modality="US",
        sop_class_name="Ultrasound Image Storage", sop_instance_uid="", patient_name="",
        patient_id="", frame_time_ms=None, source_path="synthetic")
    surface = detect_skin_surface(image)
    assert surface.doubts == detection.problems and not surface.confirmed


# --------------------------------------------------------------------------- edge cases and the value

def test_a_uniform_image_has_no_entry_echo():
    detection = detect_skin(np.full((120, 160), 90, np.uint8))
    assert not detection.confident and detection.points_px == ()
    assert detection.problems[0].startswith("no entry echo")
    assert detection.line_mm(PixelCalibration(0.1, 0.1, 0.0, 0.0, "test")) is None


def test_a_region_box_confines_the_search(synthetic_case):
    regions = parse_ultrasound_regions([{
        "RegionSpatialFormat": 1, "RegionDataType": 1, "RegionLocationMinX0": 100,
        "RegionLocationMinY0": 0, "RegionLocationMaxX1": 499, "RegionLocationMaxY1": 479,
        "PhysicalUnitsXDirection": 3, "PhysicalUnitsYDirection": 3,
        "PhysicalDeltaX": 0.005, "PhysicalDeltaY": 0.0025}], 640, 480)
    detection = detect_skin(synthetic_case.pixels_u8, synthetic_case.calibration, regions=regions)
    columns, rows = _columns_and_rows(detection)
    assert detection.confident and (columns.min(), columns.max()) == (100, 499)
    truth = (np.asarray(synthetic_case.skin_line.y_mm)[columns] - synthetic_case.calibration.y0_mm) / 0.025
    assert np.max(np.abs(rows - truth)) * 0.025 <= TOLERANCE_MM


def test_a_region_box_outside_the_image_is_not_used(synthetic_case):
    regions = parse_ultrasound_regions([{
        "RegionSpatialFormat": 1, "RegionDataType": 1, "RegionLocationMinX0": 100,
        "RegionLocationMinY0": 0, "RegionLocationMaxX1": 900, "RegionLocationMaxY1": 479}])
    detection = detect_skin(synthetic_case.pixels_u8, regions=regions)
    assert detection.tissue_box_px == (0, 0, 640, 480)


def test_a_detection_that_is_not_confident_must_say_why():
    with pytest.raises(ValueError):
        SkinDetection(((0.0, 1.0), (1.0, 1.0)), (0.2, 0.2), False, (), (0, 0, 2, 4))
    with pytest.raises(ValueError):
        SkinDetection(((0.0, 1.0),), (1.0,), True, ("a problem",), (0, 0, 2, 4))


def test_line_mm_uses_the_calibration_on_pixel_centres():
    detection = SkinDetection(((10.0, 40.0), (11.0, 42.5)), (1.0, 1.0), True, (), (10, 0, 12, 100))
    line = detection.line_mm(PixelCalibration(0.05, 0.025, -16.0, 1.0, "test"))
    assert line.x_mm == pytest.approx((-15.5, -15.45)) and line.y_mm == pytest.approx((2.0, 2.0625))
