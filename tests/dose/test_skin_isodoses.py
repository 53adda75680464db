"""The one isodose contouring of the window and the reports (planner.dose.skin_isodoses) on grids small enough
to contour by hand: the surface dose carried up to the skin, no line along or above the skin, none in a cell
without beam data."""

import numpy as np
import pytest

from planner.dose.skin_isodoses import isodoses_below_skin, surface_dose_carried_up

X_MM = np.array([0.0, 1.0, 2.0, 3.0])
Y_MM = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
NAN = np.nan
# Skin at 1.5 mm: no dose above it (rows 0 and 1), then 100 % falling 20 % per mm from 2 mm; the last column has
# no beam data below 4 mm.
DOSE = np.array([[0.0, 0.0, 0.0, 0.0],
                 [0.0, 0.0, 0.0, 0.0],
                 [100.0, 100.0, 100.0, 100.0],
                 [80.0, 80.0, 80.0, 80.0],
                 [60.0, 60.0, 60.0, 60.0],
                 [40.0, 40.0, 40.0, NAN]])


def flat_skin(x):
    return np.full_like(np.asarray(x, dtype=float), 1.5)


def segments(xs, ys):
    """Each segment as ((x0, y0), (x1, y1)), its ends in increasing x, sorted."""
    pairs = [tuple(sorted(((xs[i], ys[i]), (xs[i + 1], ys[i + 1])))) for i in range(0, xs.size, 2)]
    return sorted(pairs)


def test_each_column_s_dose_at_the_skin_is_carried_up_to_the_top():
    # Skin at 0.5, 1.0, 1.5 and 2.5 mm: the first rows at or below it are 1, 1, 2 and 3.
    dose = np.arange(24.0).reshape(6, 4) + 1.0
    carried = surface_dose_carried_up(dose, Y_MM, np.array([0.5, 1.0, 1.5, 2.5]))
    expected = dose.copy()
    expected[0, 0] = dose[1, 0]                  # 5
    expected[0, 1] = dose[1, 1]                  # 6
    expected[0:2, 2] = dose[2, 2]                # 11
    expected[0:3, 3] = dose[3, 3]                # 16
    assert carried.tolist() == expected.tolist()


def test_the_lines_run_at_the_hand_depths_and_none_along_the_skin_or_in_a_cell_without_data():
    ninety, seventy, fifty = isodoses_below_skin(DOSE, X_MM, Y_MM, [90.0, 70.0, 50.0], flat_skin)
    # 90 % halfway between 100 (2 mm) and 80 (3 mm): 2.5 mm; 70 %: 3.5 mm, across all three cells.
    assert segments(*ninety) == [((0.0, 2.5), (1.0, 2.5)), ((1.0, 2.5), (2.0, 2.5)), ((2.0, 2.5), (3.0, 2.5))]
    assert segments(*seventy) == [((0.0, 3.5), (1.0, 3.5)), ((1.0, 3.5), (2.0, 3.5)), ((2.0, 3.5), (3.0, 3.5))]
    # 50 %: 4.5 mm, but not in the last cell (a corner without beam data); and no 50 % line at 1.5 mm, where the
    # grid steps from no dose above the skin to the surface dose.
    assert segments(*fifty) == [((0.0, 4.5), (1.0, 4.5)), ((1.0, 4.5), (2.0, 4.5))]


def test_a_segment_above_the_skin_is_left_out():
    # Skin at 3.2 mm left of x = 1.5 mm (first row at or below: 4 mm, 60 % carried up) and at 2 mm right of it
    # (100 % carried up). The 90 % line then runs up the step at x = 1 + (90 − 60)/(100 − 60) = 1.75 mm: from 0 to
    # 2 mm it lies above the skin there (2 mm) and is left out; below, it turns from (1.75, 2) to (2, 2.5), where
    # 90 % lies between 100 % at 2 mm and 80 % at 3 mm, and runs on at 2.5 mm.
    def skin(x):
        return np.where(np.asarray(x, dtype=float) < 1.5, 3.2, 2.0)

    (xs, ys), = isodoses_below_skin(DOSE, X_MM, Y_MM, [90.0], skin)
    assert segments(xs, ys) == [((1.75, 2.0), (2.0, 2.5)), ((2.0, 2.5), (3.0, 2.5))]


@pytest.mark.parametrize("level", [10.0, 30.0])
def test_a_level_below_the_surface_dose_and_above_no_dose_draws_nothing_along_the_skin(level):
    (xs, ys), = isodoses_below_skin(DOSE[:4], X_MM, Y_MM[:4], [level], flat_skin)
    assert xs.size == 0 and ys.size == 0
