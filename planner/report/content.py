"""What a plan report shows, frozen: every value already in the words and units it is printed in.

The report is a record a physician signs from, so its content is fixed before anything is drawn:
the drawing code only lays it out, and tests can read the same values the page shows.
``report_content`` (planner/report/assemble.py) builds one from a plan and its dose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import numpy as np

from planner.core.errors import PlannerError
from planner.core.radiobiology import BiologicalDose
from planner.dose.plan_checks import Finding

CREATOR = "creator"              # the physician's signature of the plan (DICOM creator signature)
AUTHORIZATION = "authorization"  # the approval that follows it (DICOM authorization signature)


class ReportError(PlannerError, ValueError):
    """A plan that cannot be reported; the message says what is missing or inconsistent."""


class PlanStatus(Enum):
    """Where the plan stands, as its signatures show it. The value is what the page prints."""

    DRAFT = "DRAFT (unsigned)"
    SIGNED = "SIGNED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED — NOT FOR TREATMENT"
    SIGNATURE_BROKEN = "SIGNATURE BROKEN"


_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class SignatureLine:
    """One digital signature of the plan as verified when the report is made.

    ``role`` is the signature's purpose (``creator``, ``authorization`` or the signer's own
    words); ``problem`` says why an invalid signature failed; ``test_certificate`` marks a
    self-signed clinic test certificate, which the report never lets pass for a clinical one.
    """

    role: str
    signer: str
    signed_at: datetime
    valid: bool
    problem: str = ""
    fingerprint_sha256: str = ""
    test_certificate: bool = False

    def __post_init__(self) -> None:
        h = self.fingerprint_sha256.replace(":", "").replace(" ", "").lower()
        if not _HEX64.fullmatch(h):
            raise ReportError(f"signature of {self.signer!r}: the certificate fingerprint must be a SHA-256 "
                              f"(64 hexadecimal digits), got {self.fingerprint_sha256!r}")
        object.__setattr__(self, "fingerprint_sha256", h)
        if not isinstance(self.signed_at, datetime):
            raise ReportError(f"signature of {self.signer!r}: signed_at must be a date and time")
        if not self.valid and not self.problem.strip():
            object.__setattr__(self, "problem", "the signature does not verify")


def status_from_signatures(signatures: tuple[SignatureLine, ...]) -> PlanStatus:
    """Broken if any signature fails; approved once a valid authorization exists; else signed or draft."""
    if any(not s.valid for s in signatures):
        return PlanStatus.SIGNATURE_BROKEN
    if any(s.role == AUTHORIZATION for s in signatures):
        return PlanStatus.APPROVED
    return PlanStatus.SIGNED if signatures else PlanStatus.DRAFT


def checked_status(status: PlanStatus | None, signatures: tuple[SignatureLine, ...]) -> PlanStatus:
    """The status to print. A caller may state it, but never one the signatures contradict: a
    broken signature always prints as broken, and "signed" needs a signature to show."""
    shown = status_from_signatures(signatures)
    if status is None or status == shown:
        return shown
    if status == PlanStatus.REJECTED and shown == PlanStatus.APPROVED:
        return status   # the physicist's signed decision; the RT Plan's Approval Status says which it was
    raise ReportError(f"plan status {status.value} contradicts the signatures, which show {shown.value}")


@dataclass(frozen=True)
class Item:
    """One printed line of a table: a label and its value with the unit."""

    label: str
    value: str


@dataclass(frozen=True)
class Alert:
    """A banner the reader must not miss (refused plan, demo commissioning, broken signature)."""

    severity: str    # "refuse" | "warn"
    title: str       # printed large on page 1
    text: str
    mark: str        # a word or two, repeated in every page's header


@dataclass(frozen=True, eq=False)
class IsodoseLine:
    """Segments (end points in pairs, mm, image frame) where the dose crosses ``percent`` of Dmax,
    the central-axis maximum dose per fraction (planner.dose.coverage); ``label`` says it in % and
    Gy; ``prescription`` marks the isodose that receives the prescribed dose (drawn thicker)."""

    percent: float
    colour: str        # "#rrggbb"
    x_mm: np.ndarray
    y_mm: np.ndarray
    label: str = ""
    prescription: bool = False
    dashed: bool = False


@dataclass(frozen=True, eq=False)
class ImageFigure:
    """The ultrasound frame in mm with what was planned on it."""

    pixels: np.ndarray                                   # (rows, cols) uint8 grey or (rows, cols, 3) RGB
    extent_mm: tuple[float, float, float, float]         # left, top, width, height of the pixel edges
    outline_mm: tuple[tuple[float, float], ...] | None
    skin_mm: tuple[tuple[float, float], ...] | None
    cone_axis_x_mm: float | None
    cone_diameter_mm: float | None
    cone_footprint_y_mm: float | None                    # where the footprint is drawn (just above the skin)
    isodoses: tuple[IsodoseLine, ...]
    isodose_title: str                                   # the legend's heading: what the percentages are of
    dose_caption: str                                    # what the lines are, or why there are none
    image_caption: str                                   # which file and frame, its scale and where it came from


@dataclass(frozen=True)
class DepthMark:
    """A depth the plan reads off the PDD; ``percent_of_dmax`` is printed beside it when given."""

    label: str
    depth_mm: float
    percent_of_dmax: float | None = None


@dataclass(frozen=True)
class DepthDoseCurve:
    """The central-axis PDD the dose was computed with, and the depths the plan reads off it."""

    points: tuple[tuple[float, float], ...]              # (depth mm, % of Dmax, the surface dose)
    uncertainty: tuple[tuple[float, float], ...]         # (depth mm, k=1 σ in percentage points)
    marks: tuple[DepthMark, ...]
    caption: str


@dataclass(frozen=True)
class CourseSection:
    """The treatment course as the window's Course tab shows it: a summary, one row per recorded
    fraction under ``columns`` (the time's column in the technique's word) and the schedule's flags."""

    summary: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class ReportContent:
    # identity
    patient_name: str
    patient_id: str
    plan_label: str
    printed_at: str
    planner_version: str
    status: PlanStatus
    alerts: tuple[Alert, ...]
    # the treatment
    time_title: str                                      # "Treatment time per fraction" / "Dwell time per fraction"
    time_text: str
    prescription: tuple[Item, ...]
    treatment_unit: tuple[Item, ...]
    radiobiology: tuple[BiologicalDose, ...]
    lesion: tuple[Item, ...]
    dose: tuple[Item, ...]
    findings: tuple[Finding, ...]
    image: ImageFigure
    # how the dose was made
    model_description: str
    data_sources: tuple[Item, ...]
    commissioning: tuple[Item, ...]
    beam_data: tuple[Item, ...]
    pdd: DepthDoseCurve | None
    pdd_missing_reason: str
    # what was delivered
    course: CourseSection
    # who signed
    signatures: tuple[SignatureLine, ...]
    notes: str = ""
    audit_head: str = ""         # the audit entry this plan was exported or signed with (audit_anchor.py)

    @property
    def refused(self) -> bool:
        return any(f.severity == "refuse" for f in self.findings)

    @property
    def page_marks(self) -> tuple[str, ...]:
        """The alerts' marks, repeated on every page so a single loose page still carries them."""
        return tuple(a.mark for a in self.alerts)
