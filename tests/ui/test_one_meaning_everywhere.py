"""One plan, read back from everywhere a physician or another program sees it: the image legend and
the dose panel (window), the PDF report (pdftotext), the RT Plan (pydicom) and `planner plan --json`
run separately on the same inputs. "X %" must mean percent of Dmax in all of them and the
prescription and coverage sentences must be the same words (issue 13, point 2).

A depth prescription is used because its prescription isodose (PDD at 2 mm, about 95.6 %) is not
one of the legend's fixed levels, so a place that still meant "90 % of the prescription" or "of the
surface dose at the lesion's depth" would disagree visibly.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from planner.dose.coverage import percent_text
from tests.ui.test_dose_display import prescribe_at_depth, wait_for_dose

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo" / "demo_ultrasound.dcm"


def words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_window_report_rt_plan_and_command_line_say_the_same(demo_window, qtbot, tmp_path):
    w = demo_window
    wait_for_dose(w, qtbot)
    prescribe_at_depth(w, qtbot, "2")
    result = wait_for_dose(w, qtbot)
    assert result.prescription_point.depth_mm == 2.0 and not result.refused

    # the window
    panel = w.metrics_panel.dose_panel
    prescription_text, coverage_text = panel.rx_label.text(), panel.coverage_label.text()
    legend = w.view.dose_overlay.legend_labels()

    # the package the window exports: RT Plan and report
    folder = tmp_path / "package"
    assert w.output.export_package(folder, overwrite=False)
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=60000)
    rt_plan = pydicom.dcmread(folder / "RTPLAN.dcm")
    report = words(subprocess.run(["pdftotext", "-layout", str(folder / "report.pdf"), "-"], capture_output=True,
                                  text=True, check=True, timeout=60).stdout)

    # the command line, a separate process, on the same image, outline, unit and prescription
    run = subprocess.run([sys.executable, "-m", "planner", "plan", "--image", str(DEMO), "--outline",
                          str(folder / "plan.json"), "--technique", "superficial-kv", "--energy-kv", "100",
                          "--applicator-mm", "25", "--dose-per-fraction-gy", "18", "--fractions", "1",
                          "--prescribe-depth-mm", "2", "--json", "--out", str(tmp_path / "cli")],
                         capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert run.returncode == 0, run.stderr
    cli = json.loads(run.stdout)

    # one number: Dmax and the prescription isodose agree between the window's engine run and the CLI's
    assert cli["dmax_gy"] == pytest.approx(result.dmax_gy, rel=1e-9)
    isodose = cli["prescription_isodose_percent"]
    assert isodose == pytest.approx(result.prescription_isodose_percent, rel=1e-9)
    assert 90.0 < isodose < 100.0                             # 2 mm is shallower than the 90 % depth (3.56 mm)
    assert cli["dmax_gy"] == pytest.approx(18.0 * 100.0 / isodose)   # the definition of a depth prescription

    # one sentence each, word for word
    assert prescription_text == cli["prescription"]["text"] == (
        f"18 Gy per fraction at 2 mm depth on the beam axis: the {percent_text(isodose)} isodose "
        f"(Dmax = {cli['dmax_gy']:.2f} Gy)")
    assert coverage_text == cli["coverage"]["text"]
    assert coverage_text.endswith(f"the {percent_text(isodose)} isodose")
    for sentence in (prescription_text, coverage_text):
        assert words(sentence) in report, sentence
        assert sentence in rt_plan.PrescriptionDescription

    # the legend and the RT Plan's dose reference name the same isodose, in % of Dmax and in Gy
    assert f"{percent_text(isodose)} · 18.0 Gy (prescription)" in legend
    assert f"90 % · {0.9 * cli['dmax_gy']:.1f} Gy" in legend
    reference = rt_plan.DoseReferenceSequence[0]
    assert reference.DoseReferenceDescription == f"Rx {percent_text(isodose)} isodose, 2.00 mm below skin on beam axis"
    skin_y = w.document.plan.skin_surface.depth_at(result.cone_axis_x_mm)
    assert float(reference.DoseReferencePointCoordinates[1]) == pytest.approx(skin_y + 2.0, abs=1e-6)
    assert float(reference.TargetPrescriptionDose) == pytest.approx(18.0)
