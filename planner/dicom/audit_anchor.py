"""The audit log's entry for an export or signing, written into the RT Plan it records.

Why: the audit log is a hash chain anyone with the file can recompute after rewriting an entry or
cutting entries off its end (planner.review.audit). A plan signed with the hash of its own entry
keeps that hash where the log's writer cannot change it without breaking the signature; `planner
audit verify --against FOLDER` (planner.review.audit_anchors) checks each one is still in the log.

The block (PS3.5 §7.8.1), beside Planner's embedded plan in the same private group::

    (3259,0010-00FF) LO  Private Creator "PLANNER AUDIT 1"
    (3259,xx00-xxFF) UT  one anchor each, in the order written: {"action", "plan_uid", "seq",
                         "entry_hash"} as compact JSON with sorted keys (ASCII)

Every anchor is a new element, added before the signature that covers it: a signed element is
never changed (planner.dicom.signatures), and the creator and authorization signatures both cover
the whole private group. Read from the stored bytes, so a signed dataset is left as read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydicom.dataset import Dataset

from planner.core.errors import PlannerError
from planner.dicom.plan_payload import PRIVATE_GROUP

AUDIT_CREATOR = "PLANNER AUDIT 1"
MAX_ANCHORS = 0x100


class AuditAnchorError(PlannerError, ValueError):
    """An anchor that cannot be written or read; the message says which and why."""


@dataclass(frozen=True)
class AuditAnchor:
    action: str
    plan_uid: str
    seq: int
    entry_hash: str

    def text(self) -> str:
        """How a report or a message names it: "audit entry seq 12 (export) 3fa9…"."""
        return f"audit entry seq {self.seq} ({self.action}) {self.entry_hash}"


def add_audit_anchor(ds: Dataset, entry) -> AuditAnchor:
    """Add the audit ``entry`` (an AuditEntry, stored or reserved) to ``ds`` as the next anchor."""
    anchor = AuditAnchor(entry.action, entry.plan_uid, int(entry.seq), entry.entry_hash)
    slot = _creator_slot(ds)
    if slot is None:
        free = [s for s in range(0x10, 0x100) if ds.get_item((PRIVATE_GROUP << 16) | s) is None]
        if not free:
            raise AuditAnchorError(f"no free private creator slot in group {PRIVATE_GROUP:04X}")
        slot = free[0]
        ds.add_new((PRIVATE_GROUP << 16) | slot, "LO", AUDIT_CREATOR)
    base = (PRIVATE_GROUP << 16) | (slot << 8)
    used = [n for n in range(MAX_ANCHORS) if ds.get_item(base | n) is not None]
    index = used[-1] + 1 if used else 0
    if index >= MAX_ANCHORS:
        raise AuditAnchorError(f"the RT Plan already holds {MAX_ANCHORS} audit anchors")
    ds.add_new(base | index, "UT", json.dumps(
        {"action": anchor.action, "plan_uid": anchor.plan_uid, "seq": anchor.seq, "entry_hash": anchor.entry_hash},
        ensure_ascii=True, sort_keys=True, separators=(",", ":")))
    return anchor


def sign_with_audit_anchor(path_in, path_out, identity, role: str, audit_anchor=None):
    """sign_file, with this signing's audit entry added first so that the signature covers its hash.

    ``audit_anchor``: called with the RT Plan's SOP Instance UID, returns the reserved entry
    (planner.cli.audit_recording / planner.ui's audited); None signs without an anchor. The window, the
    command line and the package all sign this one way. Returns the SignatureCheck; raises as sign_file.
    """
    from planner.dicom.signatures import sign_file

    def anchored(ds: Dataset) -> None:
        add_audit_anchor(ds, audit_anchor(str(ds.get("SOPInstanceUID") or "")))

    return sign_file(path_in, path_out, identity, role, prepare=None if audit_anchor is None else anchored)


def read_audit_anchors(ds: Dataset) -> tuple[AuditAnchor, ...]:
    """Every anchor in ``ds`` in the order written; () when it has none; AuditAnchorError when garbled."""
    slot = _creator_slot(ds)
    if slot is None:
        return ()
    base = (PRIVATE_GROUP << 16) | (slot << 8)
    anchors = []
    for n in range(MAX_ANCHORS):
        element = ds.get_item(base | n)
        if element is None:
            continue
        try:
            data = json.loads(_text(element.value).rstrip(" \0"))
            anchors.append(AuditAnchor(str(data["action"]), str(data["plan_uid"]), int(data["seq"]),
                                       str(data["entry_hash"]).lower()))
        except (ValueError, TypeError, KeyError, UnicodeDecodeError):
            raise AuditAnchorError(f"audit anchor ({PRIVATE_GROUP:04X},{(base | n) & 0xFFFF:04X}) is garbled") from None
    return tuple(anchors)


def audit_head_text(ds: Dataset) -> str:
    """The last anchor as the report prints it, or "" when the plan has none."""
    try:
        anchors = read_audit_anchors(ds)
    except AuditAnchorError:
        return ""
    return anchors[-1].text() if anchors else ""


def _creator_slot(ds: Dataset) -> int | None:
    for slot in range(0x10, 0x100):
        element = ds.get_item((PRIVATE_GROUP << 16) | slot)
        if element is not None and _text(element.value).strip(" \0") == AUDIT_CREATOR:
            return slot
    return None


def _text(value) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="strict")
    return "" if value is None else str(value)




def anchors_signed_later(ds: Dataset, checks) -> tuple[frozenset[str], ...]:
    """Per signature check (in order), the anchor attributes it may leave out: those added after it
    for a later signing and covered by a later intact signature. A reader that flags attributes
    "added after signing" (planner.dicom.signed_plan, planner.review.plan_review) excuses these."""
    slot = _creator_slot(ds)
    names: set[str] = set()
    if slot is not None:
        names.add(_name((PRIVATE_GROUP << 16) | slot))
        base = (PRIVATE_GROUP << 16) | (slot << 8)
        names.update(_name(base | n) for n in range(MAX_ANCHORS) if ds.get_item(base | n) is not None)
    checks = tuple(checks)
    out = []
    for i in range(len(checks)):
        later = [c for c in checks[i + 1:] if c.valid]
        out.append(frozenset(n for n in names
                             if any(not any(u.startswith(n) for u in c.attributes_not_signed) for c in later)))
    return tuple(out)


def is_excused(name: str, excused: frozenset[str]) -> bool:
    """``name`` as SignatureCheck.attributes_not_signed words it, one of ``excused``."""
    return any(name.startswith(n) for n in excused)


def _name(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


__all__ = ["AUDIT_CREATOR", "AuditAnchor", "AuditAnchorError", "add_audit_anchor", "anchors_signed_later",
           "sign_with_audit_anchor",
           "audit_head_text", "is_excused", "read_audit_anchors"]
