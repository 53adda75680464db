"""Regression tests from the review: the ways a user's work could be lost or misread."""

import numpy as np
from PIL import Image
from PySide6.QtTest import QTest

from tests.ui.gui_driver import choose_in_combo, make_window


def a_png(tmp_path, name="photo.png"):
    path = tmp_path / name
    Image.fromarray((np.arange(200 * 300) % 251).reshape(200, 300).astype(np.uint8)).save(path)
    return path


def test_an_edit_made_while_another_image_loads_is_not_thrown_away_unasked(demo_window, qtbot, tmp_path):
    w = demo_window
    w.ask_user = lambda title, text, choices: "Discard"
    assert w.open_image_file(str(a_png(tmp_path)))  # the unedited demo may go
    w.document.apply(w.document.plan.with_notes("typed while loading"), "Edit notes")
    asked = []
    w.ask_user = lambda title, text, choices: asked.append(title) or "Cancel"
    qtbot.waitUntil(lambda: not w.runner.busy or w.runner.preemptible, timeout=20000)
    assert asked == ["Unsaved plan"]  # asked again when the image arrived
    assert w.document.plan.notes == "typed while loading" and w.document.recovery.pending()


def test_a_restore_that_does_not_finish_keeps_the_recovery_file(qtbot, tmp_path):
    first = make_window({"Unsaved plan": "Discard"})
    qtbot.addWidget(first)
    first.open_demo()
    first.document.apply(first.document.plan.with_notes("precious"), "Edit notes")
    recovered = first.document.recovery.load()
    first.document.undo_stack.blockSignals(True)  # "crash": the window goes without a clean close
    first.document.blockSignals(True)
    first.document.recovery.session.abandon()   # its process is gone: the OS let go of its lock
    # The recovered plan names an image that is no longer there.
    from planner.core.plan_file import save_plan

    save_plan(first.document.recovery.path, recovered.__class__(**{**recovered.__dict__,
                                                                    "image_path": str(tmp_path / "moved.dcm")}))
    second = make_window({"Restore unsaved plan?": "Restore", "Unsaved plan": "Discard"})
    qtbot.addWidget(second)
    second.offer_recovery()
    qtbot.waitUntil(lambda: not second.runner.busy, timeout=20000)
    assert "not restored" in second.last_problem and "Nothing is lost" in second.last_problem
    kept = list(second.document.recovery.session.root.glob("unrestored-plan-*.plan.json"))
    assert len(kept) == 1
    second.open_demo()  # whatever the user does next cannot overwrite it
    second.document.apply(second.document.plan.with_notes("new session"), "Edit notes")
    from planner.core.plan_file import load_plan

    assert load_plan(kept[0]).notes == "precious"
    first.close()


def test_a_typed_but_unconfirmed_dose_is_saved_not_lost(demo_window, tmp_path):
    w = demo_window
    field = w.plan_panel.dose_per_fraction.line_edit
    field.setFocus()
    field.selectAll()
    QTest.keyClicks(field, "20")  # no Enter; 20 Gy × 1 is a published kV regimen, so no question is asked
    w.document.file_path = str(tmp_path / "p.plan.json")
    assert w.save()
    from planner.core.plan_file import load_plan

    assert load_plan(tmp_path / "p.plan.json").prescription.dose_per_fraction_gy == 20.0


def test_a_non_number_in_a_field_stops_the_save_with_a_message(demo_window, tmp_path):
    w = demo_window
    field = w.plan_panel.fractions.line_edit
    field.setFocus()
    field.selectAll()
    QTest.keyClicks(field, "five")
    w.document.file_path = str(tmp_path / "p.plan.json")
    assert not w.save()
    assert "five" in w.last_problem and not (tmp_path / "p.plan.json").exists()


def test_a_second_hand_calibration_is_refused(window, qtbot, tmp_path):
    w = window
    assert w.open_image_file(str(a_png(tmp_path)))
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=20000)
    from planner.core.manual_calibration import ManualCalibration

    w.document.apply(w.document.plan.with_manual_calibration(ManualCalibration(10.0, 200.0)), "Calibrate")
    w.start_hand_calibration()
    assert w.view.click_tool is None and "already calibrated by hand" in w.last_problem


def test_changing_the_machine_takes_that_machines_energy_and_applicator(demo_window, qtbot):
    w = demo_window
    choose_in_combo(w.plan_panel.technique_combo, "Electronic brachytherapy, surface applicators (HDR eBx)")
    combo = w.plan_panel.machine_combo
    other = [combo.itemText(i) for i in range(combo.count()) if i != combo.currentIndex()][0]
    choose_in_combo(combo, other)
    plan = w.document.plan
    machine = w.registry.get("ebx-surface").machine(plan.setup.machine_id)
    machine.energy(plan.setup.energy_id)  # raises if the plan kept the other machine's energy
    machine.applicator(plan.setup.applicator_id)
    assert w.plan_panel.energy_combo.currentData() == plan.setup.energy_id
    assert w.plan_panel.applicator_combo.currentData() == plan.setup.applicator_id


def test_a_recommendation_for_a_plan_that_changed_meanwhile_is_discarded(demo_window, qtbot):
    w = demo_window
    panel = w.metrics_panel.dose_panel
    panel.recommend_button.click()
    w.document.apply(w.document.plan.with_notes("changed while recommending"), "Edit notes")
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=120000)
    assert not panel.use_cone.isEnabled()
    assert "discarded" in w.statusBar().currentMessage()
