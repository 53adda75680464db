"""What every Planner window does alike: panels in docks, a problem said in one sentence (status
bar and a message box, never a traceback), questions to the user, the Dialogs its controllers use
(planner.ui.dialogs), and closing: unsaved edits are asked about first, a running task is
abandoned so its result never reaches a closed window, and nothing is left to recover.

The surface window (planner.ui.main_window) and the IMRT window (planner.ui.imrt.window) derive
from it; each gives its ``document`` (planner.ui.undoable_document) and ``runner``.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QInputDialog, QMainWindow, QMenu, QMessageBox, QScrollArea,
                               QToolBar, QWidget)

from planner.ui.dialogs import ask_with_message_box

# How a window asks the user a question; tests replace it with a scripted answer.
AskUser = Callable[[str, str, tuple[str, ...]], str]


class PlannerWindow(QMainWindow):
    PROBLEM_TITLE = "Planner"   # the message box's title when a problem is said
    PROBLEM_SHOWN_MS = 15000    # how long a problem stays in the status bar
    TASK_WAIT_S = 5.0           # how long closing waits for an abandoned task to stop

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.last_problem: str | None = None
        self.last_status = ""
        self.ask_user: AskUser = lambda title, text, choices: ask_with_message_box(self, title, text, choices)

    def _add_dock(self, title: str, name: str, widget: QWidget, scrolled: bool = False) -> QDockWidget:
        """A panel on the right that can be moved and floated, not closed; ``scrolled`` when it may
        not fit the column's height."""
        if scrolled:
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setWidget(widget)
            widget = scroll
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        return dock

    def _action(self, text: str, slot, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
        """A menu/toolbar action. Only a checkable action passes its state to ``slot``: Qt's
        ``triggered(checked)`` would otherwise land in the slot's first optional parameter (the PACS
        browser's modality filter once received False)."""
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip or text.replace("&", "").rstrip("…"))
        action.setCheckable(checkable)
        if checkable:
            action.triggered.connect(slot)
        else:
            action.triggered.connect(lambda _checked=False: slot())
        return action

    def _undo_redo_actions(self) -> tuple[QAction, QAction]:
        """Undo and Redo of the document's history, with every platform's keys for them."""
        stack = self.document.undo_stack
        undo = stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = stack.createRedoAction(self, "&Redo")
        # Every platform binding (the offscreen platform's first is Ctrl+Y), and Ctrl+Shift+Z always.
        redo_keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Redo)
        redo.setShortcuts(redo_keys + [k for k in (QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y"))
                                       if k not in redo_keys])
        return undo, redo

    def _add_menu(self, title: str, actions) -> QMenu:
        """A menu of ``actions``, a separator where one is None."""
        menu = self.menuBar().addMenu(title)
        for action in actions:
            menu.addSeparator() if action is None else menu.addAction(action)
        return menu

    def _add_view_menu(self) -> QMenu:
        """View: each dock shown or hidden."""
        return self._add_menu("&View", [dock.toggleViewAction() for dock in self.findChildren(QDockWidget)])

    def _add_toolbar(self, title: str, name: str, actions) -> QToolBar:
        toolbar = self.addToolBar(title)
        toolbar.setObjectName(name)
        for action in actions:
            toolbar.addSeparator() if action is None else toolbar.addAction(action)
        return toolbar

    # --- Dialogs (planner.ui.dialogs) ------------------------------------------------------------
    def report_problem(self, message: str) -> None:
        """A clear sentence for the user, never a traceback; the open plan is untouched."""
        self.last_problem = message
        self.show_status(message, self.PROBLEM_SHOWN_MS)
        box = QMessageBox(QMessageBox.Icon.Warning, self.PROBLEM_TITLE, message, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def ask(self, title: str, question: str, choices: tuple[str, ...]) -> str:
        return self.ask_user(title, question, choices)  # looked up now: tests script ask_user

    def ask_text(self, title: str, question: str) -> str | None:
        """A line of text from the user, None if cancelled; tests replace it with a scripted answer."""
        text, ok = QInputDialog.getText(self, title, question)
        return text if ok else None

    def choose_file_to_open(self, title: str, file_filter: str) -> str | None:
        return QFileDialog.getOpenFileName(self, title, "", file_filter)[0] or None

    def choose_file_to_save(self, title: str, suggested_name: str, file_filter: str) -> str | None:
        return QFileDialog.getSaveFileName(self, title, suggested_name, file_filter)[0] or None

    def show_status(self, message: str, timeout_ms: int = 30000) -> None:
        self.last_status = message
        self.statusBar().showMessage(message, timeout_ms)

    # --- closing ---------------------------------------------------------------------------------
    def may_close(self) -> bool:
        """False when the user keeps the window open (Cancel, or a save that failed)."""
        return True

    def _on_closing(self) -> None:
        """What the window keeps of itself (its layout) before it goes."""

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if not self.may_close():
            event.ignore()
            return
        if self.runner.busy:
            self.runner.abandon()  # its result must not reach a closed window
            self.runner.wait(self.TASK_WAIT_S)
        self._on_closing()
        self.document.close_cleanly()
        # The window is going away: nothing its children emit while they are destroyed (the undo
        # stack clears itself) may reach it or touch the recovery file again.
        self.document.undo_stack.blockSignals(True)
        self.document.blockSignals(True)
        event.accept()
