"""The open plan, its image and its undo history, observed by the widgets.

Every edit goes through ``apply``, which pushes an undo command. Whenever the plan differs from
what is saved in its plan file (after an edit, an undo, a redo, or opening a recovered plan), it
is written to the recovery file at once, so a crash loses nothing the user did; when it matches
the saved file again, the recovery file is removed. Text typed into a field and not yet used
(no Enter) is kept in the recovery file too (``set_pending_entries``), to be put back into its field.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from planner.core.plan import Plan
from planner.core.recovery import RecoveryStore


class PlanDocument(QObject):
    plan_changed = Signal(object)  # the new Plan
    image_changed = Signal(object)  # the new PlanningImage
    autosave_failed = Signal(str)

    def __init__(self, recovery: RecoveryStore, parent: QObject | None = None):
        super().__init__(parent)
        self.recovery = recovery
        self.undo_stack = QUndoStack(self)
        self.plan: Plan | None = None
        self.planning_image = None
        self.file_path: str | None = None
        self.pending_entries: dict[str, str] = {}  # field name → text typed but not yet used
        self.undo_stack.indexChanged.connect(self._autosave)
        self.undo_stack.cleanChanged.connect(self._autosave)

    def open(self, planning_image, plan: Plan, file_path: str | None = None, saved: bool = True) -> None:
        """Replace the whole document (a new image or plan file); this is not an undoable edit.

        ``saved=False`` marks a plan that exists nowhere but in memory (a recovered one), so
        closing it asks to save.
        """
        self.undo_stack.clear()
        self.pending_entries = {}
        self.planning_image = planning_image
        self.file_path = file_path
        self.recovery.note_open(file_path)
        self.image_changed.emit(planning_image)
        self._set_plan(plan)
        if not saved:
            self.undo_stack.resetClean()
        self._autosave()

    def apply(self, new_plan: Plan, description: str, merge_key: int = -1) -> None:
        """Make an edit undoable. Consecutive edits with the same merge key form one undo step."""
        if self.plan is None or new_plan == self.plan:
            return
        self.undo_stack.push(_ChangePlan(self, self.plan, new_plan, description, merge_key))

    def mark_saved(self, file_path: str) -> None:
        self.file_path = file_path
        self.recovery.note_open(file_path)
        self.undo_stack.setClean()

    def set_pending_entries(self, entries: dict[str, str]) -> None:
        """What the fields hold that the plan does not yet (typed, no Enter): kept for recovery."""
        if entries != self.pending_entries:
            self.pending_entries = dict(entries)
            self._autosave()

    @property
    def is_modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def has_unsaved_work(self) -> bool:
        """Edits not in the plan file, or text typed into a field and not yet used."""
        return self.is_modified or bool(self.pending_entries)

    def close_cleanly(self) -> None:
        """The user closed the plan on purpose: nothing left to recover."""
        self.recovery.discard()
        self.recovery.note_open(None)

    def _set_plan(self, plan: Plan) -> None:
        self.plan = plan
        self.plan_changed.emit(plan)

    def _autosave(self, *_signal_args) -> None:
        if self.plan is None:
            return
        try:
            if self.has_unsaved_work:
                self.recovery.save(self.plan, self.pending_entries)
            else:
                self.recovery.discard()
        except OSError as err:
            self.autosave_failed.emit(f"Autosave to {self.recovery.path} failed: {err.strerror or err}. "
                                      "Save the plan to a file to keep your edits.")


class _ChangePlan(QUndoCommand):
    def __init__(self, document: PlanDocument, old: Plan, new: Plan, description: str, merge_key: int):
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
