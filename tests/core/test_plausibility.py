"""Issue 13, point 4: a prescription refused outside physical sense, confirmed outside the technique's
published regimens. Cases chosen by hand from the presets in plugins/*/machine_data.py:

kV  (Rook 79.1, Chan 2007, Xstrahl): 18×1, 20×1, 7×5, 4.5×9, 4.5×10 → d 4.5–20 Gy, n 1–10,
    total 18–45 Gy, BED10 = n·d·(1 + d/10): 50.4, 60, 59.5, 58.725, 65.25 → 50.4–65.25 Gy.
eBx (Radiat Oncol 2010, Ballester-Sánchez 2016): 5×8, 7×6, 6.1×6 → d 5–7 Gy, n 6–8,
    total 36.6–42 Gy, BED10: 60, 71.4, 58.926 → 58.926–71.4 Gy.
"""

from types import SimpleNamespace

import pytest

from planner.core.plausibility import CONFIRM, REFUSE, PlausibilityFinding, check_prescription
from planner.core.prescription import Prescription
from planner.review.consistency import OK, REVIEW, _bed
from planner.techniques import discover_techniques

REGISTRY = discover_techniques()
KV = REGISTRY.get("superficial-kv")
EBX = REGISTRY.get("ebx-surface")


def check(technique, d, n):
    return check_prescription(Prescription(d, n), technique.fractionation_presets, technique.name)


@pytest.mark.parametrize("technique", [KV, EBX], ids=lambda t: t.id)
def test_every_published_regimen_passes_without_a_question(technique):
    for preset in technique.fractionation_presets:
        assert check(technique, preset.dose_per_fraction_gy, preset.fractions) is None, preset.label


@pytest.mark.parametrize("d, n", [(150, 1), (101, 1), (11, 10), (20, 6)])
def test_more_than_100_gy_in_total_is_refused_for_every_technique(d, n):
    for technique in (KV, EBX):
        finding = check(technique, d, n)
        assert finding.kind == REFUSE
        assert finding.message == (f"{d * n:g} Gy in {n} × {d:g} Gy is refused: more than 100 Gy in total to the "
                                   f"skin is outside physical sense for any surface technique")


def test_exactly_100_gy_is_not_refused_but_questioned():
    finding = check(KV, 100, 1)
    assert finding.kind == CONFIRM
    assert "dose per fraction 100 Gy is above 4.5–20 Gy" in finding.message


def test_a_custom_kv_regimen_inside_every_span_passes():
    # 10 Gy × 3: d in 4.5–20, n in 1–10, total 30 in 18–45, BED10 = 30 × 2 = 60 in 50.4–65.25.
    assert check(KV, 10, 3) is None


def test_a_kv_dose_per_fraction_below_the_published_range_asks():
    # 4 Gy × 10 = 40 Gy: total and n inside, BED10 = 40 × 1.4 = 56 inside; only d = 4 < 4.5 is outside.
    finding = check(KV, 4, 10)
    assert finding.kind == CONFIRM
    assert finding.message == ("40 Gy in 10 × 4 Gy is outside the published regimens of Superficial kV X-rays "
                               "(IGSRT): dose per fraction 4 Gy is below 4.5–20 Gy")
    assert finding.question == finding.message + ". Use this regimen anyway?"


def test_a_kv_bed_above_the_published_range_asks():
    # 6 Gy × 7 = 42 Gy: d, n and total inside; BED10 = 42 × 1.6 = 67.2 > 65.25.
    finding = check(KV, 6, 7)
    assert finding.kind == CONFIRM
    assert finding.message.endswith("BED10 67.2 Gy is above 50.4–65.2 Gy")
    assert "dose per fraction" not in finding.message and "total dose" not in finding.message


def test_the_kv_single_fraction_on_the_way_to_another_regimen_asks():
    # Typing 7 into the 18 Gy × 1 plan gives 7 Gy × 1: total 7 < 18, BED10 = 7 × 1.7 = 11.9 < 50.4.
    finding = check(KV, 7, 1)
    assert finding.kind == CONFIRM
    assert "total dose 7 Gy is below 18–45 Gy" in finding.message
    assert "BED10 11.9 Gy is below 50.4–65.2 Gy" in finding.message


def test_ebx_judges_by_its_own_presets_not_by_kv():
    # 18 Gy × 1 is a kV preset, but eBx publishes 6–8 fractions of 5–7 Gy.
    finding = check(EBX, 18, 1)
    assert finding.kind == CONFIRM
    assert ("dose per fraction 18 Gy is above 5–7 Gy; number of fractions 1 is below 6–8; total dose 18 Gy is "
            "below 36.6–42 Gy; BED10 50.4 Gy is below 58.9–71.4 Gy") in finding.message
    # 6 Gy × 7 = 42 Gy, BED10 67.2: inside every eBx span although it is none of the presets.
    assert check(EBX, 6, 7) is None
    # 5 Gy × 7 = 35 Gy: total below 36.6 and BED10 = 35 × 1.5 = 52.5 below 58.926.
    assert check(EBX, 5, 7).message.endswith("total dose 35 Gy is below 36.6–42 Gy; BED10 52.5 Gy is below "
                                             "58.9–71.4 Gy")


def test_a_technique_without_published_regimens_asks():
    finding = check_prescription(Prescription(5, 5), (), "Test technique")
    assert finding == PlausibilityFinding(CONFIRM, "25 Gy in 5 × 5 Gy: Test technique publishes no regimen to "
                                                   "compare it with")


def test_a_finding_is_either_a_refusal_or_a_question():
    with pytest.raises(ValueError):
        PlausibilityFinding("warn", "x")


@pytest.mark.parametrize("technique", [KV, EBX], ids=lambda t: t.id)
def test_no_regimen_passed_without_a_question_is_outside_the_reviews_bed_range(technique):
    """Consistent with planner.review.consistency: what passes here is within its BED10 range."""
    for tenth_gy in range(5, 400, 5):
        d = tenth_gy / 10
        for n in range(1, 40):
            if d * n > 100:
                continue
            review = _bed(SimpleNamespace(prescription=Prescription(d, n)), technique)
            finding = check(technique, d, n)
            if finding is None:
                assert review.severity == OK, (d, n, review.message)
            if review.severity == REVIEW:
                assert finding is not None and finding.kind == CONFIRM and "BED10" in finding.message, (d, n)
