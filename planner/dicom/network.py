"""DICOM networking with a PACS or record-and-verify system: C-ECHO, C-STORE, C-FIND and C-GET.

Why this shape:
- Every failure of a whole operation is one ``PacsError`` with a one-line message a user can act
  on (PACS not running, wrong AE title, timeout, abort); failures of single objects are per-file
  outcomes in a ``SendReport`` so nothing fails half-way unnoticed.
- Objects travel byte for byte. C-STORE offers each file's own transfer syntax in a context of
  its own, so pydicom writes the dataset back unchanged; C-GET offers one context per transfer
  syntax so the PACS can send what it stores without transcoding, and the received encoded
  dataset is written as it came, behind a new file meta header. A digital signature (PS3.15)
  therefore still verifies after the round trip.
- Patient data never go to the log at INFO: counts and addresses only.

References: PS3.4 Annex A (Verification), B (Storage), C (Query/Retrieve: C.4.1 C-FIND,
C.4.3 C-GET, C.6.2 Study Root); PS3.7 9.1 (DIMSE-C services), Annex C (status codes);
PS3.8 9.3 (association PDUs: reject and abort reasons); PS3.10 7.1 (file meta information).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom import uid as _uid
from pynetdicom import AE, Association, build_role, evt
from pynetdicom.pdu import A_ABORT_RQ, A_ASSOCIATE_RJ
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)

from planner.core.atomic import atomic_write_bytes

from .pacs_settings import PacsNode

__all__ = [
    "PacsError", "NotDicomFile", "RetrieveCancelled", "RetrieveIncomplete",
    "StoreOutcome", "SendReport", "StudySummary", "InstanceSummary",
    "echo", "send_files", "find_studies", "find_instances", "holds_instance", "retrieve_study",
    "retrieve_instance", "status_meaning",
]

LOG = logging.getLogger(__name__)
# pynetdicom logs every request identifier at INFO (a C-FIND's patient ID and name among them).
# Planner's log runs at INFO, so pynetdicom is held to warnings unless someone set its level.
if logging.getLogger("pynetdicom").level == logging.NOTSET:
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)

ProgressCallback = Callable[[float, str], None]
CancelCheck = Callable[[], bool]

IMPLEMENTATION_CLASS_UID = _uid.generate_uid(entropy_srcs=["Planner", "DICOM implementation class"])
IMPLEMENTATION_VERSION_NAME = "PLANNER_0_1"
MAX_PRESENTATION_CONTEXTS = 128  # PS3.8 9.3.2.2: context IDs are odd numbers 1-255

# PS3.5 9.1 in spirit; leading zeros tolerated, as real archives hold such UIDs. It also keeps
# a received SOP Instance UID, used as a file name, free of path separators.
_UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)*$")


# ---------------------------------------------------------------------------------------------
# errors and results


class PacsError(RuntimeError):
    """A whole operation with the PACS failed; ``str()`` is one line for the user."""

    def __init__(self, message: str, *, report: "SendReport | None" = None,
                 retrieved: tuple[Path, ...] = ()) -> None:
        super().__init__(message)
        self.report = report          # for a send stopped part-way: which files were stored
        self.retrieved = retrieved    # for a retrieve stopped part-way: which files were written


class NotDicomFile(PacsError, ValueError):
    """A file to send is not a DICOM Part 10 file; found before connecting, so nothing was sent."""


class RetrieveCancelled(PacsError):
    """The caller's ``is_cancelled()`` stopped a C-GET; ``retrieved`` lists the complete files."""


class RetrieveIncomplete(PacsError):
    """The PACS finished a C-GET with failed sub-operations; ``retrieved`` lists what came."""


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
class StudySummary:
    """One Study Root C-FIND match at STUDY level (PS3.4 C.6.2.1.2)."""

    study_instance_uid: str
    patient_id: str
    patient_name: str
    study_date: _dt.date | None
    study_time: str
    accession_number: str
    description: str
    modalities: tuple[str, ...]
    number_of_instances: int | None


@dataclass(frozen=True)
class InstanceSummary:
    """One C-FIND match at IMAGE level, with the keys of the levels above it for C-GET."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    modality: str
    instance_number: int | None


# ---------------------------------------------------------------------------------------------
# status codes (PS3.7 Annex C, with the service-specific ones of PS3.4)

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


def _status_text(code: int, service: str, status: Dataset | None = None) -> str:
    """Words and code, plus the peer's Error Comment (0000,0902) when it sent one."""
    comment = str(status.get("ErrorComment", "") if status is not None else "").strip()
    return f"{status_meaning(code, service)[1]} (0x{code:04X}){': ' + comment if comment else ''}"


# ---------------------------------------------------------------------------------------------
# associations

# PS3.8 9.3.4 (A-ASSOCIATE-RJ): who rejected, and why
_REJECT_SOURCE = {1: "the PACS application", 2: "the PACS's DICOM service (ACSE)",
                  3: "the PACS's DICOM service (presentation)"}
_REJECT_REASON = {
    (1, 1): "no reason given", (1, 2): "application context name not supported",
    (1, 3): "calling AE title not recognised", (1, 7): "called AE title not recognised",
    (2, 1): "no reason given", (2, 2): "protocol version not supported",
    (3, 1): "temporary congestion", (3, 2): "local limit exceeded",
}
# PS3.8 9.3.8 (A-ABORT): reason when the service provider aborts
_ABORT_REASON = {0: "reason not specified", 1: "unrecognised PDU", 2: "unexpected PDU",
                 4: "unrecognised PDU parameter", 5: "unexpected PDU parameter",
                 6: "invalid PDU parameter value"}


class _Watch:
    """What happened on the wire, so a failed association can be explained precisely."""

    def __init__(self) -> None:
        self.connected = False
        self.accepted = False
        self.peer_abort: tuple[int, int] | None = None
        # (result, source, reason) of an A-ASSOCIATE-RJ read off the wire. pynetdicom can lose
        # it: when the PACS closes the connection right after rejecting, the association is
        # sometimes marked aborted instead of rejected (about 1 in 100 against Orthanc).
        self.rejection: tuple[int, int, int] | None = None
        self.last_activity = time.monotonic()  # last PDU either way, bar our own A-ABORT

    def handlers(self) -> list:
        return [(evt.EVT_CONN_OPEN, self._opened), (evt.EVT_ACCEPTED, self._accepted),
                (evt.EVT_PDU_RECV, self._pdu), (evt.EVT_PDU_SENT, self._sent)]

    def _opened(self, event) -> None:
        self.connected = True

    def _accepted(self, event) -> None:
        self.accepted = True

    def _pdu(self, event) -> None:
        self.last_activity = time.monotonic()
        if isinstance(event.pdu, A_ABORT_RQ):
            self.peer_abort = (event.pdu.source or 0, event.pdu.reason_diagnostic or 0)
        elif isinstance(event.pdu, A_ASSOCIATE_RJ):
            self.rejection = (int(event.pdu.result or 0), int(event.pdu.source or 0),
                              int(event.pdu.reason_diagnostic or 0))

    def _sent(self, event) -> None:
        if not isinstance(event.pdu, A_ABORT_RQ):  # our abort after a timeout is not activity
            self.last_activity = time.monotonic()

    def silent_for(self) -> float:
        return time.monotonic() - self.last_activity

    def abort_text(self) -> str:
        if self.peer_abort is None:
            return "closed the connection"
        source, reason = self.peer_abort
        if source == 2:
            return f"aborted the association ({_ABORT_REASON.get(reason, 'reason not specified')})"
        return "aborted the association"


@dataclass(frozen=True)
class _Context:
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]


_UNCOMPRESSED = (_uid.ExplicitVRLittleEndian, _uid.ImplicitVRLittleEndian)


def _open(node: PacsNode, contexts: Sequence[_Context], *, scp_roles: Iterable[str] = (),
          handlers: Sequence = (), purpose: str) -> tuple[Association, _Watch]:
    """Request an association (PS3.8 7.1) or raise PacsError saying why there is none."""
    if len(contexts) > MAX_PRESENTATION_CONTEXTS:
        raise PacsError(f"too many kinds of object for one association ({len(contexts)} presentation "
                        f"contexts, at most {MAX_PRESENTATION_CONTEXTS}); send them in smaller groups")
    ae = AE(ae_title=node.calling_ae_title)
    ae.connection_timeout = node.timeout_s
    ae.acse_timeout = node.timeout_s
    ae.dimse_timeout = node.timeout_s
    ae.network_timeout = max(60.0, node.timeout_s)
    ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
    ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    for context in contexts:
        ae.add_requested_context(context.abstract_syntax, list(context.transfer_syntaxes))
    roles = [build_role(sop_class, scp_role=True) for sop_class in scp_roles]
    watch = _Watch()
    started = time.monotonic()
    try:
        assoc = ae.associate(node.host, node.port, ae_title=node.called_ae_title,
                             ext_neg=roles or None, evt_handlers=[*watch.handlers(), *handlers])
    except socket.gaierror:
        raise PacsError(f"cannot find host {node.host!r} (name not resolved)") from None
    if assoc.is_established:
        LOG.debug("%s: association with %s established", purpose, node)
        return assoc, watch
    raise PacsError(_why_no_association(node, assoc, watch, time.monotonic() - started, purpose))


def _why_no_association(node: PacsNode, assoc: Association, watch: _Watch, elapsed: float,
                        purpose: str) -> str:
    rejection = watch.rejection
    if assoc.is_rejected:
        answer = assoc.acceptor.primitive
        rejection = (int(answer.result or 0), int(answer.result_source or 0), int(answer.diagnostic or 0))
    if rejection is not None:
        result, source, reason = rejection
        why = _REJECT_REASON.get((source, reason), f"reason {reason}")
        hint = ""
        if (source, reason) == (1, 7):
            hint = f": it does not answer to AE title {node.called_ae_title!r}"
        elif (source, reason) == (1, 3):
            hint = f": it does not know Planner's AE title {node.calling_ae_title!r}"
        permanence = "permanently" if result == 1 else "for now (transient)"
        return (f"{node.address} rejected the {purpose} association {permanence}, by "
                f"{_REJECT_SOURCE.get(source, 'the PACS')}: {why}{hint}")
    if not watch.connected:
        return _why_no_connection(node, elapsed)
    if watch.accepted:
        wanted = ", ".join(sorted({_uid.UID(c.abstract_syntax).name for c in assoc.requestor.requested_contexts}))
        return f"{node} accepted none of the offered presentation contexts for {purpose} ({wanted})"
    if watch.peer_abort is None and elapsed >= node.timeout_s * 0.9:
        return (f"{node.address} accepted the connection but did not answer the association request "
                f"within {node.timeout_s:g} s (timeout) — is it a DICOM service?")
    return f"{node.address} {watch.abort_text()} during the {purpose} association request"


def _why_no_connection(node: PacsNode, elapsed: float) -> str:
    """pynetdicom only logs why TCP failed; ask the socket layer once more for the reason."""
    if elapsed >= node.timeout_s * 0.9:
        return (f"no answer from {node.address} within {node.timeout_s:g} s (connection timed out) "
                f"— check the host, the port and any firewall")
    try:
        with socket.create_connection((node.host, node.port), timeout=min(node.timeout_s, 5.0)):
            pass
    except ConnectionRefusedError:
        return f"no DICOM service at {node.address} — is the PACS running?"
    except TimeoutError:
        return f"no answer from {node.address} (connection timed out) — check the host, the port and any firewall"
    except OSError as exc:
        return f"cannot connect to {node.address}: {exc.strerror or exc}"
    return f"could not connect to {node.address} (it refused the first attempt)"


def _lost(node: PacsNode, watch: _Watch, what: str, first: bool = True) -> str:
    """Why a DIMSE request got no response: the peer aborted or closed, or the DIMSE timeout ran
    out (told apart by how long the wire was silent: pynetdicom marks both as aborted).

    A PACS that accepts any association but drops the first request of an unknown caller
    (Orthanc aborts or just closes, depending on timing) gets a hint about Planner's AE title.
    """
    if watch.peer_abort is not None or watch.silent_for() < node.timeout_s * 0.9:
        hint = ""
        if first:
            hint = f" — is Planner's AE title {node.calling_ae_title!r} registered on the PACS?"
        return f"{node.address} {watch.abort_text()} during {what}{hint}"
    return f"no response from {node.address} to {what} within {node.timeout_s:g} s (timeout)"


@contextlib.contextmanager
def _held(assoc: Association) -> Iterator[Association]:
    """Release the association when the work is done; abort it when the work broke off, since
    a release in the middle of a C-GET or C-FIND would leave the peer mid-operation (PS3.8 7.3)."""
    try:
        yield assoc
    except PacsError:  # raised after a final status, or once the association is gone
        if assoc.is_established:
            assoc.release()
        raise
    except BaseException:
        if assoc.is_established:
            assoc.abort()
        raise
    if assoc.is_established:
        assoc.release()


# ---------------------------------------------------------------------------------------------
# C-ECHO (PS3.4 Annex A)


def echo(node: PacsNode) -> float:
    """Verify the PACS answers DICOM at all; return the C-ECHO round trip in seconds."""
    assoc, watch = _open(node, [_Context(Verification, _UNCOMPRESSED)], purpose="C-ECHO")
    with _held(assoc):
        started = time.monotonic()
        status = assoc.send_c_echo()
        elapsed = time.monotonic() - started
        if "Status" not in status:
            raise PacsError(_lost(node, watch, "C-ECHO"))
        if status.Status != 0x0000:
            raise PacsError(f"{node} answered C-ECHO with {_status_text(status.Status, 'C-ECHO', status)}")
    LOG.info("C-ECHO %s: ok in %.0f ms", node, elapsed * 1000)
    return elapsed


# ---------------------------------------------------------------------------------------------
# C-STORE (PS3.4 Annex B)


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


def _store_contexts(files: Sequence[_Outgoing]) -> list[_Context]:
    """Each SOP class in each file's own transfer syntax, alone (so it is taken as it is), and
    once more in Explicit then Implicit VR Little Endian, the syntaxes every PACS accepts."""
    contexts: list[_Context] = []
    for item in files:
        own = _Context(item.sop_class_uid, (item.transfer_syntax,))
        if own not in contexts:
            contexts.append(own)
    for sop_class in dict.fromkeys(f.sop_class_uid for f in files):
        fallback = _Context(sop_class, _UNCOMPRESSED)
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
    assoc, watch = _open(node, _store_contexts(files), purpose="C-STORE")
    outcomes: list[StoreOutcome] = []
    cancelled = False
    with _held(assoc):
        for index, item in enumerate(files):
            if is_cancelled is not None and is_cancelled():
                cancelled = True
                break
            if progress is not None:
                progress(index / len(files), f"Sending {index + 1} of {len(files)}")
            outcome = _store_one(assoc, item, msg_id=index + 1)
            if outcome is None:
                done = SendReport(str(node), tuple(outcomes) + _not_sent(files[index:]))
                raise PacsError(_lost(node, watch, f"C-STORE of {item.path.name} "
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


# ---------------------------------------------------------------------------------------------
# C-FIND (PS3.4 C.4.1, Study Root C.6.2)


def _query_text(value: str, what: str) -> str:
    """A matching key value: single value, no backslash (a value separator) or control chars."""
    if "\\" in value or any(ord(ch) < 32 for ch in value):
        raise ValueError(f"{what} {value!r} may not contain a backslash or control characters")
    return value


def _date_key(study_date) -> str:
    """PS3.4 C.2.2.2.5 range matching: a date, (first, last) with None for an open end, or text."""
    def one(d) -> str:
        return "" if d is None else d.strftime("%Y%m%d")
    if study_date is None:
        return ""
    if isinstance(study_date, _dt.date):
        return one(study_date)
    if isinstance(study_date, tuple) and len(study_date) == 2:
        first, last = study_date
        return "" if first is None and last is None else f"{one(first)}-{one(last)}"
    text = _query_text(str(study_date), "Study date")
    if not re.fullmatch(r"\d{8}|\d{8}-|-\d{8}|\d{8}-\d{8}", text):
        raise ValueError(f"Study date {text!r} is not YYYYMMDD or a YYYYMMDD-YYYYMMDD range")
    return text


def _open_find(node: PacsNode) -> tuple[Association, _Watch]:
    return _open(node, [_Context(StudyRootQueryRetrieveInformationModelFind, _UNCOMPRESSED)],
                 purpose="C-FIND")


def _find(node: PacsNode, assoc: Association, watch: _Watch, identifier: Dataset) -> list[Dataset]:
    """Run one C-FIND, collecting the pending identifiers; PacsError on failure or loss."""
    matches: list[Dataset] = []
    for status, found in assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind):
        if "Status" not in status:
            raise PacsError(_lost(node, watch, "C-FIND"))
        category, _ = status_meaning(int(status.Status), "C-FIND")
        if category == "pending":
            if found is not None:
                matches.append(found)
        elif category in ("failure", "cancel"):
            raise PacsError(f"{node} refused the query: {_status_text(status.Status, 'C-FIND', status)}")
    return matches


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _date_or_none(value) -> _dt.date | None:
    try:
        return _dt.datetime.strptime(str(value), "%Y%m%d").date()
    except ValueError:
        return None


def find_studies(node: PacsNode, patient_id: str | None = None, patient_name: str | None = None,
                 modality: str | None = "US", study_date=None) -> tuple[StudySummary, ...]:
    """Study Root C-FIND at STUDY level; ``patient_name`` may use * and ? wildcards (PS3.4 C.2.2.2.4).

    Matching on Modalities in Study is optional for a PACS, so matches are also filtered here.
    """
    query = Dataset()
    query.SpecificCharacterSet = "ISO_IR 192"
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = _query_text(patient_id or "", "Patient ID")
    query.PatientName = _query_text(patient_name or "", "Patient name")
    query.StudyInstanceUID = ""
    query.StudyDate = _date_key(study_date)
    query.StudyTime = ""
    query.AccessionNumber = ""
    query.StudyDescription = ""
    query.ModalitiesInStudy = _query_text(modality or "", "Modality")
    query.NumberOfStudyRelatedInstances = ""
    assoc, watch = _open_find(node)
    with _held(assoc):
        matches = _find(node, assoc, watch, query)
    studies = []
    for found in matches:
        modalities = tuple(str(m) for m in _values(found.get("ModalitiesInStudy")))
        if modality and modalities and modality not in modalities:
            continue
        studies.append(StudySummary(
            study_instance_uid=str(found.get("StudyInstanceUID", "")),
            patient_id=str(found.get("PatientID", "")),
            patient_name=str(found.get("PatientName", "")),
            study_date=_date_or_none(found.get("StudyDate", "")),
            study_time=str(found.get("StudyTime", "")),
            accession_number=str(found.get("AccessionNumber", "")),
            description=str(found.get("StudyDescription", "")),
            modalities=modalities,
            number_of_instances=_int_or_none(found.get("NumberOfStudyRelatedInstances"))))
    LOG.info("C-FIND %s: %d studies", node, len(studies))
    return tuple(studies)


def _values(element_value) -> list:
    if element_value is None or element_value == "":
        return []
    if isinstance(element_value, (list, tuple)) or type(element_value).__name__ == "MultiValue":
        return list(element_value)
    return [element_value]


def find_instances(node: PacsNode, study_instance_uid: str) -> tuple[InstanceSummary, ...]:
    """Every instance of a study: SERIES then IMAGE level, as the hierarchical model asks
    (PS3.4 C.4.1.2.2: each query gives the unique keys of all the levels above it)."""
    _check_uid(study_instance_uid, "Study Instance UID")
    assoc, watch = _open_find(node)
    instances = []
    with _held(assoc):
        series_query = Dataset()
        series_query.QueryRetrieveLevel = "SERIES"
        series_query.StudyInstanceUID = study_instance_uid
        series_query.SeriesInstanceUID = ""
        series_query.Modality = ""
        for series in _find(node, assoc, watch, series_query):
            series_uid = str(series.get("SeriesInstanceUID", ""))
            image_query = Dataset()
            image_query.QueryRetrieveLevel = "IMAGE"
            image_query.StudyInstanceUID = study_instance_uid
            image_query.SeriesInstanceUID = series_uid
            image_query.SOPInstanceUID = ""
            image_query.SOPClassUID = ""
            image_query.InstanceNumber = ""
            for found in _find(node, assoc, watch, image_query):
                instances.append(InstanceSummary(
                    study_instance_uid, series_uid, str(found.get("SOPInstanceUID", "")),
                    str(found.get("SOPClassUID", "")), str(series.get("Modality", "")),
                    _int_or_none(found.get("InstanceNumber"))))
    LOG.info("C-FIND %s: %d instances", node, len(instances))
    return tuple(instances)


def holds_instance(node: PacsNode, study_instance_uid: str, series_instance_uid: str,
                   sop_instance_uid: str) -> bool:
    """Whether the PACS holds this one instance: a C-FIND at IMAGE level on its three unique keys
    (PS3.4 C.4.1.2.2), so an object it already has need not be sent again."""
    for value, what in ((study_instance_uid, "Study Instance UID"), (series_instance_uid, "Series Instance UID"),
                        (sop_instance_uid, "SOP Instance UID")):
        _check_uid(value, what)
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = study_instance_uid
    query.SeriesInstanceUID = series_instance_uid
    query.SOPInstanceUID = sop_instance_uid
    assoc, watch = _open_find(node)
    with _held(assoc):
        matches = _find(node, assoc, watch, query)
    return any(str(found.get("SOPInstanceUID", "")) == sop_instance_uid for found in matches)


# ---------------------------------------------------------------------------------------------
# C-GET (PS3.4 C.4.3): the PACS sends the instances back over our association, with us in the
# SCP role for their storage SOP classes (PS3.7 D.3.3.4 SCP/SCU role selection)

_IMAGE_SYNTAXES = _UNCOMPRESSED + (
    _uid.JPEGBaseline8Bit, _uid.JPEGExtended12Bit, _uid.JPEGLosslessSV1, _uid.JPEGLSLossless,
    _uid.JPEGLSNearLossless, _uid.JPEG2000Lossless, _uid.JPEG2000, _uid.RLELossless)
# What a skin-planning study holds: ultrasound (and its screen captures) plus RT objects,
# reports and the documents a record-and-verify system files beside them.
_IMAGE_CLASSES = (
    _uid.UltrasoundImageStorage, _uid.UltrasoundMultiFrameImageStorage,
    _uid.SecondaryCaptureImageStorage, _uid.MultiFrameTrueColorSecondaryCaptureImageStorage,
    _uid.MultiFrameGrayscaleByteSecondaryCaptureImageStorage, _uid.VLPhotographicImageStorage,
    _uid.RTImageStorage)
_OTHER_CLASSES = (
    _uid.RTPlanStorage, _uid.RTIonPlanStorage, _uid.RTStructureSetStorage, _uid.RTDoseStorage,
    _uid.RTBeamsTreatmentRecordStorage, _uid.RTBrachyTreatmentRecordStorage,
    _uid.RTTreatmentSummaryRecordStorage, _uid.EncapsulatedPDFStorage, _uid.BasicTextSRStorage,
    _uid.EnhancedSRStorage, _uid.ComprehensiveSRStorage, _uid.KeyObjectSelectionDocumentStorage,
    _uid.GrayscaleSoftcopyPresentationStateStorage, _uid.RawDataStorage)
RETRIEVABLE_SOP_CLASSES = _IMAGE_CLASSES + _OTHER_CLASSES


def _get_contexts() -> list[_Context]:
    """One context per (class, transfer syntax): the PACS then finds the syntax it stores and
    sends the object untouched, instead of transcoding it to a single negotiated one."""
    contexts = [_Context(StudyRootQueryRetrieveInformationModelGet, _UNCOMPRESSED)]
    for sop_class in _IMAGE_CLASSES:
        contexts += [_Context(sop_class, (ts,)) for ts in _IMAGE_SYNTAXES]
    for sop_class in _OTHER_CLASSES:
        contexts += [_Context(sop_class, (ts,)) for ts in _UNCOMPRESSED]
    return contexts


def _check_uid(value: str, what: str) -> None:
    if not isinstance(value, str) or len(value) > 64 or not _UID_PATTERN.match(value):
        raise ValueError(f"{what} {value!r} is not a DICOM UID")


def part10_bytes(sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str,
                 encoded_dataset: bytes, source_ae_title: str = "") -> bytes:
    """A DICOM file (PS3.10 7.1): preamble, DICM, file meta, then the dataset bytes unchanged."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    if source_ae_title:
        meta.SourceApplicationEntityTitle = source_ae_title
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return b"\x00" * 128 + b"DICM" + buffer.getvalue() + encoded_dataset


class _Receiver:
    """The C-STORE SCP side of a C-GET: writes each instance atomically as it arrives."""

    def __init__(self, out_dir: Path, source_ae_title: str) -> None:
        self.out_dir = out_dir
        self.source_ae_title = source_ae_title
        self.written: list[Path] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, event) -> int:
        request = event.request
        sop_instance = str(request.AffectedSOPInstanceUID or "")
        sop_class = str(request.AffectedSOPClassUID or "")
        transfer_syntax = str(event.context.transfer_syntax)  # the one this context negotiated
        try:
            _check_uid(sop_instance, "SOP Instance UID")  # it names the file: no path tricks
            _check_uid(sop_class, "SOP Class UID")
            _check_uid(transfer_syntax, "Transfer Syntax UID")
        except ValueError as exc:
            with self._lock:
                self.refused.append(str(exc))
            return 0xA900  # PS3.4 B.2.3: data set does not match SOP Class
        data = part10_bytes(sop_class, sop_instance, transfer_syntax,
                            event.encoded_dataset(include_meta=False), self.source_ae_title)
        target = self.out_dir / f"{sop_instance}.dcm"
        try:
            atomic_write_bytes(target, data)
        except OSError as exc:
            with self._lock:
                self.refused.append(f"cannot write {target.name}: {exc.strerror or exc}")
            return 0xA700  # PS3.4 B.2.3: out of resources
        with self._lock:
            self.written.append(target)
        return 0x0000


def _retrieve(node: PacsNode, identifier: Dataset, out_dir: str | Path, what: str,
              progress: ProgressCallback | None, is_cancelled: CancelCheck | None) -> tuple[Path, ...]:
    if is_cancelled is not None and is_cancelled():
        raise RetrieveCancelled(f"retrieve of {what} cancelled before it started")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(out, node.called_ae_title)
    assoc, watch = _open(node, _get_contexts(), scp_roles=RETRIEVABLE_SOP_CLASSES,
                         handlers=[(evt.EVT_C_STORE, receiver)], purpose="C-GET")
    final: Dataset | None = None
    cancel_sent = False
    with _held(assoc):
        for status, _ in assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet):
            if "Status" not in status:
                raise PacsError(_lost(node, watch, f"C-GET of {what}"),
                                retrieved=tuple(receiver.written))
            if status_meaning(int(status.Status), "C-GET")[0] == "pending":
                _report_get_progress(status, progress)
                if not cancel_sent and is_cancelled is not None and is_cancelled():
                    assoc.send_c_cancel(1, query_model=StudyRootQueryRetrieveInformationModelGet)
                    cancel_sent = True
            else:
                final = status
    written = tuple(receiver.written)
    return _judge_get(node, final, written, receiver.refused, what, progress)


def _report_get_progress(status: Dataset, progress: ProgressCallback | None) -> None:
    if progress is None:
        return
    done = sum(int(status.get(k, 0) or 0) for k in ("NumberOfCompletedSuboperations",
                                                    "NumberOfFailedSuboperations",
                                                    "NumberOfWarningSuboperations"))
    total = done + int(status.get("NumberOfRemainingSuboperations", 0) or 0)
    if total:
        progress(done / total, f"Received {done} of {total}")


def _judge_get(node: PacsNode, final: Dataset | None, written: tuple[Path, ...], refused: list[str],
               what: str, progress: ProgressCallback | None) -> tuple[Path, ...]:
    """PS3.4 C.4.3.1.4: success, cancel, warning (some sub-operations failed) or failure."""
    if final is None:
        raise PacsError(f"{node} ended the C-GET of {what} without a final status", retrieved=written)
    code = int(final.Status)
    category, _ = status_meaning(code, "C-GET")
    failed = int(final.get("NumberOfFailedSuboperations", 0) or 0)
    why = f" ({refused[0]})" if refused else ""
    if category == "cancel":
        raise RetrieveCancelled(f"retrieve of {what} cancelled after {len(written)} instances",
                                retrieved=written)
    if category == "failure":
        raise PacsError(f"{node} could not send {what}: {_status_text(code, 'C-GET', final)}{why}",
                        retrieved=written)
    if failed or category == "warning" or refused:
        raise RetrieveIncomplete(
            f"{node} sent {len(written)} instances of {what}, {failed} failed"
            f"{why or ' (an object type Planner does not accept, or a PACS-side error)'}",
            retrieved=written)
    if not written:
        raise PacsError(f"{node} has nothing to send for {what}")
    if progress is not None:
        progress(1.0, f"Received {len(written)}")
    LOG.info("C-GET %s: %d instances", node, len(written))
    return written


def retrieve_study(node: PacsNode, study_instance_uid: str, out_dir: str | Path,
                   progress: ProgressCallback | None = None,
                   is_cancelled: CancelCheck | None = None) -> tuple[Path, ...]:
    """C-GET a whole study into ``out_dir`` as ``<SOP Instance UID>.dcm`` files, byte-exact."""
    _check_uid(study_instance_uid, "Study Instance UID")
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = study_instance_uid
    return _retrieve(node, identifier, out_dir, "the study", progress, is_cancelled)


def retrieve_instance(node: PacsNode, instance: InstanceSummary, out_dir: str | Path,
                      progress: ProgressCallback | None = None,
                      is_cancelled: CancelCheck | None = None) -> Path:
    """C-GET one instance found by ``find_instances`` (IMAGE level needs its study and series)."""
    for value, what in ((instance.study_instance_uid, "Study Instance UID"),
                        (instance.series_instance_uid, "Series Instance UID"),
                        (instance.sop_instance_uid, "SOP Instance UID")):
        _check_uid(value, what)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier.StudyInstanceUID = instance.study_instance_uid
    identifier.SeriesInstanceUID = instance.series_instance_uid
    identifier.SOPInstanceUID = instance.sop_instance_uid
    written = _retrieve(node, identifier, out_dir, "the instance", progress, is_cancelled)
    return written[0]

