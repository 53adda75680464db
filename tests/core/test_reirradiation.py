"""Re-irradiation in core (issue 18, point 4): EQD2 point by point and its inverse against hand values,
Sahgal et al. 2012's limits as sourced protocol data, the limits judged, and the new course's caps,
whose share cap is checked against the ratio of point maxima it must guarantee."""

import copy
import datetime as dt
import json
import math
import re

import numpy as np
import pytest

from planner.core.protocols.protocol import ProtocolError, load_protocol, parse_protocol, protocols_dir
from planner.core.reirradiation import (ReirradiationError, dose_for_eqd2_gy, eqd2_gy, interval_months,
                                        judge_limits, new_course_caps_gy)

SBRT = "spine-sbrt-16gy-1fx"


@pytest.fixture(scope="module")
def limits():
    return load_protocol(SBRT).reirradiation


def test_eqd2_hand_values():
    # 30 Gy in 10 × 3 Gy at α/β 2: 30 · (3 + 2) / (2 + 2) = 37.5 Gy
    assert eqd2_gy(30.0, 10, 2.0) == pytest.approx(37.5, abs=1e-12)
    # 9 Gy × 1 at α/β 2: 9 · 11 / 4 = 24.75 Gy
    assert eqd2_gy(9.0, 1, 2.0) == pytest.approx(24.75, abs=1e-12)
    # point by point: each element its own dose per fraction
    np.testing.assert_allclose(eqd2_gy(np.array([0.0, 30.0, 9.0]), 10, 2.0), [0.0, 37.5, 9.0 * (0.9 + 2) / 4])


def test_the_inverse_is_the_positive_root():
    # EQD2 25 Gy in one fraction at α/β 2: d² + 2d - 100 = 0, d = √101 - 1
    assert dose_for_eqd2_gy(25.0, 1, 2.0) == pytest.approx(math.sqrt(101) - 1, abs=1e-12)
    # 37.5 Gy EQD2 in 10 fractions at α/β 2 is 30 Gy (10 d² + 20 d - 150 = 0, d = 3)
    assert dose_for_eqd2_gy(37.5, 10, 2.0) == pytest.approx(30.0, abs=1e-12)
    assert dose_for_eqd2_gy(0.0, 1, 2.0) == 0.0
    with pytest.raises(ReirradiationError):
        dose_for_eqd2_gy(-1.0, 1, 2.0)
    with pytest.raises(ReirradiationError):
        eqd2_gy(30.0, 0, 2.0)


def test_sahgal_2012_limits_ship_with_their_sources(limits):
    assert limits.structure == "SpinalCord" and limits.metric == "D0.03cc"
    assert (limits.cumulative_eqd2_gy.value, limits.course_eqd2_gy.value, limits.course_share_percent.value,
            limits.min_interval_months.value) == (70.0, 25.0, 50.0, 5.0)
    for value in (limits.cumulative_eqd2_gy, limits.course_eqd2_gy, limits.course_share_percent,
                  limits.min_interval_months):
        assert "Sahgal" in value.source and "82(1):107-116 (2012)" in value.source
    assert "thecal sac" in limits.note
    verification = load_protocol(SBRT).verification
    assert "thecal sac" in verification.lower() and "D0.03cc" in verification and "NOT VERIFIED" in verification


def raw_sbrt() -> dict:
    return json.loads((protocols_dir() / f"{SBRT}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(typo="x"), "reirradiation.typo is not a field"),
    (lambda r: r.update(course_eqd2_gy=25), "reirradiation.course_eqd2_gy = 25 has no source"),
    (lambda r: r.update(metric="Dmean"), "must be a near-maximum D<v>cc"),
    (lambda r: r.update(structure="PTV"), "reirradiation.structure PTV has no alpha_beta_gy"),
    (lambda r: r["course_share_percent"].update(value=150), "course_share_percent must be above 0 and at most 100"),
])
def test_a_wrong_reirradiation_section_is_refused_naming_the_field(change, message):
    data = copy.deepcopy(raw_sbrt())
    change(data["reirradiation"])
    with pytest.raises(ProtocolError, match=re.escape(message)):
        parse_protocol(data, "clinic.json")


def test_a_protocol_without_the_section_has_no_limits():
    data = raw_sbrt()
    del data["reirradiation"]
    assert parse_protocol(data).reirradiation is None


def test_the_interval_in_months():
    # the phantom's earlier plan (2024-03-04) to its CT (2024-09-02): 182 days of 30.4375
    assert interval_months(dt.date(2024, 3, 4), dt.date(2024, 9, 2)) == pytest.approx(182 / 30.4375)
    assert interval_months(None, dt.date(2024, 9, 2)) is None


def test_limits_judged_with_their_sources(limits):
    rows = {r.goal: r for r in judge_limits(limits, 60.0, 24.0, 6.0)}
    cumulative, course = rows["cumulative EQD2 D0.03cc"], rows["this course's EQD2 D0.03cc"]
    share, interval = rows["this course's share of the cumulative EQD2 D0.03cc"], rows["time since the earlier course"]
    assert (cumulative.value, cumulative.limit, cumulative.met) == (60.0, 70.0, True)
    assert (course.value, course.met) == (24.0, True)
    assert (share.value, share.unit, share.met) == (pytest.approx(40.0), "%", True)
    assert (interval.value, interval.unit, interval.met) == (6.0, "months", True)
    assert cumulative.as_dict()["source"] == limits.cumulative_eqd2_gy.source
    # each over its limit: not met
    over = [r.met for r in judge_limits(limits, 70.02, 25.02, 4.9)]
    assert over == [False, False, True, False]     # the share: 25.02 / 70.02 = 35.7 %
    # 20.1 of 40 Gy: 50.25 %, shown 50.2 %: over 50 %
    assert [r.met for r in judge_limits(limits, 40.0, 20.1, 6.0)] == [True, True, False, True]


def test_an_unknown_interval_is_not_met_and_says_so(limits):
    interval = judge_limits(limits, 60.0, 24.0, None)[-1]
    assert interval.met is False and math.isnan(interval.value)
    assert interval.note.startswith("interval unknown")
    assert interval.as_dict()["value_months"] is None


def test_the_new_course_caps_by_hand(limits):
    # prior EQD2 0, 37.5 and 50 Gy; one new fraction, α/β 2; the cap's EQD2 E gives d = √(1 + 4E) - 1
    caps = new_course_caps_gy(limits, np.array([0.0, 37.5, 50.0]), 1, 2.0)
    # 0: course 25 (share: 0.5 × the prior's maximum 50 = 25); 37.5: course 25 (cumulative 32.5, share 37.5);
    # 50: cumulative 70 - 50 = 20
    np.testing.assert_allclose(caps, [math.sqrt(101) - 1, math.sqrt(101) - 1, math.sqrt(81) - 1], rtol=1e-12)


def test_a_prior_that_alone_reaches_the_limit_stops_naming_the_structure(limits):
    with pytest.raises(ReirradiationError, match=r"^SpinalCord: the earlier course alone gives 72\.0 Gy EQD2"):
        new_course_caps_gy(limits, np.array([10.0, 72.0]), 1, 2.0)


def test_the_share_cap_guarantees_sahgals_ratio_of_point_maxima():
    """At its share caps alone, a new course's point maximum is at most s of the cumulative point
    maximum, whatever the earlier dose's shape (the docstring's proof, tried on random shapes)."""
    data = raw_sbrt()
    for key in ("cumulative_eqd2_gy", "course_eqd2_gy"):      # only the share binds
        data["reirradiation"][key]["value"] = 1e6
    only_share = parse_protocol(data).reirradiation
    rng = np.random.default_rng(18)
    for _ in range(200):
        prior = rng.uniform(0.0, 60.0, 50) * (rng.uniform(size=50) < 0.7)
        new = eqd2_gy(new_course_caps_gy(only_share, prior, 1, 2.0), 1, 2.0)
        assert new.max() <= 0.5 * (new + prior).max() + 1e-9


def test_the_optimiser_reads_per_point_caps_point_by_point():
    """The caps reach the optimiser as a max-dose term with one cap per point (CappedMaxDose): its
    value is the mean squared overdose above each point's own cap, by hand."""
    import scipy.sparse

    from plugins.imrt_photon.optimise import StructureReadout, objective_function
    from plugins.imrt_photon.protocol_plan import CappedMaxDose
    from plugins.imrt_photon.sparse_products import products_for

    dij = scipy.sparse.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32))
    term = CappedMaxDose("Cord", np.array([0.5, 2.0, 1.0]), weight=3.0)
    value, gradient, dose = objective_function(products_for(dij), {"Cord": StructureReadout.at_rows(np.arange(3))},
                                               [term])(np.array([1.0, 1.0]))
    # doses 1, 1, 2 against caps 0.5, 2, 1: overdoses 0.5, 0, 1 → 3 × (0.25 + 1) / 3
    assert value == pytest.approx(1.25)
    # d/dx: 3 × 2/3 × (overdose per point) pulled back through D: x0 ← 0.5 + 1, x1 ← 0 + 1
    np.testing.assert_allclose(gradient, [2.0 * 1.5, 2.0 * 1.0])
