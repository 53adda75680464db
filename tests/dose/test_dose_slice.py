"""The interpolated axial dose plane against the field it was sampled from, and isodose lines on it.

Trilinear interpolation reproduces any multilinear field (1, x, y, z, xy, yz, xz, xyz) exactly, so
at arbitrary points — between voxel centres and on a plane between two dose planes — the plane
must equal the field's own formula; beyond the outer voxel centres it holds the edge value, as the
DVH does (planner.dose.structure_dvh).
"""

import numpy as np
import pytest

from planner.core.volume import VoxelGrid
from planner.dose.dose_slice import axial_dose_gy, refined_axis_mm
from planner.dose.isodose_lines import isodose_segments, isodose_segments_for_levels


def multilinear_gy(x, y, z):
    return 20.0 + 0.3 * x - 0.2 * y + 0.1 * z + 0.01 * x * y - 0.004 * y * z + 0.002 * x * z + 0.0003 * x * y * z


def grid_5mm() -> VoxelGrid:
    return VoxelGrid(np.arange(-47.5, 50.0, 5.0), np.arange(-27.5, 30.0, 5.0), np.arange(-12.5, 15.0, 5.0))


def on_grid(field, g: VoxelGrid) -> np.ndarray:
    return field(*np.meshgrid(g.x_mm, g.y_mm, g.z_mm, indexing="ij"))


@pytest.mark.parametrize("plane_z_mm", [-12.5, -3.7, 0.0, 1.25, 9.99])   # on a dose plane, and between two
def test_a_multilinear_field_comes_out_exact_at_arbitrary_points(plane_z_mm):
    g = grid_5mm()
    rng = np.random.default_rng(7)
    at_x = np.sort(rng.uniform(-47.5, 47.5, 37))
    at_y = np.sort(rng.uniform(-27.5, 27.5, 23))
    plane = axial_dose_gy(on_grid(multilinear_gy, g), g.x_mm, g.y_mm, g.z_mm, plane_z_mm, at_x, at_y)
    assert plane.shape == (at_y.size, at_x.size)   # rows along y, as isodose_segments takes it
    X, Y = np.meshgrid(at_x, at_y)                 # (ny, nx)
    assert np.allclose(plane, multilinear_gy(X, Y, plane_z_mm), atol=1e-9, rtol=0)


def test_between_two_dose_planes_the_dose_is_linear_in_z_by_hand():
    g = grid_5mm()
    dose = np.zeros(g.shape)
    dose[:, :, 2] = 10.0    # z = -2.5 mm
    dose[:, :, 3] = 30.0    # z = +2.5 mm
    at = np.array([0.0])
    # 1 mm above -2.5 mm is 1/5 of the way: 10 + (30 - 10) / 5 = 14 Gy
    assert axial_dose_gy(dose, g.x_mm, g.y_mm, g.z_mm, -1.5, at, at)[0, 0] == pytest.approx(14.0, abs=1e-12)


def test_beyond_the_outer_voxel_centres_the_edge_value_is_held_and_outside_the_grid_refused():
    g = grid_5mm()
    dose = on_grid(multilinear_gy, g)
    at_x, at_y = np.array([-49.0, 49.9]), np.array([29.0])
    plane = axial_dose_gy(dose, g.x_mm, g.y_mm, g.z_mm, 14.0, at_x, at_y)
    assert plane[0] == pytest.approx(multilinear_gy(np.array([-47.5, 47.5]), 27.5, 12.5), abs=1e-9)
    with pytest.raises(ValueError, match="outside the dose grid"):
        axial_dose_gy(dose, g.x_mm, g.y_mm, g.z_mm, 15.5, at_x, at_y)


@pytest.mark.parametrize("voxel_mm, per_voxel, step_mm", [(2.5, 5, 0.5), (5.0, 5, 1.0), (10.0, 11, 10.0 / 11)])
def test_the_raster_is_fine_odd_per_voxel_and_holds_every_voxel_centre(voxel_mm, per_voxel, step_mm):
    axis = np.arange(-2, 3) * voxel_mm
    raster = refined_axis_mm(axis)
    assert raster.size == per_voxel * axis.size
    assert np.allclose(np.diff(raster), step_mm) and step_mm <= 1.0 and per_voxel >= 4
    assert raster[0] == pytest.approx(axis[0] - voxel_mm / 2 + step_mm / 2)   # tiles the voxels edge to edge
    assert np.all(np.min(np.abs(raster[None, :] - axis[:, None]), axis=1) < 1e-9)


def test_isodose_points_on_the_raster_lie_exactly_on_their_level():
    """A bilinear field in-plane (xy term): marching squares on the raster puts every line point on
    the level of the interpolated dose, because the raster holds the voxel centres."""
    g = grid_5mm()
    dose = on_grid(multilinear_gy, g)
    rx, ry = refined_axis_mm(g.x_mm), refined_axis_mm(g.y_mm)
    plane = axial_dose_gy(dose, g.x_mm, g.y_mm, g.z_mm, 3.3, rx, ry)
    for level, (xs, ys) in zip((15.0, 20.0, 30.0), isodose_segments_for_levels(plane, rx, ry, (15.0, 20.0, 30.0))):
        assert xs.size > 10
        inside = (xs >= g.x_mm[0]) & (xs <= g.x_mm[-1]) & (ys >= g.y_mm[0]) & (ys <= g.y_mm[-1])
        assert np.allclose(multilinear_gy(xs[inside], ys[inside], 3.3), level, atol=1e-9)


def test_a_ramp_gives_a_straight_isodose_where_the_hand_formula_puts_it():
    g = grid_5mm()
    dose = on_grid(lambda x, y, z: 50.0 + 0.8 * x + 0 * y + 0 * z, g)     # 0.8 Gy/mm along x
    rx, ry = refined_axis_mm(g.x_mm), refined_axis_mm(g.y_mm)
    xs, _ys = isodose_segments(axial_dose_gy(dose, g.x_mm, g.y_mm, g.z_mm, 0.0, rx, ry), rx, ry, 47.5)
    assert np.allclose(xs, (47.5 - 50.0) / 0.8, atol=1e-9)                 # x = -3.125 mm
