"""A plan being edited in a window: its value, its undo history, whether it is saved, and its
unsaved edits kept in a recovery file. The surface plan (planner.ui.document) and the IMRT plan
(planner.ui.imrt.document) are both one.

The plan is a frozen value: an edit pushes a command holding the old and the new value, so undo
and redo only swap values and the widgets redraw from ``plan_changed``. Whenever the undo history
moves, the plan is written to the recovery file if it has unsaved work and the file is removed if
not, so a crash loses nothing the user did.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack


class UndoableDocument(QObject):
    plan_changed = Signal(object)  # the new plan
    autosave_failed = Signal(str)  # what the user must do about it

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.plan = None
        # after the stack has moved (during a push, plan_changed comes before the index changes)
        self.undo_stack.indexChanged.connect(self.autosave)

    def apply(self, new_plan, description: str, merge_key: int = -1) -> None:
        """Make an edit undoable. Consecutive edits with the same merge key form one undo step."""
        if self.plan is None or new_plan == self.plan:
            return
        self.undo_stack.push(_ChangePlan(self, self.plan, new_plan, description, merge_key))

    @property
    def is_modified(self) -> bool:
        """Edits since the plan was opened or last saved."""
        return not self.undo_stack.isClean()

    @property
    def has_unsaved_work(self) -> bool:
        return self.is_modified

    def mark_saved(self) -> None:
        """The plan is now in its plan file: nothing left to recover."""
        self.undo_stack.setClean()
        self.autosave()

    def mark_unsaved(self) -> None:
        """The plan exists nowhere but here (a recovered one): closing it asks to save."""
        self.undo_stack.resetClean()
        self.autosave()

    def close_cleanly(self) -> None:
        """The user closed the plan on purpose (saved or discarded): nothing left to recover."""
        self._forget_recovery()

    def autosave(self, *_signal_args) -> None:
        if self.plan is None:
            return
        try:
            if self.has_unsaved_work:
                self._keep_for_recovery()
            else:
                self._forget_recovery()
        except OSError as err:
            self.autosave_failed.emit(self._autosave_problem(err))

    # --- what each kind of plan does with its recovery file ------------------------------------
    def _keep_for_recovery(self) -> None:
        raise NotImplementedError

    def _forget_recovery(self) -> None:
        raise NotImplementedError

    def _autosave_problem(self, err: OSError) -> str:
        raise NotImplementedError

    def _set_plan(self, plan) -> None:
        self.plan = plan
        self.plan_changed.emit(plan)


class _ChangePlan(QUndoCommand):
    def __init__(self, document: UndoableDocument, old, new, description: str, merge_key: int):
        super().__init__(description)
        self._document = document
        self._old = old
        self._new = new
        self._merge_key = merge_key

    def redo(self) -> None:
        self._document._set_plan(self._new)

    def undo(self) -> None:
        self._document._set_plan(self._old)

    def id(self) -> int:
        return self._merge_key

    def mergeWith(self, other: QUndoCommand) -> bool:
        if other.id() != self._merge_key or self._merge_key == -1:
            return False
        self._new = other._new
        return True
