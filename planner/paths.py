"""Where Planner keeps its files: the platform's per-user folders (platformdirs).

PLANNER_DATA_DIR and PLANNER_CONFIG_DIR override them, so tests and a second instance never
touch a user's real recovery file or settings.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "Planner"


def data_dir() -> Path:
    return Path(os.environ.get("PLANNER_DATA_DIR") or platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    return Path(os.environ.get("PLANNER_CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME, appauthor=False))


def settings_file() -> Path:
    return config_dir() / "planner.ini"
