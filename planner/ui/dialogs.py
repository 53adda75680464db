"""What a controller may ask of the window it works for: say a problem, ask a question, ask for a
file or a number, say what happened in the status bar, and get the user's yes before the open plan
is replaced.

The window implements it (planner.ui.main_window); a controller holds only this, never the
window, so it can be driven in a test with scripted answers and no window at all.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtWidgets import QMessageBox, QWidget

from planner.ui.unsaved_edits import Consent


class Dialogs(Protocol):
    def report_problem(self, message: str) -> None:
        """One clear sentence for the user, never a traceback; the open plan is untouched."""

    def ask(self, title: str, question: str, choices: tuple[str, ...]) -> str:
        """The choice the user made; the last one (the safe one) when the question is dismissed."""

    def ask_text(self, title: str, question: str) -> str | None:
        """A line of text from the user, None if cancelled."""

    def choose_file_to_open(self, title: str, file_filter: str) -> str | None:
        """A file the user picked, None if cancelled."""

    def choose_file_to_save(self, title: str, suggested_name: str, file_filter: str) -> str | None:
        """Where the user wants a file written, None if cancelled."""

    def show_status(self, message: str, timeout_ms: int) -> None:
        """A passing message: what was done, nothing that needs an answer."""

    def consent_to_replace(self, what: str, ask: bool = True) -> Consent | None:
        """The user's yes to ``what`` ("Opening the demo case") replacing the open plan, None when
        they decline; ``ask=False`` asks only later, if the plan is edited before it is replaced."""


def ask_with_message_box(parent: QWidget | None, title: str, text: str, choices: tuple[str, ...]) -> str:
    """The real question: a message box with one button a choice; closing it picks the last one."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
    buttons = {box.addButton(choice, QMessageBox.ButtonRole.ActionRole): choice for choice in choices}
    box.exec()
    return buttons.get(box.clickedButton(), choices[-1])
