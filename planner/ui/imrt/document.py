"""The IMRT window's plan and its undo history: every edit of the InversePlan is one undo step
(planner.ui.undoable_document), and every unsaved edit goes to the window's recovery file at once
(atomically) with where the volume came from, so a crash loses none.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from planner.core.inverse_plan import InversePlan
from planner.core.inverse_plan_file import ImrtRecovery, VolumeSource
from planner.ui.undoable_document import UndoableDocument


class InversePlanDocument(UndoableDocument):
    def __init__(self, recovery: ImrtRecovery | None = None, source: VolumeSource | None = None,
                 parent: QObject | None = None):
        """Without a ``source`` (a volume that cannot be reopened) or a ``recovery``, nothing is kept."""
        super().__init__(parent)
        self.recovery = recovery
        self.source = source
        self.plan: InversePlan | None = None

    def reset(self, plan: InversePlan) -> None:
        """A new volume and its starting plan: not an undoable edit."""
        self.undo_stack.clear()
        self._set_plan(plan)

    def _keep_for_recovery(self) -> None:
        if self.recovery is not None and self.source is not None:
            self.recovery.save(self.plan, self.source)

    def _forget_recovery(self) -> None:
        if self.recovery is not None and self.source is not None:
            self.recovery.clear()

    def _autosave_problem(self, err: OSError) -> str:
        return f"⚠ Unsaved edits could not be kept for recovery: {err.strerror or err}"
