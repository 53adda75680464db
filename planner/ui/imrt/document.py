"""The IMRT window's plan and its undo history: every edit of the InversePlan is one undo step
(planner.ui.undoable_document), and every unsaved edit goes to the window's recovery file at once
(atomically) with where the volume came from, so a crash loses none.

What goes with the plan and is undone with it (the clinical protocol applied: its volume with the
derived structures and the structure mapping; the earlier course's dose) is the plan's
``PlanContext``: one edit changes plan and context together, so one Ctrl+Z returns to both as they were.
What the plan file keeps of it (which protocol file, the mapping, the earlier course's files, each
with its SHA-256 when read) goes with it too: saved and kept for recovery with the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand

from planner.core.inverse_plan import InversePlan
from planner.core.inverse_plan_file import ImrtRecovery, VolumeSource
from planner.core.plan_context_file import EarlierCourseRecord, PlanContextRecord, ProtocolRecord
from planner.ui.undoable_document import UndoableDocument


@dataclass(frozen=True)
class PlanContext:
    """``protocol``: the applied protocol's plan (plugins.imrt_photon.protocol_plan.ProtocolPlan: the
    protocol, the volume with its derived structures, the protocol → CT mapping), None for none;
    ``prior``: the earlier course's dose for a re-irradiation, None for none; ``protocol_record`` and
    ``prior_record``: the files they were read from, for the plan file (None: not read from a file)."""

    protocol: object | None = None
    prior: object | None = None
    protocol_record: ProtocolRecord | None = None
    prior_record: EarlierCourseRecord | None = None

    def file_record(self) -> PlanContextRecord | None:
        """What the plan file keeps: the protocol's file and mapping (the protocol's own structures:
        the derived ones are derived again), the earlier course's files; None without a protocol
        read from a file."""
        if self.protocol is None or self.protocol_record is None:
            return None
        own = tuple((s.name, self.protocol.mapping[s.name]) for s in self.protocol.protocol.structures)
        return PlanContextRecord(replace(self.protocol_record, mapping=own),
                                 self.prior_record if self.prior is not None else None)


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
            record = self.context.file_record()   # none: the recovery file is written as before it had one
            self.recovery.save(self.plan, self.source, *(() if record is None else (record,)))

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
