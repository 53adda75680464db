"""Test set-up shared by every test: no display, and no test ever touches a user's files."""

import os

# Before anything imports Qt (shared/reference/qt-setup-notes.md, pitfall 5).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest  # noqa: E402


# The README runs the suite on two pytest-xdist workers, a test file to a worker (--dist loadfile), in
# collection order. These files take a minute or more each (independent codes, two real processes,
# plans on the 2.5 mm grid, the spine phantom's window and re-irradiation tests); started first, the
# workers finish together instead of one waiting for the last long file.
LONGEST_FILES_FIRST = (
    "tests/dose/test_independent_dvh.py",
    "tests/dose/test_independent_dvh_spine.py",
    "tests/ui/test_imrt_protocol_prior.py",
    "tests/ui/test_imrt_protocol.py",
    "tests/ui/test_imrt_plan_file_protocol.py",
    "tests/ui/test_imrt_signed_protocol.py",
    "tests/ui/test_imrt_cumulative_eqd2.py",
    "tests/cli/test_imrt_prior_from_pacs.py",
    "tests/cli/test_imrt_signed_path_commands.py",
    "tests/ui/test_imrt_signed_path_in_window.py",
    "tests/dose/test_independent_depth_dose.py",
    "tests/cli/test_plan_command.py",
    "tests/ui/test_imrt_window.py",
    "tests/ui/test_crash_recovery.py",
    "tests/cli/test_imrt_command.py",
    "tests/cli/test_audit_against.py",
    "tests/plugins/imrt/test_modulation_on_tg119.py",
    "tests/review/test_imrt_review.py",
    "tests/review/test_imrt_second_check.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keep their order


@pytest.fixture(scope="session", autouse=True)
def shared_beam_data_cache(tmp_path_factory):
    """Monte Carlo beam data are computed once per test run, then read from this cache; xdist's
    workers share one (the folder above each worker's own), the cache writes atomically."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "beam-data-cache"
    folder.mkdir(exist_ok=True)
    os.environ["PLANNER_CACHE_DIR"] = str(folder)


@pytest.fixture(scope="session", autouse=True)
def session_user_folders(tmp_path_factory):
    """What a module- or session-scoped fixture writes (an export's audit entry, a recovery file)
    goes to the test run's folders, never the real user's; each test then gets its own (below)."""
    base = tmp_path_factory.mktemp("session-user")
    os.environ["PLANNER_DATA_DIR"] = str(base / "user-data")
    os.environ["PLANNER_CONFIG_DIR"] = str(base / "user-config")


@pytest.fixture(autouse=True)
def private_user_folders(tmp_path, monkeypatch):
    """Recovery files, settings and logs go to this test's own folders."""
    data = tmp_path / "user-data"
    config = tmp_path / "user-config"
    monkeypatch.setenv("PLANNER_DATA_DIR", str(data))
    monkeypatch.setenv("PLANNER_CONFIG_DIR", str(config))
    return data, config
