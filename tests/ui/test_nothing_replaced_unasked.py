"""Issue 15, point 1: every action that replaces the plan on screen asks Save / Discard / Cancel when
it has unsaved edits, and the recovery file goes only once the user has chosen and the plan is gone."""

import pytest
from PySide6.QtTest import QTest

from planner.core.plan_file import load_plan, save_plan
from planner.dicom.pacs_settings import PacsNode
from planner.ui.pacs_browser import PacsBrowser
from tests.review.test_plan_review import signed_package
from tests.ui.gui_driver import make_window
from tests.ui.test_ebx_in_window import wait_for_dose
from tests.ui.test_work_is_never_lost import a_png

UNSAVED = "Unsaved plan"
EDIT = "an edit nobody saved"


def idle(window, qtbot):
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60000)


def edited(w, tmp_path):
    """The demo plan with one unsaved edit; also writes another plan file to open."""
    save_plan(tmp_path / "other.plan.json", w.document.plan.with_notes("the other plan"))
    w.document.apply(w.document.plan.with_notes(EDIT), "Edit notes")
    assert w.document.recovery.load().notes == EDIT
    return w.document.plan


def fake_pacs(w):
    w.settings.save_pacs_node(PacsNode("127.0.0.1", 1, "NOBODY", "PLANNER", timeout_s=1))


# Each way of replacing the plan, as the user takes it (the menu where it opens no file dialog).
ENTRY_POINTS = {
    "open image": lambda w, tmp: w.open_image_file(str(a_png(tmp))),
    "open plan": lambda w, tmp: w.open_plan_file(str(tmp / "other.plan.json")),
    "open recent": lambda w, tmp: w._open_recent(str(tmp / "other.plan.json")),
    # a real signed surface plan: whether an RT Plan replaces the plan at all (an IMRT one opens in its own
    # window) is known only once it is read, so the question comes after that
    "open signed plan": lambda w, tmp: w.output.open_signed(signed_package(tmp / "signed", tmp)[0] / "RTPLAN.dcm"),
    "review plan": lambda w, tmp: w.reviewing.review(tmp / "RTPLAN.dcm"),
    "review from PACS": lambda w, tmp: fake_pacs(w) or w.reviewing.review_from_pacs_action.trigger(),
    "open image from PACS": lambda w, tmp: fake_pacs(w) or w.output.open_from_pacs_action.trigger(),
    "demo": lambda w, tmp: w.open_demo_action.trigger(),
    "quit": lambda w, tmp: w.quit_action.trigger(),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_cancel_keeps_the_plan_its_undo_and_its_recovery_file(demo_window, qtbot, tmp_path, entry):
    w = demo_window
    plan = edited(w, tmp_path)
    undo_steps = w.document.undo_stack.count()
    asked = []
    w.ask_user = lambda title, text, choices: asked.append((title, choices)) or "Cancel"
    ENTRY_POINTS[entry](w, tmp_path)
    assert asked == [(UNSAVED, ("Save", "Discard", "Cancel"))]
    assert not w.runner.busy and not w.findChildren(PacsBrowser)   # nothing started after Cancel
    idle(w, qtbot)
    assert w.isVisible() and w.document.plan is plan and w.document.undo_stack.count() == undo_steps
    assert w.document.recovery.load().notes == EDIT


def test_without_unsaved_edits_nothing_is_asked(demo_window, qtbot, tmp_path):
    w = demo_window
    asked = []
    w.ask_user = lambda title, text, choices: asked.append(title) or "Cancel"
    save_plan(tmp_path / "other.plan.json", w.document.plan.with_notes("the other plan"))
    assert w.open_plan_file(str(tmp_path / "other.plan.json"))
    idle(w, qtbot)
    assert asked == [] and w.document.plan.notes == "the other plan"


@pytest.fixture
def exported(demo_window, qtbot, tmp_path):
    """The demo plan exported as a package (RTPLAN.dcm), then edited and not saved."""
    w = demo_window
    wait_for_dose(w, qtbot)
    assert w.output.export_package(tmp_path / "package")
    idle(w, qtbot)
    rt_plan = tmp_path / "package" / "RTPLAN.dcm"
    assert rt_plan.exists(), w.last_problem
    w.document.apply(w.document.plan.with_notes(EDIT), "Edit notes")
    return w, rt_plan


def test_review_asks_first_and_the_recovery_file_goes_only_with_the_plan(exported, qtbot):
    w, rt_plan = exported
    recovery = w.document.recovery
    asked = []

    def discard(title, text, choices):
        asked.append(title)
        assert w.document.recovery.load().notes == EDIT   # still there while the user decides
        return "Discard"

    w.ask_user = discard
    assert w.reviewing.review(rt_plan)
    assert recovery.load().notes == EDIT   # chosen, but the plan is still on screen while the review runs
    qtbot.waitUntil(lambda: w.review_panel.review is not None and not w.runner.busy, timeout=120000)
    idle(w, qtbot)
    assert asked == [UNSAVED]   # once, before the review: not again when the reviewed plan opens
    assert w.document.plan.notes != EDIT and not w.document.is_modified
    assert not recovery.pending()


def test_save_keeps_the_edit_in_its_file_before_the_signed_plan_opens(exported, qtbot, tmp_path):
    w, rt_plan = exported
    w.document.file_path = str(tmp_path / "mine.plan.json")
    w.ask_user = lambda title, text, choices: "Save" if title == UNSAVED else "Cancel"
    assert w.output.open_signed(rt_plan)
    idle(w, qtbot)
    assert load_plan(tmp_path / "mine.plan.json").notes == EDIT
    assert w.document.plan.notes != EDIT and w.output.opened is not None


def test_an_edit_made_while_the_review_runs_is_asked_about_again(exported, qtbot):
    w, rt_plan = exported
    asked = []
    w.ask_user = lambda title, text, choices: asked.append(title) or ("Discard" if len(asked) == 1 else "Cancel")
    assert w.reviewing.review(rt_plan)
    w.document.apply(w.document.plan.with_notes("typed while the review ran"), "Edit notes")
    qtbot.waitUntil(lambda: w.review_panel.review is not None and not w.runner.busy, timeout=120000)
    assert asked == [UNSAVED, UNSAVED]
    assert w.document.plan.notes == "typed while the review ran"
    assert w.document.recovery.load().notes == "typed while the review ran"


def test_text_typed_into_a_field_survives_a_crash_in_its_field(demo_window, qtbot):
    w = demo_window
    dose = w.document.plan.prescription.dose_per_fraction_gy
    field = w.plan_panel.dose_per_fraction.line_edit
    field.setFocus()
    field.selectAll()
    QTest.keyClicks(field, "19")   # no Enter
    entries = w.document.recovery.entries_path
    qtbot.waitUntil(lambda: entries.exists(), timeout=5000)   # a moment after the last key
    assert w.document.recovery.load_entries() == {"dose per fraction": "19"}
    assert w.document.plan.prescription.dose_per_fraction_gy == dose
    # the window goes without closing (a crash)
    w.document.undo_stack.blockSignals(True)
    w.document.blockSignals(True)
    w.document.recovery.session.abandon()

    again = make_window({"Restore unsaved plan?": "Restore"})
    qtbot.addWidget(again)
    again.show()
    assert again.offer_recovery()
    qtbot.waitUntil(lambda: again.document.plan is not None and not again.runner.busy, timeout=60000)
    assert again.plan_panel.dose_per_fraction.line_edit.text() == "19"        # back in its field
    assert again.document.plan.prescription.dose_per_fraction_gy == dose      # not silently in the plan
    assert again.document.recovery.load_entries() == {"dose per fraction": "19"}   # and kept again
    assert "dose per fraction “19”" in again.statusBar().currentMessage()


def test_a_plan_open_in_another_instance_is_said_before_opening(window, qtbot, tmp_path):
    from tests.ui.test_work_is_never_lost import a_png as png

    plan_file = tmp_path / "shared.plan.json"
    first = window
    assert first.open_image_file(str(png(tmp_path)))
    idle(first, qtbot)
    save_plan(plan_file, first.document.plan)
    assert first.open_plan_file(str(plan_file))
    idle(first, qtbot)

    second = make_window()
    qtbot.addWidget(second)
    asked = []
    second.ask_user = lambda title, text, choices: asked.append((title, text)) or "Cancel"
    assert not second.open_plan_file(str(plan_file))
    assert [title for title, _ in asked] == ["Plan open in another Planner"]
    assert "shared.plan.json is open in another Planner" in asked[0][1]
    assert second.document.plan is None

    first.close()   # closed: the plan file is no longer open anywhere
    asked.clear()
    assert second.open_plan_file(str(plan_file))
    idle(second, qtbot)
    assert asked == [] and second.document.file_path == str(plan_file)


def test_a_new_imrt_plan_leaves_the_other_imrt_windows_recovery_file_alone(qtbot):
    from dataclasses import replace

    main = make_window()
    qtbot.addWidget(main)
    asked = []
    main.ask_user = lambda title, text, choices: asked.append(title) or "Discard"
    main.imrt.ask_voxel_size = lambda title: 10.0
    main.imrt.new_phantom_action.trigger()
    first = main.imrt.windows[-1]
    first.document.apply(replace(first.plan, max_iterations=77), "iterations")
    assert first.recovery.load()[0].max_iterations == 77

    main.imrt.new_phantom_action.trigger()
    second = main.imrt.windows[-1]
    assert second is not first and asked == []   # the first window's live work is not offered as a crash's
    assert second.recovery.path != first.recovery.path
    second.document.apply(replace(second.plan, max_iterations=55), "iterations")
    assert first.recovery.load()[0].max_iterations == 77 and second.recovery.load()[0].max_iterations == 55
    for window in (first, second):
        window.close()
    assert asked == ["Unsaved IMRT plan", "Unsaved IMRT plan"]
    assert not first.recovery.pending() and not second.recovery.pending()
