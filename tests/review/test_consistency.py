"""The consistency checks on the demo plan and on plans altered one number at a time.

Beam data for the depth rule are synthetic where a closed form is wanted (PDD = 100·exp(−μz),
tests/dose/kv_fixtures.py: the 90 % depth is ln(1/0.9)/μ); the demo test uses the real engine.
"""

import math
from dataclasses import replace
from datetime import date

import pytest

from planner.core.course import Course, FractionRecord
from planner.core.outline import LesionOutline
from planner.core.prescription import Prescription, PrescriptionPoint
from planner.review.consistency import ReviewFinding, bed_gy, consistency_checks, worst
from planner.techniques.beam_lookup import machine_commissioning
from tests.dose.kv_fixtures import synthetic_beam
from tests.review.test_second_check import demo, ebx_plan, kv_demo

TODAY = date(2026, 3, 2)
LESION_DEPTH_MM = 2.6965   # the demo lesion's deepest vertex below the skin


def technique_of(plan):
    return demo()[0].get(plan.setup.technique_id)


def checks(plan, dose_result=None, *, commissioning="technique's", beam=None, **kw):
    technique = technique_of(plan)
    if commissioning == "technique's":
        commissioning = machine_commissioning(technique, plan.setup.machine_id)
    beam = beam or synthetic_beam(0.03)   # 90 % isodose at 3.51 mm: covers the demo lesion
    return consistency_checks(plan, dose_result, technique, commissioning, today=TODAY, beam_data=beam, **kw)


def by_code(findings, code) -> ReviewFinding:
    found = [f for f in findings if f.code == code]
    assert len(found) == 1, findings
    return found[0]


def test_the_demo_plan_with_its_real_dose_lists_every_check_with_its_numbers():
    plan, result, _, _ = kv_demo()
    findings = consistency_checks(plan, result, technique_of(plan), machine_commissioning(
        technique_of(plan), plan.setup.machine_id), today=TODAY)
    codes = [f.code for f in findings]
    assert codes == ["regimen", "commissioning", "field-width", "energy-depth", "bed", "dates"]
    assert by_code(findings, "regimen").severity == "ok" and "18 Gy × 1" in by_code(findings, "regimen").message
    # 50 kV: the 90 % isodose lies at 0.79 mm, the lesion reaches 2.70 mm — the engine only warns; here: stop.
    depth = by_code(findings, "energy-depth")
    assert depth.severity == "stop" and "50 kV" in depth.message and "2.70 mm" in depth.message
    assert "0.79 mm" in depth.message and "71.5 %" in depth.message and "1.90 mm short" in depth.message
    assert by_code(findings, "bed").severity == "ok" and "50.4–65.2 Gy" in by_code(findings, "bed").message
    assert worst(findings) == "stop"


def test_demo_commissioning_is_for_review_not_for_clinical_use_and_a_clinics_own_is_ok():
    plan = demo()[1]
    demo_file = machine_commissioning(technique_of(plan), plan.setup.machine_id)
    finding = by_code(checks(plan), "commissioning")
    assert finding.severity == "review" and "not for clinical use" in finding.message
    assert "SSD 15 cm" in finding.message and "1.6 Gy/min" in finding.message
    assert by_code(checks(plan, commissioning=replace(demo_file, is_demo=False)), "commissioning").severity == "ok"


def test_a_missing_output_or_no_commissioning_at_all_stops():
    plan = demo()[1]
    commissioning = machine_commissioning(technique_of(plan), plan.setup.machine_id)
    entry = commissioning.entry("50kV", "cone-15mm")
    no_output = replace(entry, air_kerma_rate_gy_per_min=replace(entry.air_kerma_rate_gy_per_min, value=None))
    partial = replace(commissioning, entries=tuple(no_output if e is entry else e for e in commissioning.entries))
    finding = by_code(checks(plan, commissioning=partial), "commissioning")
    assert finding.severity == "stop" and "output (air-kerma rate) not commissioned" in finding.message
    assert by_code(checks(plan, commissioning=None), "commissioning").severity == "stop"


def test_the_ebx_applicator_commissioning_is_checked_by_its_own_quantities():
    plan = ebx_plan()
    finding = by_code(checks(plan), "commissioning")
    assert finding.severity == "review" and "reference dose rate) 3.3 Gy/min" in finding.message
    assert "reference depth 3 mm" in finding.message


def test_a_custom_regimen_is_flagged_for_review_and_a_published_one_is_named():
    plan = demo()[1]
    custom = plan.with_prescription(Prescription(19.0, 1, plan.prescription.point))
    finding = by_code(checks(custom), "regimen")
    assert finding.severity == "review" and "custom regimen: 19 Gy in 1 × 19 Gy" in finding.message
    assert by_code(checks(custom), "bed").severity == "ok"          # BED10 55.1 Gy lies inside 50.4–65.2
    seven = plan.with_prescription(Prescription(7.0, 5, plan.prescription.point))
    assert "35 Gy / 5 × 7 Gy" in by_code(checks(seven), "regimen").message


def test_a_bed_outside_the_published_range_is_for_review_with_the_range():
    plan = demo()[1].with_prescription(Prescription(3.0, 10))
    finding = by_code(checks(plan), "bed")
    assert bed_gy(3.0, 10) == pytest.approx(39.0)
    assert finding.severity == "review"
    assert "= 39.0 Gy" in finding.message and "50.4–65.2 Gy" in finding.message and "below" in finding.message
    assert by_code(checks(demo()[1].with_prescription(Prescription(25.0, 1))), "bed").message.endswith(
        "above the published range")


def test_a_cone_narrower_than_the_lesion_stops_and_a_thin_margin_is_for_review():
    plan = demo()[1]
    wide = plan.with_outline(LesionOutline(tuple((2.0 * x, y) for x, y in plan.outline.vertices_mm)))
    finding = by_code(checks(wide), "field-width")
    assert finding.severity == "stop"
    assert "width 17.90 mm" in finding.message and "1.45 mm of the lesion lies outside" in finding.message
    thin = by_code(checks(plan), "field-width")       # Ø 15 mm on an 8.95 mm lesion: 3.03 mm a side
    assert thin.severity == "review" and "3.03 mm to spare" in thin.message
    assert by_code(checks(plan.with_setup(applicator_id="cone-20mm")), "field-width").severity == "ok"
    # wide enough, but the axis moved off the lesion: part of it is outside the field
    assert by_code(checks(plan.with_cone_axis(4.0)), "field-width").severity == "stop"


@pytest.mark.parametrize("mu_per_mm, severity", [(0.03, "ok"), (0.0435, "review"), (0.06, "stop")])
def test_the_90_percent_isodose_must_reach_the_lesions_base_within_half_a_millimetre(mu_per_mm, severity):
    z90 = math.log(1 / 0.9) / mu_per_mm               # 3.51, 2.42, 1.76 mm versus the lesion's 2.70 mm
    finding = by_code(checks(demo()[1], beam=synthetic_beam(mu_per_mm)), "energy-depth")
    assert finding.severity == severity, finding.message
    assert f"{z90:.2f} mm" in finding.message


def test_a_depth_prescription_is_judged_by_its_depth():
    plan = demo()[1]
    shallow = plan.with_prescription(plan.prescription.with_point(PrescriptionPoint.at_depth(2.0)))
    deep = plan.with_prescription(plan.prescription.with_point(PrescriptionPoint.at_depth(3.0)))
    finding = by_code(checks(shallow), "energy-depth")
    assert finding.severity == "stop" and "prescription depth 2 mm" in finding.message
    assert by_code(checks(deep), "energy-depth").severity == "ok"


def test_a_dose_computed_for_another_prescription_stops():
    plan, result, _, _ = kv_demo()
    other = plan.with_prescription(Prescription(20.0, 1, plan.prescription.point))
    finding = by_code(checks(other, result), "dose-prescription")
    assert finding.severity == "stop" and "computed for 18 Gy" in finding.message


def test_dates_a_future_fraction_or_plan_date_stops_and_a_fraction_before_the_plan_is_for_review():
    plan = demo()[1].with_prescription(Prescription(7.0, 5))
    fractions = (FractionRecord(1, date(2026, 3, 1), 600.0, "RTT A", today=date(2026, 3, 9)),
                 FractionRecord(2, date(2026, 3, 4), 600.0, "RTT A", today=date(2026, 3, 9)))
    course = Course(5, 7.0, 600.0, 7, fractions)
    findings = checks(plan.with_course(course))
    future = [f for f in findings if f.code == "dates"]
    assert [f.severity for f in future] == ["stop"] and "fraction 2 is dated 2026-03-04, after today" in future[0].message
    plan_after = checks(plan, plan_date=date(2026, 3, 3))
    assert by_code(plan_after, "dates").severity == "stop" and "2026-03-03" in by_code(plan_after, "dates").message
    before = checks(plan.with_course(replace(course, records=fractions[:1])), plan_date=date(2026, 3, 2))
    assert by_code(before, "dates").severity == "review"
    assert by_code(checks(plan), "dates").severity == "ok"


def test_a_course_started_from_another_prescription_stops():
    plan = demo()[1]
    course = Course(5, 7.0, 600.0, 7)
    finding = by_code(checks(plan.with_course(course)), "course-prescription")
    assert finding.severity == "stop" and "5 × 7 Gy" in finding.message and "1 × 18 Gy" in finding.message


def test_a_replanned_course_is_held_to_its_current_phase():
    """A re-plan's revision prescribes the remaining fractions only (planner.techniques.replan): the review compares
    it with the course's current phase, not the whole course (2 × 7 Gy given, then 1 × 18 Gy re-planned)."""
    from planner.core.course import CoursePhase

    plan = demo()[1]   # 1 × 18 Gy
    given = tuple(FractionRecord(i, date(2026, 3, i), 600.0, "RTT A", today=TODAY) for i in (1, 2))
    revision = CoursePhase("1.2.826.0.1.3680043.8.498.7", 3, 1, 18.0, 500.0, "deeper lesion", date(2026, 3, 3))
    course = Course(3, 7.0, 600.0, 7, given, rt_plan_uid="1.2.826.0.1.3680043.8.498.6", later_phases=(revision,))
    assert not [f for f in checks(plan.with_course(course)) if f.code == "course-prescription"]
    other = replace(course, later_phases=(replace(revision, dose_per_fraction_gy=17.0),))
    finding = by_code(checks(plan.with_course(other)), "course-prescription")
    assert finding.severity == "stop"
    assert finding.message == ("the course's current phase (fractions 3–3) was planned for 1 × 17 Gy, the plan "
                               "prescribes 1 × 18 Gy")
