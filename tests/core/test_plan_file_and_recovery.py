import json

import pytest

from planner.core.outline import LesionOutline
from planner.core.plan import Plan, TreatmentSetup
from planner.core.plan_file import PlanFileError, load_plan, plan_to_dict, save_plan
from planner.core.prescription import Prescription
from planner.core.recovery import RecoverySession


def a_plan(**changes):
    plan = Plan(label="Left cheek BCC", patient_name="Doe^Jane", patient_id="P-1", image_path="/images/us.dcm",
                setup=TreatmentSetup("superficial-kv", "srt100-class", "70kV", "cone-20mm"),
                prescription=Prescription(7.0, 5),
                outline=LesionOutline(((0.0, 1.0), (5.0, 1.0), (2.5, 3.5))), notes="Ünïcode note")
    return plan if not changes else plan.__class__(**{**plan.__dict__, **changes})


def test_a_saved_plan_loads_back_equal(tmp_path):
    path = tmp_path / "p.plan.json"
    save_plan(path, a_plan())
    assert load_plan(path) == a_plan()


def test_a_plan_without_outline_round_trips(tmp_path):
    path = tmp_path / "p.plan.json"
    save_plan(path, a_plan(outline=None))
    assert load_plan(path).outline is None


def test_edits_make_new_values_and_leave_the_original():
    plan = a_plan()
    edited = plan.with_setup(energy_id="100kV")
    assert plan.setup.energy_id == "70kV" and edited.setup.energy_id == "100kV"


@pytest.mark.parametrize("mutate, fragment", [
    (lambda d: d.update(format="something-else"), "not a Planner plan"),
    (lambda d: d.update(version=99), "version 99"),
    (lambda d: d.pop("setup"), "'setup'"),
    (lambda d: d["prescription"].update(dose_per_fraction_gy=-3), "impossible value"),
    (lambda d: d["prescription"].update(fractions="five"), "whole number"),
    (lambda d: d.update(lesion_outline_mm=[[0, 0], [1, 1]]), "at least 3 vertices"),
    (lambda d: d.update(label=12), "'label' must be text"),
])
def test_damaged_plan_files_are_refused_naming_what_is_wrong(tmp_path, mutate, fragment):
    data = plan_to_dict(a_plan())
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError, match=fragment):
        load_plan(path)


def test_non_json_and_missing_files_are_refused(tmp_path):
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\xff\xfe not json")
    with pytest.raises(PlanFileError, match="not a text plan file"):
        load_plan(garbage)
    truncated = tmp_path / "truncated.json"
    truncated.write_text(json.dumps(plan_to_dict(a_plan()))[:50])
    with pytest.raises(PlanFileError, match="not valid JSON"):
        load_plan(truncated)
    with pytest.raises(PlanFileError, match="cannot read"):
        load_plan(tmp_path / "absent.json")


def test_saving_replaces_the_file_atomically_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "p.plan.json"
    save_plan(path, a_plan())
    save_plan(path, a_plan(notes="second"))
    assert load_plan(path).notes == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.plan.json"]


def test_recovery_store_keeps_the_last_plan_until_discarded(tmp_path):
    store = RecoverySession(tmp_path).plan_store()
    assert not store.pending()
    store.save(a_plan())
    store.save(a_plan(notes="latest edit"))
    assert store.pending() and store.load().notes == "latest edit"
    store.discard()
    assert not store.pending()


def test_a_damaged_recovery_file_is_kept_aside_not_deleted(tmp_path):
    store = RecoverySession(tmp_path).plan_store()
    store.path.write_text("{ half a plan")
    with pytest.raises(PlanFileError):
        store.load()
    assert not store.pending()
    assert store.path.with_suffix(".damaged.json").read_text() == "{ half a plan"


def test_the_treatment_course_is_saved_with_the_plan(tmp_path):
    from datetime import date

    from planner.core.course import Course

    course = Course(8, 5.0, 90.9, 7, min_interval_hours=48.0, schedule_source="Radiat Oncol 5:87, 2010")
    course = course.record(date(2026, 11, 2), 90.9, "RTT A. Smith").record(date(2026, 11, 5), 45.5, "RTT B. Jones",
                                                                            "interrupted")
    plan = a_plan().with_course(course)
    path = tmp_path / "course.plan.json"
    save_plan(path, plan)
    loaded = load_plan(path)
    assert loaded == plan and loaded.course.delivered_dose_gy == pytest.approx(5.0 + 5.0 * 45.5 / 90.9)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["course"]["records"][1]["dwell_time_s"] = -1
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PlanFileError, match="record 2: dwell time of fraction 2"):
        load_plan(path)


def test_a_version_1_plan_file_without_a_course_still_loads(tmp_path):
    data = plan_to_dict(a_plan())
    data["version"] = 1
    del data["course"]
    path = tmp_path / "old.plan.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_plan(path) == a_plan()


DOUBT = "the line follows bright text burned into the image, not an entry echo"


def a_doubtful_skin_line():
    from planner.core.skin_surface import SkinSurface

    return SkinSurface(((-10.0, 0.52), (-3.25, 0.61), (4.0, 0.58), (10.0, 0.49)), (DOUBT, "only 40 % of columns found"))


def test_a_skin_line_with_doubts_is_saved_and_recovered_with_them(tmp_path):
    plan = a_plan(skin_surface=a_doubtful_skin_line())
    path = tmp_path / "doubtful.plan.json"
    save_plan(path, plan)
    loaded = load_plan(path)
    assert loaded == plan
    assert loaded.skin_surface.doubts == (DOUBT, "only 40 % of columns found") and not loaded.skin_surface.confirmed
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["version"] == 4 and on_disk["skin_surface_doubts"] == [DOUBT, "only 40 % of columns found"]
    store = RecoverySession(tmp_path).plan_store()  # the recovery file is written through the same serialisation
    store.save(plan)
    assert store.load() == plan


def test_a_confirmed_skin_line_loads_back_confirmed(tmp_path):
    plan = a_plan(skin_surface=a_doubtful_skin_line().confirm())
    path = tmp_path / "confirmed.plan.json"
    save_plan(path, plan)
    loaded = load_plan(path)
    assert loaded == plan and loaded.skin_surface.confirmed
    assert loaded.skin_surface.points_mm == ((-10.0, 0.52), (-3.25, 0.61), (4.0, 0.58), (10.0, 0.49))


@pytest.mark.parametrize("version", [1, 2])
def test_a_skin_line_in_a_file_from_before_doubts_loads_as_confirmed(tmp_path, version):
    data = plan_to_dict(a_plan())
    data["version"] = version
    data["skin_surface_mm"] = [[-10.0, 0.5], [10.0, 0.7]]
    del data["skin_surface_doubts"]
    if version == 1:
        del data["course"]
    path = tmp_path / "old.plan.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    skin = load_plan(path).skin_surface
    assert skin.points_mm == ((-10.0, 0.5), (10.0, 0.7)) and skin.doubts == ()


@pytest.mark.parametrize("mutate, fragment", [
    (lambda d: d.pop("skin_surface_doubts"), "lacks the field 'skin_surface_doubts'"),
    (lambda d: d.update(skin_surface_doubts="unsure"), "'skin_surface_doubts' must be a list of reasons"),
    (lambda d: d.update(skin_surface_doubts=[3]), "'skin_surface_doubts' must be a list of reasons"),
    (lambda d: d.update(skin_surface_doubts=[" "]), "'skin_surface_doubts' must be a list of reasons"),
    (lambda d: d.update(skin_surface_mm=None), "holds doubts but the plan has no skin line"),
])
def test_a_version_3_file_whose_skin_doubts_are_missing_or_damaged_is_refused(tmp_path, mutate, fragment):
    data = plan_to_dict(a_plan(skin_surface=a_doubtful_skin_line()))
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PlanFileError, match=fragment):
        load_plan(path)
