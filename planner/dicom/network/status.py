"""What a DIMSE status code means (PS3.7 Annex C, with the service-specific ones of PS3.4).

Why a module of its own: C-ECHO, C-STORE, C-FIND and C-GET all judge their responses by these
tables, and a user reads the words, not the code, in every message.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

_GENERAL_STATUS = {
    0x0000: ("success", "success"),
    0xFE00: ("cancel", "cancelled"),
    0x0105: ("failure", "no such attribute"),
    0x0106: ("failure", "invalid attribute value"),
    0x0107: ("warning", "attribute list error"),
    0x0110: ("failure", "processing failure"),
    0x0111: ("failure", "duplicate SOP Instance"),
    0x0116: ("warning", "attribute value out of range"),
    0x0117: ("failure", "invalid SOP Instance"),
    0x0122: ("failure", "SOP Class not supported"),
    0x0124: ("failure", "refused: not authorised"),
    0x0210: ("failure", "duplicate invocation"),
    0x0211: ("failure", "unrecognised operation"),
    0x0212: ("failure", "mistyped argument"),
    0x0213: ("failure", "resource limitation"),
}
# PS3.4 B.2.3 (Storage)
_STORE_STATUS = {
    0xB000: ("warning", "coercion of data elements"),
    0xB006: ("warning", "elements discarded"),
    0xB007: ("warning", "data set does not match SOP Class"),
}
_STORE_RANGES = (
    (0xA700, 0xA7FF, "failure", "refused: out of resources"),
    (0xA900, 0xA9FF, "failure", "data set does not match SOP Class"),
    (0xC000, 0xCFFF, "failure", "cannot understand"),
)
# PS3.4 C.4.1.1.4 (C-FIND) and C.4.3.1.4 (C-GET)
_QUERY_STATUS = {
    0xA700: ("failure", "refused: out of resources"),
    0xA701: ("failure", "refused: out of resources, unable to calculate number of matches"),
    0xA702: ("failure", "refused: out of resources, unable to perform sub-operations"),
    0xA900: ("failure", "identifier does not match SOP Class"),
    0xB000: ("warning", "sub-operations complete, one or more failures or warnings"),
    0xFF00: ("pending", "pending"),
    0xFF01: ("pending", "pending, optional keys not supported"),
}
_QUERY_RANGES = ((0xC000, 0xCFFF, "failure", "unable to process"),)


def status_meaning(code: int, service: str = "C-STORE") -> tuple[str, str]:
    """(category, words) for a DIMSE status: success, warning, failure, pending or cancel."""
    specific, ranges = (_STORE_STATUS, _STORE_RANGES) if service == "C-STORE" \
        else (_QUERY_STATUS, _QUERY_RANGES)
    if code in specific:
        return specific[code]
    if code in _GENERAL_STATUS:
        return _GENERAL_STATUS[code]
    for low, high, category, words in ranges:
        if low <= code <= high:
            return category, words
    if 0xB000 <= code <= 0xBFFF:  # PS3.7 C.1.3: the B range is warnings
        return "warning", "warning"
    return "failure", "unknown status"


def status_text(code: int, service: str, status: Dataset | None = None) -> str:
    """Words and code, plus the peer's Error Comment (0000,0902) when it sent one."""
    comment = str(status.get("ErrorComment", "") if status is not None else "").strip()
    return f"{status_meaning(code, service)[1]} (0x{code:04X}){': ' + comment if comment else ''}"
