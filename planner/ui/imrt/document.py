"""The IMRT window's plan and its undo history: every edit of the InversePlan is one undo step
(planner.ui.undoable_document), and every unsaved edit goes to the window's recovery file at once
(atomically) with where the volume came from, so a crash loses none.

What goes with the plan and is undone with it (the clinical protocol applied: its volume with the
derived structures and the structure mapping; the earlier course's dose) is the plan's
``PlanContext``: one edit changes plan and context together, so one Ctrl+Z returns to both as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand

from planner.core.inverse_plan import InversePlan
from planner.core.inverse_plan_file import ImrtRecovery, VolumeSource
from planner.ui.undoable_document import UndoableDocument


@dataclass(frozen=True)
class PlanContext:
    """``protocol``: the applied protocol's plan (plugins.imrt_photon.protocol_plan.ProtocolPlan: the
    protocol, the volume with its derived structures, the protocol → CT mapping), None for none;
    ``prior``: the earlier course's dose for a re-irradiation, None for none."""

    protocol: object | None = None
    prior: object | None = None


class InversePlanDocument(UndoableDocument):
    context_changed = Signal(object)   # the new PlanContext, before the plan that goes with it

    def __init__(self, recovery: ImrtRecovery | None = None, source: VolumeSource | None = None,
                 parent: QObject | None = None):
        """Without a ``source`` (a volume that cannot be reopened) or a ``recovery``, nothing is kept."""
        super().__init__(parent)
        self.recovery = recovery
        self.source = source
        self.plan: InversePlan | None = None
        self.context = PlanContext()

    def reset(self, plan: InversePlan, context: PlanContext | None = None) -> None:
        """A new volume and its starting plan: not an undoable edit."""
        self.undo_stack.clear()
        self._set_context(context or PlanContext())
        self._set_plan(plan)

    def apply_with_context(self, plan: InversePlan, context: PlanContext, description: str) -> None:
        """Plan and context changed together as one undo step (nothing when neither changes)."""
        if self.plan is None or (plan == self.plan and context == self.context):
            return
        self.undo_stack.push(_ChangePlanAndContext(self, (self.plan, self.context), (plan, context), description))

    def _set_context(self, context: PlanContext) -> None:
        self.context = context
        self.context_changed.emit(context)

    def _keep_for_recovery(self) -> None:
        if self.recovery is not None and self.source is not None:
            self.recovery.save(self.plan, self.source)

    def _forget_recovery(self) -> None:
        if self.recovery is not None and self.source is not None:
            self.recovery.clear()

    def _autosave_problem(self, err: OSError) -> str:
        return f"⚠ Unsaved edits could not be kept for recovery: {err.strerror or err}"


class _ChangePlanAndContext(QUndoCommand):
    """Swaps (plan, context) pairs; the context first, so the window has the volume the plan is on."""

    def __init__(self, document: InversePlanDocument, old: tuple, new: tuple, description: str):
        super().__init__(description)
        self._document, self._old, self._new = document, old, new

    def redo(self) -> None:
        self._swap_to(self._new)

    def undo(self) -> None:
        self._swap_to(self._old)

    def _swap_to(self, state: tuple) -> None:
        plan, context = state
        self._document._set_context(context)
        self._document._set_plan(plan)
