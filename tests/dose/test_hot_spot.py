"""The hot-spot finding: on hand-made DVH points, and on hand-made doses where the body's hottest
0.03 cc lies outside the target (a ramp) or inside it (a peak), with the D0.03cc worked out by hand.
"""


import numpy as np
import pytest

from planner.core.volume import PlanningVolume, VoxelGrid
from planner.dose.hot_spot import HOT_SPOT_CODE, body_name, hot_spot_findings, plan_hot_spot_check
from planner.dose.plan_checks import WARN
from planner.dose.structure_dvh import DvhPoints, sampled_structures
from tests.dose.shape_fixtures import Box


def points(d0_03cc_gy: float) -> DvhPoints:
    return DvhPoints(100.0, 40.0, 45.0, 50.0, 52.0, 53.0, d0_03cc_gy, 50.0)


def test_body_above_the_target_is_one_finding_with_both_numbers():
    findings = hot_spot_findings({"PTV": points(55.9), "Core": points(30.0), "Body": points(56.3)}, "PTV")
    assert len(findings) == 1
    assert findings[0].severity == WARN and findings[0].code == HOT_SPOT_CODE
    assert findings[0].message == ("Hot spot outside the target: Body D0.03cc 56.30 Gy is above PTV D0.03cc "
                                   "55.90 Gy (each from its own samples)")


@pytest.mark.parametrize("body_gy", [55.8, 55.9])
def test_body_not_above_the_target_is_no_finding(body_gy):
    assert hot_spot_findings({"PTV": points(55.9), "Body": points(body_gy)}, "PTV") == ()


def test_without_a_body_or_target_there_is_nothing_to_check():
    assert hot_spot_findings({"PTV": points(55.9), "Core": points(60.0)}, "PTV") == ()
    assert hot_spot_findings({"Body": points(60.0)}, "PTV") == ()
    assert body_name(["PTV", "External", "Core"]) == "External" and body_name(["PTV"]) is None


# ------------------------------------------------------------------------------------ from the samples

def cube_volume() -> PlanningVolume:
    """A 100 mm water cube on 5 mm voxels (centres ±47.5 mm), a 40 mm PTV cube at its centre. The
    body's lattice is 0.5 × 0.5 × 1 mm (4 M points in its 100 mm box: planner.dose.structure_dvh),
    so 0.03 cc is 120 of its samples."""
    axis = np.arange(-47.5, 50.0, 5.0)
    g = VoxelGrid(axis, axis, axis)
    X, Y, Z = np.meshgrid(axis, axis, axis, indexing="ij")
    ptv = (np.abs(X) < 20) & (np.abs(Y) < 20) & (np.abs(Z) < 20)
    shapes = {"PTV": Box((-20.0,) * 3, (20.0,) * 3), "Body": Box((-50.0,) * 3, (50.0,) * 3)}
    return PlanningVolume(g, np.ones(g.shape), {"PTV": ptv, "Body": np.ones(g.shape, bool)}, shapes=shapes)


def test_a_ramp_puts_the_hot_spot_outside_the_target():
    """D = 50 + 0.2 x Gy (x in mm). The body's hottest samples lie beyond the last voxel centre,
    held at 50 + 0.2 × 47.5 = 59.5 Gy (100 000 of them); the PTV's hottest, its last lattice column
    x = 19.75 mm (3 200 samples), are at 50 + 0.2 × 19.75 = 53.95 Gy."""
    volume = cube_volume()
    structures = sampled_structures(volume)
    assert structures.samples["Body"].spacing_mm == pytest.approx((0.5, 0.5, 1.0))
    dose = 50.0 + 0.2 * np.meshgrid(volume.grid.x_mm, volume.grid.y_mm, volume.grid.z_mm, indexing="ij")[0]
    check = plan_hot_spot_check(volume, structures, dose, "PTV")
    assert check.is_hot_spot and check.same_samples
    assert check.body_d0_03cc_gy == pytest.approx(59.5, abs=1e-9)
    assert check.target_d0_03cc_gy == pytest.approx(53.95, abs=1e-9)
    assert check.outside_d0_03cc_gy == pytest.approx(59.5, abs=1e-9)
    (finding,) = check.findings
    assert finding.message == ("Hot spot outside the target: Body D0.03cc 59.50 Gy is above PTV D0.03cc 53.95 Gy "
                               "(both at the Body's samples); Body outside PTV D0.03cc 59.50 Gy")


def test_a_peak_inside_the_target_is_no_finding_and_says_where_the_hottest_dose_lies():
    """D = 60 − 0.2 (|x| + |y| + |z|) Gy at the voxel centres: 58.5 Gy at the 8 centres around the
    middle, so the trilinear dose is 58.5 Gy throughout the central 5 mm cube (0.125 cc, inside the
    PTV): the body's D0.03cc equals the PTV's, 58.5 Gy. Outside the PTV the hottest samples are the
    first lattice points past its faces beside the central cube, x (or y) = 20.25 mm, where the dose
    is 59 − 0.2 × 20.25 = 54.95 Gy (4 faces × 10 × 5 = 200 samples ≥ 120)."""
    volume = cube_volume()
    X, Y, Z = np.meshgrid(volume.grid.x_mm, volume.grid.y_mm, volume.grid.z_mm, indexing="ij")
    dose = 60.0 - 0.2 * (np.abs(X) + np.abs(Y) + np.abs(Z))
    check = plan_hot_spot_check(volume, sampled_structures(volume), dose, "PTV")
    assert not check.is_hot_spot and check.findings == ()
    assert check.body_d0_03cc_gy == pytest.approx(58.5, abs=1e-9) == check.target_d0_03cc_gy
    assert check.outside_d0_03cc_gy == pytest.approx(54.95, abs=1e-9)
    assert check.text == ("No hot spot outside the target: the Body's hottest 0.03 cc (D0.03cc 58.50 Gy) lies "
                          "inside PTV; Body outside PTV D0.03cc 54.95 Gy")


@pytest.mark.parametrize("prescribed_gy, finding", [
    (50.0, "Hot spot outside the target: Body outside PTV D0.03cc 54.95 Gy (109.9 % of 50 Gy), above the 107 % "
           "ICRU Report 50 allows in the target"),
    (55.0, None)])
def test_normal_tissue_above_107_percent_of_the_prescription_is_a_hot_spot_though_the_target_is_hotter(
        prescribed_gy, finding):
    """The peak of the test above: the target is the hottest (58.5 Gy), but the body outside it
    reaches 54.95 Gy, 109.9 % of 50 Gy (above ICRU 50's +7 %) and 99.9 % of 55 Gy (not)."""
    volume = cube_volume()
    X, Y, Z = np.meshgrid(volume.grid.x_mm, volume.grid.y_mm, volume.grid.z_mm, indexing="ij")
    dose = 60.0 - 0.2 * (np.abs(X) + np.abs(Y) + np.abs(Z))
    check = plan_hot_spot_check(volume, sampled_structures(volume), dose, "PTV", prescribed_gy)
    assert not check.above_target
    if finding is None:
        assert check.findings == () and check.text.endswith("Body outside PTV D0.03cc 54.95 Gy (99.9 % of 55 Gy)")
    else:
        assert [f.message for f in check.findings] == [finding] and check.text == finding
