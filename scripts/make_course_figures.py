"""docs/response-view.png and docs/course-report-page{1,2}.png from the tests' synthetic course.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/make_course_figures.py [all|view|report]

(``view``: the response view's screenshot only; ``report``: the report's pages only.)

The course of tests/report/test_course_report.py: five fractions of 7 Gy (fraction 3 stopped after 60 of
120 s), five imaging sessions whose outlines are ellipses of known depth and width on two synthetic
DICOM ultrasounds, shrinking to a nadir at follow-up week 4 and regrowing 50 % by week 12; the clinic's
regrowth threshold 20 %; the plan's dose that of tests/ui/test_course_response.py (planned_dose: a kV beam of
PDD 100·exp(−0.05 z), Ø 20 mm, 7 Gy to the 90 % isodose, 2.11 mm deep), drawn on both sessions' images.
The report's course is re-planned after fraction 2 (REPLAN below: 7 Gy in 96 s from fraction 3, fraction 3 stopped
after 48 of its 96 s), so its pages show the phases and the revision.
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
what = sys.argv[1] if len(sys.argv) > 1 else "all"
if what not in ("all", "view", "report"):
    sys.exit(f"make_course_figures: say all, view or report, not {what!r}")
from datetime import date
from planner.core.course import CoursePhase, FractionRecord
REPLAN = CoursePhase("1.2.826.0.1.3680043.8.498.90233519870355716261804915272908450177", 3, 3, 7.0, 96.0,
                     "after fraction 2: the lesion 2.0 mm deep (baseline 2.8 mm), re-planned on that image",
                     date(2026, 11, 6))
paths = []
for seed in (11, 12):
    case = make_dermal_ultrasound(seed)
    paths.append(str(write_ultrasound_dicom(tmp / f"us_{seed}.dcm", case.pixels_u8, case.calibration, "Doe^Jane", "P-1")))
plan = t.planned(course_plan(t.five_sessions(paths)))
if what in ("all", "view"):
    doc = PlanDocument(RecoveryStore(tmp / "r.json")); doc.open(None, plan)
    view = CourseResponseView(doc, clinic_settings=t.threshold(20))
    view.resize(1240, 760); view.show()   # View > Response in Its Own Window on a 1280 x 800 screen
    view.show_dose(t.planned_dose(plan))
    view.session_combo.setCurrentIndex(view.session_combo.count() - 1)
    for _ in range(30): app.processEvents()
    view.grab().save(str(ROOT / "docs" / "response-view.png"))
    print("written: docs/response-view.png")
if what in ("all", "report"):
    course = plan.course
    records = tuple(FractionRecord(r.number, r.delivered_on, r.dwell_time_s if r.number < 3 else
                                   (48.0 if r.number == 3 else 96.0), r.delivered_by, today=t.TODAY)
                    for r in course.records)
    phased = plan.with_course(replace(course, records=records, rt_plan_uid="1.2.826.0.1.3680043.8.498.471859344025195"
                                      "12416186315837346013621", later_phases=(REPLAN,)))
    pdf = write_course_report(phased, tmp / "course.pdf", printed_at=PRINTED_AT, regrowth_threshold_percent=20.0,
                              dose_result=t.planned_dose(phased))
    subprocess.run(["pdftoppm", "-r", "70", "-png", str(pdf), str(tmp / "page")], check=True)
    for old in (ROOT / "docs").glob("course-report-page*.png"):
        old.unlink()
    for png in sorted(tmp.glob("page-*.png")):
        n = png.stem.split("-")[-1].lstrip("0")
        (ROOT / "docs" / f"course-report-page{n}.png").write_bytes(png.read_bytes())
    print("written: docs/course-report-page*.png")
