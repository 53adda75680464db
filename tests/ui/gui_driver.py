"""Drives the real main window the way a user does: mouse drags on the image, keys on combos."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from planner.core.recovery import RecoverySession
from planner.paths import data_dir, settings_file
from planner.techniques import discover_techniques
from planner.ui.main_window import MainWindow
from planner.ui.settings import AppSettings


def make_window(answers=None) -> MainWindow:
    """A main window on this process's (test-private) data and config folders, as one Planner
    instance of its own (its own recovery folder and lock).

    ``answers`` maps a question's title to the button a scripted user presses.
    """
    window = MainWindow(discover_techniques(), AppSettings(settings_file()), RecoverySession(data_dir()).plan_store())
    scripted = dict(answers or {})
    window.ask_user = lambda title, text, choices: scripted.get(title, choices[-1])
    return window


def vertex_position(window: MainWindow, index: int) -> QPoint:
    x_mm, y_mm = window.view.outline_vertices_mm()[index]
    return window.view.mm_to_widget(x_mm, y_mm)


def drag(window: MainWindow, start: QPoint, end: QPoint, steps: int = 6, release: bool = True) -> None:
    """Hover, press, move in steps, release: a real mouse drag on the image's viewport."""
    viewport = window.view.viewport()
    QTest.mouseMove(viewport, start)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for k in range(1, steps + 1):
        QTest.mouseMove(viewport, start + (end - start) * k / steps)
    if release:
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def drag_outline_vertex(window: MainWindow, index: int, dx_px: int, dy_px: int, release: bool = True) -> None:
    """Press on a vertex, move in steps, release: the drag a physician makes."""
    start = vertex_position(window, index)
    drag(window, start, start + QPoint(dx_px, dy_px), release=release)


def choose_in_combo(combo, text: str) -> None:
    """Open the combo's list and click the entry, as a user would; the combo emits ``activated`` once."""
    target = combo.findText(text)
    assert target >= 0, f"{text!r} not offered (offered: {[combo.itemText(i) for i in range(combo.count())]})"
    combo.showPopup()
    view = combo.view()
    QTest.qWaitForWindowExposed(view.window())
    rect = view.visualRect(view.model().index(target, 0))
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    assert combo.currentIndex() == target
