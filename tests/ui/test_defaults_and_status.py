"""Issue 13, points 7 and 8 in the window: a new image keeps the last technique (superficial kV the
first time), the eBx panel says when one DEMO rate serves every applicator, one word for the time
per technique in the Course tab, and a status bar that describes the current image only."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel, QMessageBox
from pydicom.data import get_testdata_file

from planner.ui.plan_panel import shared_dose_rate_text
from tests.ui.gui_driver import choose_in_combo, make_window
from tests.ui.test_ebx_in_window import EBX, wait_for_dose
from tests.ui.test_image_tools import click_mm, open_and_wait

KV = "Superficial kV X-rays (IGSRT)"
DEMO_EBX_FILE = Path(__file__).resolve().parents[2] / "resources" / "commissioning" / "demo-esteya-class.json"


def a_png(folder: Path, name: str) -> Path:
    path = folder / name
    Image.fromarray((np.arange(200 * 300) % 251).reshape(200, 300).astype(np.uint8)).save(path)
    return path


def status_bar_texts(window) -> list[str]:
    """What the status bar shows: its message and every visible label in it."""
    bar = window.statusBar()
    return [bar.currentMessage()] + [label.text() for label in bar.findChildren(QLabel) if label.isVisibleTo(bar)]


# --- point 7: defaults ------------------------------------------------------------------------------

def test_the_first_image_is_kv_and_a_new_image_keeps_the_last_technique_used(window, qtbot, tmp_path):
    w = window
    open_and_wait(w, qtbot, a_png(tmp_path, "first.png"))
    assert w.document.plan.setup.technique_id == "superficial-kv"  # fresh settings: the first time

    choose_in_combo(w.plan_panel.technique_combo, EBX)
    open_and_wait(w, qtbot, a_png(tmp_path, "second.png"))
    assert w.document.plan.setup.technique_id == "ebx-surface"

    choose_in_combo(w.plan_panel.technique_combo, KV)
    open_and_wait(w, qtbot, a_png(tmp_path, "third.png"))
    assert w.document.plan.setup.technique_id == "superficial-kv"

    choose_in_combo(w.plan_panel.technique_combo, EBX)
    w.close()
    later = make_window({"Unsaved plan": "Discard"})  # the next run, on the same settings file
    qtbot.addWidget(later)
    open_and_wait(later, qtbot, a_png(tmp_path, "fourth.png"))
    assert later.document.plan.setup.technique_id == "ebx-surface"


def test_the_ebx_panel_says_one_demo_rate_serves_every_applicator(window, qtbot, tmp_path):
    w = window
    open_and_wait(w, qtbot, a_png(tmp_path, "lesion.png"))
    choose_in_combo(w.plan_panel.technique_combo, EBX)
    entries = json.loads(DEMO_EBX_FILE.read_text())["entries"]
    rates = {(e["reference_dose_rate_gy_per_min"]["value"], e["reference_depth_mm"]["value"]) for e in entries}
    assert rates == {(3.3, 3.0)} and len(entries) == 5  # the bundled file: one borrowed figure for all five
    text = w.plan_panel.machine_data_label.text()
    assert ("One DEMO dose rate, 3.3 Gy/min at 3 mm, serves every applicator: prescribed at 3 mm, the dwell time "
            "does not change with the applicator") in text
    choose_in_combo(w.plan_panel.technique_combo, KV)
    assert "serves every applicator" not in w.plan_panel.machine_data_label.text()


def test_the_line_is_left_out_when_one_applicator_has_its_own_rate():
    from planner.techniques import discover_techniques

    technique = discover_techniques().get("ebx-surface")
    machine = technique.machine("esteya-class")
    commissioning = technique.commissioning_for(machine.id)
    assert shared_dose_rate_text(commissioning, machine, "69.5kV") is not None
    first = commissioning.entries[0]
    own = replace(first, reference_dose_rate_gy_per_min=replace(first.reference_dose_rate_gy_per_min, value=2.9))
    varied = replace(commissioning, entries=(own, *commissioning.entries[1:]))
    assert shared_dose_rate_text(varied, machine, "69.5kV") is None


def test_the_course_tab_says_treatment_time_for_kv_and_dwell_time_for_ebx(demo_window, qtbot):
    w = demo_window
    panel = w.course_panel
    for technique, word in ((None, "Treatment time"), (EBX, "Dwell time")):
        if technique is not None:
            choose_in_combo(w.plan_panel.technique_combo, technique)
            choose_in_combo(w.plan_panel.applicator_combo, "Ø 20 mm")  # the beam data other tests share
        result = wait_for_dose(w, qtbot)
        assert result.time_name == word.lower()  # the dose engine's word (planner.dose.result)
        panel.start_button.click()
        assert w.document.plan.course is not None
        assert panel.time_form_label.text() == word
        panel.time_edit.setText("abc")
        qtbot.keyClicks(panel.delivered_by, "RTT A. Smith")
        panel.record_button.click()
        assert panel.problem_label.text() == (f"Not recorded: the {word.lower()} must be a number of seconds above 0, "
                                              f"got 'abc'.")
        panel.time_edit.setText("-3")
        panel.record_button.click()
        assert panel.problem_label.text().startswith(f"Not recorded: the {word.lower()} must be")
        panel.time_edit.setText(f"{w.document.plan.course.planned_dwell_time_s:.1f}")
        panel.record_button.click()
        assert w.document.plan.course.delivered_fractions == 1
        assert panel.table.horizontalHeaderItem(2).text() == f"{word} (s)"
        other = "dwell time" if word == "Treatment time" else "treatment time"
        shown = [panel.time_form_label.text(), panel.problem_label.text(), panel.summary_label.text(),
                 panel.start_button.toolTip()]
        shown += [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
        assert not any(other in t.lower() or "beam-on" in t.lower() for t in shown), shown
        w.undo_action.trigger()  # the fraction
        w.undo_action.trigger()  # the course
        assert w.document.plan.course is None


# --- point 8: the status bar describes the current image -------------------------------------------------

def test_opening_another_image_leaves_nothing_about_the_first_in_the_status_bar(window, qtbot, tmp_path):
    w = window
    open_and_wait(w, qtbot, a_png(tmp_path, "first.png"))
    QTest.mouseMove(w.view.viewport(), w.view.mm_to_widget(150.0, 100.0))  # pixels: the PNG has no scale
    qtbot.waitUntil(lambda: "no mm scale" in w.cursor_label.text())
    assert any("not DICOM" in t for t in status_bar_texts(w))

    w.open_demo()
    texts = status_bar_texts(w)
    assert not any("not DICOM" in t or "no calibration" in t or "no mm scale" in t for t in texts), texts
    assert w.statusBar().currentMessage() == ""
    assert w.calibration_label.text().startswith("Scale: Sequence of Ultrasound Regions")


def test_after_a_hand_calibration_the_cursor_reads_mm(window, qtbot, tmp_path):
    w = window
    open_and_wait(w, qtbot, a_png(tmp_path, "photo.png"))
    w.ask_text = lambda title, question: "10"
    w.calibrate_action.trigger()
    click_mm(w, 50.0, 100.0)
    click_mm(w, 250.0, 100.0)  # the cursor stays here, over the image
    assert w.document.plan.manual_calibration is not None
    text = w.cursor_label.text()
    assert "no mm scale" not in text and "lateral" in text and " mm" in text
    # 250 pixels across at 10 mm / 200 pixels: lateral 12.5 mm (the view was in pixels before).
    assert float(text.split("lateral ")[1].split(" mm")[0]) == pytest.approx(12.5, abs=0.1)


def test_a_long_calibration_refusal_is_readable_in_full(window, qtbot):
    w = window
    open_and_wait(w, qtbot, get_testdata_file("examples_ybr_color.dcm"))
    why = next(p for p in w.document.planning_image.image.problems if p.startswith("no calibration"))
    assert len(why) > 150  # too long for the status bar
    full = f"Scale: none — {why} (Image ▸ Calibrate by Hand…)"
    label = w.calibration_label
    assert label.toolTip() == full
    assert 'href="details"' in label.text() and label.text().startswith("Scale: none — no calibration")
    w.show_calibration_details()
    boxes = [b for b in w.findChildren(QMessageBox) if b.isVisible() and b.windowTitle() == "Image scale"]
    assert len(boxes) == 1 and boxes[0].text().startswith(full)
    assert "region 1 (2-D tissue) not used for calibration" in boxes[0].text()
    boxes[0].close()
