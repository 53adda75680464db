"""`planner course add-image` and `planner course show` (issue 17): images of the course loaded as for
planning, measured against the lesion the synthetic generator drew (its truth, not Planner's reading),
the other patient refused with both identities, unlikely dates asked, an image without a scale kept
as not measurable. Foreign input: the bundled demo ultrasound and pydicom's ultrasound example."""

import json
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from planner.core.course import Course
from planner.core.plan import Plan, TreatmentSetup
from planner.core.plan_file import load_plan, save_plan
from planner.core.prescription import Prescription
from planner.imaging.synthetic import make_dermal_ultrasound
from planner.imaging import write_ultrasound_dicom
from tests.cli_runner import planner

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo" / "demo_ultrasound.dcm"
DEMO_PATIENT = ("DEMO^Patient", "DEMO-0001")                  # as the demo file carries it
REGION_SCALE = "Sequence of Ultrasound Regions, region 1 (2-D tissue, cm)"
AXIAL_MM_PER_PIXEL = 0.025                                    # planner.imaging.synthetic.MM_PER_PIXEL_Y
RECORD = {"engine": "kept as written"}


def a_plan(path: Path, patient=DEMO_PATIENT, course=True) -> Path:
    name, patient_id = patient
    plan = Plan(label="Left cheek BCC", patient_name=name, patient_id=patient_id, image_path=str(DEMO),
                setup=TreatmentSetup("superficial-kv", "srt100-class", "70kV", "cone-20mm"),
                prescription=Prescription(7.0, 5), course=Course(5, 7.0, 120.0, 7) if course else None)
    save_plan(path, plan, calculation_record=RECORD)
    return path


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Two synthetic dermal images (seeds 1 and 2) of the demo patient, their truths and their outlines."""
    folder = tmp_path_factory.mktemp("synthetic")
    cases = {}
    for seed in (1, 2):
        case = make_dermal_ultrasound(seed)
        image = write_ultrasound_dicom(folder / f"us{seed}.dcm", case.pixels_u8, case.calibration, *DEMO_PATIENT,
                                       uid_seed=f"course-{seed}")
        outline = folder / f"outline{seed}.csv"
        outline.write_text("x_mm,y_mm\n" + "".join(f"{x},{y}\n" for x, y in case.tumour_outline_mm), encoding="utf-8")
        cases[seed] = (case, Path(image), outline)
    return cases


def add(plan, image, when, *extra):
    return planner("course", "add-image", plan, "--image", image, "--when", when, *extra)


def test_a_plan_without_a_course_is_told_how_to_start_it(tmp_path):
    plan = a_plan(tmp_path / "plan.json", course=False)
    result = add(plan, DEMO, "baseline", "--date", "2026-11-02")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "no treatment course yet" in result.stderr and "Start course" in result.stderr


def test_the_baseline_measures_the_lesion_the_generator_drew(tmp_path, synthetic):
    case, image, outline = synthetic[1]
    plan = a_plan(tmp_path / "plan.json")
    result = add(plan, image, "baseline", "--date", "2026-11-02", "--outline", outline, "--json")
    assert result.returncode == 0, result.stderr
    session = json.loads(result.stdout)["session"]
    # The generator's outline runs through its outermost tumour columns: the width is its truth exactly.
    assert session["width_mm"] == pytest.approx(case.tumour_width_mm, abs=1e-9)
    # Its deepest vertex is the deepest tumour pixel; the depth is measured from the skin line Planner
    # detects, which the README states within 1.4 pixels of a hand-marked line: 2 axial pixels allowed.
    assert session["depth_mm"] == pytest.approx(case.tumour_max_depth_below_skin_mm, abs=2 * AXIAL_MM_PER_PIXEL)
    assert session["calibration_source"] == REGION_SCALE and session["not_measurable"] is None
    saved = json.loads(plan.read_text(encoding="utf-8"))
    assert saved["calculation_record"] == RECORD and saved["version"] == 4
    assert [s.when.text for s in load_plan(plan).course.sessions] == ["baseline"]


def test_the_next_outline_is_proposed_inside_the_previous_one_on_a_new_image(tmp_path, synthetic):
    case1, image1, outline1 = synthetic[1]
    case2, image2, _ = synthetic[2]
    plan = a_plan(tmp_path / "plan.json")
    assert add(plan, image1, "baseline", "--date", "2026-11-02", "--outline", outline1).returncode == 0
    result = add(plan, image2, "after:1", "--date", "2026-11-03", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert any("outline proposed inside baseline's outline" in note for note in data["notes"])
    # A proposal to edit, not a final outline: its depth within 0.3 mm (12 axial pixels) of the
    # second lesion's truth, its width within 1 mm (20 lateral pixels).
    assert data["session"]["depth_mm"] == pytest.approx(case2.tumour_max_depth_below_skin_mm, abs=0.3)
    assert data["session"]["width_mm"] == pytest.approx(case2.tumour_width_mm, abs=1.0)


def test_an_image_of_another_patient_is_refused_naming_both_and_the_plan_is_untouched(tmp_path):
    plan = a_plan(tmp_path / "plan.json")
    before = plan.read_bytes()
    result = add(plan, get_testdata_file("examples_palette.dcm"), "baseline", "--date", "2026-11-02")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    for identity in ("OB^^^^", "11-05-25-142825", "DEMO^Patient", "DEMO-0001"):   # pydicom's example; the plan's
        assert identity in result.stderr
    assert plan.read_bytes() == before


def test_a_date_in_the_future_is_asked_and_confirmed_with_the_flag(tmp_path, synthetic):
    _, image, outline = synthetic[1]
    plan = a_plan(tmp_path / "plan.json")
    asked = add(plan, image, "followup:4", "--date", "2999-01-01", "--outline", outline)
    assert asked.returncode == 2 and "is the date right?" in asked.stderr and "--confirm-date" in asked.stderr
    assert load_plan(plan).course.sessions == ()
    confirmed = add(plan, image, "followup:4", "--date", "2999-01-01", "--outline", outline, "--confirm-date")
    assert confirmed.returncode == 0, confirmed.stderr


def test_a_date_before_the_baseline_is_asked(tmp_path, synthetic):
    _, image, outline = synthetic[1]
    plan = a_plan(tmp_path / "plan.json")
    assert add(plan, image, "baseline", "--date", "2026-11-02", "--outline", outline).returncode == 0
    asked = add(plan, image, "after:1", "--date", "2026-10-01", "--outline", outline)
    assert asked.returncode == 2 and "before the baseline (2026-11-02)" in asked.stderr


@pytest.mark.parametrize("when, fragment", [
    ("after:6", "only 5 fraction(s) are planned"),
    ("before:6", "only 5 fraction(s) are planned"),
    ("during:2", "a session's time is baseline, before:N, after:N"),
])
def test_a_place_outside_the_course_is_refused_in_one_line(tmp_path, when, fragment):
    plan = a_plan(tmp_path / "plan.json")
    result = add(plan, DEMO, when, "--date", "2026-11-02")
    assert result.returncode == 2 and fragment in result.stderr and result.stderr.count("\n") == 1


def test_a_picture_without_a_scale_is_kept_as_not_measurable(tmp_path):
    from pydicom import dcmread

    picture = tmp_path / "us.png"
    Image.fromarray(dcmread(DEMO).pixel_array).save(picture)
    plan = a_plan(tmp_path / "plan.json")
    result = add(plan, picture, "baseline", "--date", "2026-11-02", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["session"]["not_measurable"] == "not measurable until calibrated"
    assert data["session"]["calibration_source"] is None and data["session"]["depth_mm"] is None
    assert any("carries no patient identity" in note for note in data["notes"])
    refused = add(plan, picture, "after:1", "--date", "2026-11-03", "--outline", tmp_path / "any.csv")
    assert refused.returncode == 2 and "no mm scale" in refused.stderr


def test_show_lists_sessions_fractions_and_findings(tmp_path, synthetic):
    case, image, outline = synthetic[1]
    plan = a_plan(tmp_path / "plan.json")
    assert add(plan, image, "baseline", "--date", "2026-11-02", "--outline", outline).returncode == 0
    assert add(plan, image, "after:2", "--date", "2026-11-10", "--outline", outline).returncode == 0
    settings = tmp_path / "clinic.toml"
    settings.write_text("recurrence_regrowth_percent = 25\n", encoding="utf-8")
    result = planner("course", "show", plan, "--json", env={"PLANNER_CLINIC_SETTINGS": str(settings)})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [s["label"] for s in data["sessions"]] == ["baseline", "after fraction 2"]
    assert data["regrowth_threshold_percent"] == 25 and data["suspected_recurrence"] is False
    # The same image and outline twice: no change at all.
    assert data["findings"][0]["message"].startswith("after fraction 2 (2026-11-10): depth ")
    assert "(+0 %), width" in data["findings"][0]["message"]
    # The latest session against the plan (planner.review.adaptation, tested there against hand depths): the
    # generator's lesion (2.8 mm) lies deeper than this 70 kV plan's 90 % isodose, so the course says re-plan.
    [adaptation] = data["adaptation"]
    assert adaptation["kind"] == "re-plan" and adaptation["when"] == "after:2"
    assert adaptation["lesion_depth_mm"] == data["sessions"][1]["depth_mm"] > adaptation["isodose_depth_mm"]
    text = planner("course", "show", plan, env={"PLANNER_CLINIC_SETTINGS": str(settings)})
    assert text.returncode == 0 and "imaging sessions:" in text.stdout and REGION_SCALE in text.stdout
    assert "adaptation (after fraction 2, the latest session):" in text.stdout and ": re-plan" in text.stdout


def test_report_prints_the_sessions_and_the_adaptation_as_show_says_them(tmp_path, synthetic):
    """`course report` writes the PDF of planner.report.course_report (tested there) with the findings `course show`
    gives; read back with poppler's pdftotext, a third-party reader."""
    case, image, outline = synthetic[1]
    plan = a_plan(tmp_path / "plan.json")
    assert add(plan, image, "baseline", "--date", "2026-11-02", "--outline", outline).returncode == 0
    shown = json.loads(planner("course", "show", plan, "--json").stdout)
    out = tmp_path / "course.pdf"
    result = planner("course", "report", plan, "--out", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"course report written to {out}"
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert f"{shown['sessions'][0]['depth_mm']:.2f} mm" in text
    assert shown["adaptation"][0]["message"].split(": re-plan")[0][:40] in " ".join(text.split())
    # the plan's isodoses are on the images: the report says it was made with the plan's dose
    assert "isodoses" in " ".join(text.split()) and "made without the plan's dose" not in " ".join(text.split())
    missing = planner("course", "report", plan, "--out", tmp_path / "plan.json" / "course.pdf")   # under a file
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "cannot write the course report" in missing.stderr
    assert not (tmp_path / "plan.json").is_dir()
