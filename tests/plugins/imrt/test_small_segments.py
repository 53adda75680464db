"""Segments below a minimum open area or MU are not delivered: hand-sequenced maps say which
segments the reducing-level method makes (Xia & Verhey 1998), which of them go, and what the rest
deliver; the renormalisation never leaves a kept segment below the minimum."""

import numpy as np
import pytest
import scipy.sparse

from plugins.imrt_photon.leaf_sequencing import sequence_deliverable, sequence_plan
from plugins.imrt_photon.pencil_beam import Bixel, DoseInfluence


def influence_of(bixels):
    """Sequencing reads only the bixels' positions; the dij is a placeholder."""
    return DoseInfluence(scipy.sparse.csr_matrix((1, len(bixels))), np.zeros(1, dtype=int), tuple(bixels), 0.0)


# 2 x 2 bixels of 5 mm on the generic MLC's 5 mm pairs: pair at v = 0 gets 2 2, pair at v = 5 gets 0 1.
# Reducing levels (unit 1 twice): A = pair 0 cells 0-1 and pair 1 cell 1 (3 cells, 75 mm²), then
# B = pair 0 cells 0-1 (2 cells, 50 mm²); A + B = the map.
SQUARE = [Bixel(0, 0.0, u, v) for v in (0.0, 5.0) for u in (0.0, 5.0)]
SQUARE_WEIGHTS = np.array([2.0, 2.0, 0.0, 1.0])


def test_segments_below_the_minimum_area_are_dropped_and_the_rest_delivered():
    kept_all = sequence_plan(influence_of(SQUARE), SQUARE_WEIGHTS, levels=2)
    beam = kept_all.beams[0]
    assert sorted(beam.segment_areas_mm2(kept_all.mlc)) == [50.0, 75.0]
    np.testing.assert_allclose(kept_all.weights, SQUARE_WEIGHTS)

    plan = sequence_plan(influence_of(SQUARE), SQUARE_WEIGHTS, levels=2, min_segment_area_mm2=60.0)
    beam = plan.beams[0]
    assert beam.segment_areas_mm2(plan.mlc) == (75.0,)
    assert plan.dropped_segments == 1 and beam.dropped_weight == 1.0
    # what is delivered is segment A alone: pair 0 gets 1 1, pair 1 gets 0 1
    np.testing.assert_allclose(plan.weights, [1.0, 1.0, 0.0, 1.0])
    left, right = beam.segments[0].leaf_positions_mm
    p0, p1 = plan.mlc.pair_for_row(0.0, 5.0), plan.mlc.pair_for_row(5.0, 5.0)
    assert (left[p0], right[p0], left[p1], right[p1]) == (-2.5, 7.5, 2.5, 7.5)


# One pair, 4 1 (levels 4): reducing levels give [cell 0] x 2, [cells 0-1] x 1, [cell 0] x 1; the
# equal shapes merge: [cell 0] weight 3, [cells 0-1] weight 1.
ROW = [Bixel(0, 0.0, 0.0, 0.0), Bixel(0, 0.0, 5.0, 0.0)]
ROW_WEIGHTS = np.array([4.0, 1.0])


def test_a_segment_the_renormalisation_takes_below_the_minimum_is_dropped_and_the_plan_normalised_again():
    calls = []

    def factor(weights):   # the "prescription": the two bixels' summed dose is 4
        calls.append(weights.copy())
        return 4.0 / weights.sum()

    # both segments pass a 0.9 minimum as sequenced (weights 3 and 1); scaled by 4/5 the thin one
    # weighs 0.8 and goes; the plan is normalised again on what is left (cell 0 alone, 3 -> 4)
    plan = sequence_deliverable(influence_of(ROW), ROW_WEIGHTS, factor, min_segment_weight=0.9,
                                min_segment_area_mm2=0.0, levels=4)
    beam = plan.beams[0]
    assert len(calls) == 2
    np.testing.assert_allclose(calls[0], [4.0, 1.0])
    np.testing.assert_allclose(calls[1], [2.4, 0.0])
    assert [s.meterset_weight for s in beam.segments] == pytest.approx([4.0])
    np.testing.assert_allclose(plan.weights, [4.0, 0.0])
    assert plan.dropped_segments == 1
    assert all(s.meterset_weight >= 0.9 for s in beam.segments)


def test_without_minimums_nothing_is_dropped():
    plan = sequence_deliverable(influence_of(ROW), ROW_WEIGHTS, lambda w: 1.0, min_segment_weight=0.0,
                                min_segment_area_mm2=0.0, levels=4)
    assert sorted(s.meterset_weight for s in plan.beams[0].segments) == [1.0, 3.0]
    assert plan.dropped_segments == 0
    np.testing.assert_allclose(plan.weights, ROW_WEIGHTS)
