"""Starting the GUI: preflight checks, the QApplication, the main window, and the last-resort
error handler that turns an unexpected exception into a message instead of a traceback dialog."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path

from planner.paths import data_dir, settings_file
from planner.ui.preflight import StartupProblem, check_display, check_xcb_libraries, import_qt

log = logging.getLogger("planner")

# Screenshots show the window at the size it must stay readable at (issue 13: a 1280 × 800 laptop).
SCREENSHOT_SIZE_PX = (1280, 800)


def run_gui(demo: bool = False, screenshot: str | None = None, file: str | None = None,
            imrt_demo: bool = False) -> int:
    if screenshot and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        check_display()
        check_xcb_libraries()
        import_qt()
    except StartupProblem as problem:
        print(f"planner: {problem}", file=sys.stderr)
        return 2

    from PySide6.QtWidgets import QApplication

    from planner.core.recovery import RecoverySession
    from planner.techniques import discover_techniques
    from planner.ui.main_window import MainWindow
    from planner.ui.settings import AppSettings

    _log_to_file(data_dir() / "planner.log")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Planner")
    app.setOrganizationName("Planner")

    registry = discover_techniques()
    if not registry.techniques:
        print("planner: no treatment technique plugin is installed; reinstall Planner with "
              "`bash scripts/setup.sh`.", file=sys.stderr)
        return 2
    if imrt_demo:  # the IMRT window alone, on the TG-119 phantom
        from planner.ui.imrt.demo import run_imrt_demo

        return run_imrt_demo(app, registry, screenshot)
    # A screenshot must not touch the user's recovery file.
    recovery_dir = Path(tempfile.mkdtemp(prefix="planner-shot-")) if screenshot else data_dir()
    settings = AppSettings(settings_file())
    # This instance's own recovery folder, locked while it runs (others' are offered, never touched).
    session = RecoverySession(recovery_dir)
    app.aboutToQuit.connect(session.close)
    window = MainWindow(registry, settings, session.plan_store())
    _install_error_handler(window)
    window.show()
    for problem in ([settings.problem] if settings.problem else []) + list(registry.problems):
        window.report_problem(problem)

    if screenshot:
        return _save_screenshot(app, window, screenshot, demo, file)
    if not window.offer_recovery():
        if file:
            _open_file(window, file)
        elif demo:
            window.open_demo()
    if window.imrt is not None:  # an IMRT plan's unsaved edits, kept when Planner last stopped
        window.imrt.offer_recovery()
    return app.exec()


def _save_screenshot(app, window, path: str, demo: bool, file: str | None) -> int:
    if file:
        _open_file(window, file)
    elif demo:
        window.open_demo()
    while window.runner.busy:  # the image, then its beam data, load off the GUI thread
        app.processEvents()
        window.runner.wait(0.05)
    window.resize(*SCREENSHOT_SIZE_PX)
    for _ in range(5):
        app.processEvents()
    if not window.grab().save(path):
        print(f"planner: could not write the screenshot to {path}", file=sys.stderr)
        return 1
    window.document.close_cleanly()
    print(f"screenshot written to {path}")
    return 0


def _open_file(window, file: str) -> None:
    window.open_plan_file(file) if file.endswith(".json") else window.open_image_file(file)


def _log_to_file(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)


def _install_error_handler(window) -> None:
    """An unexpected exception in a Qt slot: log it, tell the user in one sentence, keep running."""

    def handle(exc_type, exc, tb):
        log.error("unexpected error\n%s", "".join(traceback.format_exception(exc_type, exc, tb)))
        window.report_problem(
            f"Planner hit an unexpected error ({exc_type.__name__}: {exc}). Your plan is unchanged and "
            f"autosaved; details are in {data_dir() / 'planner.log'}.")

    sys.excepthook = handle
