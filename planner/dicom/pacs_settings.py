"""Where a PACS or record-and-verify system is: one validated, immutable value.

Why validate here: a typo in an AE title otherwise shows up only as "association rejected" at
the far end; a 17-character title or a port of 0 is caught while the user is still typing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["PacsNode", "DEFAULT_CALLING_AE_TITLE"]

DEFAULT_CALLING_AE_TITLE = "PLANNER"
_AE_TITLE_MAX = 16  # PS3.5 Table 6.2-1, VR AE: 16 bytes of the default character repertoire


def _check_ae_title(value: object, what: str) -> None:
    """PS3.5 AE: 1-16 characters, ASCII without control characters or backslash, not only spaces.

    Leading or trailing spaces are refused rather than trimmed: peers differ on whether they are
    significant, and a title that works only by accident is worse than a clear error now.
    """
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{what} is empty")
    if len(value) > _AE_TITLE_MAX:
        raise ValueError(f"{what} {value!r} is longer than {_AE_TITLE_MAX} characters")
    if value != value.strip():
        raise ValueError(f"{what} {value!r} starts or ends with a space")
    if any(not (" " <= ch <= "~") or ch == "\\" for ch in value):
        raise ValueError(f"{what} {value!r} may hold only printable ASCII characters, no backslash")


@dataclass(frozen=True)
class PacsNode:
    """A DICOM peer (PS3.8 addressing: TCP host and port, plus the AE titles both sides use).

    ``timeout_s`` bounds each wait: the TCP connection, the association answer, and every DIMSE
    response, so a dead or silent PACS fails in seconds rather than hanging the planner.
    """

    host: str
    port: int
    called_ae_title: str
    calling_ae_title: str = DEFAULT_CALLING_AE_TITLE
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host.strip():
            raise ValueError("PACS host is empty")
        if self.host != self.host.strip() or any(ch.isspace() for ch in self.host):
            raise ValueError(f"PACS host {self.host!r} contains spaces")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise ValueError(f"PACS port must be a whole number from 1 to 65535, not {self.port!r}")
        _check_ae_title(self.called_ae_title, "Called AE title (the PACS's)")
        _check_ae_title(self.calling_ae_title, "Calling AE title (Planner's)")
        timeout = self.timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or not math.isfinite(timeout) or not 0 < timeout <= 600:
            raise ValueError(f"PACS timeout must be more than 0 and at most 600 s, not {timeout!r}")

    @property
    def address(self) -> str:
        """host:port, bracketing an IPv6 literal so the port stays readable."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.called_ae_title}@{self.address}"
