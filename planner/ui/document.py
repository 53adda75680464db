"""The open surface plan, its image and its undo history, observed by the widgets.

Every edit goes through ``apply``, which pushes an undo command (planner.ui.undoable_document).
Whenever the plan differs from what is saved in its plan file (after an edit, an undo, a redo, or
opening a recovered plan), it is written to the recovery file at once, so a crash loses nothing the
user did; when it matches the saved file again, the recovery file is removed. Text typed into a
field and not yet used (no Enter) is kept in the recovery file too (``set_pending_entries``), to be
put back into its field.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from planner.core.plan import Plan
from planner.core.recovery import RecoveryStore
from planner.ui.undoable_document import UndoableDocument


class PlanDocument(UndoableDocument):
    image_changed = Signal(object)  # the new PlanningImage

    def __init__(self, recovery: RecoveryStore, parent: QObject | None = None):
        super().__init__(parent)
        self.recovery = recovery
        self.plan: Plan | None = None
        self.planning_image = None
        self.file_path: str | None = None
        self.pending_entries: dict[str, str] = {}  # field name → text typed but not yet used

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
        self.autosave()

    def mark_saved(self, file_path: str) -> None:
        self.file_path = file_path
        self.recovery.note_open(file_path)
        super().mark_saved()

    def set_pending_entries(self, entries: dict[str, str]) -> None:
        """What the fields hold that the plan does not yet (typed, no Enter): kept for recovery."""
        if entries != self.pending_entries:
            self.pending_entries = dict(entries)
            self.autosave()

    @property
    def has_unsaved_work(self) -> bool:
        """Edits not in the plan file, or text typed into a field and not yet used."""
        return self.is_modified or bool(self.pending_entries)

    def close_cleanly(self) -> None:
        super().close_cleanly()
        self.recovery.note_open(None)

    def _keep_for_recovery(self) -> None:
        self.recovery.save(self.plan, self.pending_entries)

    def _forget_recovery(self) -> None:
        self.recovery.discard()

    def _autosave_problem(self, err: OSError) -> str:
        return (f"Autosave to {self.recovery.path} failed: {err.strerror or err}. "
                "Save the plan to a file to keep your edits.")
