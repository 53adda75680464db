"""The IMRT window driven as a user drives it: File ▸ New IMRT Plan on the TG-119 phantom (10 mm
voxels, so each optimisation takes about a second), Optimise from the toolbar, Cancel in the status
bar, objectives typed into the table, Ctrl+Z."""

import re

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit

from planner.ui.imrt.objectives_table import DOSE, KIND, VOLUME
from tests.ui.gui_driver import choose_in_combo, make_window

FAST_ITERATIONS = 20
PTV_MAX = 1  # TG-119's starting objectives: PTV min, PTV max, Core max, Body max


@pytest.fixture
def imrt(imrt_and_launcher):
    return imrt_and_launcher[0]


@pytest.fixture
def imrt_and_launcher(qtbot):
    """The IMRT window opened from the main window's File menu on the 10 mm phantom, and the
    main window's IMRT launcher."""
    main = make_window({"Unsaved IMRT plan": "Discard"})
    qtbot.addWidget(main)
    assert main.imrt is not None, "the IMRT technique is installed, so File offers IMRT"
    file_menu_texts = [a.text() for a in main.menuBar().actions()[0].menu().actions()]
    assert "New IMRT Plan on TG-119 &Phantom…" in file_menu_texts
    assert "Open CT Series for &IMRT…" in file_menu_texts
    main.imrt.ask_voxel_size = lambda title: 10.0
    main.imrt.new_phantom_action.trigger()
    window = main.imrt.windows[-1]
    with qtbot.waitExposed(window):
        window.show()
    window.activateWindow()
    yield window, main.imrt
    window.runner.cancel()
    window.runner.wait(10.0)
    window.close()


def set_iterations(qtbot, window, n: int) -> None:
    spin = window.summary.iterations
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), str(n))
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)
    assert window.plan.max_iterations == n


def click_optimise(qtbot, window) -> None:
    button = window.toolbar.widgetForAction(window.optimise_action)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def optimised(qtbot, window, iterations: int = FAST_ITERATIONS):
    set_iterations(qtbot, window, iterations)
    click_optimise(qtbot, window)
    assert window.runner.busy
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=30000)
    assert window.result is not None, window.last_problem
    return window.result


def type_into_cell(qtbot, window, row: int, column: int, text: str) -> None:
    table = window.objectives.table
    table.setFocus()
    table.setCurrentCell(row, column)
    table.editItem(table.item(row, column))
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit)
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: table.state() != table.State.EditingState)  # the delegate commits on the next loop


def test_optimise_shows_dose_dvh_and_goals(imrt, qtbot):
    window = imrt
    assert window.volume.grid.spacing_mm == (10.0, 10.0, 10.0)
    assert window.summary.prescription_label.text() == "50 Gy in 25 × 2 Gy to PTV D95"
    assert window.summary.beams_label.text() == "9 beams, gantry 0–320° every 40°, 5 mm bixels"
    assert "DEMO beam data, not a commissioned machine" in window.summary.beam_data_label.text()
    assert "pencil beam" in window.summary.model_label.text()
    assert window.slice_view.slice_label.text().startswith("z = ")  # the slice through the isocentre

    result = optimised(qtbot, window)

    assert result.iterations <= FAST_ITERATIONS
    for name in ("PTV", "Core", "Body"):
        dose, volume = window.dvh.curve_data(name)
        assert dose.size > 10 and volume[0] == pytest.approx(100.0)
    # one DVH for the curves and the goals: the sub-voxel one, whose PTV curve crosses 95 % at its D95
    d95 = result.metrics["PTV"].d95_gy
    dose, volume = window.dvh.curve_data("PTV")
    assert np.interp(d95, dose, volume) == pytest.approx(95.0, abs=1.5)
    assert window.dvh.prescription_line.isVisible() and window.dvh.prescription_line.value() == 50.0
    assert window.dvh.live_draws >= 1  # the curves moved while the optimiser ran
    rows = window.goals.row_texts()
    # normalised on this DVH: the D95 goal reads exactly the prescription
    assert rows[0] == ("PTV D95 ≥ 50 Gy", "50.00 Gy", "✓ met") and d95 == pytest.approx(50.0, abs=1e-6)
    assert all(re.fullmatch(r"\d+\.\d\d Gy", r[1]) for r in rows)
    headers = [window.goals.metrics.horizontalHeaderItem(c).text() for c in range(window.goals.metrics.columnCount())]
    assert headers == ["Structure", "Volume", "D98", "D95", "D10", "D2", "D0.03cc", "Mean"]
    assert window.goals.metrics.item(0, 3).text() == f"{d95:.2f} Gy"
    assert "scaled so that PTV D95 = 50 Gy on the reported DVH" in window.dvh.caption.text()
    view = window.slice_view
    assert not view.wash.isVisible()  # isodose lines by default; the wash is a check box away
    view.wash_check.setChecked(True)
    assert view.wash.isVisible() and np.array_equal(view.wash.image, view.plane_gy) and np.nanmax(view.plane_gy) > 40.0
    assert f"{result.iterations} iterations" in window.last_status
    assert re.search(r"\d+\.\d s", window.last_status)
    assert not window.is_stale

    # The hover readout names position, density and dose with their units.
    text = window.slice_view.readout_at(-25.0, 0.0)
    assert re.fullmatch(r"x -25\.0 mm, y 0\.0 mm, z -?\d+\.\d mm · density 1\.000 \(relative electron density\) "
                        r"· dose \d+\.\d\d Gy · in PTV, Body", text), text


def test_cancel_keeps_the_previous_plan_and_dvh(imrt, qtbot):
    window = imrt
    first = optimised(qtbot, window)
    before = {name: window.dvh.curve_data(name) for name in ("PTV", "Core", "Body")}
    plane_before = window.slice_view.plane_gy.copy()

    set_iterations(qtbot, window, 5000)
    click_optimise(qtbot, window)
    qtbot.waitUntil(lambda: "iteration" in window.progress.message.text(), timeout=20000)
    assert window.progress.isVisible()
    qtbot.mouseClick(window.progress.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=20000)
    qtbot.wait(300)  # a throttled live redraw, had one been left pending, would land by now

    assert "cancelled, previous plan kept" in window.last_status
    assert window.statusBar().currentMessage() == window.last_status
    assert window.result is first
    for name, (dose, volume) in before.items():
        now_dose, now_volume = window.dvh.curve_data(name)
        assert np.array_equal(now_dose, dose) and np.array_equal(now_volume, volume)
    assert np.array_equal(window.slice_view.plane_gy, plane_before)
    assert window.optimise_action.isEnabled()


def test_objective_edits_are_validated_undoable_and_mark_the_dose_stale(imrt, qtbot):
    window = imrt
    optimised(qtbot, window)
    table = window.objectives.table
    assert window.plan.objectives[PTV_MAX].dose_gy == 52.0   # plugins/imrt_photon/plans.py
    optimised_plan = window.plan

    type_into_cell(qtbot, window, PTV_MAX, DOSE, "55")
    assert window.plan.objectives[PTV_MAX].dose_gy == 55.0
    assert window.is_stale
    assert "not optimised for the current objectives" in window.summary.dose_label.text()
    assert "not optimised for the current objectives" in window.dose_state_label.text()
    assert "previous optimisation" in window.goals.note.text()
    assert window.dvh.caption.text().startswith("⚠")

    # Text is refused, stays in the cell with the reason beside the table; the plan keeps 55 Gy.
    type_into_cell(qtbot, window, PTV_MAX, DOSE, "abc")
    assert table.item(PTV_MAX, DOSE).text() == "abc"
    assert "“abc” is not a dose in Gy" in window.objectives.problem_label.text()
    assert "keeps 55 Gy" in window.objectives.problem_label.text()
    assert window.plan.objectives[PTV_MAX].dose_gy == 55.0
    type_into_cell(qtbot, window, PTV_MAX, DOSE, "-5")
    assert "a dose must be 0 Gy or more, not -5 Gy" in window.objectives.problem_label.text()
    assert table.item(PTV_MAX, DOSE).text() == "-5"
    assert window.plan.objectives[PTV_MAX].dose_gy == 55.0

    # Esc on the cell shows the plan's value again.
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_Escape)
    assert table.item(PTV_MAX, DOSE).text() == "55"
    assert window.objectives.problem_label.text() == ""

    # Ctrl+Z: one undo step back to the optimised objectives, which are no longer stale.
    qtbot.keyClick(table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.plan == optimised_plan
    assert table.item(PTV_MAX, DOSE).text() == "52"
    assert not window.is_stale
    assert window.dose_state_label.text() == ""
    qtbot.keyClick(table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.plan.objectives[PTV_MAX].dose_gy == 55.0


def test_dvh_point_volume_only_for_dvh_kinds_and_within_0_to_100_percent(imrt, qtbot):
    window = imrt
    table = window.objectives.table
    assert not table.item(PTV_MAX, VOLUME).flags() & Qt.ItemFlag.ItemIsEditable  # greyed for a max dose

    choose_in_combo(table.cellWidget(PTV_MAX, KIND), "Max DVH point")
    assert window.plan.objectives[PTV_MAX].kind == "max_dvh"
    assert window.plan.objectives[PTV_MAX].volume_fraction == pytest.approx(0.10)
    assert table.item(PTV_MAX, VOLUME).flags() & Qt.ItemFlag.ItemIsEditable
    assert table.item(PTV_MAX, VOLUME).text() == "10"

    type_into_cell(qtbot, window, PTV_MAX, VOLUME, "120")
    assert table.item(PTV_MAX, VOLUME).text() == "120"
    assert "below 100 %, not 120 %" in window.objectives.problem_label.text()
    assert window.plan.objectives[PTV_MAX].volume_fraction == pytest.approx(0.10)

    type_into_cell(qtbot, window, PTV_MAX, VOLUME, "5")
    assert window.plan.objectives[PTV_MAX].volume_fraction == pytest.approx(0.05)
    assert window.objectives.problem_label.text() == ""
    assert window.document.undo_stack.count() == 2  # the kind, then the volume: one step each

    window.undo_action.trigger()
    window.undo_action.trigger()
    assert window.plan.objectives[PTV_MAX].kind == "max_dose"


def test_add_and_remove_objective_are_undo_steps(imrt, qtbot):
    window = imrt
    n = len(window.plan.objectives)
    qtbot.mouseClick(window.objectives.add_button, Qt.MouseButton.LeftButton)
    assert len(window.plan.objectives) == n + 1 and window.objectives.table.rowCount() == n + 1
    window.objectives.table.setCurrentCell(0, DOSE)
    qtbot.mouseClick(window.objectives.remove_button, Qt.MouseButton.LeftButton)
    assert len(window.plan.objectives) == n and window.plan.objectives[0].kind == "max_dose"
    window.undo_action.trigger()
    window.undo_action.trigger()
    assert len(window.plan.objectives) == n and window.plan.objectives[0].kind == "min_dose"


def test_slice_slider_moves_through_z_in_mm(imrt, qtbot):
    view = imrt.slice_view
    z = imrt.volume.grid.z_mm
    assert z[view.slice_index] == pytest.approx(min(z, key=lambda v: abs(v - imrt.volume.isocentre_mm[2])))
    view.slider.setValue(0)
    assert view.slice_label.text() == f"z = {z[0]:.1f} mm (1 of {z.size})"
    xs, _ys = view.outlines["Body"].getData()
    assert xs is not None and xs.size > 0  # the body is outlined on every slice


def test_hovering_the_slice_reads_position_density_and_structures(imrt, qtbot):
    from PySide6.QtCore import QPointF

    view = imrt.slice_view
    scene_point = view.plot.getPlotItem().getViewBox().mapViewToScene(QPointF(-25.0, 0.0))
    qtbot.mouseMove(view.plot.viewport(), view.plot.mapFromScene(scene_point))
    qtbot.waitUntil(lambda: "mm" in imrt.hover_label.text())
    text = imrt.hover_label.text()
    assert re.match(r"x -2\d\.\d mm, y -?\d\.\d mm, z -?\d+\.\d mm · density 1\.000", text), text
    assert "in PTV, Body" in text and "dose" not in text  # no dose before Optimise


def test_open_ct_series_plans_on_its_structures(qtbot, tmp_path):
    from planner.dicom.ct_series_writer import write_ct_series

    main = make_window()
    qtbot.addWidget(main)
    technique = main.imrt.technique
    write_ct_series(technique.inverse_planner.tg119_phantom(10.0), tmp_path / "ct", "TEST^PHANTOM", "T-1")
    main.imrt.ask_folder = lambda: str(tmp_path / "ct")
    main.imrt.ask_voxel_size = lambda title: 10.0
    main.imrt.open_ct_action.trigger()
    window = main.imrt.windows[-1]
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=20000)
    assert window.volume is not None, window.last_problem
    assert set(window.volume.masks) >= {"PTV", "Core", "Body"}
    assert window.volume.grid.spacing_mm == pytest.approx((10.0, 10.0, 10.0))
    assert window.plan.prescription.target == "PTV"
    assert window.optimise_action.isEnabled()
    window.close()
    assert window not in main.imrt.windows  # let go once closed


def test_a_folder_without_a_ct_series_is_refused_with_the_reason(qtbot, tmp_path):
    main = make_window()
    qtbot.addWidget(main)
    main.imrt.ask_voxel_size = lambda title: 10.0
    window = main.imrt.open_ct_series(str(tmp_path), 10.0)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=20000)
    assert window.volume is None
    assert window.last_problem.startswith("The CT series was not opened: ")
    assert "failed unexpectedly" not in window.last_problem
    assert not window.optimise_action.isEnabled()
    window.close()


def test_export_writes_the_leaf_sequenced_plan_and_refuses_a_stale_dose(qtbot, imrt, tmp_path):
    from pydicom import dcmread

    window = imrt
    assert not window.export_action.isEnabled(), "nothing to export before optimising"
    optimised(qtbot, window)
    assert window.export_action.isEnabled()
    window.ask_export_folder = lambda: str(tmp_path / "plan")
    qtbot.mouseClick(window.toolbar.widgetForAction(window.export_action), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=30000)
    assert window.last_export is not None, window.last_problem
    plan = dcmread(window.last_export.rt_plan)
    assert plan.Modality == "RTPLAN" and len(plan.BeamSequence) == 9
    assert window.last_export.report.read_bytes().startswith(b"%PDF")   # report.pdf beside the RT Plan
    d95 = window.last_deliverable.metrics["PTV"].d95_gy
    assert f"MU per fraction (DEMO calibration); after leaf sequencing PTV D95 {d95:.2f} Gy" in window.last_status
    assert d95 == pytest.approx(50.0, abs=1e-4)   # renormalised after sequencing on the sub-voxel DVH (float32 dose)
    # the same folder again: refused with the reason, the first export untouched
    qtbot.mouseClick(window.toolbar.widgetForAction(window.export_action), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=30000)
    assert "The plan was not exported" in window.last_problem and "already holds an exported plan" in window.last_problem
    assert dcmread(window.last_export.rt_plan).SOPInstanceUID == plan.SOPInstanceUID
    # an objective edit makes the dose stale: Export is disabled until optimised again
    window.document.apply(__import__("dataclasses").replace(
        window.plan, objectives=window.plan.objectives[:-1]), "remove an objective")
    assert window.is_stale and not window.export_action.isEnabled()
    assert window.export_plan(str(tmp_path / "other")) is False
    assert "Optimise the plan first" in window.last_problem and not (tmp_path / "other").exists()


def test_save_reopen_and_close_asks_before_losing_edits(qtbot, imrt_and_launcher, tmp_path):
    from dataclasses import replace

    from planner.core.inverse_plan_file import load_inverse_plan

    window, launcher = imrt_and_launcher
    assert not window.is_modified
    edited = replace(window.plan, max_iterations=77)
    window.document.apply(edited, "iterations")
    assert window.is_modified
    # every unsaved edit is in the recovery file at once
    recovered, source, _ = window.recovery.load()
    assert recovered == edited and source.kind == "tg119" and source.spacing_mm == 10.0
    # close with unsaved edits: Cancel keeps the window and the plan
    asked = []
    window.ask_user = lambda title, text, choices: asked.append(title) or "Cancel"
    assert not window.close()
    assert asked == ["Unsaved IMRT plan"] and window.isVisible() and window.plan == edited
    # Save through the dialog path: the file holds the plan, the recovery file is gone
    window.ask_save_path = lambda: str(tmp_path / "c-shape")
    assert window.save_plan()
    assert window.saved_path == tmp_path / "c-shape.imrt.json" and not window.is_modified
    assert load_inverse_plan(window.saved_path)[0] == edited
    assert not window.recovery.pending()
    assert window.windowTitle().startswith("c-shape.imrt.json — IMRT plan on")
    # reopen from the file: same plan on the same phantom
    again = launcher.open_plan_file(str(window.saved_path))
    assert again.plan == edited and again.volume.grid.shape == window.volume.grid.shape
    assert again.saved_path == window.saved_path and not again.is_modified
    again.close()


def test_an_unsaved_plan_is_offered_back_after_a_crash(qtbot, imrt_and_launcher):
    from dataclasses import replace

    window, launcher = imrt_and_launcher
    edited = replace(window.plan, objectives=window.plan.objectives[:2])
    window.document.apply(edited, "remove objectives")
    crashed_file = window.recovery.path
    # the instance dies without its close dialog (as in a crash): its recovery file remains, its lock goes
    window.document.undo_stack.setClean()
    window.recovery = None
    launcher.session.abandon()
    assert crashed_file.exists()
    # the next Planner offers it when an IMRT plan is started
    again = make_window({"Unsaved IMRT plan found": "Restore"})
    qtbot.addWidget(again)
    restored = again.imrt.open_phantom(10.0)
    assert restored is not window and restored.plan == edited
    assert restored.is_modified, "restored edits stay unsaved until saved"
    assert not crashed_file.exists() and restored.recovery.pending(), "the edits now live in the new window's file"
    restored.ask_user = lambda title, text, choices: "Discard"
    assert restored.close()
    assert not restored.recovery.pending()


def test_a_damaged_or_foreign_plan_file_is_refused_with_its_reason(qtbot, imrt_and_launcher, tmp_path):
    _, launcher = imrt_and_launcher
    bad = tmp_path / "bad.imrt.json"
    bad.write_text('{"format": "planner-plan"}')
    assert launcher.open_plan_file(str(bad)) is None
    assert "The IMRT plan was not opened" in launcher.last_problem and "not a Planner IMRT plan" in launcher.last_problem


def test_the_plan_summary_keeps_what_the_export_delivered(qtbot, imrt, tmp_path):
    from dataclasses import replace

    window = imrt
    optimised(qtbot, window)
    assert window.summary.export_label.text() == "not exported"
    window.export_plan(str(tmp_path / "plan"))
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=30000)
    text = window.summary.export_label.text()
    d95 = window.last_deliverable.metrics["PTV"].d95_gy
    assert f"MU per fraction (DEMO calibration); after leaf sequencing PTV D95 {d95:.2f} Gy" in text
    assert str(tmp_path / "plan") in text
    window.document.apply(replace(window.plan, objectives=window.plan.objectives[:-1]), "remove an objective")
    assert window.summary.export_label.text().startswith("⚠ for other objectives than the current ones")


def test_a_plan_file_open_in_another_instance_is_said_before_it_is_opened(qtbot, tmp_path):
    import os

    from planner.ui.recovery_offer import CANCEL, OPEN_ELSEWHERE_TITLE, OPEN_HERE_TOO

    first = make_window()
    qtbot.addWidget(first)
    window = first.imrt.open_phantom(10.0)
    window.ask_save_path = lambda: str(tmp_path / "c-shape")
    assert window.save_plan()
    # a second Planner instance: its own recovery session in the same (test-private) data folder
    other = make_window()
    qtbot.addWidget(other)
    other.imrt.ask_voxel_size = lambda title: 10.0
    asked, answer = [], [CANCEL]
    other.ask_user = lambda title, text, choices: asked.append((title, text, choices)) or answer[0]
    assert other.imrt.open_plan_file(str(window.saved_path)) is None            # Cancel: not opened
    assert asked == [(OPEN_ELSEWHERE_TITLE, f"c-shape.imrt.json is open in another Planner (process {os.getpid()}). "
                      "If both save it, the edits saved last overwrite the others. Open it here too?",
                      (OPEN_HERE_TOO, CANCEL))]
    answer[0] = OPEN_HERE_TOO
    both = other.imrt.open_plan_file(str(window.saved_path))
    assert both is not None and both.saved_path == window.saved_path and len(asked) == 2
    both.close()
    # once the first instance's window has closed, nobody else has it open: opened without a question
    window.close()
    again = other.imrt.open_plan_file(str(tmp_path / "c-shape.imrt.json"))
    assert again is not None and len(asked) == 2
    again.close()


def test_a_save_that_cannot_be_written_is_refused_in_one_sentence(qtbot, imrt_and_launcher, tmp_path):
    """The user reads once that the plan was not saved, and why (not "not saved: the plan was not saved")."""
    window, _ = imrt_and_launcher
    (tmp_path / "a file").write_text("not a folder")
    target = tmp_path / "a file" / "c-shape.imrt.json"
    assert not window.save_plan(str(target))
    assert window.last_problem.startswith(f"The plan was not saved: cannot write {target}: ")
    assert window.last_problem.count("not saved") == 1 and not target.exists()


def test_a_plan_the_file_would_refuse_is_not_saved_and_said_once(qtbot, imrt_and_launcher, tmp_path):
    from dataclasses import replace

    window, _ = imrt_and_launcher
    window.document.apply(replace(window.plan, objectives=()), "no objectives")
    target = tmp_path / "empty.imrt.json"
    assert not window.save_plan(str(target))
    assert window.last_problem.startswith("The plan was not saved: the plan has no objectives")
    assert window.last_problem.count("not saved") == 1 and not target.exists()
