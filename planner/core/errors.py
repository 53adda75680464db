"""The one root of Planner's errors, and of the user's cancels.

Every error Planner raises for the user to read derives from ``PlannerError``: its message is one
line, in the user's words, saying what is wrong and, where it can, what to do. The task runner, the
windows and the command line catch ``PlannerError``; anything else that escapes is a defect in
Planner and is reported as one, never shown as if it were a message about the user's input.

A module keeps its own subclass (``PlanFileError``, ``PacsError``, ...) so callers and tests can
tell the kinds apart, and may also derive from the built-in it always was (``ValueError``,
``RuntimeError``), so that existing ``except ValueError`` code keeps its meaning.

``Cancelled`` is the user stopping long work (Cancel in a progress dialog): not an error, so it is
not a ``PlannerError``; the windows say nothing or "cancelled", the command line exits 130.
"""

from __future__ import annotations


class PlannerError(Exception):
    """An error for the user: ``str(error)`` is one line that says what is wrong."""

    @property
    def user_message(self) -> str:
        """The message as the user sees it: the first line, or the class's name when empty."""
        text = str(self).strip()
        return text.splitlines()[0] if text else type(self).__name__


class Cancelled(Exception):
    """Long work stopped because the user asked for it; nothing half-done is kept."""
