"""The clinic's policy: set once per department, read alike by the window and the command line.

Kept apart from the window's own settings (planner.ui.settings: layout, recent files), which are a
convenience; these decide what a plan may be used for, so a file that cannot be read is an error
the user sees, never silently replaced by defaults.

The file is TOML, ``clinic.toml`` in the configuration folder (or PLANNER_CLINIC_SETTINGS):

    # The clinic treats before the physics review: a plan signed by the physician is then
    # treatable, and every view says UNREVIEWED (issue 15, point 5). Default: false.
    treat_before_review = false
    # Where the audit log lives: an SQLite file, or a PostgreSQL URL shared by the workstations.
    # Default: audit.sqlite in the user data folder.
    audit_db = "postgresql://planner@dept-db/planner_audit"
    # Follow-up (issue 17): a lesion whose depth below the skin regrows by more than this percentage
    # above its smallest value (the nadir) is flagged as suspected recurrence. No default: no
    # published threshold for ultrasound depth of a skin lesion was found (RECIST 1.1's +20 % is for
    # the sum of CT diameters of measurable tumours), so Planner judges no recurrence until it is set.
    recurrence_regrowth_percent = 20
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from planner.core.errors import PlannerError
from planner.paths import config_dir

ENVIRONMENT_VARIABLE = "PLANNER_CLINIC_SETTINGS"


class ClinicSettingsError(PlannerError, ValueError):
    """The clinic settings file exists but cannot be used (unreadable, not TOML, an unknown key or a wrong type)."""


@dataclass(frozen=True)
class ClinicSettings:
    treat_before_review: bool = False   # treat on the physician's signature, before the physics review
    audit_db: str | None = None         # SQLite path or postgresql:// URL; None: the user data folder's
    recurrence_regrowth_percent: float | None = None  # regrowth above the nadir (%) called suspected recurrence
    source: str = "built-in defaults"   # the file these came from, for messages

    @property
    def review_policy_text(self) -> str:
        """One sentence for every view that shows treatability."""
        if self.treat_before_review:
            return f"This clinic treats before the physics review ({self.source}): unreviewed plans are treatable."
        return "A plan is treatable only after a physicist approved it."

    @property
    def policy(self) -> str:
        """The policy's name as the command line's JSON gives it."""
        return "treat_before_review" if self.treat_before_review else "review_first"

    @property
    def unreviewed_text(self) -> str:
        """What every view says of a plan treatable on the physician's signature alone."""
        return f"UNREVIEWED — treated before the physics review by clinic policy ({self.source})"


_TYPES = {"treat_before_review": bool, "audit_db": str, "recurrence_regrowth_percent": (int, float)}
_TYPE_WORDS = {bool: "true/false", str: "text"}


def clinic_settings_file() -> Path:
    return Path(os.environ.get(ENVIRONMENT_VARIABLE) or config_dir() / "clinic.toml")


def load_clinic_settings(path: str | os.PathLike | None = None) -> ClinicSettings:
    """The clinic's settings; the built-in defaults when the file does not exist."""
    file = Path(path) if path is not None else clinic_settings_file()
    if not file.exists():
        return ClinicSettings()
    try:
        values = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ClinicSettingsError(f"the clinic settings {file} cannot be read: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ClinicSettingsError(f"the clinic settings {file} are not valid TOML: {err}") from None
    unknown = sorted(set(values) - set(_TYPES))
    if unknown:
        raise ClinicSettingsError(f"the clinic settings {file} have unknown keys: {', '.join(unknown)} "
                                  f"(known: {', '.join(_TYPES)})")
    for key, value in values.items():
        if not isinstance(value, _TYPES[key]) or (_TYPES[key] != bool and isinstance(value, bool)):
            raise ClinicSettingsError(f"the clinic settings {file}: {key} must be a "
                                      f"{_TYPE_WORDS.get(_TYPES[key], 'number')} value, not {value!r}")
    threshold = values.get("recurrence_regrowth_percent")
    if threshold is not None and not 0 < threshold < float("inf"):
        raise ClinicSettingsError(f"the clinic settings {file}: recurrence_regrowth_percent must be above 0 %, "
                                  f"not {threshold!r}")
    return ClinicSettings(source=str(file), **values)
