"""docs/response-view.png and docs/course-report-page{1,2}.png from the tests' synthetic course.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/make_course_figures.py

The course of tests/report/test_course_report.py: five fractions of 7 Gy (fraction 3 stopped after 60 of
120 s), five imaging sessions whose outlines are ellipses of known depth and width on two synthetic
DICOM ultrasounds, shrinking to a nadir at follow-up week 4 and regrowing 50 % by week 12; the clinic's
regrowth threshold 20 %; the plan's dose that of tests/ui/test_course_response.py (planned_dose: a kV beam of
PDD 100·exp(−0.05 z), Ø 20 mm, 7 Gy to the 90 % isodose, 2.11 mm deep), drawn on both sessions' images.
"""
import os, sys, subprocess, tempfile
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dataclasses import replace
tmp = Path(tempfile.mkdtemp())
os.environ["PLANNER_DATA_DIR"] = str(tmp / "d"); os.environ["PLANNER_CONFIG_DIR"] = str(tmp / "c")
from planner.ui import qt_setup  # noqa
from PySide6.QtWidgets import QApplication
app = QApplication.instance() or QApplication([])
from planner.imaging.synthetic import make_dermal_ultrasound
from planner.imaging.dicom_writer import write_ultrasound_dicom
from planner.core.clinic_settings import ClinicSettings
from planner.core.recovery import RecoveryStore
from planner.ui.course_response import CourseResponseView
from planner.ui.document import PlanDocument
import tests.ui.test_course_response as t
from tests.report.test_course_report import course_plan, PRINTED_AT
from planner.report.course_report import write_course_report
paths = []
for seed in (11, 12):
    case = make_dermal_ultrasound(seed)
    paths.append(str(write_ultrasound_dicom(tmp / f"us_{seed}.dcm", case.pixels_u8, case.calibration, "Doe^Jane", "P-1")))
plan = t.planned(course_plan(t.five_sessions(paths)))
doc = PlanDocument(RecoveryStore(tmp / "r.json")); doc.open(None, plan)
view = CourseResponseView(doc, clinic_settings=t.threshold(20))
view.resize(1280, 800); view.show()
view.show_dose(t.planned_dose(plan))
view.session_combo.setCurrentIndex(view.session_combo.count() - 1)
for _ in range(30): app.processEvents()
view.grab().save(str(ROOT / "docs" / "response-view.png"))
pdf = write_course_report(plan, tmp / "course.pdf", printed_at=PRINTED_AT, regrowth_threshold_percent=20.0,
                          dose_result=t.planned_dose(plan))
subprocess.run(["pdftoppm", "-r", "70", "-png", str(pdf), str(tmp / "page")], check=True)
for png in sorted(tmp.glob("page-*.png")):
    n = png.stem.split("-")[-1].lstrip("0")
    (ROOT / "docs" / f"course-report-page{n}.png").write_bytes(png.read_bytes())
print("written: docs/response-view.png, docs/course-report-page*.png")
