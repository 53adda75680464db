"""C-STORE (PS3.4 Annex B): send files to a PACS and say, per file, what it answered.

Why a module of its own: failures of single objects are per-file outcomes in a ``SendReport``,
so nothing fails half-way unnoticed; only a send that cannot start or loses its association is a
``PacsError``. Objects travel byte for byte: each file's own transfer syntax is offered in a
presentation context of its own, so pydicom writes the dataset back unchanged and a digital
signature (PS3.15) still verifies after the round trip.

References: PS3.4 Annex B (Storage; B.2.3 status codes); PS3.10 7.1 (file meta information).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from pydicom import dcmread
from pydicom import uid as _uid
from pydicom.errors import InvalidDicomError
from pynetdicom import Association

from ..pacs_settings import PacsNode
from .association import (UNCOMPRESSED, CancelCheck, Context, PacsError, ProgressCallback, held, lost,
                          open_association)
from .status import status_meaning

LOG = logging.getLogger(__name__)


class NotDicomFile(PacsError, ValueError):
    """A file to send is not a DICOM Part 10 file; found before connecting, so nothing was sent."""


@dataclass(frozen=True)
class StoreOutcome:
    """One file's C-STORE result: the PS3.7 status code (None when never sent) and its meaning."""

    path: Path
    sop_instance_uid: str
    status: int | None
    category: str   # "success", "warning", "failure" or "not sent"
    meaning: str

    @property
    def stored(self) -> bool:
        """Warning statuses (e.g. coercion of data elements) still mean the PACS kept the object."""
        return self.category in ("success", "warning")


@dataclass(frozen=True)
class SendReport:
    node: str
    outcomes: tuple[StoreOutcome, ...]
    cancelled: bool = False

    @property
    def stored(self) -> tuple[Path, ...]:
        return tuple(o.path for o in self.outcomes if o.stored)

    @property
    def not_stored(self) -> tuple[StoreOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.stored)

    @property
    def all_stored(self) -> bool:
        return not self.cancelled and all(o.stored for o in self.outcomes)

    def summary(self) -> str:
        text = f"{len(self.stored)} of {len(self.outcomes)} stored on {self.node}"
        warnings = sum(o.category == "warning" for o in self.outcomes)
        if warnings:
            text += f" ({warnings} with a warning)"
        if self.cancelled:
            text += "; cancelled"
        return text


@dataclass(frozen=True)
class _Outgoing:
    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str


def _inspect(path: Path) -> _Outgoing:
    """Read the file meta and UIDs (not the pixels) or raise NotDicomFile naming the file."""
    try:
        ds = dcmread(path, stop_before_pixels=True)
    except FileNotFoundError:
        raise NotDicomFile(f"{path.name}: file not found; nothing was sent") from None
    except IsADirectoryError:
        raise NotDicomFile(f"{path.name} is a folder, not a DICOM file; nothing was sent") from None
    except InvalidDicomError:
        raise NotDicomFile(f"{path.name} is not a DICOM file (no DICM header); nothing was sent") from None
    except Exception as exc:  # pydicom raises many kinds on damaged files
        raise NotDicomFile(f"{path.name} is not a readable DICOM file ({exc}); nothing was sent") from None
    meta = ds.file_meta
    ts = meta.get("TransferSyntaxUID")
    sop_class = ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID")
    sop_instance = ds.get("SOPInstanceUID") or meta.get("MediaStorageSOPInstanceUID")
    missing = [name for name, value in (("Transfer Syntax UID", ts), ("SOP Class UID", sop_class),
                                        ("SOP Instance UID", sop_instance)) if not value]
    if missing:
        raise NotDicomFile(f"{path.name} is not a DICOM object file (no {', '.join(missing)}); "
                           f"nothing was sent")
    return _Outgoing(path, str(sop_class), str(sop_instance), str(ts))


def _store_contexts(files: Sequence[_Outgoing]) -> list[Context]:
    """Each SOP class in each file's own transfer syntax, alone (so it is taken as it is), and
    once more in Explicit then Implicit VR Little Endian, the syntaxes every PACS accepts."""
    contexts: list[Context] = []
    for item in files:
        own = Context(item.sop_class_uid, (item.transfer_syntax,))
        if own not in contexts:
            contexts.append(own)
    for sop_class in dict.fromkeys(f.sop_class_uid for f in files):
        fallback = Context(sop_class, UNCOMPRESSED)
        if fallback not in contexts:
            contexts.append(fallback)
    return contexts


def send_files(node: PacsNode, paths: Iterable[str | Path], progress: ProgressCallback | None = None,
               is_cancelled: CancelCheck | None = None) -> SendReport:
    """C-STORE every file to ``node`` and say, per file, what the PACS answered.

    Every file is checked to be DICOM before connecting (NotDicomFile otherwise). A send that
    cannot start, or an association lost part-way, raises PacsError with ``report`` telling
    which files were stored by then. Cancelling stops between files.
    """
    files = [_inspect(Path(p)) for p in paths]
    if not files:
        return SendReport(str(node), ())
    assoc, watch = open_association(node, _store_contexts(files), purpose="C-STORE")
    outcomes: list[StoreOutcome] = []
    cancelled = False
    with held(assoc):
        for index, item in enumerate(files):
            if is_cancelled is not None and is_cancelled():
                cancelled = True
                break
            if progress is not None:
                progress(index / len(files), f"Sending {index + 1} of {len(files)}")
            outcome = _store_one(assoc, item, msg_id=index + 1)
            if outcome is None:
                done = SendReport(str(node), tuple(outcomes) + _not_sent(files[index:]))
                raise PacsError(lost(node, watch, f"C-STORE of {item.path.name} "
                                     f"({len(done.stored)} of {len(files)} stored before)",
                                     first=not outcomes), report=done)
            outcomes.append(outcome)
    report = SendReport(str(node), tuple(outcomes) + _not_sent(files[len(outcomes):]), cancelled)
    if progress is not None:
        progress(1.0, report.summary())
    LOG.info("C-STORE %s", report.summary())
    return report


def _not_sent(files: Sequence[_Outgoing]) -> tuple[StoreOutcome, ...]:
    return tuple(StoreOutcome(f.path, f.sop_instance_uid, None, "not sent", "not sent") for f in files)


def _store_one(assoc: Association, item: _Outgoing, msg_id: int) -> StoreOutcome | None:
    """One C-STORE; None when the association is gone (no response at all)."""
    try:
        dataset = dcmread(item.path)
    except Exception as exc:  # changed on disk since the check
        return StoreOutcome(item.path, item.sop_instance_uid, None, "failure", f"cannot read the file: {exc}")
    try:
        status = assoc.send_c_store(dataset, msg_id=msg_id)
    except ValueError:  # no accepted presentation context for this class and syntax
        name = _uid.UID(item.sop_class_uid).name
        words = f"the PACS did not accept {name} in {_uid.UID(item.transfer_syntax).name}"
        return StoreOutcome(item.path, item.sop_instance_uid, None, "failure", words)
    if "Status" not in status:
        return None
    category, words = status_meaning(int(status.Status), "C-STORE")
    comment = str(status.get("ErrorComment", "")).strip()
    if comment and category != "success":
        words = f"{words}: {comment}"
    LOG.debug("C-STORE %s: 0x%04X", item.path.name, status.Status)
    return StoreOutcome(item.path, item.sop_instance_uid, int(status.Status), category, words)
