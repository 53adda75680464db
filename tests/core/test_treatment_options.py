"""The options sheet's rows (issue 17, point 7) and the decision recorded in the course.

Every expected BED and EQD2 is a hand value: BED = n·d·(1 + d/(α/β)), EQD2 = BED / (1 + 2 Gy/(α/β)), with the
α/β the app uses (10 Gy tumour: the ASTRO BED10 convention and Delishaj et al., J Contemp Brachytherapy
7(6):437–444, 2015; 3 Gy late skin effects: the LQ convention; planner.core.radiobiology), worked out by hand
below and equal to shared/reference/physics-data.md §4.2. Visits and weeks come from each preset's own
published schedule (its label and source), never from the code under test.
"""

import json
from dataclasses import replace
from datetime import date, datetime

import pytest

from planner.core.course import Course, CourseError, TreatmentDecision, course_from_dict, course_to_dict
from planner.core.plan import Plan, TreatmentSetup
from planner.core.plan_file import load_plan, plan_to_dict, save_plan
from planner.core.prescription import Prescription, PrescriptionPoint
from planner.core.radiobiology import ALPHA_BETA_LATE_SKIN_GY, ALPHA_BETA_TUMOUR_GY
from planner.core.treatment_unit import FractionationPreset
from planner.core.treatment_options import (ALPHA_BETA_SOURCE, NOT_STATED, OptionsError, about_time_text, gy_text,
                                            regimen_plan, stated_schedule, treatment_options)
from planner.techniques import discover_techniques

COVERAGE = "Lesion's deepest point, 2.70 mm: 92.9 % of Dmax, 18.57 Gy — inside the 90 % isodose"

# (technique, dose per fraction Gy, fractions): BED10, EQD2 α/β 10, BED3, EQD2 α/β 3 (Gy), by hand.
HAND = {
    # 18 × (1 + 18/10) = 18 × 2.8 = 50.4; / 1.2 = 42.0 · 18 × (1 + 6) = 126; / (5/3) = 75.6
    ("superficial-kv", 18.0, 1): (50.4, 42.0, 126.0, 75.6),
    # 20 × 3 = 60; / 1.2 = 50 · 20 × (1 + 20/3) = 153.333; × 0.6 = 92.0
    ("superficial-kv", 20.0, 1): (60.0, 50.0, 153.3333333, 92.0),
    # 35 × 1.7 = 59.5; / 1.2 = 49.5833 · 35 × (10/3) = 116.667; × 0.6 = 70.0
    ("superficial-kv", 7.0, 5): (59.5, 49.5833333, 116.6666667, 70.0),
    # 40.5 × 1.45 = 58.725; / 1.2 = 48.9375 · 40.5 × 2.5 = 101.25; × 0.6 = 60.75
    ("superficial-kv", 4.5, 9): (58.725, 48.9375, 101.25, 60.75),
    # 45 × 1.45 = 65.25; / 1.2 = 54.375 · 45 × 2.5 = 112.5; × 0.6 = 67.5
    ("superficial-kv", 4.5, 10): (65.25, 54.375, 112.5, 67.5),
    # 40 × 1.5 = 60; / 1.2 = 50 (Delishaj 2015 prints BED10 60 Gy) · 40 × (8/3) = 106.667; × 0.6 = 64.0
    ("ebx-surface", 5.0, 8): (60.0, 50.0, 106.6666667, 64.0),
    # 42 × 1.7 = 71.4; / 1.2 = 59.5 · 42 × (10/3) = 140; × 0.6 = 84.0
    ("ebx-surface", 7.0, 6): (71.4, 59.5, 140.0, 84.0),
    # 36.6 × 1.61 = 58.926; / 1.2 = 49.105 · 36.6 × (9.1/3) = 111.02; × 0.6 = 66.612
    ("ebx-surface", 6.1, 6): (58.926, 49.105, 111.02, 66.612),
}

# (technique, dose per fraction, fractions): visits, weeks, the weeks as printed — from the preset's own words.
SCHEDULES = {
    ("superficial-kv", 18.0, 1): (1, None, "one day (a single visit)"),
    ("superficial-kv", 20.0, 1): (1, None, "one day (a single visit)"),
    ("superficial-kv", 7.0, 5): (5, 1, "1 week (daily)"),              # "Rook 79.1 (tumours < 4 cm, daily)"
    ("superficial-kv", 4.5, 9): (9, None, NOT_STATED),                 # "Xstrahl learning modules (BCC)"
    ("superficial-kv", 4.5, 10): (10, 2, "2 weeks (daily)"),           # "Rook 79.1 (tumours > 4 cm, daily)"
    ("ebx-surface", 5.0, 8): (8, 4, "4 weeks (twice weekly)"),         # "twice weekly, at least 48 h apart"
    ("ebx-surface", 7.0, 6): (6, None, NOT_STATED),                    # Ballester-Sánchez 2016: no schedule given
    ("ebx-surface", 6.1, 6): (6, None, NOT_STATED),
}


@pytest.fixture(scope="module")
def registry():
    return discover_techniques()


def a_plan(technique="superficial-kv", rx=Prescription(18.0, 1), course=None):
    setup = (TreatmentSetup("superficial-kv", "srt100-class", "70kV", "cone-20mm") if technique == "superficial-kv"
             else TreatmentSetup("ebx-surface", "esteya-class", "69.5kV", "applicator-15mm"))
    return Plan(label="Left cheek BCC", patient_name="Doe^Jane", patient_id="P-1", image_path="/images/us.dcm",
                setup=setup, prescription=rx, course=course)


def hand_time_min(preset):
    """A hand-made time per visit: 8 Gy/min at the prescription point, no end effect (the caller's engine
    gives the real one)."""
    return preset.dose_per_fraction_gy / 8.0


def options_for(registry, technique_id, plan=None, covered=True):
    technique = registry.get(technique_id)
    plan = plan or a_plan(technique_id)
    times = {p: hand_time_min(p) for p in technique.fractionation_presets}
    return treatment_options(plan, technique.name, technique.fractionation_presets, times, coverage_text=COVERAGE,
                             covered=covered)


def key(technique_id, option):
    return technique_id, option.dose_per_fraction_gy, option.fractions


# ------------------------------------------------------------------------------------- BED and EQD2

def test_the_hand_table_holds_every_shipped_kv_and_ebx_regimen(registry):
    shipped = {(t, p.dose_per_fraction_gy, p.fractions) for t in ("superficial-kv", "ebx-surface")
               for p in registry.get(t).fractionation_presets}
    assert shipped == set(HAND) == set(SCHEDULES)     # a new preset needs its hand values here


@pytest.mark.parametrize("technique_id", ["superficial-kv", "ebx-surface"])
def test_bed_and_eqd2_of_each_preset_are_the_hand_values_at_the_apps_alpha_beta(registry, technique_id):
    assert (ALPHA_BETA_TUMOUR_GY, ALPHA_BETA_LATE_SKIN_GY) == (10.0, 3.0)
    for option in options_for(registry, technique_id).options:
        bed10, eqd2_10, bed3, eqd2_3 = HAND[key(technique_id, option)]
        assert option.biological_dose(10.0).bed_gy == pytest.approx(bed10, abs=1e-6), option.label
        assert option.biological_dose(10.0).eqd2_gy == pytest.approx(eqd2_10, abs=1e-6), option.label
        assert option.biological_dose(3.0).bed_gy == pytest.approx(bed3, abs=1e-6), option.label
        assert option.biological_dose(3.0).eqd2_gy == pytest.approx(eqd2_3, abs=1e-6), option.label
    with pytest.raises(OptionsError, match="no BED at α/β 2 Gy"):
        option.biological_dose(2.0)


def test_the_alpha_beta_source_is_cited():
    assert "α/β 10 Gy for the tumour" in ALPHA_BETA_SOURCE and "Delishaj" in ALPHA_BETA_SOURCE
    assert "α/β 3 Gy for late skin effects" in ALPHA_BETA_SOURCE and "BED = n·d·(1 + d/(α/β))" in ALPHA_BETA_SOURCE


@pytest.mark.parametrize("value, text", [
    (65.25, "65.3 Gy"), (101.25, "101.3 Gy"), (60.75000000000001, "60.8 Gy"), (59.49999999999999, "59.5 Gy"),
    (48.9375, "48.9 Gy"), (153.33333333333334, "153.3 Gy"), (42.0, "42.0 Gy"),
])
def test_bed_is_printed_to_one_decimal_with_halves_rounded_up_as_by_hand(value, text):
    assert gy_text(value) == text


# ------------------------------------------------------------------------------------- visits, weeks, time

@pytest.mark.parametrize("technique_id", ["superficial-kv", "ebx-surface"])
def test_visits_and_weeks_come_from_each_presets_own_schedule(registry, technique_id):
    for option in options_for(registry, technique_id).options:
        visits, weeks, weeks_text = SCHEDULES[key(technique_id, option)]
        assert (option.visits, option.weeks, option.weeks_text) == (visits, weeks, weeks_text), option.label


def test_the_plain_sentences(registry):
    kv = {o.fractions: o for o in options_for(registry, "superficial-kv").options if o.dose_per_fraction_gy != 20.0}
    ebx = {o.dose_per_fraction_gy: o for o in options_for(registry, "ebx-surface").options}
    # 18 Gy / 8 Gy/min = 2.25 min; 5 Gy / 8 = 0.625 min = 37.5 s; 7 Gy / 8 = 52.5 s; 4.5 Gy / 8 = 33.75 s
    assert kv[1].plain_text == "1 visit, about 2 minutes of treatment"
    assert kv[5].plain_text == "5 visits over 1 week, about 50 seconds of treatment each"
    assert kv[9].plain_text == ("9 visits (over how many weeks is not stated by the source), about 30 seconds of "
                                "treatment each")
    assert ebx[5.0].plain_text == "8 visits over 4 weeks, about 40 seconds of treatment each"
    assert ebx[5.0].interval_text == "at least 48 h between visits" and kv[5].interval_text == ""
    assert [o.letter for o in options_for(registry, "ebx-surface").options] == ["A", "B", "C"]
    assert ebx[5.0].name == "Option A: 40 Gy / 8 × 5 Gy (twice weekly, ≥ 48 h apart)"


@pytest.mark.parametrize("minutes, text", [
    (2.25, "about 2 minutes"), (1.0, "about 60 seconds"), (1.6, "about 2 minutes"), (0.7, "about 40 seconds"),
    (0.1, "about 10 seconds"), (0.05, "a few seconds"), (11.47, "about 11 minutes"), (1.4999, "about 90 seconds"),
    (2.5, "about 3 minutes"), (0.625, "about 40 seconds"), (0.125, "about 10 seconds"),
])
def test_the_time_in_plain_words(minutes, text):
    assert about_time_text(minutes) == text


@pytest.mark.parametrize("label, source, wording, per_week", [
    ("40 Gy / 8 × 5 Gy (twice weekly, ≥ 48 h apart)", "Radiat Oncol 5:87", "twice weekly", 2),
    ("35 Gy / 5 × 7 Gy", "Rook 79.1 (tumours < 4 cm, daily)", "daily", 5),
    ("30 Gy / 6 × 5 Gy", "given once a week", "once a week", 1),
    ("12 Gy / 4 × 3 Gy", "twice-daily fractions", "", None),          # not "daily": another schedule
    ("12 Gy / 4 × 3 Gy", "daily, or twice weekly", "", None),         # two schedules: none is taken
    ("42 Gy / 6 × 7 Gy", "Ballester-Sanchez 2016 (Esteya; 1-year CR 95 %)", "", None),
])
def test_a_schedule_is_read_only_as_the_preset_words_it(label, source, wording, per_week):
    schedule = stated_schedule(FractionationPreset(label, 5.0, 8, source))
    assert (schedule.wording, schedule.visits_per_week) == (wording, per_week)


def test_a_minimum_interval_alone_gives_no_weeks():
    preset = FractionationPreset("40 Gy / 8 × 5 Gy", 5.0, 8, "a source", min_interval_hours=48.0)
    option = treatment_options(a_plan(), "kV", (preset,), {preset: 1.0}, coverage_text=COVERAGE,
                               covered=True).options[0]
    assert option.weeks is None and option.weeks_text == NOT_STATED
    assert option.interval_text == "at least 48 h between visits"


def test_the_time_per_visit_is_the_callers_and_a_missing_one_says_why(registry):
    technique = registry.get("ebx-surface")
    presets = technique.fractionation_presets
    reason = "the 50 kV source's output is not commissioned"
    options = treatment_options(a_plan("ebx-surface", Prescription(5.0, 8, PrescriptionPoint.at_depth(3.0))),
                                technique.name, presets, {presets[0]: 2.5, presets[1]: reason, presets[2]: 3},
                                coverage_text=COVERAGE, covered=True, time_name="dwell time")
    a, b, c = options.options
    assert (a.beam_on_time_min, b.beam_on_time_min, c.beam_on_time_min) == (2.5, None, 3.0)
    assert b.time_unavailable_reason == reason and b.time_text == f"time not available: {reason}"
    assert b.plain_text == f"6 visits (over how many weeks is not stated by the source); time not available: {reason}"
    with pytest.raises(OptionsError, match="no time per visit given for 42 Gy / 6 × 7 Gy"):
        treatment_options(a_plan(), technique.name, presets, {presets[0]: 2.5}, coverage_text=COVERAGE, covered=True)
    for bad in (0.0, -1.0, float("nan"), True, "  "):
        with pytest.raises(OptionsError, match="42 Gy / 6 × 7 Gy"):
            treatment_options(a_plan(), technique.name, presets, {presets[0]: 2.5, presets[1]: bad, presets[2]: 3.0},
                              coverage_text=COVERAGE, covered=True)


def test_the_regimens_plan_keeps_the_plans_prescription_point(registry):
    plan = a_plan("ebx-surface", Prescription(5.0, 8, PrescriptionPoint.at_depth(3.0)))
    preset = registry.get("ebx-surface").fractionation_presets[1]
    other = regimen_plan(plan, preset)
    assert other.prescription == Prescription(7.0, 6, PrescriptionPoint.at_depth(3.0))
    assert replace(other, prescription=plan.prescription) == plan


# ------------------------------------------------------------------------------------- coverage

@pytest.mark.parametrize("covered, covers, words", [
    (True, "yes", "The plan reaches the deepest part of the lesion with the prescribed dose, with every option."),
    (False, "no", "The plan does NOT reach the deepest part of the lesion with the prescribed dose, with any option."),
    (None, "not judged", "Whether the plan covers the lesion is not judged yet."),
])
def test_the_plans_coverage_is_the_same_for_every_option_and_says_why(registry, covered, covers, words):
    options = options_for(registry, "superficial-kv", covered=covered)
    assert {o.covers for o in options.options} == {covers}
    assert options.coverage_words == words
    assert options.coverage_text == COVERAGE
    assert options.prescribed == "to the 90 % isodose"
    assert "Every option is prescribed to the 90 % isodose, as this plan is" in options.coverage_note
    assert "Only the dose per visit and the time change" in options.coverage_note


def test_the_plans_own_regimen_is_marked(registry):
    options = options_for(registry, "superficial-kv", a_plan(rx=Prescription(7.0, 5)))
    assert [o.letter for o in options.options if o.is_plan_regimen] == ["C"]
    assert options.plan_regimen == "7 Gy × 5" and options.plan_regimen_is_published
    custom = options_for(registry, "superficial-kv", a_plan(rx=Prescription(6.0, 5)))
    assert not custom.plan_regimen_is_published and custom.plan_regimen == "6 Gy × 5"
    assert options.option("C").fractions == 5
    with pytest.raises(OptionsError, match="no option 'Z'"):
        options.option("Z")


def test_options_without_regimens_or_coverage_are_refused(registry):
    with pytest.raises(OptionsError, match="offers no published regimen"):
        treatment_options(a_plan(), "X", (), {}, coverage_text=COVERAGE, covered=True)
    presets = registry.get("superficial-kv").fractionation_presets
    with pytest.raises(OptionsError, match="coverage of the lesion is required"):
        treatment_options(a_plan(), "X", presets, {p: 1.0 for p in presets}, coverage_text=" ", covered=True)


# ------------------------------------------------------------------------------------- the decision in the course

DECISION = TreatmentDecision("Option A: 18 Gy × 1", "fewer visits: lives 80 km away", date(2026, 12, 3),
                             "Dr Ada Oncologist")


def test_the_decision_round_trips_through_the_plan_file(tmp_path):
    course = Course(1, 18.0, 135.0, 7).with_decision(DECISION)
    path = tmp_path / "plan.json"
    save_plan(path, a_plan(course=course))
    loaded = load_plan(path)
    assert loaded == a_plan(course=course) and loaded.course.decision == DECISION
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["version"] == 4 and on_disk["course"]["version"] == 3
    assert on_disk["course"]["decision"] == {"chosen_regimen": "Option A: 18 Gy × 1",
                                             "preferences": "fewer visits: lives 80 km away",
                                             "decided_on": "2026-12-03", "decided_by": "Dr Ada Oncologist"}


def test_a_course_without_a_decision_is_still_written_as_format_2():
    data = course_to_dict(Course(1, 18.0, 135.0, 7))
    assert data["version"] == 2 and "decision" not in data
    assert course_to_dict(Course(1, 18.0, 135.0, 7).with_decision(DECISION).with_decision(None)) == data


@pytest.mark.parametrize("version", [1, 2])
def test_an_old_course_loads_with_no_decision(tmp_path, version):
    plan = a_plan(course=Course(1, 18.0, 135.0, 7).record(date(2026, 11, 2), 135.0, "RTT A. Smith",
                                                          today=date(2026, 12, 3)))
    data = plan_to_dict(plan)
    data["course"]["version"] = version
    if version == 1:
        del data["course"]["sessions"]
    data["course"]["decision"] = {"chosen_regimen": "ignored"}    # a key a format 1 or 2 course never held
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded = load_plan(path).course
    assert loaded.decision is None and loaded.delivered_fractions == 1


def test_a_later_decision_replaces_the_earlier_one():
    later = replace(DECISION, chosen_regimen="Option C: 35 Gy / 5 × 7 Gy", preferences="")
    course = Course(1, 18.0, 135.0, 7).with_decision(DECISION).with_decision(later)
    assert course.decision == later
    assert course_from_dict(course_to_dict(course)).decision == later


@pytest.mark.parametrize("changes, message", [
    ({"chosen_regimen": " "}, "the chosen option is required"),
    ({"preferences": None}, "preferences must be text"),
    ({"decided_on": datetime(2026, 12, 3, 9, 0)}, "must be a calendar date"),
    ({"decided_by": ""}, "the name of the physician who recorded it is required"),
])
def test_an_incomplete_decision_is_refused(changes, message):
    with pytest.raises(CourseError, match=message):
        replace(DECISION, **changes)


def test_a_decision_that_is_not_a_treatment_decision_is_refused():
    with pytest.raises(CourseError, match="must be a TreatmentDecision"):
        Course(1, 18.0, 135.0, 7, decision="Option A")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(decision="Option A"), "decision must be a JSON object"),
    (lambda d: d["decision"].pop("decided_by"), "decision is missing decided_by"),
    (lambda d: d["decision"].update(decided_on="3 Dec 2026"), "must be an ISO date"),
    (lambda d: d["decision"].update(decided_on=20261203), "must be an ISO date"),
    (lambda d: d["decision"].update(chosen_regimen=""), "the chosen option is required"),
])
def test_a_damaged_decision_in_the_file_is_refused_naming_it(mutate, message):
    data = course_to_dict(Course(1, 18.0, 135.0, 7).with_decision(DECISION))
    mutate(data)
    with pytest.raises(CourseError, match=message):
        course_from_dict(data)


def test_a_course_format_newer_than_this_planner_reads_is_refused():
    data = course_to_dict(Course(1, 18.0, 135.0, 7).with_decision(DECISION))
    data["version"] = 5     # 4 added the course's phases (re-plan)
    with pytest.raises(CourseError, match="course format version 5 is not supported .*reads versions 1, 2, 3, 4"):
        course_from_dict(data)
