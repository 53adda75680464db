"""The fluence smoothness term on hand-made bixel layouts: which bixels are neighbours, its value
worked out by hand, and its gradient against finite differences."""

import numpy as np
import pytest

from plugins.imrt_photon.fluence_smoothness import fluence_smoothness, neighbour_differences
from plugins.imrt_photon.pencil_beam import Bixel

# Beam 0: a 3 x 2 map of 5 mm bixels (u = 0, 5, 10 mm along the leaves; v = 0, 5 mm across them),
# weights  v = 0: 1 3 6   and   v = 5: 2 3 10.  Beam 1: one bixel at beam 0's first cell.
LAYOUT = [Bixel(0, 0.0, u, v) for v in (0.0, 5.0) for u in (0.0, 5.0, 10.0)] + [Bixel(1, 40.0, 0.0, 0.0)]
WEIGHTS = np.array([1.0, 3.0, 6.0, 2.0, 3.0, 10.0, 100.0])
# By hand: steps along u  1-3, 3-6, 2-3, 3-10 -> 4 + 9 + 1 + 49 = 63; across leaves 1-2, 3-3, 6-10
# -> 1 + 0 + 16 = 17; 7 pairs, sum of squares 80. Beam 1's bixel has no neighbour of its own beam.
PAIRS, SUM_OF_SQUARES = 7, 80.0


def test_neighbours_are_next_bixels_of_the_same_beam_along_and_across_the_leaves():
    d = neighbour_differences(LAYOUT, 5.0)
    assert d.shape == (PAIRS, len(LAYOUT))
    steps = d @ WEIGHTS
    assert sorted(np.abs(steps).tolist()) == [0.0, 1.0, 1.0, 2.0, 3.0, 4.0, 7.0]
    assert float(steps @ steps) == SUM_OF_SQUARES
    assert np.all(d[:, 6].toarray() == 0)  # the other beam's bixel is nobody's neighbour
    # every row is one pair: +1 and -1
    assert np.all(d.sum(axis=1) == 0) and np.all(abs(d).sum(axis=1) == 2)


def test_value_is_the_weighted_mean_square_step_in_gy():
    c_gy, weight = 2.0, 0.5   # Gy per unit weight, the planner's weight
    term = fluence_smoothness(LAYOUT, 5.0, weight, c_gy)
    value, _ = term(WEIGHTS)
    assert value == pytest.approx(weight * c_gy ** 2 * SUM_OF_SQUARES / PAIRS)   # 160/7
    assert value == pytest.approx(160.0 / 7.0)
    assert fluence_smoothness(LAYOUT, 5.0, 0.0, c_gy) is None   # weight 0: the control is off
    flat, grad = term(np.full(len(LAYOUT), 4.0))
    assert flat == 0.0 and np.all(grad == 0.0)   # a flat fluence costs nothing


def test_gradient_matches_finite_differences():
    term = fluence_smoothness(LAYOUT, 5.0, 3.0, 1.3)
    rng = np.random.default_rng(7)
    x = rng.uniform(0.0, 5.0, len(LAYOUT))
    _, grad = term(x)
    h = 1e-6
    numeric = np.array([(term(x + h * e)[0] - term(x - h * e)[0]) / (2 * h) for e in np.eye(len(x))])
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)
    assert grad[6] == 0.0


def test_half_offset_grids_are_read_and_bixels_off_the_grid_refused():
    shifted = [Bixel(0, 0.0, b.u_mm + 2.5, b.v_mm - 2.5) for b in LAYOUT[:6]]   # centres at (k + 1/2) w
    d = neighbour_differences(shifted, 5.0)
    steps = d @ WEIGHTS[:6]
    assert d.shape[0] == PAIRS and float(steps @ steps) == SUM_OF_SQUARES
    with pytest.raises(ValueError, match="grid"):
        neighbour_differences([Bixel(0, 0.0, 0.0, 0.0), Bixel(0, 0.0, 7.0, 0.0)], 5.0)
    with pytest.raises(ValueError, match=">= 0"):
        fluence_smoothness(LAYOUT, 5.0, -1.0, 1.0)
