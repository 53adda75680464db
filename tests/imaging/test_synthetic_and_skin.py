"""The synthetic dermal image generator and the skin-line detector."""

from __future__ import annotations

import numpy as np
import pytest

from planner.imaging import PixelCalibration, SkinLine, detect_skin, make_dermal_ultrasound


def test_geometry_and_truth_ranges(synthetic_case):
    case = synthetic_case
    assert case.pixels_u8.shape == (480, 640) and case.pixels_u8.dtype == np.uint8
    assert (case.calibration.mm_per_pixel_x, case.calibration.mm_per_pixel_y) == (0.05, 0.025)
    assert 2.5 <= case.tumour_max_depth_below_skin_mm <= 3.0
    assert 8.5 <= case.tumour_width_mm <= 9.2
    assert 16 <= len(case.tumour_outline_mm) <= 24


def test_truth_numbers_are_what_the_mask_says(synthetic_case):
    case = synthetic_case
    rows, cols = np.nonzero(case.tumour_mask)
    x_mm, y_mm = case.calibration.pixel_to_mm(cols, rows)
    skin = case.skin_line.depth_at(x_mm)
    assert np.max(y_mm - skin) == pytest.approx(case.tumour_max_depth_below_skin_mm, abs=1e-12)
    assert x_mm.max() - x_mm.min() == pytest.approx(case.tumour_width_mm, abs=1e-12)


def test_skin_surface_is_tilted_or_curved_about_1_mm_deep(synthetic_case):
    y = np.asarray(synthetic_case.skin_line.y_mm)
    assert 0.7 <= y.min() and y.max() <= 1.8
    assert y.max() - y.min() > 0.1  # not flat


def test_the_image_looks_like_dermal_ultrasound(synthetic_case):
    case = synthetic_case
    img = case.pixels_u8.astype(float)
    z = np.arange(480)[:, None] * 0.025
    skin = np.asarray(case.skin_line.y_mm)[None, :]
    gel = img[z < skin - 0.15]
    dermis = img[(z > skin + 0.2) & (z < skin + 1.3) & ~case.tumour_mask]
    tumour = img[case.tumour_mask & (z > skin + 0.3)]
    fat = img[(z > skin + 2.5) & (z < skin + 6.0) & ~case.tumour_mask]
    assert gel.mean() < 25                               # dark stand-off
    assert dermis.mean() > 2 * tumour.mean()             # hypoechoic tumour in echogenic dermis
    assert fat.mean() < dermis.mean() - 40               # subcutis darker than dermis
    assert tumour.mean() < fat.mean()                    # tumour still visible in the fat
    # speckle: Rayleigh-like fluctuation in the dermis, not a flat grey
    assert dermis.std() > 15


def test_same_seed_same_image_other_seed_other_image():
    a = make_dermal_ultrasound(7)
    b = make_dermal_ultrasound(7)
    c = make_dermal_ultrasound(8)
    np.testing.assert_array_equal(a.pixels_u8, b.pixels_u8)
    assert a.tumour_outline_mm == b.tumour_outline_mm
    assert not np.array_equal(a.pixels_u8, c.pixels_u8)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_detector_tracks_the_skin_for_other_seeds(seed):
    case = make_dermal_ultrasound(seed)
    line = detect_skin(case.pixels_u8, case.calibration).line_mm(case.calibration)
    error_px = np.abs(np.asarray(line.y_mm) - np.asarray(case.skin_line.y_mm)) / 0.025
    assert np.mean(error_px <= 2.0) >= 0.95


def test_the_detector_survives_extra_speckle_and_bright_deep_echoes(synthetic_case):
    rng = np.random.default_rng(3)
    noisy = synthetic_case.pixels_u8.astype(float) * rng.rayleigh(1 / np.sqrt(np.pi / 2), (480, 640))
    noisy[300:306, :] = 255  # a bright deep reflector brighter than the entry echo
    noisy = np.clip(noisy, 0, 255)
    line = detect_skin(noisy, synthetic_case.calibration).line_mm(synthetic_case.calibration)
    error_px = np.abs(np.asarray(line.y_mm) - np.asarray(synthetic_case.skin_line.y_mm)) / 0.025
    assert np.mean(error_px <= 2.0) >= 0.95


def test_the_detector_works_on_rgb_input(synthetic_case):
    rgb = np.repeat(synthetic_case.pixels_u8[..., None], 3, axis=-1)
    cal = synthetic_case.calibration
    line = detect_skin(rgb, cal).line_mm(cal)
    grey = detect_skin(synthetic_case.pixels_u8, cal).line_mm(cal)
    np.testing.assert_allclose(line.y_mm, grey.y_mm, atol=1e-9)


def test_the_detector_returns_none_without_an_echo_and_refuses_no_calibration(synthetic_case):
    cal = PixelCalibration(0.05, 0.025, 0.0, 0.0, "test")
    assert detect_skin(np.zeros((100, 50), np.uint8), cal).line_mm(cal) is None
    # without a calibration there is no line in mm (the pixels still get a detection)
    assert detect_skin(synthetic_case.pixels_u8).line_mm(None) is None


def test_skin_line_depth_at_interpolates_and_extends_flat():
    line = SkinLine((0.0, 1.0, 3.0), (1.0, 2.0, 2.0))
    assert line.depth_at(0.5) == 1.5
    assert line.depth_at(-5.0) == 1.0 and line.depth_at(10.0) == 2.0
    np.testing.assert_allclose(line.depth_at(np.array([0.0, 2.0])), [1.0, 2.0])
    with pytest.raises(ValueError):
        SkinLine((0.0, 0.0), (1.0, 1.0))
