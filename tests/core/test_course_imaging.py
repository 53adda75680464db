"""Imaging sessions of the IGSRT course and the lesion's response (issue 17): every expected number is
a hand value of a shape built for the test (a rectangle's sides, an ellipse's semi-axes), never one
computed by the code under test."""

import json
import math
from datetime import date

import pytest

from planner.core.course import Course, CourseError, course_from_dict, course_to_dict
from planner.core.course_imaging import (NOT_CALIBRATED, ImagingSession, OtherPatientError, SessionDateQuestion,
                                         SessionError, SessionTime, check_same_patient, response_findings,
                                         suspected_recurrence)
from planner.core.outline import LesionOutline
from planner.core.plan import Plan, TreatmentSetup
from planner.core.plan_file import load_plan, plan_to_dict, save_plan
from planner.core.prescription import Prescription
from planner.core.skin_surface import SkinSurface

TODAY = date(2027, 6, 1)
FLAT_SKIN = SkinSurface(((-20.0, 1.0), (20.0, 1.0)))     # skin at 1.0 mm below the transducer everywhere
SCALE = "Sequence of Ultrasound Regions, region 1 (2-D tissue, cm)"


def box(half_width, bottom, top=1.0):
    return LesionOutline(((-half_width, top), (half_width, top), (half_width, bottom), (-half_width, bottom)))


def session(when, on, outline=None, skin=FLAT_SKIN, scale=SCALE, pid="P-1", name="Doe^Jane"):
    return ImagingSession(SessionTime.parse(when), on, f"/images/{when}.dcm", scale, pid, name, outline,
                          None if scale is None else skin)


def a_course(fractions=5):
    return Course(fractions, 7.0, 120.0, 7)


# ------------------------------------------------------------------------------------- the timeline

@pytest.mark.parametrize("text, label", [
    ("baseline", "baseline"), ("before:3", "before fraction 3"), ("after:5", "after fraction 5"),
    ("followup:12", "follow-up week 12"), ("followup:0", "follow-up week 0"), (" After:2 ", "after fraction 2"),
])
def test_a_session_time_reads_and_says_itself_in_words(text, label):
    assert SessionTime.parse(text).label == label


@pytest.mark.parametrize("text", ["", "during", "before:0", "after:-1", "followup:-2", "before:x", "baseline:1",
                                  "followup", "after:2.5"])
def test_a_session_time_that_is_not_one_of_the_four_forms_is_refused_in_one_line(text):
    with pytest.raises(SessionError) as err:
        SessionTime.parse(text)
    assert "\n" not in err.value.user_message


def test_the_timeline_orders_baseline_fractions_then_follow_up():
    order = ["baseline", "before:1", "after:1", "before:2", "after:2", "after:10", "followup:0", "followup:3",
             "followup:52"]
    shuffled = [order[i] for i in (5, 0, 8, 2, 6, 1, 4, 7, 3)]
    assert sorted(shuffled, key=lambda t: SessionTime.parse(t).order_key) == order


# ------------------------------------------------------------------------------------- one session's measure

def test_a_rectangle_under_a_flat_skin_measures_its_sides():
    # 9 mm wide, from the skin (1.0 mm) to 3.7 mm: depth 2.7 mm, width 9 mm, area 9 × 2.7 = 24.3 mm².
    measure = session("baseline", date(2026, 11, 2), box(4.5, 3.7)).measure
    assert measure.depth_mm == pytest.approx(2.7, abs=1e-9)
    assert measure.width_mm == pytest.approx(9.0, abs=1e-9)
    assert measure.area_mm2 == pytest.approx(24.3, abs=1e-9)
    assert measure.calibration_source == SCALE


def ellipse(cx, cy, a, b, n):
    return LesionOutline(tuple((cx + a * math.cos(2 * math.pi * k / n), cy + b * math.sin(2 * math.pi * k / n))
                               for k in range(n)))


def test_an_ellipse_measures_its_semi_axes_and_its_area_within_the_polygon_error():
    # Semi-axes a = 3 mm (lateral), b = 1.2 mm (depth), top 0.3 mm below a flat skin at 1.0 mm, so the
    # centre is at 1.0 + 0.3 + 1.2 = 2.5 mm and the deepest point 0.3 + 2 × 1.2 = 2.7 mm below the skin.
    # 64 vertices, one at each end of both axes: the width is 2a exactly; the polygon inscribed in the
    # ellipse has the area (n/2)·a·b·sin(2π/n), below πab by the factor 1 − (2π/n)²/6 + …: 0.16 % at n = 64.
    a, b, n = 3.0, 1.2, 64
    measure = session("baseline", date(2026, 11, 2), ellipse(0.0, 2.5, a, b, n)).measure
    assert measure.depth_mm == pytest.approx(2.7, abs=1e-9)
    assert measure.width_mm == pytest.approx(2 * a, abs=1e-9)
    assert measure.area_mm2 == pytest.approx(n / 2 * a * b * math.sin(2 * math.pi / n), rel=1e-12)
    assert measure.area_mm2 == pytest.approx(math.pi * a * b, rel=(2 * math.pi / n) ** 2 / 6 * 1.01)


def test_depth_is_taken_along_the_beam_axis_below_a_sloping_skin():
    # Skin y = 1 + 0.1·x. Below it, an ellipse centred at (0, 2.5) with a = 3, b = 1.2: the depth
    # y − 1 − 0.1·x on the ellipse is at most 1.5 + sqrt(b² + (0.1·a)²) = 1.5 + sqrt(1.44 + 0.09).
    # 720 vertices: the polygon falls short of the ellipse by at most a·(1 − cos(π/720)) < 1e-5 mm.
    skin = SkinSurface(((-20.0, -1.0), (20.0, 3.0)))
    measure = session("baseline", date(2026, 11, 2), ellipse(0.0, 2.5, 3.0, 1.2, 720), skin=skin).measure
    assert measure.depth_mm == pytest.approx(1.5 + math.sqrt(1.44 + 0.09), abs=2e-5)


def test_an_image_without_a_scale_is_kept_but_not_measured():
    kept = session("after:1", date(2026, 11, 3), scale=None)
    assert kept.measure is None and kept.unmeasured_reason == NOT_CALIBRATED == "not measurable until calibrated"
    with pytest.raises(SessionError, match="no mm scale"):
        session("after:1", date(2026, 11, 3), box(4.0, 3.0), scale=None, skin=None)


def test_a_skin_line_with_doubts_gives_no_depth_until_confirmed():
    doubtful = SkinSurface(FLAT_SKIN.points_mm, ("the line is an arc",))
    held = session("baseline", date(2026, 11, 2), box(4.5, 3.7), skin=doubtful)
    assert held.measure is None and "the line is an arc" in held.unmeasured_reason


# ------------------------------------------------------------------------------------- bad input

def test_an_image_of_another_patient_is_refused_naming_both():
    with pytest.raises(OtherPatientError) as err:
        check_same_patient("DEMO-0001", "DEMO^Patient", "11-05-25-142825", "OB^^^^")
    message = err.value.user_message
    assert all(part in message for part in ("DEMO-0001", "DEMO^Patient", "11-05-25-142825", "OB^^^^"))
    with pytest.raises(OtherPatientError):
        check_same_patient("P-1", "Doe^Jane", "P-1", "Roe^Richard")          # same ID, another name
    check_same_patient("P-1", "Doe^Jane", "P-1", "DOE^JANE^^")                # the same person name
    check_same_patient("P-1", "Doe^Jane", "", "")                            # a picture carries no identity


def test_a_date_in_the_future_or_before_the_baseline_is_a_question_that_confirming_answers():
    course = a_course().with_session(session("baseline", date(2026, 11, 2), box(4.5, 3.7)), today=TODAY)
    with pytest.raises(SessionDateQuestion, match="after today"):
        course.with_session(session("followup:4", date(2027, 7, 1), box(3.0, 2.0)), today=TODAY)
    with pytest.raises(SessionDateQuestion, match="before the baseline"):
        course.with_session(session("after:1", date(2026, 10, 30), box(3.0, 2.0)), today=TODAY)
    confirmed = course.with_session(session("after:1", date(2026, 10, 30), box(3.0, 2.0)), today=TODAY,
                                    confirm_date=True)
    assert [s.when.text for s in confirmed.sessions] == ["baseline", "after:1"]
    assert [s.when.text for s in course.sessions] == ["baseline"]        # the course itself is unchanged


@pytest.mark.parametrize("when", ["before:6", "after:6"])
def test_a_session_beyond_the_planned_fractions_is_refused(when):
    with pytest.raises(CourseError, match="only 5 fraction"):
        a_course(5).with_session(session(when, date(2026, 12, 1), box(3.0, 2.0)), today=TODAY)


def test_a_second_image_at_the_same_place_is_refused():
    course = a_course().with_session(session("baseline", date(2026, 11, 2), box(4.5, 3.7)), today=TODAY)
    with pytest.raises(CourseError, match="already holds an image at baseline"):
        course.with_session(session("baseline", date(2026, 11, 2), box(4.0, 3.7)), today=TODAY)


# ------------------------------------------------------------------------------------- the response

def five_sessions():
    """Baseline, two during the course, two at follow-up: the lesion shrinks, then regrows.
    Rectangles from the skin (1.0 mm) down: depth = bottom − 1.0, width = 2 × half-width, area = their product."""
    return (session("baseline", date(2026, 11, 2), box(4.5, 3.7)),      # 2.7 mm, 9 mm, 24.3 mm²
            session("after:2", date(2026, 11, 10), box(4.0, 2.9)),      # 1.9 mm, 8 mm, 15.2 mm²
            session("after:5", date(2026, 11, 24), box(3.0, 2.2)),      # 1.2 mm, 6 mm, 7.2 mm²
            session("followup:4", date(2026, 12, 22), box(2.5, 2.0)),   # 1.0 mm, 5 mm, 5.0 mm²  (the nadir)
            session("followup:12", date(2027, 2, 16), box(3.5, 2.5)))   # 1.5 mm, 7 mm, 10.5 mm² (+50 %)


def test_a_shrinking_then_regrowing_lesion_is_told_in_words_with_the_recurrence_flag():
    course = a_course()
    for s in reversed(five_sessions()):     # added in any order, kept in course order
        course = course.with_session(s, today=TODAY, confirm_date=s.when.kind != "baseline")
    findings = response_findings(course.sessions, regrowth_threshold_percent=20)
    # Percentages by hand: (1.9 − 2.7)/2.7 = −29.6 %, (8 − 9)/9 = −11.1 %, (15.2 − 24.3)/24.3 = −37.4 %; …
    assert [f.message for f in findings] == [
        "after fraction 2 (2026-11-10): depth 2.7 → 1.9 mm (−30 %), width 9.0 → 8.0 mm (−11 %), "
        "area 24.3 → 15.2 mm² (−37 %) since baseline",
        "after fraction 5 (2026-11-24): depth 2.7 → 1.2 mm (−56 %), width 9.0 → 6.0 mm (−33 %), "
        "area 24.3 → 7.2 mm² (−70 %) since baseline",
        "follow-up week 4 (2026-12-22): depth 2.7 → 1.0 mm (−63 %), width 9.0 → 5.0 mm (−44 %), "
        "area 24.3 → 5.0 mm² (−79 %) since baseline",
        "follow-up week 12 (2027-02-16): depth 2.7 → 1.5 mm (−44 %), width 9.0 → 7.0 mm (−22 %), "
        "area 24.3 → 10.5 mm² (−57 %) since baseline",
        "SUSPECTED RECURRENCE at follow-up week 12 (2027-02-16): depth 1.5 mm is 50 % above the nadir 1.0 mm "
        "(follow-up week 4), beyond the clinic's 20 % regrowth threshold",
        "nadir: depth 1.0 mm at follow-up week 4 (2026-12-22)",
    ]
    assert suspected_recurrence(findings)
    # (1.5 − 1.0)/1.0 = 50 %: at a threshold of 50 % it is not beyond, so not flagged.
    assert not suspected_recurrence(response_findings(course.sessions, regrowth_threshold_percent=50))


def test_without_a_clinic_threshold_recurrence_is_not_judged_and_says_why():
    findings = response_findings(five_sessions(), regrowth_threshold_percent=None)
    assert not suspected_recurrence(findings)
    assert findings[-1].message == ("recurrence not judged at follow-up week 4, follow-up week 12: the clinic has "
                                    "set no regrowth threshold (recurrence_regrowth_percent in the clinic settings)")
    with pytest.raises(SessionError, match="above 0"):
        response_findings(five_sessions(), regrowth_threshold_percent=0)


def test_an_unmeasurable_session_is_named_in_the_findings():
    sessions = (five_sessions()[0], session("after:1", date(2026, 11, 4), scale=None))
    assert [f.message for f in response_findings(sessions, regrowth_threshold_percent=20)] == [
        "after fraction 1 (2026-11-04): not measurable until calibrated"]
    assert [f.kind for f in response_findings(sessions[1:], regrowth_threshold_percent=20)] == [
        "no baseline", "not measurable"]


# ------------------------------------------------------------------------------------- the plan file

def a_plan(course):
    return Plan(label="Left cheek BCC", patient_name="Doe^Jane", patient_id="P-1", image_path="/images/us.dcm",
                setup=TreatmentSetup("superficial-kv", "srt100-class", "70kV", "cone-20mm"),
                prescription=Prescription(7.0, 5), course=course)


def test_sessions_are_saved_in_the_plan_file_and_load_back_equal(tmp_path):
    course = a_course()
    doubtful = session("after:1", date(2026, 11, 4), box(4.0, 3.0),
                       skin=SkinSurface(FLAT_SKIN.points_mm, ("the line is an arc",)))
    for s in five_sessions() + (doubtful, session("before:3", date(2026, 11, 12), scale=None)):
        course = course.with_session(s, today=TODAY)
    path = tmp_path / "plan.json"
    save_plan(path, a_plan(course))
    assert load_plan(path) == a_plan(course)
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["version"] == 4 and on_disk["course"]["version"] == 2
    assert [s["when"] for s in on_disk["course"]["sessions"]] == [
        "baseline", "after:1", "after:2", "before:3", "after:5", "followup:4", "followup:12"]


def test_a_version_3_plan_file_with_a_version_1_course_loads_with_no_sessions(tmp_path):
    data = plan_to_dict(a_plan(a_course().record(date(2026, 11, 2), 120.0, "RTT A. Smith", today=TODAY)))
    data["version"] = 3
    data["course"]["version"] = 1
    del data["course"]["sessions"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded = load_plan(path).course
    assert loaded.sessions == () and loaded.delivered_fractions == 1


def test_a_damaged_session_in_the_file_is_refused_naming_it():
    data = course_to_dict(a_course().with_session(five_sessions()[0], today=TODAY))
    data["sessions"][0]["acquired_on"] = "2 Nov 2026"
    with pytest.raises(CourseError, match="imaging session 1: the acquisition date must be an ISO date"):
        course_from_dict(data)


# ------------------------------------------------------------------------------------- the clinic's threshold

def test_the_regrowth_threshold_is_the_clinics_and_has_no_default(tmp_path):
    from planner.core.clinic_settings import ClinicSettingsError, load_clinic_settings

    assert load_clinic_settings(tmp_path / "absent.toml").recurrence_regrowth_percent is None
    file = tmp_path / "clinic.toml"
    file.write_text("recurrence_regrowth_percent = 20\n", encoding="utf-8")
    assert load_clinic_settings(file).recurrence_regrowth_percent == 20
    for bad in ("true", "0", "-5", '"20 %"', "nan"):
        file.write_text(f"recurrence_regrowth_percent = {bad}\n", encoding="utf-8")
        with pytest.raises(ClinicSettingsError, match="recurrence_regrowth_percent must be"):
            load_clinic_settings(file)
