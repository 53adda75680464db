"""Calibration from the Sequence of Ultrasound Regions and Pixel Spacing, on hand-built data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from planner.imaging.calibration import (
    PixelCalibration,
    calibration_for_pixel,
    calibration_from_dataset,
    cm_to_mm,
    parse_ultrasound_regions,
)


def region(x0=0, y0=0, x1=99, y1=49, *, fmt=1, dtype=1, ux=3, uy=3, dx=0.01, dy=0.005,
           ref=(0, 0), phys=(0.0, 0.0)) -> Dataset:
    r = Dataset()
    r.RegionSpatialFormat = fmt
    r.RegionDataType = dtype
    r.RegionFlags = 0
    r.RegionLocationMinX0, r.RegionLocationMinY0 = x0, y0
    r.RegionLocationMaxX1, r.RegionLocationMaxY1 = x1, y1
    r.PhysicalUnitsXDirection, r.PhysicalUnitsYDirection = ux, uy
    if dx is not None:
        r.PhysicalDeltaX = dx
    if dy is not None:
        r.PhysicalDeltaY = dy
    if ref is not None:
        r.ReferencePixelX0, r.ReferencePixelY0 = ref
    if phys is not None:
        r.ReferencePixelPhysicalValueX, r.ReferencePixelPhysicalValueY = phys
    return r


def dataset(*regions, rows=50, cols=100, pixel_spacing=None) -> Dataset:
    ds = Dataset()
    ds.Rows, ds.Columns = rows, cols
    if regions:
        ds.SequenceOfUltrasoundRegions = Sequence(list(regions))
    if pixel_spacing is not None:
        ds.PixelSpacing = pixel_spacing
    return ds


def test_a_valid_region_gives_mm_from_cm_and_names_its_source():
    result = calibration_from_dataset(dataset(region(dx=0.01, dy=0.005)))
    cal = result.calibration
    assert (cal.mm_per_pixel_x, cal.mm_per_pixel_y) == (0.1, 0.05)
    assert (cal.x0_mm, cal.y0_mm) == (0.0, 0.0)
    assert cal.source == "Sequence of Ultrasound Regions, region 1 (2-D tissue, cm)"
    assert result.problems == ()


def test_the_reference_pixel_is_an_offset_from_the_region_corner_not_the_image_origin():
    # Region starts at (20, 10); reference pixel offset (30, 5) -> image pixel (50, 15),
    # where the physical value is x = 1.0 cm, y = 0.2 cm.
    r = region(20, 10, 99, 49, dx=0.01, dy=0.005, ref=(30, 5), phys=(1.0, 0.2))
    cal = calibration_from_dataset(dataset(r)).calibration
    x_mm, y_mm = cal.pixel_to_mm(50, 15)
    assert x_mm == pytest.approx(10.0, abs=1e-12)
    assert y_mm == pytest.approx(2.0, abs=1e-12)
    assert cal.pixel_to_mm(51, 16) == pytest.approx((10.1, 2.05))


def test_pixel_mm_round_trip_on_arrays_and_scalars():
    cal = PixelCalibration(0.05, 0.025, -15.975, 0.5, "test")
    cols = np.array([0.0, 10.5, 639.0])
    rows = np.array([0.0, 3.25, 479.0])
    x, y = cal.pixel_to_mm(cols, rows)
    assert x.shape == (3,) and y.shape == (3,)
    assert x[0] == -15.975 and y[0] == 0.5
    back_c, back_r = cal.mm_to_pixel(x, y)
    np.testing.assert_allclose(back_c, cols, atol=1e-9)
    np.testing.assert_allclose(back_r, rows, atol=1e-9)
    sx, sy = cal.pixel_to_mm(2, 4)
    assert isinstance(sx, float) and sx == pytest.approx(-15.875) and sy == pytest.approx(0.6)


@pytest.mark.parametrize("bad", [0.0, -0.05, math.nan, math.inf])
def test_a_calibration_with_a_non_positive_or_non_finite_spacing_cannot_exist(bad):
    with pytest.raises(ValueError):
        PixelCalibration(bad, 0.025, 0.0, 0.0, "test")
    with pytest.raises(ValueError):
        PixelCalibration(0.05, bad, 0.0, 0.0, "test")


def test_cm_to_mm_keeps_the_stated_decimal_value_exactly():
    assert cm_to_mm(-1.5975) == -15.975
    assert cm_to_mm(0.0025) == 0.025
    assert cm_to_mm(0.005) == 0.05


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"ux": 4, "uy": 3}, "physical units are seconds x cm, not cm x cm"),
        ({"ux": 3, "uy": 0}, "physical units are cm x none, not cm x cm"),
        ({"dx": 0.0}, "Physical Delta X is 0.0, not a positive number"),
        ({"dy": -0.005}, "Physical Delta Y is -0.005, not a positive number"),
        ({"dx": None}, "Physical Delta X is missing"),
        ({"x1": 100}, "lies outside the 100x50 image (columns 0-99, rows 0-49)"),
        ({"y1": 50}, "lies outside the 100x50 image"),
        ({"x0": 60, "x1": 40}, "is empty"),
    ],
)
def test_an_invalid_2d_region_gives_a_specific_problem_and_no_calibration(kwargs, fragment):
    result = calibration_from_dataset(dataset(region(**kwargs)))
    assert result.calibration is None
    assert any(fragment in p and p.startswith("region 1 (2-D tissue) not used for calibration")
               for p in result.problems), result.problems
    assert result.problems[-1].startswith("no calibration: ")


def test_non_2d_regions_are_not_spatial_and_not_reported_as_broken():
    waveform = region(0, 40, 99, 49, fmt=4, dtype=10, ux=4, uy=0, dy=0.0)
    regions = parse_ultrasound_regions([waveform], 100, 50)
    assert regions[0].calibration is None and regions[0].problem is None


def test_the_default_is_the_largest_valid_tissue_region_and_differing_scales_are_flagged():
    small = region(0, 0, 29, 49, dx=0.02, dy=0.02)
    large = region(30, 0, 99, 49, dx=0.01, dy=0.01)
    result = calibration_from_dataset(dataset(small, large))
    assert result.calibration.mm_per_pixel_x == 0.1
    assert "region 2" in result.calibration.source
    assert any("different pixel sizes" in p for p in result.problems)


def test_calibration_for_pixel_picks_the_region_under_the_pixel():
    left = region(0, 0, 29, 49, dx=0.02, dy=0.02)
    right = region(30, 0, 99, 49, dx=0.01, dy=0.01, ref=(0, 0), phys=(0.0, 0.0))
    ds = dataset(left, right)
    assert calibration_for_pixel(ds, 10, 10).mm_per_pixel_x == 0.2
    right_cal = calibration_for_pixel(ds, 50, 10)
    assert right_cal.mm_per_pixel_x == 0.1
    assert right_cal.pixel_to_mm(30, 0) == pytest.approx((0.0, 0.0))  # its own origin
    # the same from the bare region sequence
    assert calibration_for_pixel([left, right], 50, 10, image_size=(100, 50)).mm_per_pixel_x == 0.1


def test_calibration_for_pixel_outside_every_region_is_none():
    ds = dataset(region(10, 10, 50, 40), rows=50, cols=100)
    assert calibration_for_pixel(ds, 80, 5) is None


def test_calibration_for_pixel_prefers_tissue_over_an_overlapping_colour_flow_region():
    tissue = region(0, 0, 99, 49, dx=0.01, dy=0.01)
    flow = region(20, 10, 60, 30, dtype=2, dx=0.03, dy=0.03)
    assert calibration_for_pixel(dataset(tissue, flow), 40, 20).mm_per_pixel_x == 0.1


def test_a_missing_reference_pixel_uses_the_region_corner_and_says_so():
    r = region(20, 10, 99, 49, ref=None, phys=None)
    result = calibration_from_dataset(dataset(r))
    assert result.calibration.pixel_to_mm(20, 10) == (0.0, 0.0)
    assert any("no Reference Pixel" in p for p in result.problems)


def test_pixel_spacing_is_row_spacing_then_column_spacing():
    result = calibration_from_dataset(dataset(pixel_spacing=[0.2, 0.5]))
    cal = result.calibration
    assert cal.mm_per_pixel_y == 0.2  # between rows: depth
    assert cal.mm_per_pixel_x == 0.5  # between columns: lateral
    assert cal.source == "Pixel Spacing (0028,0030)"


def test_a_valid_region_wins_over_pixel_spacing():
    result = calibration_from_dataset(dataset(region(dx=0.01, dy=0.01), pixel_spacing=[0.2, 0.5]))
    assert result.calibration.mm_per_pixel_x == 0.1


def test_an_invalid_region_falls_back_to_pixel_spacing_and_keeps_the_region_problem():
    result = calibration_from_dataset(dataset(region(x1=500), pixel_spacing=[0.2, 0.2]))
    assert result.calibration.source == "Pixel Spacing (0028,0030)"
    assert any("lies outside" in p for p in result.problems)


def test_invalid_pixel_spacing_is_reported():
    result = calibration_from_dataset(dataset(pixel_spacing=[0.0, 0.5]))
    assert result.calibration is None
    assert any(p.startswith("Pixel Spacing (0028,0030) not used") for p in result.problems)
    assert result.problems[-1].startswith("no calibration: ")


def test_no_regions_and_no_spacing_means_no_calibration():
    result = calibration_from_dataset(dataset())
    assert result.calibration is None
    assert result.problems == (
        "no calibration: the file has no Sequence of Ultrasound Regions and no usable Pixel "
        "Spacing (0028,0030); draw a known distance to calibrate",)
