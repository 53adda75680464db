"""Derived structures by margins (issue 18, point 2), checked against hand geometry: a cylinder of
radius r grown by m holds every voxel whose centre is within r + m of its axis and nothing beyond
r + m + half a voxel's in-plane diagonal."""

import numpy as np
import pytest

from planner.core.protocols.derived import derive_structures
from planner.core.protocols.margins import DifferenceShape, GrownShape, grow_mask
from planner.core.protocols.protocol import ProtocolError, load_protocol
from planner.core.volume import PlanningVolume, VoxelGrid


def cylinder(spacing_mm, radius_mm, size_mm=60.0, slices=5):
    n = int(size_mm / spacing_mm)
    x = (np.arange(n) - n / 2 + 0.5) * spacing_mm
    z = np.arange(slices) * spacing_mm
    xx, yy, _ = np.meshgrid(x, x, z, indexing="ij")
    axis_distance = np.hypot(xx, yy)
    return VoxelGrid(x, x, z), axis_distance


@pytest.mark.parametrize("spacing_mm, radius_mm, margin_mm", [(1.0, 5.0, 2.0), (0.8, 4.3, 2.0), (1.25, 6.0, 2.0),
                                                              (2.5, 7.5, 2.0), (3.0, 9.1, 2.0), (1.0, 5.3, 3.0)])
def test_a_cylinder_grows_by_the_margin_within_half_a_voxel(spacing_mm, radius_mm, margin_mm):
    _, d = cylinder(spacing_mm, radius_mm)
    grown = grow_mask(d <= radius_mm, margin_mm, (spacing_mm,) * 3)
    outer = radius_mm + margin_mm
    assert grown[d <= outer].all()                                   # never smaller than the true offset
    assert not grown[d > outer + spacing_mm * np.sqrt(2) / 2].any()  # at most half a diagonal larger


def test_growth_along_z_on_an_anisotropic_grid():
    mask = np.zeros((9, 9, 9), dtype=bool)
    mask[4, 4, 4] = True
    grown = grow_mask(mask, 2.0, (1.0, 1.0, 3.0))
    # the voxel's box is 1 x 1 x 3 mm; a voxel joins when its centre is within 2 mm of that box:
    # in-plane up to 0.5 + 2 = 2.5 mm from the centre (2 voxels), along z up to 1.5 + 2 = 3.5 mm (1 slice)
    assert grown[4, 4, 3:6].all() and not grown[4, 4, 2] and not grown[4, 4, 6]
    assert grown[2:7, 4, 4].all() and not grown[1, 4, 4] and not grown[7, 4, 4]


def test_a_margin_the_grid_cannot_hold_is_refused():
    mask = np.ones((3, 3, 3), dtype=bool)
    with pytest.raises(ProtocolError, match="a 1 mm margin cannot be made on a 2.5 mm grid"):
        grow_mask(mask, 1.0, (2.5, 2.5, 2.5))
    with pytest.raises(ProtocolError, match="must be ≥ 0 mm"):
        grow_mask(mask, -2.0, (1.0, 1.0, 1.0))


def test_derived_prv_and_ptv_minus_prv_on_a_volume():
    grid, d = cylinder(1.0, 4.0, size_mm=40.0)
    cord = d <= 4.0
    ring = (d >= 6.0) & (d <= 12.0)   # a PTV wrapped around the cord at 2 mm
    volume = PlanningVolume(grid, np.ones(grid.shape, np.float32), {"PTV_T8": ring, "Cord": cord,
                                                                    "BODY": np.ones(grid.shape, bool)})
    protocol = load_protocol("spine-sbrt-16gy-1fx")
    derived, mapping = derive_structures(volume, protocol, {"PTV": "PTV_T8", "SpinalCord": "Cord", "External": "BODY"})
    prv = derived.masks["SpinalCord_PRV02"]
    assert mapping["SpinalCord_PRV02"] == "SpinalCord_PRV02" and mapping["PTV_Opt"] == "PTV_Opt"
    assert prv[d <= 6.0].all() and not prv[d > 6.0 + np.sqrt(2) / 2].any()
    np.testing.assert_array_equal(derived.masks["PTV_Opt"], ring & ~prv)
    assert volume.masks.keys() == {"PTV_T8", "Cord", "BODY"}   # the original volume is unchanged


def test_a_ct_structure_of_the_derived_name_is_not_overwritten():
    grid, d = cylinder(1.0, 4.0, size_mm=20.0)
    volume = PlanningVolume(grid, np.ones(grid.shape, np.float32),
                            {"PTV": d > 6, "Cord": d <= 4, "SpinalCord_PRV02": d <= 7})
    protocol = load_protocol("spine-sbrt-16gy-1fx")
    with pytest.raises(ProtocolError, match="already has a structure 'SpinalCord_PRV02'"):
        derive_structures(volume, protocol, {"PTV": "PTV", "SpinalCord": "Cord"})
    derived, _ = derive_structures(volume, protocol, {"PTV": "PTV", "SpinalCord": "Cord",
                                                      "SpinalCord_PRV02": "SpinalCord_PRV02"})
    np.testing.assert_array_equal(derived.masks["SpinalCord_PRV02"], d <= 7)


class Cylinder:
    """An analytic cylinder along z (the hand case): radius_mm about (0, 0), from z0 to z1."""

    def __init__(self, radius_mm, z0=0.0, z1=10.0):
        self.radius_mm, self.z0, self.z1 = radius_mm, z0, z1

    @property
    def bounds_mm(self):
        r = self.radius_mm
        return ((-r, r), (-r, r), (self.z0, self.z1))

    def contains_on_lattice(self, x, y, z):
        xx, yy, zz = np.meshgrid(x, y, z, indexing="ij")
        return (np.hypot(xx, yy) <= self.radius_mm) & (zz >= self.z0) & (zz <= self.z1)

    def outlines_mm(self, z_mm):
        return ()


@pytest.mark.parametrize("step_mm", [0.5, 1.0])
def test_a_grown_shape_below_the_voxel_is_the_hand_offset(step_mm):
    shape = GrownShape(Cylinder(4.0, -50, 50), 2.0)
    x = np.arange(-9.0, 9.0, step_mm) + step_mm / 2
    inside = shape.contains_on_lattice(x, x, np.array([0.0]))
    d = np.hypot(*np.meshgrid(x, x, indexing="ij"))[:, :, None]
    assert inside[d <= 6.0].all() and not inside[d > 6.0 + step_mm * np.sqrt(2) / 2].any()
    assert shape.bounds_mm == ((-6.0, 6.0), (-6.0, 6.0), (-52.0, 52.0))


def test_a_grown_shape_reaches_a_lattice_that_does_not_hold_its_base():
    # a lattice from 4.5 to 7.5 mm along x: the cylinder (r = 4) is outside it, its 2 mm PRV is not
    x = np.arange(4.5, 7.5, 0.5) + 0.25
    inside = GrownShape(Cylinder(4.0, -50, 50), 2.0).contains_on_lattice(x, np.array([0.0]), np.array([0.0]))
    np.testing.assert_array_equal(inside[:, 0, 0], x <= 6.0)


def test_derived_structures_keep_a_shape_below_the_voxel_for_the_dvh():
    from planner.dose.structure_dvh import structure_samples

    grid, d = cylinder(2.5, 4.0, size_mm=40.0, slices=4)
    ring = Cylinder(12.0, 0.0, 7.5)
    volume = PlanningVolume(grid, np.ones(grid.shape, np.float32),
                            {"PTV": (d >= 6.0) & (d <= 12.0), "Cord": d <= 4.0, "BODY": np.ones(grid.shape, bool)},
                            shapes={"PTV": ring, "Cord": Cylinder(4.0, 0.0, 7.5)})
    derived, _ = derive_structures(volume, load_protocol("spine-sbrt-16gy-1fx"),
                                   {"PTV": "PTV", "SpinalCord": "Cord", "External": "BODY"})
    assert isinstance(derived.shapes["SpinalCord_PRV02"], GrownShape)
    assert isinstance(derived.shapes["PTV_Opt"], DifferenceShape)
    samples = structure_samples(derived)
    prv = samples["SpinalCord_PRV02"]
    assert prv.source == "SpinalCord grown by 2 mm below the voxel"
    # hand bounds on the samples' own lattice: every point within 2 mm of the cord cylinder (r 4 mm,
    # z 0 to 7.5 mm), none farther than 2 mm + half the lattice's diagonal
    xx, yy, zz = np.meshgrid(prv.x_mm, prv.y_mm, prv.z_mm, indexing="ij")
    distance = np.hypot(np.maximum(np.hypot(xx, yy) - 4.0, 0), np.maximum(np.maximum(-zz, zz - 7.5), 0)).ravel()
    half_diagonal = np.sqrt(np.sum(np.square(prv.spacing_mm))) / 2
    inside = np.zeros(distance.size, bool)
    inside[prv.inside] = True
    assert inside[distance <= 2.0].all() and not inside[distance > 2.0 + half_diagonal].any()
    # PTV_Opt: the ring's lattice points outside that PRV
    opt = samples["PTV_Opt"]
    xx, yy, zz = np.meshgrid(opt.x_mm, opt.y_mm, opt.z_mm, indexing="ij")
    r = np.hypot(xx, yy).ravel()
    inside = np.zeros(r.size, bool)
    inside[opt.inside] = True
    assert not inside[r <= 6.0].any() and inside[(r > 6.0 + half_diagonal) & (r <= 12.0)].all()
