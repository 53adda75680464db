import numpy as np
import pytest

from planner.core.skin_surface import SkinSurface, SkinSurfaceError


def test_depth_is_linear_between_points_and_constant_beyond_the_ends():
    skin = SkinSurface(((0.0, 1.0), (10.0, 2.0)))
    assert skin.depth_at(5.0) == pytest.approx(1.5)
    assert skin.depth_at(-3.0) == pytest.approx(1.0)
    assert skin.depth_at(12.0) == pytest.approx(2.0)


def test_points_are_ordered_laterally_whatever_the_input_order():
    skin = SkinSurface(((10.0, 2.0), (0.0, 1.0)))
    assert skin.points_mm == ((0.0, 1.0), (10.0, 2.0))


def test_a_dense_curved_surface_simplifies_to_few_points_that_stay_close():
    x = np.linspace(-16, 16, 641)
    y = 1.0 + 0.004 * x**2 + 0.02 * x
    skin = SkinSurface.from_samples(x, y, max_points=20)
    assert len(skin.points_mm) == 20
    assert np.max(np.abs(skin.depth_at(x) - y)) < 0.025  # within one 0.025 mm depth pixel


@pytest.mark.parametrize("points", [((0.0, 1.0),), ((0.0, 1.0), (0.0, 2.0)), ((0.0, np.nan), (1.0, 1.0))])
def test_unusable_surfaces_are_refused(points):
    with pytest.raises(SkinSurfaceError):
        SkinSurface(points)
