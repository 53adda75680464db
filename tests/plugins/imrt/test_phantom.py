"""The C-shape phantom against the published TG-119 geometry (Ezzell et al., Med Phys 36:5359, 2009)."""

import numpy as np
import pytest

from plugins.imrt_photon import phantom as ph


@pytest.fixture(scope="module")
def fine():
    return ph.tg119_c_shape(spacing_mm=2.5)


def _radius_z(p, name):
    x, y, z = np.meshgrid(p.grid.x_mm, p.grid.y_mm, p.grid.z_mm, indexing="ij")
    m = p.masks[name]
    return np.hypot(x, y)[m], z[m], x[m], y[m]


def test_published_dimensions_are_the_ones_used():
    # TG-119 C-shape: core radius 1 cm, 0.5 cm gap, PTV outer radius 3.7 cm, PTV 8 cm, core 10 cm long
    assert (ph.CORE_RADIUS_MM, ph.PTV_INNER_RADIUS_MM, ph.PTV_OUTER_RADIUS_MM) == (10.0, 15.0, 37.0)
    assert (ph.PTV_LENGTH_MM, ph.CORE_LENGTH_MM) == (80.0, 100.0)


def test_voxelised_structures_have_the_published_extent(fine):
    step = 2.5
    r, z, x, y = _radius_z(fine, "PTV")
    assert ph.PTV_OUTER_RADIUS_MM - step <= r.max() <= ph.PTV_OUTER_RADIUS_MM
    assert ph.PTV_INNER_RADIUS_MM <= r.min() <= ph.PTV_INNER_RADIUS_MM + step
    assert np.ptp(z) == pytest.approx(ph.PTV_LENGTH_MM - step)
    # the C opens posteriorly (+y): nothing beyond the inner circle's tangent on that side
    assert y.max() <= ph.PTV_OPENING_OFFSET_MM and y.min() < -ph.PTV_OUTER_RADIUS_MM + step
    rc, zc, _, _ = _radius_z(fine, "Core")
    assert ph.CORE_RADIUS_MM - step <= rc.max() <= ph.CORE_RADIUS_MM
    assert np.ptp(zc) == pytest.approx(ph.CORE_LENGTH_MM - step)
    # the 5 mm gap: no voxel is both, and core and PTV never touch
    assert not np.any(fine.masks["PTV"] & fine.masks["Core"])


def test_volumes_match_the_exact_geometry(fine):
    exact_ptv_cm3 = ph.c_shape_area_mm2() * ph.PTV_LENGTH_MM / 1000
    exact_core_cm3 = np.pi * ph.CORE_RADIUS_MM ** 2 * ph.CORE_LENGTH_MM / 1000
    assert fine.volume_cm3("PTV") == pytest.approx(exact_ptv_cm3, rel=0.03)
    assert fine.volume_cm3("Core") == pytest.approx(exact_core_cm3, rel=0.06)


def test_body_is_water(fine):
    assert np.all(fine.density[fine.masks["Body"]] == ph.WATER_DENSITY_G_PER_CM3)


def _polygon_area_mm2(polygon):
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def test_the_analytic_shapes_are_the_published_geometry_and_the_dvh_samples_them():
    from planner.dose.structure_dvh import structure_samples

    shapes = ph.tg119_shapes()
    c = shapes["PTV"].outlines_mm(0.0)
    assert len(c) == 1 and _polygon_area_mm2(c[0]) == pytest.approx(ph.c_shape_area_mm2(), rel=1e-3)
    assert c[0][:, 1].max() == pytest.approx(ph.PTV_OPENING_OFFSET_MM)          # the straight cut
    assert np.hypot(*c[0].T).max() == pytest.approx(ph.PTV_OUTER_RADIUS_MM)
    core = shapes["Core"].outlines_mm(ph.CORE_LENGTH_MM / 2 - 1)[0]
    assert _polygon_area_mm2(core) == pytest.approx(np.pi * ph.CORE_RADIUS_MM ** 2, rel=1e-3)
    assert shapes["PTV"].outlines_mm(ph.PTV_LENGTH_MM / 2 + 1) == ()           # beyond the C's end
    # the DVH samples the shapes, not the 5 mm voxels: volumes within 1 % of the exact ones
    samples = structure_samples(ph.tg119_c_shape(5.0))
    assert samples["PTV"].volume_cc == pytest.approx(ph.c_shape_area_mm2() * ph.PTV_LENGTH_MM / 1000, rel=0.01)
    assert samples["Core"].volume_cc == pytest.approx(np.pi * 100 * ph.CORE_LENGTH_MM / 1000, rel=0.01)
    assert samples["PTV"].source == "TG-119 analytic shape" and max(samples["PTV"].spacing_mm[:2]) <= 1.0
