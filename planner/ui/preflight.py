"""Checks made before Qt is imported, so a bad start-up gives a sentence that names the fix.

Qt aborts the process from C++ when its platform plugin cannot start (no display, a missing xcb
library); Python never sees an exception then. So the conditions Qt would die on are checked here
first, in plain Python.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys

from planner.core.errors import PlannerError

SETUP_HINT = "run `bash scripts/setup.sh` from the Planner folder, which installs them"

# The Debian package that provides each system library Qt loads (shared/reference/qt-setup-notes.md §1.1).
DEBIAN_PACKAGE_OF_LIBRARY = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11.so.6": "libx11-6",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}
XCB_PLUGIN_LIBRARIES = (
    "libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-image.so.0", "libxcb-keysyms.so.1",
    "libxcb-render-util.so.0", "libxcb-shape.so.0", "libxkbcommon-x11.so.0",
)


class StartupProblem(PlannerError):
    """Planner cannot start; the message says why and what to do."""


def check_display(environ=os.environ, platform: str = sys.platform) -> None:
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return
    raise StartupProblem(
        "Planner needs a display, and none was found (DISPLAY and WAYLAND_DISPLAY are not set). "
        "Start it from a desktop session, or on a virtual screen with `xvfb-run -a python main.py --demo`; "
        "to render without any screen, set QT_QPA_PLATFORM=offscreen (for example with --screenshot OUT.png)."
    )


def check_xcb_libraries(environ=os.environ, platform: str = sys.platform, load=ctypes.CDLL) -> None:
    """On X11, Qt's xcb plugin needs these libraries; without one it aborts with no useful message."""
    if not platform.startswith("linux"):
        return
    wanted = environ.get("QT_QPA_PLATFORM", "")
    if wanted and not wanted.startswith("xcb"):
        return
    if not wanted and not environ.get("DISPLAY"):
        return
    missing = []
    for library in XCB_PLUGIN_LIBRARIES:
        try:
            load(library)
        except OSError:
            missing.append(library)
    if missing:
        packages = sorted({DEBIAN_PACKAGE_OF_LIBRARY[lib] for lib in missing})
        raise StartupProblem(
            f"Qt cannot open a window: the system libraries {', '.join(missing)} are missing. "
            f"Install them with `sudo apt-get install {' '.join(packages)}`, or {SETUP_HINT}."
        )


def explain_qt_import_error(error: ImportError) -> str:
    """Turn "libEGL.so.1: cannot open shared object file" into the package that provides it."""
    text = str(error)
    match = re.search(r"(lib[\w.+-]+\.so(?:\.\d+)*)", text)
    if match:
        library = match.group(1)
        package = DEBIAN_PACKAGE_OF_LIBRARY.get(library)
        fix = f"`sudo apt-get install {package}`" if package else f"the Debian package that provides {library} (`apt-file search {library}`)"
        return f"Qt could not load the system library {library}. Install {fix}, or {SETUP_HINT}."
    if "PySide6" in text or "pyqtgraph" in text or "No module named" in text:
        return (f"Planner's Python packages are not installed ({text}). "
                "Run `bash scripts/setup.sh` and start Planner with `.venv/bin/python main.py`.")
    return f"Qt failed to import ({text}). Run `bash scripts/setup.sh` to install what Planner needs."


def import_qt() -> None:
    """Import the Qt stack once, turning a failure into a StartupProblem."""
    try:
        import PySide6.QtWidgets  # noqa: F401
        import pyqtgraph  # noqa: F401
    except ImportError as error:
        raise StartupProblem(explain_qt_import_error(error)) from None
