"""The real main window, driven with mouse and keyboard events offscreen."""

import json
import time

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDockWidget

from planner.imaging.demo import demo_case_path
from tests.ui.gui_driver import choose_in_combo, drag_outline_vertex, make_window, vertex_position


def test_the_demo_opens_with_image_outline_and_lesion_readouts(demo_window):
    w = demo_window
    plan = w.document.plan
    assert w.view.image_item.image is not None
    np.testing.assert_allclose(w.view.outline_vertices_mm(), plan.outline.vertices_mm, atol=1e-6)
    truth = json.loads((demo_case_path() / "demo_case.json").read_text())["truth"]
    depth_text = w.metrics_panel.depth_label.text()
    assert depth_text.endswith(" mm")
    # The default outline is a simplified polygon of the tumour: its depth is close to the truth.
    assert float(depth_text.split()[0]) == pytest.approx(truth["tumour_max_depth_below_skin_mm"], abs=0.3)
    assert w.plan_panel.energy_combo.currentText().startswith("100 kV")    # the recommended plan
    assert w.plan_panel.applicator_combo.currentText() == "Ø 25 mm"
    assert "Demo" in w.windowTitle()


def test_axes_are_in_mm_and_one_mm_is_as_long_across_as_down(demo_window):
    plot = demo_window.view.getPlotItem()
    assert plot.getAxis("bottom").labelUnits == "mm" and plot.getAxis("left").labelUnits == "mm"
    a = demo_window.view.mm_to_widget(0.0, 0.0)
    b = demo_window.view.mm_to_widget(5.0, 5.0)
    assert abs((b.x() - a.x()) - (b.y() - a.y())) <= 1


def test_changing_the_energy_is_an_edit_that_undo_reverts(demo_window, qtbot):
    w = demo_window
    choose_in_combo(w.plan_panel.energy_combo, "70 kV (HVL 1.15 mm Al)")
    assert w.document.plan.setup.energy_id == "70kV"
    assert w.isWindowModified()
    w.undo_action.trigger()
    assert w.document.plan.setup.energy_id == "100kV"
    assert w.plan_panel.energy_combo.currentText().startswith("100 kV")
    w.redo_action.trigger()
    assert w.plan_panel.energy_combo.currentText().startswith("70 kV")


def test_dragging_an_outline_vertex_moves_it_in_mm_and_undo_puts_it_back(demo_window, qtbot):
    w = demo_window
    before = w.document.plan.outline
    start = vertex_position(w, 0)
    drag_outline_vertex(w, 0, 40, 30)
    after = w.document.plan.outline
    assert after != before
    # The vertex moved by what 40 × 30 widget pixels measure in mm on this view.
    vb = w.view.getPlotItem().getViewBox()
    p0 = vb.mapSceneToView(w.view.mapToScene(start))
    p1 = vb.mapSceneToView(w.view.mapToScene(start + QPoint(40, 30)))
    moved = np.subtract(after.vertices_mm[0], before.vertices_mm[0])
    assert moved == pytest.approx((p1.x() - p0.x(), p1.y() - p0.y()), abs=0.1)
    assert after.vertices_mm[1:] == before.vertices_mm[1:]
    assert w.metrics_panel.width_label.text() == f"{after.lateral_width_mm:.2f} mm"

    w.undo_action.trigger()
    assert w.document.plan.outline == before
    np.testing.assert_allclose(w.view.outline_vertices_mm(), before.vertices_mm, atol=1e-6)
    w.redo_action.trigger()
    assert w.document.plan.outline == after


def test_the_status_bar_shows_the_cursor_in_mm_and_the_pixel_value(demo_window, qtbot):
    w = demo_window
    image = w.document.planning_image.image
    target_mm = (image.calibration.pixel_to_mm(100, 200))
    pos = w.view.mm_to_widget(float(target_mm[0]), float(target_mm[1]))
    QTest.mouseMove(w.view.viewport(), pos)
    qtbot.waitUntil(lambda: "depth" in w.cursor_label.text())
    text = w.cursor_label.text()
    assert "mm" in text
    col, row = (int(v) for v in text.split("pixel (")[1].split(")")[0].split(","))
    assert abs(col - 100) <= 1 and abs(row - 200) <= 1
    assert text.endswith(f"= {image.frames[0][row, col]}")


def test_an_impossible_dose_is_refused_in_place_not_clamped(demo_window, qtbot):
    w = demo_window
    before = w.document.plan.prescription
    field = w.plan_panel.dose_per_fraction.line_edit
    field.selectAll()
    QTest.keyClicks(field, "-5")
    QTest.keyClick(field, Qt.Key.Key_Return)
    assert w.document.plan.prescription == before
    assert field.text() == "-5"
    assert "above 0 Gy" in w.plan_panel.dose_per_fraction.problem


def test_typing_a_dose_and_fractions_updates_total_and_bed(demo_window):
    w = demo_window
    asked = []
    # 18 Gy × 1 → 7 Gy × 1 on the way to 7 Gy × 5: outside the published kV regimens, so confirmed once.
    w.ask_user = lambda title, text, choices: asked.append(text) or "Use it"
    for field, text in ((w.plan_panel.dose_per_fraction.line_edit, "7"), (w.plan_panel.fractions.line_edit, "5")):
        field.selectAll()
        QTest.keyClicks(field, text)
        QTest.keyClick(field, Qt.Key.Key_Return)
    assert w.document.plan.prescription.total_dose_gy == pytest.approx(35.0)
    assert w.plan_panel.total_label.text() == "35 Gy"
    assert w.metrics_panel.bed_table.item(0, 1).text() == "59.50"  # BED10, physics-data §4.2
    assert len(asked) == 1 and asked[0].startswith("7 Gy in 1 × 7 Gy is outside the published regimens")


def test_typing_notes_is_one_undo_step(demo_window):
    w = demo_window
    w.plan_panel.notes.setFocus()
    QTest.keyClicks(w.plan_panel.notes, "Check margin")
    assert w.document.plan.notes == "Check margin"
    w.undo_action.trigger()
    assert w.document.plan.notes == ""


def test_a_plan_saves_and_opens_again(demo_window, qtbot, tmp_path):
    w = demo_window
    choose_in_combo(w.plan_panel.applicator_combo, "Ø 25 mm")
    path = str(tmp_path / "case.plan.json")
    assert w._save_to(path)
    assert not w.isWindowModified()
    saved = w.document.plan

    other = make_window({"Plan open in another Planner": "Open here too"})  # another instance: w has it open
    qtbot.addWidget(other)
    assert other.open_plan_file(path)
    qtbot.waitUntil(lambda: other.document.plan is not None, timeout=10000)
    assert other.document.plan == saved
    assert path in other.settings.recent_files()[0] or other.settings.recent_files()[0].endswith("case.plan.json")


def test_window_layout_and_recent_files_persist_between_runs(qtbot, tmp_path):
    first = make_window()
    qtbot.addWidget(first)
    first.show()
    first.resize(760, 640)  # the offscreen screen is 800 × 800
    metrics_dock = first.findChild(QDockWidget, "MetricsDock")
    metrics_dock.hide()
    first.settings.add_recent_file("/data/us/lesion.dcm")
    first.close()

    second = make_window()
    qtbot.addWidget(second)
    second.show()
    assert (second.width(), second.height()) == (760, 640)
    assert not second.findChild(QDockWidget, "MetricsDock").isVisible()
    assert second.findChild(QDockWidget, "PlanDock").isVisible()
    assert second.settings.recent_files() == ["/data/us/lesion.dcm"]
    assert [a.text() for a in second.recent_menu.actions()] == ["/data/us/lesion.dcm"]


def test_long_work_shows_progress_and_can_be_cancelled(window, qtbot):
    w = window
    steps_done = []

    def slow_work(progress, is_cancelled):
        for i in range(200):
            if is_cancelled():
                return None
            progress(i / 200, "working")
            steps_done.append(i)
            time.sleep(0.01)
        return "finished"

    assert w.runner.start("Slow work", slow_work, lambda result: None)
    qtbot.waitUntil(lambda: w.progress.isVisible() and w.progress.bar.value() > 0)
    assert not w.open_image_action.isEnabled()
    with qtbot.waitSignal(w.runner.cancelled, timeout=5000):
        qtbot.mouseClick(w.progress.cancel_button, Qt.MouseButton.LeftButton)
    assert not w.progress.isVisible() and w.open_image_action.isEnabled()
    assert len(steps_done) < 200


def test_a_file_that_is_not_an_image_gives_a_message_and_keeps_the_plan(demo_window, qtbot, tmp_path):
    w = demo_window
    drag_outline_vertex(w, 1, 20, 10)
    edited = w.document.plan
    bad = tmp_path / "notes.dcm"
    bad.write_text("this is not DICOM")
    w.ask_user = lambda title, text, choices: "Discard" if False else "Cancel"
    assert not w.open_image_file(str(bad))  # the user cancels replacing the unsaved plan
    w.ask_user = lambda title, text, choices: "Discard"
    w.open_image_file(str(bad))
    qtbot.waitUntil(lambda: w.last_problem is not None, timeout=10000)
    assert "notes.dcm" in w.last_problem or "DICOM" in w.last_problem
    assert w.document.plan == edited


def test_an_outline_edit_is_in_the_recovery_file_at_once(demo_window):
    w = demo_window
    assert not w.document.recovery.pending()  # the unedited demo is nothing to recover
    drag_outline_vertex(w, 2, -25, 15)
    assert w.document.recovery.load().outline == w.document.plan.outline
    w.undo_action.trigger()
    assert not w.document.recovery.pending()  # back to the saved state
