"""Nothing is replaced without asking: every action that replaces the open plan or image (open an
image, a plan, a signed plan, the demo; review a plan; open or review from the PACS; close) first
asks Save / Discard / Cancel when the plan has unsaved work, and goes on only after the answer.

The answer is a ``Consent`` for the plan as it was when asked. Replacing often finishes later (an
image loads, a review runs, a PACS retrieves); if the plan was edited meanwhile, the consent no
longer covers it and the user is asked again. The recovery file stays until the plan is actually
replaced, so a crash before then still offers it.
"""

from __future__ import annotations

UNSAVED_PLAN_TITLE = "Unsaved plan"
SAVE, DISCARD, CANCEL = "Save", "Discard", "Cancel"


class Consent:
    """The user's yes to replacing the open plan, for the plan as it was when they said it."""

    def __init__(self, window, what: str):
        self._window = window
        self.what = what
        self._state = _state(window)

    def still_given(self) -> bool:
        """True when nothing was edited since, or the user says yes again to the plan as it is now."""
        return _state(self._window) == self._state or ask_before_replacing(self._window, self.what) is not None


def ask_before_replacing(window, what: str) -> Consent | None:
    """A Consent to replace the open plan by ``what`` ("Opening the demo case"), or None (Cancel,
    a failed save, or a typed entry that must be corrected first)."""
    if not window._commit_pending_entry():
        return None
    if window.document.has_unsaved_work and not saved_or_let_go(
            window.ask_user, UNSAVED_PLAN_TITLE,
            f"The open plan has changes that are not saved in a plan file. {what} replaces it.", window.save):
        return None
    return Consent(window, what)


def saved_or_let_go(ask_user, title: str, question: str, save) -> bool:
    """Save / Discard / Cancel about unsaved work: True once it is saved (``save()`` succeeded) or
    the user lets it go; False on Cancel or a failed save. Both windows ask it alike."""
    answer = ask_user(title, question, (SAVE, DISCARD, CANCEL))
    return save() if answer == SAVE else answer == DISCARD


def _state(window) -> tuple:
    document = window.document
    return document.plan, document.undo_stack.index(), dict(document.pending_entries)
