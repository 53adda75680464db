"""A course re-planned for its remaining fractions (issue 17, point 3): the fractions dosed with the phase in
effect at their number, the course's dose and its whole-course BED/EQD2 against hand calculations, the
refusals, and the JSON: version 4 for a phased course, older files still read."""

from datetime import date

import pytest

from planner.core.course import Course, CourseError, CoursePhase, course_from_dict, course_to_dict
from planner.core.prescription import Prescription

TODAY = date(2025, 3, 31)
FIRST_UID, REVISION_UID = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"


def delivered(course, *seconds):
    for day, t in enumerate(seconds, start=3):
        course = course.record(date(2025, 3, day), t, "R. Tech", today=TODAY)
    return course


def replan(course, dose_gy, time_s, uid=FIRST_UID, reason="after fraction 3: lesion 3.1 mm, isodose 2.6 mm"):
    first = course.delivered_fractions + 1
    phase = CoursePhase("", first, course.planned_fractions - first + 1, dose_gy, time_s, reason, date(2025, 3, 10))
    return course.replanned(uid, phase).with_current_rt_plan_uid(REVISION_UID)


def test_three_5_gy_then_four_4_gy_gives_the_hand_bed_and_eqd2():
    # 7 fractions: 3 × 5 Gy delivered as planned (100 s), then re-planned to 4 × 4 Gy at 80 s.
    course = replan(delivered(Course(7, 5.0, 100.0, 7), 100.0, 100.0, 100.0), 4.0, 80.0)
    assert [(p.first_fraction, p.fractions, p.dose_per_fraction_gy, p.rt_plan_uid) for p in course.phases] == \
        [(1, 3, 5.0, FIRST_UID), (4, 4, 4.0, REVISION_UID)]
    # BED10 = 3·5·(1 + 5/10) + 4·4·(1 + 4/10) = 22.5 + 22.4 = 44.9 Gy; EQD2 = 44.9 / 1.2 = 37.4167 Gy
    assert course.course_bed_gy(10.0) == pytest.approx(44.9)
    assert course.course_eqd2_gy(10.0) == pytest.approx(44.9 / 1.2)
    # BED3 = 15·(1 + 5/3) + 16·(1 + 4/3) = 40 + 37.3333 = 77.3333 Gy; EQD2 = 77.3333 / (5/3) = 46.4 Gy
    assert course.course_bed_gy(3.0) == pytest.approx(15 * 8 / 3 + 16 * 7 / 3)
    assert course.course_eqd2_gy(3.0) == pytest.approx(46.4)
    assert course.planned_dose_gy == pytest.approx(31.0)
    assert course.remaining_dose_gy == pytest.approx(16.0) and course.course_dose_gy == pytest.approx(31.0)


def test_each_fraction_is_dosed_with_its_phase_and_its_actual_time():
    # 2 fractions of a 5 × 7 Gy plan at 120 s: 120 s and 90 s (= 7 and 5.25 Gy); re-planned at 96 s per 7 Gy;
    # fraction 3 given 48 s of 96 s = 3.5 Gy. Delivered 15.75 Gy, remaining 2 × 7 Gy.
    course = replan(delivered(Course(5, 7.0, 120.0, 7), 120.0, 90.0), 7.0, 96.0)
    course = course.record(date(2025, 3, 11), 48.0, "R. Tech", today=TODAY)
    assert [course.fraction_dose_gy(r) for r in course.records] == pytest.approx([7.0, 5.25, 3.5])
    assert course.delivered_dose_gy == pytest.approx(15.75)
    assert course.remaining_dose_gy == pytest.approx(14.0)
    assert course.course_dose_gy == pytest.approx(29.75)
    # BED10 of the fractions as given and as planned: Σ d(1 + d/10)
    hand = sum(d * (1 + d / 10) for d in (7.0, 5.25, 3.5, 7.0, 7.0))
    assert course.course_bed_gy(10.0) == pytest.approx(hand)
    assert course.current_phase.planned_time_s == 96.0 and course.phase_at(2).planned_time_s == 120.0
    assert "then 3 × 7 Gy (96.0 s each, re-planned 2025-03-10)" in course.summary()


def test_flags_compare_the_plan_with_the_current_phase():
    course = replan(delivered(Course(5, 7.0, 120.0, 7), 120.0, 120.0), 7.0, 96.0)

    assert course.flags(Prescription(7.0, 3), 96.0, date(2025, 3, 6)) == ()
    (flag,) = course.flags(Prescription(7.0, 5), 96.0, date(2025, 3, 6))
    assert "(5 × 7 Gy) differs from the course's (3 × 7 Gy)" in flag


@pytest.mark.parametrize("seconds, uid, message", [
    ((), FIRST_UID, "no fraction has been delivered yet"),
    ((120.0,) * 5, FIRST_UID, "all 5 fractions of the course are delivered"),
])
def test_a_course_not_under_way_is_not_replanned(seconds, uid, message):
    course = delivered(Course(5, 7.0, 120.0, 7), *seconds)
    with pytest.raises(CourseError, match=message):
        course.replanned(uid, CoursePhase("", 2, 4, 7.0, 90.0, "", date(2025, 3, 10)))


def test_a_plan_the_latest_fractions_are_not_delivered_under_is_refused():
    course = delivered(replan(delivered(Course(5, 7.0, 120.0, 7), 120.0), 7.0, 96.0), 96.0)
    with pytest.raises(CourseError, match=f"delivered under RT Plan {REVISION_UID}, not under this plan's {FIRST_UID}"):
        course.replanned(FIRST_UID, CoursePhase("", 3, 3, 7.0, 90.0, "", date(2025, 3, 12)))


def test_a_phase_must_take_over_exactly_the_remaining_fractions():
    course = delivered(Course(5, 7.0, 120.0, 7), 120.0, 120.0)
    with pytest.raises(CourseError, match="plans 4 fraction\\(s\\), the course has 3 left of 5"):
        course.replanned(FIRST_UID, CoursePhase("", 3, 4, 7.0, 90.0, "", date(2025, 3, 10)))
    with pytest.raises(CourseError, match="starts at fraction 2, the next fraction to give is 3"):
        course.replanned(FIRST_UID, CoursePhase("", 2, 4, 7.0, 90.0, "", date(2025, 3, 10)))


def test_json_round_trip_is_version_4_and_an_unphased_course_keeps_its_old_version():
    course = replan(delivered(Course(5, 7.0, 120.0, 7), 120.0, 90.0), 7.0, 96.0)
    data = course_to_dict(course)
    assert data["version"] == 4 and data["rt_plan_uid"] == FIRST_UID
    assert data["later_phases"] == [{"rt_plan_uid": REVISION_UID, "first_fraction": 3, "fractions": 3,
                                     "dose_per_fraction_gy": 7.0, "planned_time_s": 96.0,
                                     "reason": "after fraction 3: lesion 3.1 mm, isodose 2.6 mm",
                                     "started_on": "2025-03-10"}]
    assert course_from_dict(data, today=TODAY) == course
    plain = delivered(Course(5, 7.0, 120.0, 7), 120.0)
    assert course_to_dict(plain)["version"] == 2 and "later_phases" not in course_to_dict(plain)
    # a version-2 file (before phases) reads as one phase, whatever keys a later writer might have added
    old = dict(course_to_dict(plain), later_phases=[{"nonsense": True}])
    assert course_from_dict(old, today=TODAY).phases == plain.phases


def test_a_broken_phase_in_the_file_is_named():
    data = course_to_dict(replan(delivered(Course(5, 7.0, 120.0, 7), 120.0), 7.0, 96.0))
    del data["later_phases"][0]["started_on"]
    with pytest.raises(CourseError, match="re-plan 1 is missing started_on"):
        course_from_dict(data, today=TODAY)


def test_replan_refuses_a_session_that_is_not_this_courses():
    from planner.core.course_imaging import ImagingSession, SessionTime
    from planner.core.plan import Plan, TreatmentSetup
    from planner.techniques.replan import ReplanError, check_replan

    course = delivered(Course(5, 7.0, 120.0, 7), 120.0, 120.0)
    plan = Plan("Left cheek BCC", "DEMO^Patient", "DEMO-0001", "/images/planning.dcm",
                TreatmentSetup("superficial-kv", "srt100-class", "70kV", "cone-20mm"), Prescription(7.0, 5),
                course=course)
    elsewhere = ImagingSession(SessionTime.parse("after:2"), date(2025, 3, 5), "/images/other.dcm", None,
                               "DEMO-0001", "DEMO^Patient")
    with pytest.raises(ReplanError, match="is not one of this course's sessions"):
        check_replan(plan, elsewhere, FIRST_UID)
    with pytest.raises(ReplanError, match="the lesion on the image at after fraction 2 is not measured"):
        check_replan(plan.with_course(course.with_session(elsewhere, today=TODAY)), elsewhere, FIRST_UID)
