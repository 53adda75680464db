"""Dose plane: symmetry, PDD on the axis, zero above the skin, divergence, inverse square, speed."""


import numpy as np
import pytest

from planner.core.skin_surface import SkinSurface
from planner.dose.dose_plane import BeamModel, PlaneCache, dose_plane_gy, image_axes
from tests.dose.kv_fixtures import pdd_value, synthetic_beam


class Cal:
    x0_mm, y0_mm, mm_per_pixel_x, mm_per_pixel_y = -15.975, 0.0, 0.05, 0.025


X, Y = image_axes(Cal, 480, 640)
FLAT = SkinSurface(((-20.0, 1.0), (20.0, 1.0)))


@pytest.fixture(scope="module")
def model():
    return BeamModel(synthetic_beam(mu_per_mm=0.1, diameter_mm=15.0, ssd_cm=15.0))


def test_flat_skin_plane_is_symmetric_zero_above_skin_and_reproduces_the_pdd(model):
    axis = 0.025          # a pixel centre: columns at axis ± k·0.05 mm mirror each other
    grid = dose_plane_gy(model, X, Y, FLAT, axis, surface_dose_gy=20.0)
    assert grid.shape == (480, 640)
    c = int(np.argmin(np.abs(X - axis)))
    k = min(c, 639 - c)
    np.testing.assert_allclose(grid[:, c - k:c][:, ::-1], grid[:, c + 1:c + k + 1], rtol=1e-5, equal_nan=True)
    assert np.all(grid[Y < 1.0] == 0.0)
    below = Y >= 1.0
    expected = 20.0 * np.interp(Y[below] - 1.0, *np.array(model.beam.pdd).T) / 100.0
    np.testing.assert_allclose(grid[below, c], expected, rtol=1e-5)
    assert grid[np.argmin(np.abs(Y - 1.0)), c] == pytest.approx(20.0, rel=1e-5)


def test_divergence_moves_the_field_edge_outwards(model):
    # fixture edge: R·(SSD+z)/SSD with 50 % at 0.5 mm beyond it; at 5 mm depth R = 7.5·155/150 = 7.75 mm
    for depth, edge in ((0.0, 7.5), (5.0, 7.75)):
        oar = model.relative_dose(depth, np.array([0.0, edge + 0.5])) / model.relative_dose(depth, 0.0)
        assert oar[1] == pytest.approx(0.5, abs=0.02)
    # beyond the deepest profile (5 mm) the 5 mm shape is projected: 50 % at (7.5·(150+10)/150 + 0.5·160/155) mm
    oar10 = model.relative_dose(10.0, 7.5 * 160 / 150 + 0.5 * 160 / 155) / model.relative_dose(10.0, 0.0)
    assert oar10 == pytest.approx(0.5, abs=0.02)


def test_outside_the_data_is_nan_never_extrapolated(model):
    assert np.isnan(model.relative_dose(31.0, 0.0))
    assert np.isnan(model.relative_dose(1.0, 40.0))
    assert model.relative_dose(-0.1, 0.0) == 0.0
    y = np.linspace(0, 40, 81)
    grid = dose_plane_gy(model, np.linspace(-30, 30, 121), y, FLAT, 0.0, 1.0)
    assert np.isnan(grid[y > 31.0 + 1e-9]).all() and np.isnan(grid[y >= 1.0, 0]).all()
    assert np.all(grid[y < 1.0] == 0.0)


def test_inverse_square_for_a_skin_farther_from_the_source(model):
    # the skin 2 mm deeper at x ≥ 3 mm than on the axis: primary falls by (150/152)²
    step = SkinSurface(((-20.0, 1.0), (2.99, 1.0), (3.0, 3.0), (20.0, 3.0)))
    grid = dose_plane_gy(model, X, Y, step, 0.0, 10.0)
    c = int(np.argmin(np.abs(X - 4.025)))
    r = int(np.argmin(np.abs(Y - 4.0)))
    expected = 10.0 * pdd_value(Y[r] - 3.0, 0.1) / 100.0 * (150.0 / 152.0) ** 2
    assert grid[r, c] == pytest.approx(expected, rel=1e-4)


def test_grid_matches_point_evaluation_on_a_curved_skin(model):
    skin = SkinSurface(((-16.0, 1.2), (-4.0, 0.8), (5.0, 1.0), (16.0, 1.5)))
    grid = dose_plane_gy(model, X, Y, skin, 1.0, 1.0)
    xx, yy = np.meshgrid(X, Y)
    s = skin.depth_at(xx)
    ref = model.relative_dose(yy - s, xx - 1.0, s - skin.depth_at(1.0))
    np.testing.assert_allclose(grid, ref, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_the_plane_cache_reuses_a_plane_for_the_same_beam_and_skin(model):
    """Speed is measured in benchmarks/edit_redraw.py (the engine's recompute alone is printed there)."""
    skin = SkinSurface(((-16.0, 1.2), (0.0, 0.9), (16.0, 1.3)))
    cache = PlaneCache()
    a = cache.plane(model, X, Y, skin, 0.0)
    assert cache.plane(model, X, Y, skin, 0.0) is a
    assert cache.plane(model, X, Y, skin, 0.5) is not a


def test_noise_in_the_central_annuli_draws_no_notch_on_the_axis():
    """The PDD is scored over a 2 mm disc; a noisy 0.25 mm annulus must not dent the plane on the axis."""
    import dataclasses

    from planner.dose.beam_data import Profile

    beam = synthetic_beam(0.1, 20.0, 6.0)
    noisy = []
    for p in beam.profiles:
        pts = [(r, v * (0.96 if r < 0.5 else 1.0)) for r, v in p.points]   # first annulus 4 % low
        noisy.append(Profile(p.depth_mm, tuple(pts), p.uncertainty))
    model = BeamModel(dataclasses.replace(beam, profiles=tuple(noisy), pdd_scoring_radius_mm=2.0))
    for depth in (1.0, 5.0, 8.0):
        near_axis = model.relative_dose(np.full(9, depth), np.linspace(-1.0, 1.0, 9))
        assert np.ptp(near_axis) < 1e-9 * near_axis.max() + 1e-12, depth
    # Outside the scoring disc the profile's shape is kept: the field edge still falls off.
    assert model.relative_dose(0.0, 10.5) < 0.8 * model.relative_dose(0.0, 0.0)
