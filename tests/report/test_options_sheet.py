"""The options sheet (issue 17, point 7) read back the way a person and a printer see it: pdftotext, pdftoppm.

The BED and EQD2 expected on the page are hand values (tests/core/test_treatment_options.py works them out:
BED = n·d·(1 + d/(α/β)), EQD2 = BED / (1 + 2 Gy/(α/β)), α/β 10 and 3 Gy), written as the sheet prints them:
one decimal, halves rounded up (65.25 → 65.3). The times per visit are hand-made (8 Gy/min, no end effect):
the caller's dose engine gives the real ones.
"""

import errno
import os
import re
import subprocess
from datetime import date, datetime, timezone

import pytest

from planner.core.course import Course, TreatmentDecision
from planner.core.plan import Plan, TreatmentSetup
from planner.core.prescription import Prescription, PrescriptionPoint
from planner.core.treatment_options import treatment_options
from planner.report.content import ReportError
from planner.report.options_sheet import write_options_sheet
from planner.techniques import discover_techniques
from tests.report.test_pdf_report import pdf_text, render

PRINTED_AT = datetime(2026, 12, 3, 9, 30, tzinfo=timezone.utc)
COVERAGE = "Lesion's deepest point, 2.70 mm: 92.9 % of Dmax, 18.57 Gy — inside the 90 % isodose"
DECISION = TreatmentDecision("Option A: 18 Gy × 1", "fewer visits: lives 80 km away", date(2026, 12, 3),
                             "Dr Ada Oncologist")

# Hand values as printed, option by option (A, B, ...), in the order of the technique's presets.
KV_PRINTED = {
    "BED, tumour": ["50.4 Gy", "60.0 Gy", "59.5 Gy", "58.7 Gy", "65.3 Gy"],          # 58.725, 65.25
    "EQD2, tumour": ["42.0 Gy", "50.0 Gy", "49.6 Gy", "48.9 Gy", "54.4 Gy"],         # 49.583, 48.9375, 54.375
    "BED, late skin": ["126.0 Gy", "153.3 Gy", "116.7 Gy", "101.3 Gy", "112.5 Gy"],   # 101.25
    "EQD2, late skin": ["75.6 Gy", "92.0 Gy", "70.0 Gy", "60.8 Gy", "67.5 Gy"],       # 60.75
}
EBX_PRINTED = {
    "BED, tumour": ["60.0 Gy", "71.4 Gy", "58.9 Gy"],                                # 58.926
    "EQD2, tumour": ["50.0 Gy", "59.5 Gy", "49.1 Gy"],                               # 49.105
    "BED, late skin": ["106.7 Gy", "140.0 Gy", "111.0 Gy"],                  # 111.02
    "EQD2, late skin": ["64.0 Gy", "84.0 Gy", "66.6 Gy"],                    # 66.612
}


@pytest.fixture(scope="module")
def registry():
    return discover_techniques()


def kv_plan(course=None):
    return Plan(label="Left cheek BCC", patient_name="Doe^Jane", patient_id="P-1", image_path="/images/us.dcm",
                setup=TreatmentSetup("superficial-kv", "srt100-class", "70kV", "cone-20mm"),
                prescription=Prescription(18.0, 1), course=course)


def ebx_plan():
    return Plan(label="Nose <ala> & tip", patient_name="Roe^Richard", patient_id="P-2", image_path="/images/us2.dcm",
                setup=TreatmentSetup("ebx-surface", "esteya-class", "69.5kV", "applicator-15mm"),
                prescription=Prescription(5.0, 8, PrescriptionPoint.at_depth(3.0)))


def options(registry, plan, times=None, time_name="treatment time"):
    technique = registry.get(plan.setup.technique_id)
    presets = technique.fractionation_presets
    times = times or {p: p.dose_per_fraction_gy / 8.0 for p in presets}
    return treatment_options(plan, technique.name, presets, times, coverage_text=COVERAGE, covered=True,
                             time_name=time_name)


def layout_lines(path) -> list[str]:
    """The page as pdftotext -layout lays it out: a table row's cells on one line."""
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def row_values(lines, label) -> list[str]:
    """The Gy values on the table row whose first line starts with ``label``."""
    line = next(line for line in lines if line.strip().startswith(label))
    return re.findall(r"\d+\.\d Gy", line)


def test_the_kv_sheet_holds_each_option_with_its_hand_numbers_and_an_empty_decision_box(registry, tmp_path):
    plan = kv_plan()
    path = write_options_sheet(plan, options(registry, plan), tmp_path / "options.pdf", printed_at=PRINTED_AT)
    assert path == tmp_path / "options.pdf"
    text = " ".join(pdf_text(path))
    # 18 Gy / 8 Gy/min = 2.25 min; 7 Gy: 52.5 s; 4.5 Gy: 33.75 s
    assert "Option A, 18 Gy × 1 — the plan as it is now: 1 visit, about 2 minutes of treatment." in text
    assert "Option B, 20 Gy × 1: 1 visit, about 3 minutes of treatment." in text                 # 2.5 min
    assert "Option C, 35 Gy / 5 × 7 Gy: 5 visits over 1 week, about 50 seconds of treatment each." in text
    assert ("Option D, 40.5 Gy / 9 × 4.5 Gy: 9 visits (over how many weeks is not stated by the source), about "
            "30 seconds of treatment each.") in text
    assert "Option E, 45 Gy / 10 × 4.5 Gy: 10 visits over 2 weeks, about 30 seconds of treatment each." in text
    lines = layout_lines(path)
    for label, values in KV_PRINTED.items():
        assert row_values(lines, label) == values, label
    visits = next(line for line in lines if line.strip().startswith("Visits"))
    assert visits.split()[1:] == ["1", "1", "5", "9", "10"]
    time_rows = " ".join(lines[next(i for i, line in enumerate(lines) if line.strip().startswith("Treatment time")):
                               next(i for i, line in enumerate(lines) if line.strip().startswith("Dose at each"))])
    assert re.findall(r"about (\d+)", time_rows) == ["2", "3", "50", "30", "30"]
    assert re.findall(r"\d+\.\d\d min", time_rows) == ["2.25 min", "2.50 min", "0.88 min", "0.56 min", "0.56 min"]
    assert re.findall(r"\((\d+) s\)", time_rows) == ["135", "150", "52", "34", "34"]     # exact, under the words
    assert "Doe, Jane" in text and "P-1" in text and "Left cheek BCC" in text
    assert "The plan reaches the deepest part of the lesion with the prescribed dose, with every option." in text
    assert COVERAGE in text and "Every option is prescribed to the 90 % isodose, as this plan is" in text
    assert "Delishaj" in text and "α/β 3 Gy for late skin effects" in text
    assert "Option C, 35 Gy / 5 × 7 Gy: Rook 79.1 (tumours < 4 cm, daily)" in text
    assert "For the decision with the patient: not a prescription" in text
    assert "Option chosen What matters to the patient (in their words) Date Physician Physician's signature" in text


def test_the_chosen_option_and_the_patients_preferences_are_printed(registry, tmp_path):
    plan = kv_plan(Course(1, 18.0, 135.0, 7).with_decision(DECISION))
    path = write_options_sheet(plan, options(registry, plan), tmp_path / "decided.pdf", printed_at=PRINTED_AT)
    text = " ".join(pdf_text(path))
    assert "Option chosen Option A: 18 Gy × 1" in text
    assert "What matters to the patient (in their words) fewer visits: lives 80 km away" in text
    assert "Date 2026-12-03" in text and "Physician Dr Ada Oncologist" in text
    assert "Decision recorded 2026-12-03" in text
    assert "not a prescription" not in text


def test_the_ebx_sheet_says_dwell_time_twice_weekly_and_why_a_time_is_missing(registry, tmp_path):
    plan = ebx_plan()
    presets = registry.get("ebx-surface").fractionation_presets
    reason = "the applicator's output is not commissioned"
    sheet = options(registry, plan, {presets[0]: 2.5, presets[1]: reason, presets[2]: 3.05}, time_name="dwell time")
    path = write_options_sheet(plan, sheet, tmp_path / "ebx.pdf", printed_at=PRINTED_AT)
    text = " ".join(pdf_text(path))
    assert ("Option A, 40 Gy / 8 × 5 Gy (twice weekly, ≥ 48 h apart) — the plan as it is now: 8 visits over "
            "4 weeks, about 3 minutes of treatment each.") in text
    assert (f"Option B, 42 Gy / 6 × 7 Gy: 6 visits (over how many weeks is not stated by the source); time not "
            f"available: {reason}.") in text
    assert "Option C, 36.6 Gy / 6 × 6.1 Gy: 6 visits (over how many weeks is not stated by the source), about " \
           "3 minutes of treatment each." in text
    assert "Dwell time at" in text and "Treatment time" not in text
    assert "4 weeks (twice weekly)" in text and "at least 48 h between visits" in text
    assert "Nose <ala> & tip" in text                          # printed as typed, never read as markup
    assert "prescribed at 3 mm depth" in text
    lines = layout_lines(path)
    for label, values in EBX_PRINTED.items():
        assert row_values(lines, label) == values, label


def test_page_1_is_a4_and_marks_the_plans_own_regimen(registry, tmp_path):
    plan = kv_plan()
    path = write_options_sheet(plan, options(registry, plan), tmp_path / "options.pdf", printed_at=PRINTED_AT)
    pages = render(path, tmp_path)                          # page-1.png ... in tmp_path, 60 dpi
    assert (tmp_path / "page-1.png").is_file()
    page = pages[0]
    assert page.shape[:2] == (pytest.approx(297 / 25.4 * 60, abs=1), pytest.approx(210 / 25.4 * 60, abs=1))  # A4
    shaded = ((abs(page[..., 0] - 0xff) < 4) & (abs(page[..., 1] - 0xf4) < 4) & (abs(page[..., 2] - 0xd6) < 4))
    assert shaded.sum() > 300                               # the plan's column, #fff4d6
    assert (page.mean(axis=2) < 128).sum() > 5000           # text in large type


def test_options_made_for_another_prescription_are_refused(registry, tmp_path):
    other = options(registry, kv_plan())
    plan = kv_plan().with_prescription(Prescription(7.0, 5))
    with pytest.raises(ReportError, match="made for a plan prescribed 18 Gy × 1; this plan is prescribed 7 Gy × 5"):
        write_options_sheet(plan, other, tmp_path / "x.pdf", printed_at=PRINTED_AT)
    assert not (tmp_path / "x.pdf").exists()


def test_a_failed_write_leaves_the_old_sheet_intact(registry, tmp_path, monkeypatch):
    plan = kv_plan()
    path = write_options_sheet(plan, options(registry, plan), tmp_path / "options.pdf", printed_at=PRINTED_AT)
    old = path.read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    decided = kv_plan(Course(1, 18.0, 135.0, 7).with_decision(DECISION))
    with pytest.raises(ReportError, match="cannot write the options sheet"):
        write_options_sheet(decided, options(registry, decided), path, printed_at=PRINTED_AT)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith((".pdf", ".tmp"))) == ["options.pdf"]
