"""Bringing back the work of Planner sessions that did not close, and telling a second instance
that the plan it opens is open in another one.

Every stopped instance's unsaved plan is offered on its own (planner.core.recovery): the first one
the user restores opens in this window with the text that was typed into its fields and not yet
used put back into them (not into the plan); the others can be kept as plan files, discarded, or
left for later (offered again at the next start).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from planner.core.plan_file import PlanFileError
from planner.ui.dialogs import Dialogs
from planner.ui.document import PlanDocument

RESTORE_TITLE = "Restore unsaved plan?"
KEEP_TITLE = "Keep unsaved plan?"
OPEN_ELSEWHERE_TITLE = "Plan open in another Planner"
RESTORE, KEEP, DISCARD, LATER = "Restore", "Keep as plan file", "Discard", "Later"
OPEN_HERE_TOO, CANCEL = "Open here too", "Cancel"


class RecoveryOffer:
    def __init__(self, document: PlanDocument, dialogs: Dialogs, open_plan: Callable[..., bool],
                 restore_typed_entries: Callable[[dict], list]):
        """``open_plan(plan, file_path, saved, on_failure)`` opens a plan on its image (planner.ui.plan_files);
        ``restore_typed_entries(entries)`` puts typed text back into the plan's fields, saying which."""
        self.document = document
        self.dialogs = dialogs
        self.open_plan = open_plan
        self.restore_typed_entries = restore_typed_entries
        self._restoring = None   # (store, the file set aside, orphan, typed entries) while a restore loads

    @property
    def session(self):
        return self.document.recovery.session

    # --- after a crash ---------------------------------------------------------------------------
    def offer(self) -> bool:
        """Offer each stopped session's unsaved plan in turn; True when one is being restored here."""
        if self.session is None:
            return False
        restoring = False
        for orphan in self.session.orphans():
            store = orphan.plan_store
            if store is None:
                continue   # only IMRT work: the IMRT launcher offers it
            restoring = self._offer_one(orphan, store, restoring) or restoring
        return restoring

    def _offer_one(self, orphan, store, already_restoring: bool) -> bool:
        w = self.dialogs
        try:
            plan = store.load()
        except PlanFileError as err:
            self.session.forget(orphan)
            w.report_problem(f"A recovery file was found but is damaged ({err}); it was kept beside as "
                             f"{store.path.with_suffix('.damaged.json')}.")
            return False
        entries = store.load_entries()
        what = (f"{orphan.describe()} did not close normally. Its plan “{plan.label}” for {plan.patient_name} "
                f"({plan.patient_id}) was autosaved after its last edit"
                + (f", with text typed into {', '.join(entries)} and not yet used" if entries else "")
                + " (its undo history is not kept).")
        if already_restoring:
            answer = w.ask(KEEP_TITLE, f"{what}\n\nAnother plan is being restored here. Keep this one as a "
                                "plan file to open later with File ▸ Open Plan?", (KEEP, DISCARD, LATER))
        else:
            answer = w.ask(RESTORE_TITLE, f"{what}\n\nRestore it?", (RESTORE, DISCARD, LATER))
        if answer == DISCARD:
            store.discard()
        elif answer == KEEP:
            kept = store.keep(store.set_aside())
            store.discard()
            w.show_status(f"The unsaved plan “{plan.label}” is kept as {kept}", 15000)
        elif answer == RESTORE and not already_restoring:
            return self._restore(orphan, store, plan, entries)
        self.session.forget(orphan)
        return False

    def _restore(self, orphan, store, plan, entries) -> bool:
        w = self.dialogs
        try:
            self._restoring = (store, store.set_aside(), orphan, entries)
        except OSError as err:
            self.session.forget(orphan)
            w.report_problem(f"The recovery file {store.path} could not be opened for restoring "
                             f"({err.strerror or err}); it was left in place.")
            return False

        def not_restored(reason: str) -> None:
            kept = self.restore_ended(restored=False)
            w.report_problem(f"The unsaved plan was not restored ({reason}). Nothing is lost: it is kept as "
                             f"{kept}, which File ▸ Open Plan opens once its image can be found.")

        self.document.plan_changed.connect(self._on_restored_plan_open)
        started = self.open_plan(plan, file_path=None, saved=False, on_failure=not_restored)
        if not started:
            self.restore_ended(restored=False)
        return started

    def _on_restored_plan_open(self, _plan) -> None:
        entries = self._restoring[3] if self._restoring is not None else {}
        self.restore_ended(restored=True)
        restored = self.restore_typed_entries(entries)
        if restored:
            self.dialogs.show_status(
                "Typed before Planner stopped and not yet used: " + "; ".join(restored)
                + ". Press Enter in the field to use it.", 30000)

    def restore_ended(self, restored: bool):
        """Returns where an unrestored plan was kept (None when restored or nothing was pending)."""
        if self._restoring is None:
            return None
        try:
            self.document.plan_changed.disconnect(self._on_restored_plan_open)
        except (RuntimeError, TypeError):
            pass
        restoring, self._restoring = self._restoring, None
        store, aside, orphan, _entries = restoring
        kept = None
        if restored:
            aside.unlink(missing_ok=True)  # the open plan is autosaved afresh, in this session's file
        else:
            kept = store.keep(aside)
        store.discard()
        self.session.forget(orphan)
        return kept

    # --- two instances, one plan file ----------------------------------------------------------
    def may_open_here(self, path: str) -> bool:
        return may_open_here(self.session, path, self.dialogs.ask)


def may_open_here(session, path: str, ask_user) -> bool:
    """False when another running Planner has ``path`` open and the user would rather not open it
    twice (each one's save would overwrite the other's edits). Asked alike by the main window and
    the IMRT windows, through ``ask_user(title, text, choices)``."""
    if session is None:
        return True
    pids = session.open_elsewhere(path)
    if not pids:
        return True
    which = ", ".join(str(pid) for pid in pids)
    answer = ask_user(OPEN_ELSEWHERE_TITLE,
                      f"{Path(path).name} is open in another Planner (process {which}). If both save it, the "
                      "edits saved last overwrite the others. Open it here too?", (OPEN_HERE_TOO, CANCEL))
    return answer == OPEN_HERE_TOO
