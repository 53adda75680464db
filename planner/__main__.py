"""The program: ``planner`` and ``python -m planner``. It joins the command line and the window, the two
top layers that do not import each other (docs/ARCHITECTURE.md)."""

import sys

from planner.cli.main import main


def open_window(**options) -> int:
    from planner.ui.app import run_gui  # Qt is loaded only when a window is asked for

    return run_gui(**options)


def run(argv: list[str] | None = None) -> int:
    return main(argv, open_window=open_window)


if __name__ == "__main__":
    sys.exit(run())
