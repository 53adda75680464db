"""Test set-up shared by every test: no display, and no test ever touches a user's files."""

import os

# Before anything imports Qt (shared/reference/qt-setup-notes.md, pitfall 5).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def shared_beam_data_cache(tmp_path_factory):
    """Monte Carlo beam data are computed once per test session, then read from this cache."""
    os.environ["PLANNER_CACHE_DIR"] = str(tmp_path_factory.mktemp("beam-data-cache"))


@pytest.fixture(autouse=True)
def private_user_folders(tmp_path, monkeypatch):
    """Recovery files, settings and logs go to this test's own folders."""
    data = tmp_path / "user-data"
    config = tmp_path / "user-config"
    monkeypatch.setenv("PLANNER_DATA_DIR", str(data))
    monkeypatch.setenv("PLANNER_CONFIG_DIR", str(config))
    return data, config
