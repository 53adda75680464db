"""``audit verify --against FOLDER``: is every audit entry the plans were signed with still in the log?

Each plan Planner exports or signs carries the hash of its own audit entry inside the signed content
(planner.dicom.audit_anchor). The log's own chain can be recomputed by whoever rewrites it; these
hashes cannot be changed without breaking the plans' signatures. So a reason changed and the chain
recomputed, or entries cut off the end with the head fixed, leaves a plan whose entry is gone: it is
named here with the seq and hash it recorded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from planner.dicom.audit_anchor import AuditAnchorError, read_audit_anchors


@dataclass(frozen=True)
class AgainstResult:
    plans_checked: int           # DICOM files carrying at least one anchor
    anchors_checked: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_against(entries, folder: str | os.PathLike) -> AgainstResult:
    """Check every anchor of every DICOM file under ``folder`` against ``entries`` (AuditLog.entries())."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    by_seq = {entry.seq: entry for entry in entries}
    last = max(by_seq, default=0)
    plans = anchors_checked = 0
    problems: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            ds = dcmread(path, stop_before_pixels=True)
            anchors = read_audit_anchors(ds)
        except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError):
            continue              # not DICOM, or a damaged file: it vouches for nothing either way
        except AuditAnchorError as err:
            problems.append(f"{path}: {err}")
            continue
        if not anchors:
            continue
        plans += 1
        for anchor in anchors:
            anchors_checked += 1
            entry = by_seq.get(anchor.seq)
            said = f"{path} (plan {anchor.plan_uid}) records audit entry seq {anchor.seq} ({anchor.action}) " \
                   f"{anchor.entry_hash}"
            if entry is None:
                problems.append(f"{said}, but the log ends at seq {last}: entries were cut off (truncated history)")
            elif entry.entry_hash != anchor.entry_hash:
                problems.append(f"{said}, but the log's entry seq {anchor.seq} has hash {entry.entry_hash}: "
                                f"the history was rewritten")
    return AgainstResult(plans, anchors_checked, tuple(problems))


__all__ = ["AgainstResult", "verify_against"]
