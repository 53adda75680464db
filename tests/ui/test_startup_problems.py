"""Bad start-up conditions end with one sentence that names the fix, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from planner.ui.preflight import StartupProblem, check_display, check_xcb_libraries, explain_qt_import_error

ROOT = Path(__file__).resolve().parents[2]


def run_main(args, env_changes, tmp_path, extra_path=None):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(env_changes)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)


def test_no_display_says_how_to_get_one(tmp_path):
    result = run_main(["--demo"], {}, tmp_path)
    assert result.returncode == 2
    assert "needs a display" in result.stderr and "xvfb-run" in result.stderr and "QT_QPA_PLATFORM=offscreen" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_qt_system_library_names_the_debian_package(tmp_path):
    # A stand-in PySide6 that fails the way a machine without libEGL does.
    fake = tmp_path / "fake-site" / "PySide6"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "QtWidgets.py").write_text(
        "raise ImportError('libEGL.so.1: cannot open shared object file: No such file or directory')\n")
    result = run_main(["--demo"], {"QT_QPA_PLATFORM": "offscreen"}, tmp_path, extra_path=fake.parent)
    assert result.returncode == 2
    assert "libEGL.so.1" in result.stderr and "apt-get install libegl1" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_display_accepts_any_display_or_explicit_platform():
    check_display({"DISPLAY": ":0"}, "linux")
    check_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    check_display({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    check_display({}, "darwin")
    with pytest.raises(StartupProblem, match="needs a display"):
        check_display({}, "linux")


def test_missing_xcb_libraries_are_named_with_their_packages():
    def load(name):
        if name == "libxcb-cursor.so.0":
            raise OSError(name)

    with pytest.raises(StartupProblem, match=r"libxcb-cursor\.so\.0.*apt-get install libxcb-cursor0"):
        check_xcb_libraries({"DISPLAY": ":0"}, "linux", load)
    check_xcb_libraries({"QT_QPA_PLATFORM": "offscreen"}, "linux", load)  # offscreen needs no xcb


@pytest.mark.parametrize("message, expected", [
    ("libGL.so.1: cannot open shared object file", "apt-get install libgl1"),
    ("libfoo.so.3: cannot open shared object file", "apt-file search libfoo.so.3"),
    ("No module named 'PySide6'", "scripts/setup.sh"),
])
def test_qt_import_errors_are_explained(message, expected):
    assert expected in explain_qt_import_error(ImportError(message))


def test_an_unreadable_settings_file_is_moved_aside_and_reported(tmp_path, qapp):
    from planner.ui.settings import AppSettings

    path = tmp_path / "planner.ini"
    path.write_bytes(b"[window\x00\xff\xfe broken")
    settings = AppSettings(path)
    assert settings.problem is not None and "moved to" in settings.problem and "default settings" in settings.problem
    assert list(tmp_path.glob("planner.ini.damaged-*"))
    settings.add_recent_file("/a/b.dcm")
    assert AppSettings(path).recent_files() == ["/a/b.dcm"]


def test_a_settings_path_that_is_a_folder_is_reported(tmp_path, qapp):
    from planner.ui.settings import AppSettings

    path = tmp_path / "planner.ini"
    path.mkdir()
    (path / "keep").write_text("x")  # a non-empty folder cannot be replaced by a rename
    settings = AppSettings(path)
    assert "is a folder" in settings.problem
