"""Dose-engine tests share one cache folder per session, so each spectrum is fitted once."""

import pytest


@pytest.fixture(scope="session")
def dose_cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("dose-cache")


@pytest.fixture(autouse=True)
def _dose_cache(dose_cache_dir, monkeypatch):
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(dose_cache_dir))
    return dose_cache_dir
