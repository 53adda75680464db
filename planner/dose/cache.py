"""Where the dose engine keeps results it can recompute but would rather not (fitted spectra, beam data).

Order of precedence: a folder the caller names, then the PLANNER_CACHE_DIR environment variable, then
the platform's per-user cache folder (platformdirs). Entries are JSON files named by a SHA-256 of
everything that determines their content, so a changed input or engine version is simply a miss;
stale files are never read back as if they were current.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import platformdirs

from planner.core.atomic import atomic_write_text

APP_NAME = "Planner"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    if override is not None:
        return Path(override)
    env = os.environ.get("PLANNER_CACHE_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def cache_key(payload: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the inputs (sorted keys, floats via repr)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_json(folder: Path, kind: str, key: str) -> dict[str, Any] | None:
    path = folder / kind / f"{key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, OSError):
        return None


def store_json(folder: Path, kind: str, key: str, content: dict[str, Any]) -> Path:
    path = folder / kind / f"{key}.json"
    atomic_write_text(path, json.dumps(content, indent=1, sort_keys=True))
    return path
