"""Shared fixtures for the imaging tests (no Qt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.imaging.demo import demo_case_path
from planner.imaging.synthetic import make_dermal_ultrasound


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return demo_case_path()


@pytest.fixture(scope="session")
def demo_dcm(demo_dir) -> Path:
    return demo_dir / "demo_ultrasound.dcm"


@pytest.fixture(scope="session")
def demo_json(demo_dir) -> dict:
    return json.loads((demo_dir / "demo_case.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def demo_bytes(demo_dcm) -> bytes:
    return demo_dcm.read_bytes()


@pytest.fixture(scope="session")
def synthetic_case(demo_json):
    """The generator's output for the committed demo's seed (generated once per session)."""
    return make_dermal_ultrasound(demo_json["generator"]["seed"])
