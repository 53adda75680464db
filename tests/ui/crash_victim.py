"""A Planner session that edits the demo plan and then waits to be killed.

Run by test_crash_recovery.py as a separate process: it prints the plan it holds after the
edits as one JSON line, then keeps the event loop running until SIGKILL ends it mid-session.
"""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from planner.core.plan_file import plan_to_dict  # noqa: E402
from tests.ui.gui_driver import choose_in_combo, drag_outline_vertex, make_window  # noqa: E402


def main() -> None:
    app = QApplication(sys.argv[:1])
    window = make_window()
    window.show()
    QTest.qWaitForWindowExposed(window)
    window.open_demo()
    QTest.qWait(50)
    drag_outline_vertex(window, 0, 35, 25)
    choose_in_combo(window.plan_panel.energy_combo, "70 kV (HVL 1.15 mm Al)")
    window.plan_panel.notes.setFocus()
    QTest.keyClicks(window.plan_panel.notes, sys.argv[1] if len(sys.argv) > 1 else "Killed while typing")
    print(json.dumps(plan_to_dict(window.document.plan)), flush=True)
    app.exec()


if __name__ == "__main__":
    main()
