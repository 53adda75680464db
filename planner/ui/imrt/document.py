"""The IMRT window's plan and its undo history: every edit of the InversePlan is one undo step.

The plan is a frozen value (planner.core.inverse_plan); an edit pushes a command holding the old
and the new value, so undo and redo only swap values and the widgets redraw from plan_changed.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from planner.core.inverse_plan import InversePlan


class InversePlanDocument(QObject):
    plan_changed = Signal(object)  # the new InversePlan

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.plan: InversePlan | None = None

    def reset(self, plan: InversePlan) -> None:
        """A new volume and its starting plan: not an undoable edit."""
        self.undo_stack.clear()
        self._set_plan(plan)

    def apply(self, new_plan: InversePlan, description: str) -> None:
        if self.plan is None or new_plan == self.plan:
            return
        self.undo_stack.push(_ReplacePlan(self, self.plan, new_plan, description))

    def _set_plan(self, plan: InversePlan) -> None:
        self.plan = plan
        self.plan_changed.emit(plan)


class _ReplacePlan(QUndoCommand):
    def __init__(self, document: InversePlanDocument, old: InversePlan, new: InversePlan, description: str):
        super().__init__(description)
        self._document, self._old, self._new = document, old, new

    def redo(self) -> None:
        self._document._set_plan(self._new)

    def undo(self) -> None:
        self._document._set_plan(self._old)
