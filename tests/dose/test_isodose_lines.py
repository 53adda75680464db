import numpy as np
import pytest

from planner.dose.isodose_lines import isodose_segments


def test_a_radial_dose_gives_a_circle_at_the_level_radius():
    x = np.linspace(-10, 10, 201)
    y = np.linspace(-10, 10, 201)
    dose = 100 - 10 * np.hypot(*np.meshgrid(x, y))  # 50 % at r = 5 mm
    xs, ys = isodose_segments(dose, x, y, 50.0)
    radii = np.hypot(xs, ys)
    assert radii == pytest.approx(np.full_like(radii, 5.0), abs=0.01)
    total_length = np.hypot(xs[1::2] - xs[::2], ys[1::2] - ys[::2]).sum()
    assert total_length == pytest.approx(2 * np.pi * 5.0, rel=0.01)


def test_a_depth_dose_gives_a_horizontal_line_at_the_interpolated_depth():
    x = np.linspace(-5, 5, 11)
    y = np.arange(0, 10.5, 0.5)
    dose = np.repeat((100 * np.exp(-y / 5))[:, None], len(x), axis=1)
    xs, ys = isodose_segments(dose, x, y, 80.0)
    depth_80 = -5 * np.log(0.8)
    assert ys == pytest.approx(np.full_like(ys, depth_80), abs=0.01)  # linear between 0.5 mm rows
    assert xs.min() == pytest.approx(-5) and xs.max() == pytest.approx(5)


def test_no_crossing_gives_no_segments():
    xs, ys = isodose_segments(np.zeros((4, 4)), np.arange(4), np.arange(4), 1.0)
    assert xs.size == 0 and ys.size == 0


def test_several_levels_at_once_give_the_same_lines_as_one_by_one():
    from planner.dose.isodose_lines import isodose_segments_for_levels

    x = np.linspace(-10, 10, 81)
    y = np.linspace(0, 12, 49)
    dose = 110 * np.exp(-y[:, None] / 6) * (np.abs(x[None, :]) < 6)
    levels = [100, 20, 90, 50]
    together = isodose_segments_for_levels(dose, x, y, levels)
    for level, (xs, ys) in zip(levels, together):
        one_xs, one_ys = isodose_segments(dose, x, y, level)
        np.testing.assert_array_equal(xs, one_xs)
        np.testing.assert_array_equal(ys, one_ys)
