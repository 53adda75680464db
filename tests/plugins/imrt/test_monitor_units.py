"""MU calibration (DEMO: 1 cGy/MU at d_max, 10 x 10 cm2, SSD 100 cm) and the exportable MLC plan."""

import numpy as np
import pytest

from plugins.imrt_photon.leaf_sequencing import sequence_plan
from plugins.imrt_photon.monitor_units import (REFERENCE_DOSE_PER_MU_GY, build_mlc_plan, reference_calibration,
                                               reference_field)
from plugins.imrt_photon.optimise import OptimisationSettings, normalise_to_dvh_point, optimise_fluence
from plugins.imrt_photon.plans import PRESCRIPTION_GY, TG119_OBJECTIVES

FRACTIONS = 25  # TG-119: 50 Gy in 25 fractions


@pytest.fixture(scope="module")
def calibration():
    return reference_calibration()


def test_the_reference_field_gives_1_cgy_per_mu_at_dmax(calibration):
    water, influence = reference_field()
    bixels = influence.bixels
    # the reference field: 20 x 20 bixels of 5 mm, edges at ±50 mm, gantry 0
    assert len(bixels) == 400
    assert min(b.u_mm for b in bixels) - 2.5 == -50.0 and max(b.v_mm for b in bixels) + 2.5 == 50.0
    assert 10.0 <= calibration.dmax_mm <= 20.0  # 6 MV d_max ~15 mm (test_pencil_beam's published range)
    for weight in (1.0, 2.5, 7.0):
        dose = influence.dose_grid_gy(np.full(len(bixels), weight), water.grid.shape)[1, :, 1]
        i = int(np.argmax(dose))
        mu = calibration.mu(weight)  # one fraction: the whole weight
        assert water.grid.y_mm[i] == calibration.dmax_mm
        assert mu == pytest.approx(weight * calibration.mu_per_unit_weight)
        assert dose[i] / mu == pytest.approx(REFERENCE_DOSE_PER_MU_GY, rel=1e-9)  # 1 cGy per MU
    assert calibration.mu_per_unit_weight == pytest.approx(calibration.dose_per_unit_weight_at_dmax_gy / 0.01)
    assert calibration.demo and "DEMO" in calibration.description
    assert reference_calibration() is calibration  # computed once


def test_mu_scale_linearly_with_weight_and_divide_by_the_fractions(calibration):
    weights = np.array([0.1, 1.0, 3.0])
    np.testing.assert_allclose(calibration.mu(weights, 25), weights * calibration.mu_per_unit_weight / 25)
    assert calibration.mu(2.0, 5) == pytest.approx(2 * calibration.mu(1.0, 5))
    with pytest.raises(ValueError):
        calibration.mu(1.0, 0)


@pytest.fixture(scope="module")
def tg119_plan(tg119, calibration):
    phantom, influence, rows = tg119
    result = optimise_fluence(influence.dij, rows, TG119_OBJECTIVES, OptimisationSettings(max_iterations=60))
    optimised = normalise_to_dvh_point(result, rows, "PTV", 0.95, PRESCRIPTION_GY)
    sequenced = sequence_plan(influence, optimised.weights)
    # renormalise the deliverable plan to PTV D95 = 50 Gy, as a planner does after sequencing
    d95 = float(np.quantile((influence.dij @ sequenced.weights)[rows["PTV"]], 0.05))
    sequenced = sequenced.scaled(PRESCRIPTION_GY / d95)
    plan = build_mlc_plan(sequenced, influence, phantom, rows["PTV"], calibration, FRACTIONS, PRESCRIPTION_GY,
                          label="TG119 C-shape")
    return sequenced, plan


def test_tg119_plan_mu_and_beam_doses(tg119_plan, calibration):
    sequenced, plan = tg119_plan
    assert plan.fractions == 25 and plan.dose_per_fraction_gy == pytest.approx(2.0)
    assert len(plan.beams) == 9
    for beam, seq in zip(plan.beams, sequenced.beams):
        assert beam.meterset_mu == pytest.approx(seq.total_weight * calibration.mu_per_unit_weight / FRACTIONS)
        assert beam.segment_mu().sum() == pytest.approx(beam.meterset_mu)
        # the 20 cm water box's surface on the central axis, isocentre at the box's centre; the engine
        # (pencil_beam.central_ssd_mm) finds it at the outermost voxel centres, 97.5 mm from the centre
        t = np.deg2rad(beam.gantry_deg)
        assert beam.ssd_mm == pytest.approx(1000.0 - 97.5 / max(abs(np.cos(t)), abs(np.sin(t))), abs=1.0)
        assert beam.cumulative_meterset_weights()[-1] == 1.0
    assert sum(b.beam_dose_gy for b in plan.beams) == pytest.approx(plan.dose_per_fraction_gy)
    assert plan.total_mu_per_fraction == pytest.approx(sum(b.meterset_mu for b in plan.beams))
    print(f"\nTG-119 (coarse): MU per fraction {[round(b.meterset_mu, 1) for b in plan.beams]}, total "
          f"{plan.total_mu_per_fraction:.0f} MU for {plan.dose_per_fraction_gy:g} Gy; segments "
          f"{plan.segment_counts}; mu_per_unit_weight {calibration.mu_per_unit_weight:.2f}, d_max "
          f"{calibration.dmax_mm:g} mm")
