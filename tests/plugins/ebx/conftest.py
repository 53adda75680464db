"""eBx plugin tests share one dose cache per session (each spectrum is fitted once)."""

import pytest


@pytest.fixture(scope="session")
def ebx_cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("ebx-dose-cache")


@pytest.fixture(autouse=True)
def _ebx_cache(ebx_cache_dir, monkeypatch):
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(ebx_cache_dir))
    return ebx_cache_dir
