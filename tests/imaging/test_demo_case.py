"""The committed demo case: valid DICOM, exact calibration, truth consistent with the generator."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from planner.imaging import detect_skin, load_demo_case, load_ultrasound
from planner.imaging.demo import demo_case_path


def test_demo_path_is_resources_demo_at_the_repository_root():
    path = demo_case_path()
    assert path.parts[-2:] == ("resources", "demo")
    assert (path.parent.parent / "planner" / "imaging" / "demo.py").is_file()


@pytest.mark.skipif(shutil.which("dciodvfy") is None,
                    reason="dciodvfy (Debian package dicom3tools) is not on PATH")
def test_demo_file_passes_dciodvfy_without_errors(demo_dcm):
    run = subprocess.run(["dciodvfy", str(demo_dcm)], capture_output=True, text=True, timeout=60)
    output = run.stdout + run.stderr
    assert "USImage" in output  # it recognised the IOD
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    assert errors == [], output
    # The one known warning: Laterality is empty because the synthetic lesion has no side.
    warnings = [line for line in output.splitlines() if line.startswith("Warning")]
    assert all("<Laterality>" in line for line in warnings), warnings


def test_loading_the_demo_gives_the_generators_calibration_exactly(demo_dcm, synthetic_case):
    image = load_ultrasound(demo_dcm)
    cal, truth = image.calibration, synthetic_case.calibration
    assert (cal.mm_per_pixel_x, cal.mm_per_pixel_y, cal.x0_mm, cal.y0_mm) == (
        truth.mm_per_pixel_x, truth.mm_per_pixel_y, truth.x0_mm, truth.y0_mm)
    assert (cal.mm_per_pixel_x, cal.mm_per_pixel_y) == (0.05, 0.025)
    assert cal.source == "Sequence of Ultrasound Regions, region 1 (2-D tissue, cm)"
    assert image.problems == ()
    assert (image.rows, image.cols, image.n_frames) == (480, 640, 1)
    assert image.width_mm == pytest.approx(32.0) and image.depth_mm == pytest.approx(12.0)
    left, top, width, height = image.extent_mm
    assert left == pytest.approx(-16.0) and top == pytest.approx(-0.0125)
    assert (width, height) == pytest.approx((32.0, 12.0))
    assert image.patient_name == "DEMO^Patient" and image.patient_id == "DEMO-0001"
    assert image.modality == "US" and image.sop_class_name == "Ultrasound Image Storage"


def test_the_demo_pixels_are_the_generators_pixels(demo_dcm, synthetic_case):
    image = load_ultrasound(demo_dcm)
    difference = np.abs(image.frames[0].astype(int) - synthetic_case.pixels_u8.astype(int))
    # identical on this machine; allow last-bit float differences of another numpy build
    assert difference.max() <= 1 and np.count_nonzero(difference) <= 0.001 * difference.size


def test_the_json_truth_matches_the_generator(demo_json, synthetic_case):
    truth = demo_json["truth"]
    assert truth["tumour_max_depth_below_skin_mm"] == pytest.approx(
        synthetic_case.tumour_max_depth_below_skin_mm, abs=1e-6)
    assert truth["tumour_width_mm"] == pytest.approx(synthetic_case.tumour_width_mm, abs=1e-6)
    np.testing.assert_allclose(demo_json["lesion_outline_mm"], synthetic_case.tumour_outline_mm,
                               atol=1e-6, rtol=0)
    assert demo_json["image"] == "demo_ultrasound.dcm"
    assert demo_json["generator"]["script"] == "scripts/make_demo_case.py"


def test_the_detector_finds_the_demo_skin_within_2_pixels_in_95_percent_of_columns(demo_dcm, demo_json):
    image = load_ultrasound(demo_dcm)
    line = detect_skin(image.frames[0], image.calibration).line_mm(image.calibration)
    truth_x = np.array([p[0] for p in demo_json["skin_line_mm"]])
    truth_y = np.array([p[1] for p in demo_json["skin_line_mm"]])
    np.testing.assert_allclose(line.x_mm, truth_x, atol=1e-9)
    error_px = np.abs(np.asarray(line.y_mm) - truth_y) / image.calibration.mm_per_pixel_y
    assert np.mean(error_px <= 2.0) >= 0.95, np.percentile(error_px, [50, 95, 100])


def test_load_demo_case_bundles_image_outline_and_truth():
    case = load_demo_case()
    assert case.image.calibration.mm_per_pixel_x == case.truth.mm_per_pixel_x
    assert 16 <= len(case.lesion_outline_mm) <= 24
    assert 2.5 <= case.truth.tumour_max_depth_below_skin_mm <= 3.0
    assert 8.0 <= case.truth.tumour_width_mm <= 9.5
    assert len(case.skin_line.x_mm) == case.image.cols
    # the outline reaches the true maximum depth below the skin (it is the default target)
    depth_below = [y - case.skin_line.depth_at(x) for x, y in case.lesion_outline_mm]
    assert max(depth_below) == pytest.approx(case.truth.tumour_max_depth_below_skin_mm, abs=1e-6)
    xs = [x for x, _ in case.lesion_outline_mm]
    assert max(xs) - min(xs) == pytest.approx(case.truth.tumour_width_mm, abs=1e-6)


def test_the_generator_script_is_byte_for_byte_reproducible(tmp_path, demo_dir):
    script = demo_dir.parents[1] / "scripts" / "make_demo_case.py"
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        subprocess.run([sys.executable, str(script), "--out", str(out)], check=True,
                       capture_output=True, timeout=120)
    for name in ("demo_ultrasound.dcm", "demo_case.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    # and (on this numpy build) identical to the committed files
    committed = (demo_dir / "demo_case.json").read_text()
    regenerated = (first / "demo_case.json").read_text()
    assert re.sub(r"\s+", "", committed) == re.sub(r"\s+", "", regenerated)
