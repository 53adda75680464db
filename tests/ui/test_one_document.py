"""One document type serves both windows (issue 16, point 5): the surface plan and the IMRT plan
keep their unsaved edits for recovery by the same rule, and say alike when they cannot."""

from __future__ import annotations

import pytest

from planner.ui.document import PlanDocument
from planner.ui.imrt.document import InversePlanDocument
from planner.ui.undoable_document import UndoableDocument


class Recorded:
    """A recovery file that writes down what it is asked (the IMRT recovery's calls)."""

    def __init__(self, fails: bool = False):
        self.fails = fails
        self.kept = []
        self.cleared = 0

    def save(self, plan, source) -> None:
        if self.fails:
            raise OSError(28, "No space left on device")
        self.kept.append(plan)

    def clear(self) -> None:
        self.cleared += 1


def test_both_documents_are_one_kind():
    assert issubclass(PlanDocument, UndoableDocument) and issubclass(InversePlanDocument, UndoableDocument)


def test_an_edit_is_kept_for_recovery_at_once_and_forgotten_when_undone_back_to_the_saved_plan(qtbot):
    recovery = Recorded()
    document = InversePlanDocument(recovery, source="tg119")
    document.reset("plan as opened")

    document.apply("plan edited", "edit")
    assert recovery.kept == ["plan edited"] and document.is_modified
    cleared = recovery.cleared
    document.undo_stack.undo()
    assert recovery.cleared == cleared + 1 and not document.is_modified
    document.undo_stack.redo()
    document.mark_saved()
    assert recovery.cleared == cleared + 2 and not document.is_modified


def test_a_plan_that_cannot_be_saved_is_not_kept_and_a_restored_one_stays_unsaved(qtbot):
    without_source = Recorded()
    document = InversePlanDocument(without_source, source=None)
    document.reset("plan")
    document.apply("edited", "edit")
    assert without_source.kept == []   # a volume that cannot be reopened: nothing to recover it with

    restored = Recorded()
    document = InversePlanDocument(restored, source="tg119")
    document.reset("plan from the recovery file")
    document.mark_unsaved()
    assert document.is_modified and restored.kept == ["plan from the recovery file"]


@pytest.mark.parametrize("edits", [1, 2])
def test_a_recovery_file_that_cannot_be_written_is_said_not_raised(qtbot, edits):
    document = InversePlanDocument(Recorded(fails=True), source="tg119")
    document.reset("plan")
    said = []
    document.autosave_failed.connect(said.append)

    for k in range(edits):
        document.apply(f"edit {k}", "edit")

    assert said == ["⚠ Unsaved edits could not be kept for recovery: No space left on device"] * edits
    assert document.plan == f"edit {edits - 1}"   # the edit itself stands
