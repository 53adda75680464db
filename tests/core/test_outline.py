import math

import pytest

from planner.core.outline import LesionOutline, OutlineError, measure_lesion


def square(x0=0.0, y0=0.0, side=4.0):
    return LesionOutline(((x0, y0), (x0 + side, y0), (x0 + side, y0 + side), (x0, y0 + side)))


def test_area_and_width_of_a_square_in_mm():
    outline = square(side=4.0)
    assert outline.area_mm2 == pytest.approx(16.0)
    assert outline.lateral_width_mm == pytest.approx(4.0)


def test_area_does_not_depend_on_vertex_order():
    forward = square(side=3.0)
    backward = LesionOutline(tuple(reversed(forward.vertices_mm)))
    assert backward.area_mm2 == pytest.approx(forward.area_mm2)


def test_depth_below_a_flat_skin_is_the_deepest_vertex_minus_skin_depth():
    outline = square(x0=1.0, y0=2.0, side=3.0)  # reaches y = 5 mm
    assert outline.max_depth_below_skin_mm(lambda x: 1.5) == pytest.approx(3.5)


def test_depth_follows_a_tilted_skin_surface():
    # Skin descends 0.5 mm per mm laterally; the deepest point below skin is the bottom-left corner.
    outline = square(x0=0.0, y0=2.0, side=2.0)  # bottom edge y = 4 from x 0..2
    depth = outline.max_depth_below_skin_mm(lambda x: 1.0 + 0.5 * x)
    assert depth == pytest.approx(3.0, abs=1e-6)


def test_depth_catches_a_skin_dip_between_two_vertices():
    # A triangle whose bottom edge spans x 0..10 at y = 4; the skin rises to 0 at x = 5 only.
    outline = LesionOutline(((0.0, 4.0), (10.0, 4.0), (5.0, 1.0)))
    skin = lambda x: 1.0 - 0.2 * (5.0 - abs(x - 5.0))  # 1 mm at the ends, 0 mm at x = 5
    assert outline.max_depth_below_skin_mm(skin) == pytest.approx(4.0, abs=0.01)


def test_measure_lesion_collects_the_three_readouts():
    metrics = measure_lesion(square(side=2.0), lambda x: 0.0)
    assert (metrics.max_depth_below_skin_mm, metrics.lateral_width_mm, metrics.area_mm2) == pytest.approx((2.0, 2.0, 4.0))


@pytest.mark.parametrize("vertices", [((0, 0), (1, 1)), ((0, 0), (1, math.nan), (2, 0)), ((0, 0), (math.inf, 1), (2, 0))])
def test_impossible_outlines_are_refused_with_a_reason(vertices):
    with pytest.raises(OutlineError):
        LesionOutline(vertices)


def test_moving_a_vertex_makes_a_new_outline_and_keeps_the_old():
    old = square()
    new = old.moved_vertex(2, (6.0, 6.0))
    assert old.vertices_mm[2] == (4.0, 4.0)
    assert new.vertices_mm[2] == (6.0, 6.0)
