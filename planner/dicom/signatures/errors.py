"""What goes wrong when a file is signed or checked, said in one line, and reading such a file.

Why a module of its own: pydicom raises many kinds of error on malformed data, often lazily, long
after ``dcmread`` returned. Every reader of a file to sign or verify turns them into one
``DamagedFileError`` naming the file, so a damaged file vouches for nothing and no caller has to
know pydicom's errors.
"""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError

from planner.core.errors import PlannerError


class SignatureError(PlannerError, ValueError):
    """A dataset or file that cannot be signed or checked; the message says which and why."""


class DamagedFileError(SignatureError):
    """A file pydicom cannot read through (a damaged element header or value): it vouches for nothing."""


# What pydicom raises on malformed data, often lazily, long after dcmread returned. Caught only where
# a file is read (verify_file, sign_file, signed_plan.open_signed_plan), which can name the file.
# OSError: pydicom's "No tag to read at file position ..."; the readers turn a file-system error
# (one with an errno) into "cannot read" before it gets here.
DAMAGE_ERRORS = (BytesLengthException, EOFError, IndexError, InvalidDicomError, KeyError, NotImplementedError,
                 OSError, OverflowError, TypeError, ValueError, struct.error)
_DETAIL_CHARACTERS = 160


def damaged_file_message(path, exc: BaseException) -> str:
    """One line: "PATH: the file is damaged (NotImplementedError: Unknown Value Representation ...)"."""
    detail = printable((str(exc).splitlines() or [""])[0])
    if len(detail) > _DETAIL_CHARACTERS:
        detail = detail[:_DETAIL_CHARACTERS - 1] + "…"
    return f"{path}: the file is damaged ({type(exc).__name__}: {detail})"


def printable(text: str) -> str:
    """``text`` on one line: a control character read from a damaged value is shown escaped (\\x0b)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


@contextlib.contextmanager
def reading(path):
    """Turn what pydicom raises on a damaged ``path`` into DamagedFileError; a SignatureError passes."""
    try:
        yield
    except SignatureError:
        raise
    except DAMAGE_ERRORS as exc:
        raise DamagedFileError(damaged_file_message(path, exc)) from exc


def read_dicom(path: Path) -> Dataset:
    """A DICOM file, or a bare dataset without the Part 10 header (as some archives store them)."""
    try:
        return dcmread(path)
    except InvalidDicomError:
        pass
    except OSError as exc:
        if exc.errno is None:  # pydicom's, on damaged content
            raise
        raise SignatureError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        ds = dcmread(path, force=True)
        first_group = min(ds.keys()) >> 16 if len(ds) else None
    except DAMAGE_ERRORS:
        first_group = None
    if first_group not in (0x0002, 0x0008):  # a dataset starts with file meta or group 0008
        raise SignatureError(f"{path} is not a DICOM file")
    return ds
