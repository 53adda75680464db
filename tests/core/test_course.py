"""Treatment course: fraction records, delivered dose, schedule gaps and intervals, JSON round trip."""

import json
import math
from datetime import date, datetime

import pytest

from planner.core.course import (Course, CourseError, FractionRecord, course_from_dict, course_to_dict)

TODAY = date(2025, 3, 31)
# Radiat Oncol 5:87, 2010: 40 Gy in 8 × 5 Gy, twice weekly, at least 48 h apart.
SOURCE = "Radiat Oncol 5:87, 2010: twice weekly, at least 48 h apart"


def ebx_course(**changes):
    args = dict(planned_fractions=8, dose_per_fraction_gy=5.0, planned_dwell_time_s=120.0, max_gap_days=7,
                min_interval_hours=48.0, schedule_source=SOURCE)
    args.update(changes)
    return Course(**args)


def deliver(course, *days, dwell=120.0):
    for d in days:
        course = course.record(date(2025, 3, d), dwell, "R. Tech", today=TODAY)
    return course


def test_recording_returns_a_new_course_and_counts_dose():
    empty = ebx_course()
    one = empty.record(date(2025, 3, 3), 120.0, "R. Tech", "applicator 20 mm", today=TODAY)
    assert empty.records == () and one.records[0].number == 1
    assert one.delivered_dose_gy == pytest.approx(5.0)
    assert one.planned_dose_gy == pytest.approx(40.0)
    assert one.remaining_dose_gy == pytest.approx(35.0)


def test_delivered_dose_scales_with_dwell_time():
    # Fixed applicator and beam: dose ∝ beam-on time, so 108 s of a planned 120 s gives 0.9 × 5 Gy.
    course = deliver(ebx_course(), 3, 6)
    course = course.record(date(2025, 3, 10), 108.0, "R. Tech", "interrupted, resumed next visit", today=TODAY)
    assert course.fraction_dose_gy(course.records[-1]) == pytest.approx(4.5)
    assert course.delivered_dose_gy == pytest.approx(14.5)


def test_a_full_twice_weekly_course():
    course = deliver(ebx_course(), 3, 6, 10, 13, 17, 20, 24, 27)       # Mondays and Thursdays
    assert course.complete and course.delivered_dose_gy == pytest.approx(40.0)
    assert course.gaps() == ()
    with pytest.raises(CourseError, match="all 8 planned fractions are already recorded"):
        course.record(date(2025, 3, 28), 120.0, "R. Tech", today=TODAY)


def test_out_of_order_dates_are_refused():
    course = deliver(ebx_course(), 6)
    with pytest.raises(CourseError, match="fraction 2 \\(2025-03-03\\) is dated before fraction 1"):
        course.record(date(2025, 3, 3), 120.0, "R. Tech", today=TODAY)


def test_gaps_longer_than_the_limit_are_listed_with_a_message():
    course = deliver(ebx_course(), 3, 13)
    (gap,) = course.gaps()
    assert gap.kind == "gap" and gap.days == 10 and (gap.after_fraction, gap.before_fraction) == (1, 2)
    assert "10 days between fraction 1 (2025-03-03) and fraction 2 (2025-03-13)" in gap.message
    assert "7-day limit" in gap.message


def test_waiting_too_long_for_the_next_fraction_is_flagged():
    course = deliver(ebx_course(), 3)
    assert course.gaps(today=date(2025, 3, 10)) == ()
    (wait,) = course.gaps(today=date(2025, 3, 14))
    assert wait.kind == "waiting" and wait.before_fraction is None and "7 fraction(s) still to give" in wait.message


def test_fractions_closer_than_48_h_are_flagged():
    course = deliver(ebx_course(), 3, 4, 6)        # 1 day apart: certainly < 48 h; 2 days: cannot tell
    kinds = [(f.kind, f.after_fraction) for f in course.gaps()]
    assert kinds == [("too close", 1), ("interval not verifiable", 2)]
    assert "less than 48 h apart" in course.gaps()[0].message and SOURCE in course.gaps()[0].message
    assert "check the delivery times" in course.gaps()[1].message
    same_day = deliver(ebx_course(), 3, 3)
    assert same_day.gaps()[0].kind == "too close"


def test_no_interval_check_without_a_required_interval():
    assert deliver(ebx_course(min_interval_hours=None), 3, 4).gaps() == ()


@pytest.mark.parametrize("kwargs, message", [
    ({"dwell_time_s": 0.0}, "dwell time of fraction 1 \\(s\\) must be above 0"),
    ({"dwell_time_s": -5.0}, "must be above 0"),
    ({"dwell_time_s": math.nan}, "must be a finite number"),
    ({"dwell_time_s": math.inf}, "must be a finite number"),
    ({"dwell_time_s": True}, "must be a finite number"),
    ({"delivered_by": "  "}, "the name of whoever delivered it is required"),
    ({"delivered_on": date(2025, 4, 1)}, "dated 2025-04-01, after today \\(2025-03-31\\)"),
    ({"delivered_on": datetime(2025, 3, 3, 9, 0)}, "must be a calendar date"),
    ({"number": 0}, "fraction number must be at least 1"),
    ({"number": 1.0}, "fraction number must be a whole number"),
])
def test_bad_fraction_records_get_a_specific_message(kwargs, message):
    args = dict(number=1, delivered_on=date(2025, 3, 3), dwell_time_s=120.0, delivered_by="R. Tech", remarks="")
    args.update(kwargs)
    with pytest.raises(CourseError, match=message):
        FractionRecord(**args, today=TODAY)


@pytest.mark.parametrize("changes, message", [
    ({"planned_fractions": 0}, "planned number of fractions must be at least 1"),
    ({"dose_per_fraction_gy": -5.0}, "dose per fraction \\(Gy\\) must be above 0"),
    ({"planned_dwell_time_s": math.nan}, "planned dwell time per fraction \\(s\\) must be a finite number"),
    ({"max_gap_days": 0}, "longest acceptable gap"),
    ({"min_interval_hours": 0.0}, "minimum interval between fractions"),
    ({"records": (FractionRecord(2, date(2025, 3, 3), 120.0, "R. Tech", today=TODAY),)}, "record 1 is numbered 2"),
])
def test_bad_courses_get_a_specific_message(changes, message):
    with pytest.raises(CourseError, match=message):
        ebx_course(**changes)


def test_more_records_than_planned_are_refused():
    recs = tuple(FractionRecord(i, date(2025, 3, i), 60.0, "R. Tech", today=TODAY) for i in (1, 2, 3))
    with pytest.raises(CourseError, match="3 fractions recorded but only 2 planned"):
        ebx_course(planned_fractions=2, records=recs)


def test_json_round_trip():
    course = deliver(ebx_course(), 3, 6)
    course = course.record(date(2025, 3, 10), 100.5, "Dr Ö. Physicist", "remark with ünïcode", today=TODAY)
    text = json.dumps(course_to_dict(course))
    again = course_from_dict(json.loads(text), today=TODAY)
    assert again == course
    assert again.delivered_dose_gy == pytest.approx(course.delivered_dose_gy)


def _broken(**changes):
    d = course_to_dict(deliver(ebx_course(), 3, 6))
    for path, value in changes.items():
        target = d
        *keys, last = path.split(".")
        for k in keys:
            target = target[int(k)] if k.isdigit() else target[k]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return d


@pytest.mark.parametrize("data, message", [
    ([], "a course must be a JSON object, got list"),
    (_broken(format="plan"), "not a course file"),
    (_broken(version=5), "course format version 5 is not supported"),
    (_broken(max_gap_days=KeyError), "course is missing max_gap_days"),
    (_broken(records={}), "course records must be a list"),
    (_broken(**{"records.1.delivered_on": "06/03/2025"}), "record 2: delivery date must be an ISO date"),
    (_broken(**{"records.1.delivered_on": 20250306}), "record 2: delivery date must be an ISO date"),
    (_broken(**{"records.0.dwell_time_s": "120"}), "record 1: dwell time of fraction 1 \\(s\\) must be a finite"),
    (_broken(**{"records.0.delivered_by": ""}), "record 1: fraction 1: the name of whoever delivered it"),
    (_broken(**{"records.1.number": KeyError}), "record 2 is missing number"),
    (_broken(**{"records.1.delivered_on": "2025-03-01"}), "fraction 2 \\(2025-03-01\\) is dated before fraction 1"),
    (_broken(**{"records.1.delivered_on": "2025-04-30"}), "record 2: fraction 2 is dated 2025-04-30, after today"),
])
def test_bad_json_gets_a_specific_message(data, message):
    with pytest.raises(CourseError, match=message):
        course_from_dict(data, today=TODAY)
