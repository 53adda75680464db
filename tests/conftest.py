"""Test set-up shared by every test: no display, and no test ever touches a user's files."""

import os

# Before anything imports Qt (shared/reference/qt-setup-notes.md, pitfall 5).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def private_user_folders(tmp_path, monkeypatch):
    """Recovery files, settings and logs go to this test's own folders."""
    data = tmp_path / "user-data"
    config = tmp_path / "user-config"
    monkeypatch.setenv("PLANNER_DATA_DIR", str(data))
    monkeypatch.setenv("PLANNER_CONFIG_DIR", str(config))
    return data, config
