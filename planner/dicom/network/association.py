"""Associations with a PACS (PS3.8), and C-ECHO (PS3.4 Annex A) to check one can be made at all.

Why a module of its own: every service (store, query, retrieve) opens, holds and ends an
association the same way, and every failure of a whole operation is one ``PacsError`` with a
one-line message a user can act on (PACS not running, wrong AE title, timeout, abort). What
happened on the wire is watched so that message can say precisely why.

Patient data never go to the log at INFO: counts and addresses only (pynetdicom is held to
warnings here, as it logs request identifiers at INFO).

References: PS3.4 Annex A (Verification); PS3.7 9.1 (DIMSE-C services); PS3.8 7.1 (association
establishment), 9.3 (association PDUs: reject and abort reasons).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from pydicom import uid as _uid
from pynetdicom import AE, Association, build_role, evt
from pynetdicom.pdu import A_ABORT_RQ, A_ASSOCIATE_RJ
from pynetdicom.sop_class import Verification

from planner.core.errors import PlannerError

from ..pacs_settings import PacsNode
from .status import status_text

if TYPE_CHECKING:
    from .store import SendReport

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


class PacsError(PlannerError, RuntimeError):
    """A whole operation with the PACS failed; ``str()`` is one line for the user."""

    def __init__(self, message: str, *, report: "SendReport | None" = None,
                 retrieved: tuple[Path, ...] = ()) -> None:
        super().__init__(message)
        self.report = report          # for a send stopped part-way: which files were stored
        self.retrieved = retrieved    # for a retrieve stopped part-way: which files were written


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


class Watch:
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
class Context:
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]


UNCOMPRESSED = (_uid.ExplicitVRLittleEndian, _uid.ImplicitVRLittleEndian)


def open_association(node: PacsNode, contexts: Sequence[Context], *, scp_roles: Iterable[str] = (),
                     handlers: Sequence = (), purpose: str) -> tuple[Association, Watch]:
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
    watch = Watch()
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


def _why_no_association(node: PacsNode, assoc: Association, watch: Watch, elapsed: float,
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


def lost(node: PacsNode, watch: Watch, what: str, first: bool = True) -> str:
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
def held(assoc: Association) -> Iterator[Association]:
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
    assoc, watch = open_association(node, [Context(Verification, UNCOMPRESSED)], purpose="C-ECHO")
    with held(assoc):
        started = time.monotonic()
        status = assoc.send_c_echo()
        elapsed = time.monotonic() - started
        if "Status" not in status:
            raise PacsError(lost(node, watch, "C-ECHO"))
        if status.Status != 0x0000:
            raise PacsError(f"{node} answered C-ECHO with {status_text(status.Status, 'C-ECHO', status)}")
    LOG.info("C-ECHO %s: ok in %.0f ms", node, elapsed * 1000)
    return elapsed
