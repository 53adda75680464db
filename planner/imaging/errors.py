"""Exceptions raised by the imaging layer.

The GUI shows ``str(error)`` to the user as is, so every message is one line that names the file
and says what is wrong with it in words a physicist can act on. Raw pydicom/numpy/Pillow
exceptions never escape :func:`planner.imaging.loader.load_ultrasound`: they are translated into
an :class:`ImageLoadError` (with the original chained as ``__cause__`` for the log).
"""

from __future__ import annotations

from planner.core.errors import Cancelled, PlannerError

__all__ = ["ImageLoadError", "LoadCancelled"]

_MAX_MESSAGE_CHARS = 400


def one_line(text: str, limit: int = _MAX_MESSAGE_CHARS) -> str:
    """Collapse whitespace (including newlines) so a message fits a status bar or a dialog title."""
    # control characters (from corrupt files) would garble a status bar: show them as '?'
    cleaned = "".join(c if c.isprintable() or c.isspace() else "?" for c in str(text))
    flat = " ".join(cleaned.split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat


class ImageLoadError(PlannerError):
    """An image file could not be opened. The message is a single, specific, human line."""

    def __init__(self, message: str) -> None:
        message = one_line(message) or "the image could not be loaded (no details available)"
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self)


class LoadCancelled(Cancelled):
    """The caller's ``is_cancelled()`` returned True while the image was being loaded.

    Not an ImageLoadError: nothing is wrong with the file, and a catcher of ImageLoadError must not
    report a cancel as a failure."""
