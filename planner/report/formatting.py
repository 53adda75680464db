"""Numbers as the report prints them: the plan panel's wording and digits, a unit on every value.

The printout is compared with the screen by the physician who signs it, so a time or a dose must
read the same in both places (planner/ui/dose_panel.py and radiobiology_table.py).
"""

from __future__ import annotations

import math
from datetime import datetime

NOT_AVAILABLE = "not available"


def quantity(value: float | None, unit: str, digits: int = 2) -> str:
    """``12.35 Gy``; a missing or non-finite value says so instead of showing a number."""
    if value is None or not math.isfinite(value):
        return NOT_AVAILABLE
    return f"{value:.{digits}f} {unit}"


def time_per_fraction(minutes: float | None, reason: str | None) -> str:
    """``11.47 min (688 s)``, as the dose panel shows it; else why there is no time."""
    if minutes is None or not math.isfinite(minutes):
        return f"{NOT_AVAILABLE}: {reason or 'not computed'}"
    return f"{minutes:.2f} min ({minutes * 60:.0f} s)"


def time_title(time_name: str) -> str:
    """"treatment time" → "Treatment time per fraction" (kV); "dwell time" → "Dwell time per fraction"."""
    name = time_name.strip() or "treatment time"
    return f"{name[0].upper()}{name[1:]} per fraction"


def person_name(dicom_name: str) -> str:
    """A DICOM person name ``FAMILY^Given^Middle`` printed as ``FAMILY, Given Middle``."""
    parts = [p.strip() for p in dicom_name.split("^")]
    family, given = parts[0], " ".join(p for p in parts[1:3] if p)
    if not given:
        return family or "(no name)"
    return f"{family}, {given}" if family else given


def moment(when: datetime) -> str:
    """Date, time and UTC offset: a printout read in another time zone stays unambiguous."""
    if when.tzinfo is None:
        when = when.astimezone()
    offset = when.strftime("%z")
    return f"{when:%Y-%m-%d %H:%M:%S} (UTC{offset[:3]}:{offset[3:]})"


def fingerprint(sha256_hex: str) -> str:
    """Colon-separated upper-case byte pairs, as ``openssl x509 -fingerprint -sha256`` prints them,
    so a physicist can compare the printout with the certificate file directly."""
    h = sha256_hex.upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))
