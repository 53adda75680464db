"""The sub-voxel DVH against hand and analytic answers: shapes in linear dose fields on a 5 mm grid.

A trilinear interpolation reproduces a linear dose exactly, so every figure here is the geometry's
own: D50 on the centre plane, Dmean at the centroid, D95 at the plane that leaves 5 % colder, and
D0.03cc at the depth of the hottest 0.03 cc, none of which a DVH of 5 mm voxel centres reaches.
"""


import numpy as np
import pytest

from planner.core.structure_geometry import PlanarContours, even_odd_on_lattice
from planner.core.volume import PlanningVolume, VoxelGrid
from tests.dose.shape_fixtures import Box, Sphere
from planner.dose.structure_dvh import (
    FINEST_SAMPLE_SPACING_MM, MAX_SAMPLE_SPACING_MM, StructureDvh, dose_at_samples_gy, interpolation_matrix,
    sample_shape, sampled_structures)

VOXEL_MM = 5.0


def grid(half_mm=(50.0, 50.0, 50.0), step=VOXEL_MM) -> VoxelGrid:
    axes = [np.arange(-h + step / 2, h, step) for h in half_mm]
    return VoxelGrid(*axes)


def linear_dose(g: VoxelGrid, a_gy: float, gradient_gy_per_mm: tuple[float, float, float]) -> np.ndarray:
    x, y, z = np.meshgrid(g.x_mm, g.y_mm, g.z_mm, indexing="ij")
    gx, gy, gz = gradient_gy_per_mm
    return a_gy + gx * x + gy * y + gz * z


def dvh_of(shape, g: VoxelGrid, dose: np.ndarray) -> StructureDvh:
    samples = sample_shape("S", shape, g.spacing_mm, "test shape")
    return StructureDvh("S", dose_at_samples_gy(samples, g, dose), samples.cell_cc)


def test_the_interpolated_dose_is_exact_for_a_trilinear_field():
    g = grid()
    x, y, z = np.meshgrid(g.x_mm, g.y_mm, g.z_mm, indexing="ij")
    dose = 20.0 + 0.3 * x - 0.2 * y + 0.1 * z + 0.004 * x * y
    samples = sample_shape("S", Sphere((3.3, -7.1, 1.9), 12.0), g.spacing_mm, "test shape")
    X, Y, Z = np.meshgrid(samples.x_mm, samples.y_mm, samples.z_mm, indexing="ij")
    expected = (20.0 + 0.3 * X - 0.2 * Y + 0.1 * Z + 0.004 * X * Y).ravel()[samples.inside]
    np.testing.assert_allclose(dose_at_samples_gy(samples, g, dose), expected, rtol=0, atol=1e-9)


def test_the_optimisers_interpolation_matrix_is_exact_for_a_trilinear_field_over_dose_influence_rows():
    # the optimiser's readout: row doses (only some voxels have a dose-influence row) -> sample doses
    g = grid()
    x, y, z = np.meshgrid(g.x_mm, g.y_mm, g.z_mm, indexing="ij")
    dose = 20.0 + 0.3 * x - 0.2 * y + 0.1 * z + 0.004 * x * y
    sphere = Sphere((3.3, -7.1, 1.9), 12.0)
    samples = sample_shape("S", sphere, g.spacing_mm, "test shape")
    near = (x - 3.3) ** 2 + (y + 7.1) ** 2 + (z - 1.9) ** 2 <= 25.0 ** 2   # rows only around the sphere
    rows = np.flatnonzero(near.ravel())
    matrix = interpolation_matrix(samples, g, rows)
    assert matrix.shape == (samples.inside.size, rows.size)
    X, Y, Z = np.meshgrid(samples.x_mm, samples.y_mm, samples.z_mm, indexing="ij")
    expected = (20.0 + 0.3 * X - 0.2 * Y + 0.1 * Z + 0.004 * X * Y).ravel()[samples.inside]
    np.testing.assert_allclose(matrix @ dose.ravel()[rows], expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.asarray(matrix.sum(axis=1)).ravel(), 1.0, atol=1e-12)   # weights of 8 corners
    assert matrix.getnnz(axis=1).max() <= 8
    # a voxel without a row has no dose: the samples next to it read less
    far = interpolation_matrix(samples, g, rows[: rows.size // 2])
    assert np.asarray(far.sum(axis=1)).min() < 1.0


def test_the_lattice_is_below_the_voxel_and_at_most_1_mm():
    g = grid()
    samples = sample_shape("S", Box((-20, -10, -10), (20, 10, 10)), g.spacing_mm, "test shape")
    assert all(FINEST_SAMPLE_SPACING_MM - 1e-9 <= s <= MAX_SAMPLE_SPACING_MM for s in samples.spacing_mm)
    assert samples.volume_cc == pytest.approx(40 * 20 * 20 / 1000.0)


def test_box_in_a_linear_gradient_gives_the_analytic_dvh_points():
    # 40 mm long along x, 20 × 20 mm across: dose 30 Gy + 0.5 Gy/mm · x on a 5 mm grid
    g, a, slope = grid(), 30.0, 0.5
    dvh = dvh_of(Box((-20, -10, -10), (20, 10, 10)), g, linear_dose(g, a, (slope, 0, 0)))
    assert dvh.volume_cc == pytest.approx(16.0)
    assert dvh.mean_gy == pytest.approx(a, abs=1e-9)                                  # the centroid's dose
    assert dvh.dose_at_volume_percent_gy(50) == pytest.approx(a, abs=1e-9)            # the centre plane
    assert dvh.dose_at_volume_percent_gy(95) == pytest.approx(a + slope * (-20 + 0.05 * 40), abs=1e-9)
    assert dvh.dose_at_volume_percent_gy(10) == pytest.approx(a + slope * (20 - 0.10 * 40), abs=1e-9)
    assert dvh.volume_at_dose(a).volume_percent == pytest.approx(50.0)
    assert dvh.volume_at_dose(a + slope * 10).volume_cc == pytest.approx(16.0 * 10 / 40)
    # the hottest 0.03 cc is a 0.075 mm layer at x = 20 mm: within half a sample layer of it
    exact = a + slope * (20 - 30.0 / (20 * 20))
    step = sample_shape("S", Box((-20, -10, -10), (20, 10, 10)), g.spacing_mm, "t").spacing_mm[0]
    assert dvh.points().d0_03cc_gy == pytest.approx(exact, abs=slope * step / 2 + 1e-9)


def test_sphere_in_a_z_gradient_d50_and_mean_at_the_centre_d0_03cc_at_its_cap():
    # a 10 mm sphere off the voxel centres, dose rising 2 Gy/mm along z
    g, a, slope, r = grid(), 40.0, 2.0, 10.0
    centre = (1.0, -2.0, 3.0)
    dvh = dvh_of(Sphere(centre, r), g, linear_dose(g, a, (0, 0, slope)))
    at_centre = a + slope * centre[2]
    assert dvh.volume_cc == pytest.approx(4 / 3 * np.pi * r ** 3 / 1000, rel=0.01)
    assert dvh.mean_gy == pytest.approx(at_centre, abs=1e-6)
    assert dvh.dose_at_volume_percent_gy(50) == pytest.approx(at_centre, abs=1e-6)
    # the cap of the hottest 0.03 cc: π h² (3r − h) / 3 = 30 mm³
    h = [root.real for root in np.roots([-np.pi / 3, np.pi * r, 0, -30.0]) if 0 < root.real < r][0]
    expected = a + slope * (centre[2] + r - h)
    assert h == pytest.approx(0.99, abs=0.01)
    # within one sample plane (0.5 mm) of the cap's depth
    assert dvh.points().d0_03cc_gy == pytest.approx(expected, abs=slope * 0.5)
    # a voxel-centre maximum is one voxel's luck: here the centre at z = 12.5 mm, 0.5 mm below the
    # sphere's top, reads 1 Gy above the hottest 0.03 cc
    x, y, z = np.meshgrid(g.x_mm, g.y_mm, g.z_mm, indexing="ij")
    centres = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= r * r
    assert linear_dose(g, a, (0, 0, slope))[centres].max() == pytest.approx(a + slope * 12.5)
    assert a + slope * 12.5 - expected == pytest.approx(0.98, abs=0.01)


def test_contours_stand_for_their_slabs_and_holes_are_even_odd():
    # a 30 mm square with a 10 mm square hole, drawn on 5 planes 5 mm apart (slab 5 mm): 25 mm thick
    outer = np.array([[-15.0, -15], [15, -15], [15, 15], [-15, 15]])
    hole = np.array([[-5.0, -5], [5, -5], [5, 5], [-5, 5]])
    planes = tuple((z, (outer, hole)) for z in (-10.0, -5.0, 0.0, 5.0, 10.0))
    contours = PlanarContours(planes, slab_mm=5.0)
    assert contours.bounds_mm[2] == (-12.5, 12.5)
    g, a, slope = grid(), 25.0, 1.0
    dvh = dvh_of(contours, g, linear_dose(g, a, (0, 0, slope)))
    assert dvh.volume_cc == pytest.approx((30 * 30 - 10 * 10) * 25 / 1000.0, rel=1e-9)
    assert dvh.mean_gy == pytest.approx(a, abs=1e-9)
    assert dvh.dose_at_volume_percent_gy(5) == pytest.approx(a + slope * (12.5 - 0.05 * 25), abs=1e-9)


def test_even_odd_lattice_fill_of_a_triangle():
    x = y = np.arange(6.0) + 0.5
    inside = even_odd_on_lattice(np.array([[0.0, 0.0], [4.2, 0.0], [0.0, 4.2]]), x, y)
    expected = (x[:, None] + y[None, :] < 4.2)   # by hand: the points below the hypotenuse
    np.testing.assert_array_equal(inside, expected)


def test_a_volume_without_shapes_is_sampled_as_its_voxels_and_an_empty_structure_is_left_out():
    g = grid()
    mask = np.zeros(g.shape, dtype=bool)
    mask[8:12, 9:11, 10] = True      # 8 voxels of 5 mm: 1 cc
    volume = PlanningVolume(g, np.ones(g.shape, np.float32), {"A": mask, "Empty": np.zeros(g.shape, bool)})
    structures = sampled_structures(volume)
    assert set(structures.samples) == {"A"}
    assert structures.samples["A"].volume_cc == pytest.approx(8 * 0.125)
    assert "voxel mask" in structures.samples["A"].source
    dose = linear_dose(g, 10.0, (0.2, 0, 0))
    points = structures.points(dose, volume_doses_gy=(10.0,))["A"]
    centre_x = g.x_mm[8:12].mean()
    assert points.mean_gy == pytest.approx(10.0 + 0.2 * centre_x, abs=1e-9)
    assert points.volumes_at_dose[0].dose_gy == 10.0


def test_an_empty_dvh_is_nan_not_a_crash_and_a_small_structure_has_no_d0_03cc():
    empty = StructureDvh("E", np.zeros(0), 0.001)
    assert np.isnan(empty.points().d95_gy) and np.isnan(empty.mean_gy)
    tiny = StructureDvh("T", np.array([1.0, 2.0]), 0.01)   # 0.02 cc
    assert np.isnan(tiny.points().d0_03cc_gy) and tiny.points().d50_gy == pytest.approx(1.5)


def test_a_structure_too_large_for_1_mm_is_sampled_coarser_within_the_budget_and_says_so():
    # a 200 × 200 × 300 mm body on 3 mm voxels: 12 M points at 1 mm, 1.8 M at 1.5 mm (budget here 2 M)
    g = VoxelGrid(np.arange(-148.5, 150.0, 3.0), np.arange(-148.5, 150.0, 3.0), np.arange(-148.5, 150.0, 3.0))
    samples = sample_shape("Body", Box((-100, -100, -150), (100, 100, 150)), g.spacing_mm, "test shape",
                           max_points=2_000_000)
    assert samples.spacing_mm == pytest.approx((1.5, 1.5, 3.0))
    assert samples.x_mm.size * samples.y_mm.size * samples.z_mm.size <= 2_000_000
    assert "1.5 × 1.5 × 3 mm lattice" in samples.describe()
    assert samples.volume_cc == pytest.approx(200 * 200 * 300 / 1000.0, rel=0.01)
    # one too large even for that is sampled at the voxel, never coarser
    huge = sample_shape("Body", Box((-148, -148, -148), (148, 148, 148)), g.spacing_mm, "test shape",
                        max_points=100_000)
    assert huge.spacing_mm == pytest.approx((3.0, 3.0, 3.0))
    # a small structure on the same grid keeps the fine lattice
    small = sample_shape("S", Sphere((0, 0, 0), 10.0), g.spacing_mm, "test shape")
    assert small.spacing_mm == pytest.approx((0.5, 0.5, 0.5))
