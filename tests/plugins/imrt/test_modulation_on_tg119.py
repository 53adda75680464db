"""TG-119 on the 10 mm test grid (30 iterations) with the fluence smoothness off and at its default:
fewer MU with it on, every delivered segment above the minimum MU and area, the deliverable dose
what the kept segments deliver, and the open-field reference worked out by hand."""

from dataclasses import replace

import numpy as np
import pytest

from planner.core.inverse_plan import DEFAULT_MODULATION_WEIGHT
from plugins.imrt_photon import planning
from plugins.imrt_photon.leaf_sequencing import DEFAULT_MIN_SEGMENT_AREA_CM2, DEFAULT_MIN_SEGMENT_MU
from plugins.imrt_photon.monitor_units import reference_calibration

# Measured on this grid (30 iterations, plans.py objectives of 5568df0): 5212 MU per fraction off,
# 3795 MU at weight 30 (0.73 ×; 5563 and 3761 with the earlier objectives).
# The test asks for at least 15 % fewer.
FEWER_MU_FACTOR = 0.85


@pytest.fixture(scope="module")
def tg119_10mm():
    volume = planning.tg119_phantom(10.0)
    plan = replace(planning.default_plan(volume), max_iterations=30)
    influence = planning.compute_dose_influence(volume, plan)
    plans = {}
    for weight in (0.0, DEFAULT_MODULATION_WEIGHT):
        result = planning.optimise_plan(volume, influence, replace(plan, modulation_weight=weight))
        plans[weight] = result, planning.deliverable_plan(volume, influence, result)
    return volume, influence, plans


def test_the_default_weight_is_on():
    assert DEFAULT_MODULATION_WEIGHT > 0


def test_smoothing_the_fluence_lowers_the_mu(tg119_10mm):
    _, _, plans = tg119_10mm
    off = plans[0.0][1].mlc_plan.total_mu_per_fraction
    on = plans[DEFAULT_MODULATION_WEIGHT][1].mlc_plan.total_mu_per_fraction
    assert on < FEWER_MU_FACTOR * off, (on, off)


def test_every_delivered_segment_is_above_the_minimum_mu_and_area(tg119_10mm):
    _, influence, plans = tg119_10mm
    calibration = reference_calibration()
    for _, deliverable in plans.values():
        mlc = deliverable.mlc_plan
        widths_mm = np.diff(mlc.beams[0].leaf_boundaries_mm)
        for beam in mlc.beams:
            total = sum(s.meterset_weight for s in beam.segments)
            for segment in beam.segments:
                mu = beam.meterset_mu * segment.meterset_weight / total
                left, right = segment.leaf_positions_mm
                area_cm2 = float(np.sum((right - left) * widths_mm)) / 100.0   # from the leaves alone
                assert mu >= DEFAULT_MIN_SEGMENT_MU - 1e-9
                assert area_cm2 >= DEFAULT_MIN_SEGMENT_AREA_CM2 - 1e-9
        # the whole course's MU are what the calibration gives the delivered weights
        assert mlc.total_mu_per_fraction == pytest.approx(sum(
            calibration.mu(sum(s.meterset_weight for s in b.segments), mlc.fractions) for b in mlc.beams))
    assert plans[0.0][1].dropped_segments > 0   # the unsmoothed plan has segments too small to deliver


def test_the_deliverable_dose_is_what_the_kept_segments_deliver(tg119_10mm):
    _, influence, plans = tg119_10mm
    _, deliverable = plans[0.0]
    np.testing.assert_allclose(deliverable.dose_rows_gy,
                               influence.dij @ deliverable.weights.astype(influence.dij.dtype), rtol=1e-6)
    # normalised again after the small segments went: the reported PTV D95 is the prescription
    assert deliverable.metrics["PTV"].d95_gy == pytest.approx(50.0, abs=1e-3)


def test_the_open_field_reference_by_hand(tg119_10mm):
    volume, influence, plans = tg119_10mm
    result, deliverable = plans[DEFAULT_MODULATION_WEIGHT]
    rx = result.plan.prescription
    # every bixel at weight 1, scaled so the reported PTV D95 is 50 Gy; 9 beams of that weight each
    ones = np.ones(len(influence.bixels))
    d95 = planning.reported_dose_at_volume_gy(volume, influence, influence.dij @ ones.astype(influence.dij.dtype),
                                              "PTV", 0.95)
    weight = 50.0 / d95
    mu = 9 * weight * reference_calibration().mu_per_unit_weight / rx.fractions
    assert deliverable.open_field_mu_per_fraction == pytest.approx(mu, rel=1e-9)
    assert deliverable.modulation_factor == pytest.approx(deliverable.mlc_plan.total_mu_per_fraction / mu)
