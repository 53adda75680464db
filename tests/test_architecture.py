"""The layering rule: only planner/ui talks to Qt, so the core runs without a display."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT_MODULES = ("PySide6", "pyqtgraph", "shiboken6", "PyQt5", "PyQt6")


def imported_modules(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_no_module_outside_planner_ui_imports_qt():
    offenders = []
    for path in sorted([*ROOT.glob("planner/**/*.py"), *ROOT.glob("plugins/**/*.py")]):
        if path.relative_to(ROOT).parts[:2] == ("planner", "ui"):
            continue
        for module in imported_modules(path):
            if module.split(".")[0] in QT_MODULES:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_the_core_layers_import_without_loading_qt():
    code = ("import sys, planner.core.plan, planner.core.plan_file, planner.core.radiobiology, "
            "planner.imaging, planner.imaging.planning_image, planner.dose.grid_axes, planner.techniques, "
            "planner.techniques.new_plan, planner.techniques.beam_lookup, planner.cli.commands; "
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')]; "
            "print(loaded); sys.exit(1 if loaded else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
