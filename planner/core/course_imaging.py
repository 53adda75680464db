"""The IGSRT course's imaging sessions and the lesion's response (issue 17).

An imaging session is one ultrasound of the course: its place on the course's timeline (baseline,
before or after fraction N, follow-up at week W), the date it was acquired, the image it was read
from with the source of its mm scale, the patient the image belongs to, and the lesion outlined on
it with the skin line found on it. The lesion's measure (depth below the skin, lateral width, area)
is derived from the outline and the skin line by the functions the plan itself is measured with
(planner.core.outline.measure_lesion: the deepest point of the outline below the skin line along the
beam axis, which is the image's depth axis; width = lateral extent; area by the shoelace formula).

A session is kept even when it cannot be measured (an image without a mm scale, a skin line with
doubts, no outline); its measure is then None and ``unmeasured_reason`` says why.

Pure Python values; NumPy only through the outline's depth function. Sessions live in the Course
(planner.core.course), which imports this module; this module does not import the course.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from planner.core.errors import PlannerError
from planner.core.outline import LesionOutline, OutlineError, measure_lesion
from planner.core.skin_surface import SkinSurface, SkinSurfaceError

NOT_CALIBRATED = "not measurable until calibrated"


class SessionError(PlannerError, ValueError):
    """An imaging session that cannot be accepted as written; the message says which value and why."""


class OtherPatientError(SessionError):
    """The image belongs to another patient than the plan; the message names both identities."""


class SessionDateQuestion(SessionError):
    """A date that is possible but unlikely (before the baseline, in the future): the user must confirm it."""


# ------------------------------------------------------------------------------------- the timeline

_WHEN = re.compile(r"^(baseline)$|^(before|after):(\d+)$|^(followup):(\d+)$")


@dataclass(frozen=True)
class SessionTime:
    """A place on the course's timeline: ``kind`` is "baseline", "before", "after" or "followup";
    ``number`` the fraction (before/after, from 1) or the week after the last fraction (follow-up, from 0)."""

    kind: str
    number: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("baseline", "before", "after", "followup"):
            raise SessionError(f"a session's time is baseline, before:N, after:N or followup:W, not {self.kind!r}")
        if isinstance(self.number, bool) or not isinstance(self.number, int):
            raise SessionError(f"the session's fraction or week must be a whole number, got {self.number!r}")
        if self.kind == "baseline" and self.number != 0:
            raise SessionError("the baseline has no fraction or week number")
        if self.kind in ("before", "after") and self.number < 1:
            raise SessionError(f"{self.kind}:N needs a fraction number of at least 1, got {self.number}")
        if self.kind == "followup" and self.number < 0:
            raise SessionError(f"followup:W needs a week of at least 0, got {self.number}")

    @classmethod
    def parse(cls, text: str) -> "SessionTime":
        """From "baseline", "before:N", "after:N" or "followup:W"."""
        match = _WHEN.match(text.strip().lower()) if isinstance(text, str) else None
        if match is None:
            raise SessionError(f"a session's time is baseline, before:N, after:N (N a fraction number from 1) or "
                               f"followup:W (W weeks from 0), not {text!r}")
        if match.group(1):
            return cls("baseline")
        if match.group(2):
            return cls(match.group(2), int(match.group(3)))
        return cls("followup", int(match.group(5)))

    @property
    def text(self) -> str:
        """The form ``parse`` reads (and the plan file stores)."""
        return "baseline" if self.kind == "baseline" else f"{self.kind}:{self.number}"

    @property
    def label(self) -> str:
        """In words: "baseline", "before fraction 3", "after fraction 5", "follow-up week 12"."""
        if self.kind == "baseline":
            return "baseline"
        if self.kind == "followup":
            return f"follow-up week {self.number}"
        return f"{self.kind} fraction {self.number}"

    @property
    def order_key(self) -> tuple[int, int, int]:
        """Baseline, then before 1, after 1, before 2, after 2, …, then follow-up weeks in order."""
        if self.kind == "baseline":
            return (0, 0, 0)
        if self.kind == "followup":
            return (2, self.number, 0)
        return (1, self.number, 0 if self.kind == "before" else 1)

    @property
    def fraction(self) -> int | None:
        return self.number if self.kind in ("before", "after") else None


# ------------------------------------------------------------------------------------- one session


@dataclass(frozen=True)
class LesionMeasure:
    """The lesion on one image: depth of its deepest point below the skin (mm), lateral width (mm),
    area (mm²), and the source of the image's mm scale they rest on."""

    depth_mm: float
    width_mm: float
    area_mm2: float
    calibration_source: str


@dataclass(frozen=True)
class ImagingSession:
    """One ultrasound of the course. ``calibration_source`` None: the image has no mm scale (then the
    outline and skin line, in mm, cannot exist either)."""

    when: SessionTime
    acquired_on: date
    image_path: str
    calibration_source: str | None
    patient_id: str
    patient_name: str
    outline: LesionOutline | None = None
    skin_surface: SkinSurface | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.when, SessionTime):
            raise SessionError(f"a session's time must be a SessionTime, got {self.when!r}")
        if not isinstance(self.acquired_on, date) or hasattr(self.acquired_on, "hour"):
            raise SessionError(f"{self.when.label}: the acquisition date must be a calendar date, "
                               f"got {self.acquired_on!r}")
        for name in ("image_path", "patient_id", "patient_name"):
            if not isinstance(getattr(self, name), str):
                raise SessionError(f"{self.when.label}: {name.replace('_', ' ')} must be text, "
                                   f"got {getattr(self, name)!r}")
        if not self.image_path.strip():
            raise SessionError(f"{self.when.label}: the image's path is required")
        if self.calibration_source is not None and (not isinstance(self.calibration_source, str)
                                                    or not self.calibration_source.strip()):
            raise SessionError(f"{self.when.label}: the calibration source must be named, "
                               f"got {self.calibration_source!r}")
        if self.outline is not None and not isinstance(self.outline, LesionOutline):
            raise SessionError(f"{self.when.label}: the outline must be a LesionOutline")
        if self.skin_surface is not None and not isinstance(self.skin_surface, SkinSurface):
            raise SessionError(f"{self.when.label}: the skin line must be a SkinSurface")
        if self.calibration_source is None and (self.outline is not None or self.skin_surface is not None):
            raise SessionError(f"{self.when.label}: the image has no mm scale, so an outline or skin line in mm "
                               f"cannot be placed on it; calibrate it first")

    @property
    def unmeasured_reason(self) -> str | None:
        """Why the lesion cannot be measured on this session, or None when it can."""
        if self.calibration_source is None:
            return NOT_CALIBRATED
        if self.skin_surface is None:
            return "not measurable: no skin line was found on the image"
        if not self.skin_surface.confirmed:
            return "not measurable until the skin line is confirmed (" + "; ".join(self.skin_surface.doubts) + ")"
        if self.outline is None:
            return "not measurable: the lesion is not outlined"
        return None

    @property
    def measure(self) -> LesionMeasure | None:
        """Depth, width and area by the plan's own measuring function; None with ``unmeasured_reason``."""
        if self.unmeasured_reason is not None:
            return None
        metrics = measure_lesion(self.outline, self.skin_surface.depth_at)
        return LesionMeasure(metrics.max_depth_below_skin_mm, metrics.lateral_width_mm, metrics.area_mm2,
                             self.calibration_source)


def check_same_patient(plan_id: str, plan_name: str, image_id: str, image_name: str) -> None:
    """Refuse an image of another patient, naming both. An image that carries no identity (a PNG)
    cannot be told apart and is not refused here; the caller says so. Names compare as DICOM
    person names: case and trailing empty components ("^^") aside."""
    def same_name(a: str, b: str) -> bool:
        return a.strip().rstrip("^").casefold() == b.strip().rstrip("^").casefold()

    id_differs = bool(image_id.strip()) and image_id.strip() != plan_id.strip()
    name_differs = bool(image_name.strip()) and not same_name(image_name, plan_name)
    if id_differs or name_differs:
        raise OtherPatientError(f"the image belongs to patient {image_name!r} (ID {image_id!r}), the plan to "
                                f"{plan_name!r} (ID {plan_id!r}): an image of another patient is refused")


# ------------------------------------------------------------------------------------- response


@dataclass(frozen=True)
class ResponseFinding:
    """One sentence on the lesion's response; ``kind``: "change", "not measurable", "no baseline",
    "nadir", "suspected recurrence" or "recurrence not judged"."""

    kind: str
    when: SessionTime | None
    message: str


def _change(before: float, after: float) -> str:
    percent = 100.0 * (after - before) / before
    rounded = round(percent)
    return f"{'−' if rounded < 0 else '+'}{abs(rounded)} %"   # U+2212 minus, as printed


def response_findings(sessions, *, regrowth_threshold_percent: float | None) -> tuple[ResponseFinding, ...]:
    """The lesion's response in words, session by session in course order.

    Each measured session after the baseline: "before fraction 3 (2026-11-10): depth 2.7 → 1.9 mm
    (−30 %), width 9.0 → 8.1 mm (−10 %), area 18.0 → 12.6 mm² (−30 %) since baseline".

    The nadir is the smallest DEPTH below the skin, not the smallest area: depth is what the plan's
    energy and prescription isodose must reach, it is measured along the image's depth axis, whose
    pixels are the finest (axial resolution is better than lateral in ultrasound), and it depends
    least on where in the lesion the probe's plane cuts it, while width and area change with the
    plane's position and angle from one visit to the next.

    A follow-up session whose depth exceeds the nadir before it by more than
    ``regrowth_threshold_percent`` is "suspected recurrence". The threshold is the clinic's
    (clinic settings ``recurrence_regrowth_percent``) and has no default here: no published threshold
    for the ultrasound depth of a skin lesion was found. With None, the findings say recurrence is not
    judged and why.
    """
    if regrowth_threshold_percent is not None and not (
            isinstance(regrowth_threshold_percent, (int, float)) and not isinstance(regrowth_threshold_percent, bool)
            and 0 < regrowth_threshold_percent < float("inf")):
        raise SessionError(f"the regrowth threshold must be a percentage above 0, got {regrowth_threshold_percent!r}")
    ordered = sorted(sessions, key=lambda s: s.when.order_key)
    findings: list[ResponseFinding] = []
    baseline = next((s for s in ordered if s.when.kind == "baseline"), None)
    base = None if baseline is None else baseline.measure
    if baseline is None:
        findings.append(ResponseFinding("no baseline", None, "no baseline session: changes are not stated"))
    elif base is None:
        findings.append(ResponseFinding("not measurable", baseline.when,
                                        f"baseline ({baseline.acquired_on.isoformat()}): "
                                        f"{baseline.unmeasured_reason}; changes are not stated"))
    nadir: tuple[float, ImagingSession] | None = None
    unjudged: list[str] = []
    for session in ordered:
        head = f"{session.when.label} ({session.acquired_on.isoformat()})"
        measure = session.measure
        if measure is None:
            if session is not baseline:
                findings.append(ResponseFinding("not measurable", session.when,
                                                f"{head}: {session.unmeasured_reason}"))
            continue
        if base is not None and session is not baseline:
            findings.append(ResponseFinding(
                "change", session.when,
                f"{head}: depth {base.depth_mm:.1f} → {measure.depth_mm:.1f} mm "
                f"({_change(base.depth_mm, measure.depth_mm)}), width {base.width_mm:.1f} → {measure.width_mm:.1f} mm "
                f"({_change(base.width_mm, measure.width_mm)}), area {base.area_mm2:.1f} → {measure.area_mm2:.1f} mm² "
                f"({_change(base.area_mm2, measure.area_mm2)}) since baseline"))
        if session.when.kind == "followup" and nadir is not None:
            if regrowth_threshold_percent is None:
                unjudged.append(session.when.label)
            else:
                findings.extend(_recurrence(session, measure, nadir, regrowth_threshold_percent))
        if nadir is None or measure.depth_mm < nadir[0]:
            nadir = (measure.depth_mm, session)
    if nadir is not None and len([s for s in ordered if s.measure is not None]) > 1:
        depth, session = nadir
        findings.append(ResponseFinding("nadir", session.when,
                                        f"nadir: depth {depth:.1f} mm at {session.when.label} "
                                        f"({session.acquired_on.isoformat()})"))
    if unjudged:
        findings.append(ResponseFinding("recurrence not judged", None,
                                        f"recurrence not judged at {', '.join(unjudged)}: the clinic has set no "
                                        f"regrowth threshold (recurrence_regrowth_percent in the clinic settings)"))
    return tuple(findings)


def _recurrence(session: ImagingSession, measure: LesionMeasure, nadir: tuple[float, ImagingSession],
                threshold: float) -> list[ResponseFinding]:
    depth, at = nadir
    head = f"{session.when.label} ({session.acquired_on.isoformat()})"
    regrowth = 100.0 * (measure.depth_mm - depth) / depth
    if regrowth <= threshold:
        return []
    return [ResponseFinding("suspected recurrence", session.when,
                            f"SUSPECTED RECURRENCE at {head}: depth {measure.depth_mm:.1f} mm is {regrowth:.0f} % "
                            f"above the nadir {depth:.1f} mm ({at.when.label}), beyond the clinic's "
                            f"{threshold:g} % regrowth threshold")]


def suspected_recurrence(findings) -> bool:
    return any(f.kind == "suspected recurrence" for f in findings)


# ------------------------------------------------------------------------------------- JSON


def session_to_dict(session: ImagingSession) -> dict[str, Any]:
    skin = session.skin_surface
    return {
        "when": session.when.text,
        "acquired_on": session.acquired_on.isoformat(),
        "image_path": session.image_path,
        "calibration_source": session.calibration_source,
        "patient": {"id": session.patient_id, "name": session.patient_name},
        "lesion_outline_mm": None if session.outline is None else [list(v) for v in session.outline.vertices_mm],
        "skin_surface_mm": None if skin is None else [list(p) for p in skin.points_mm],
        "skin_surface_doubts": [] if skin is None else list(skin.doubts),
    }


def session_from_dict(data: Any, number: int) -> ImagingSession:
    """Inverse of session_to_dict; problems raise SessionError naming the session (``number`` from 1)."""
    where = f"imaging session {number}"
    if not isinstance(data, dict):
        raise SessionError(f"{where} must be a JSON object, got {type(data).__name__}")
    missing = [k for k in ("when", "acquired_on", "image_path", "calibration_source", "patient") if k not in data]
    if missing:
        raise SessionError(f"{where} is missing {', '.join(missing)}")
    try:
        when = SessionTime.parse(data["when"])
        text = data["acquired_on"]
        if not isinstance(text, str):
            raise SessionError(f"{where}: the acquisition date must be an ISO date (YYYY-MM-DD), got {text!r}")
        try:
            acquired_on = date.fromisoformat(text)
        except ValueError:
            raise SessionError(f"{where}: the acquisition date must be an ISO date (YYYY-MM-DD), got {text!r}") from None
        patient = data["patient"]
        if not isinstance(patient, dict) or "id" not in patient or "name" not in patient:
            raise SessionError(f"{where}: patient must be an object with id and name")
        outline = data.get("lesion_outline_mm")
        skin = data.get("skin_surface_mm")
        doubts = data.get("skin_surface_doubts", [])
        if not isinstance(doubts, list) or not all(isinstance(d, str) and d.strip() for d in doubts):
            raise SessionError(f"{where}: skin_surface_doubts must be a list of reasons in words")
        return ImagingSession(
            when, acquired_on, data["image_path"], data["calibration_source"], patient["id"], patient["name"],
            None if outline is None else LesionOutline(tuple(tuple(v) for v in outline)),
            None if skin is None else SkinSurface(tuple(tuple(p) for p in skin), tuple(doubts)))
    except (OutlineError, SkinSurfaceError) as err:
        raise SessionError(f"{where}: {err}") from None
    except (TypeError, ValueError) as err:
        if isinstance(err, SessionError):
            raise
        raise SessionError(f"{where} holds a malformed value: {err}") from None
