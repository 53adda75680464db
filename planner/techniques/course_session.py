"""One imaging session of the course built the one way, for the window's Add Course Image… and
`planner course add-image` (issue 17): the image loaded with the planning loader and its calibration
rules, the patient checked, the skin line found as for planning, and the lesion outline proposed inside
the previous session's outline (else the plan's) moved to the new skin line.

Why here and not in the command line or the window: both must load, check and propose alike, and this
needs imaging (loader, skin detection, proposal tool) above the core's session values.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from planner.core.course_imaging import (NOT_CALIBRATED, ImagingSession, SessionError, SessionTime,
                                         check_same_patient)
from planner.core.outline import LesionOutline, OutlineError
from planner.core.plan import Plan
from planner.imaging.lesion_proposal import ProposalError, propose_lesion_outline
from planner.imaging.planning_image import PlanningImage, load_planning_image


class OutlineProposalError(SessionError):
    """No outline could be proposed on the session's image; the user must give one."""


@dataclass(frozen=True, eq=False)
class SessionImage:
    """A course image loaded for a session: the image, the skin line found on it (None without a mm
    scale or an entry echo) and what the user must know about it (no identity, no scale, a doubtful line)."""

    path: str
    planning_image: PlanningImage
    notes: tuple[str, ...]

    @property
    def image(self):
        return self.planning_image.image

    @property
    def skin(self):
        return self.planning_image.detected_skin if self.calibrated else None

    @property
    def calibrated(self) -> bool:
        return self.image.calibration is not None


def load_session_image(plan: Plan, path: str, progress=None, is_cancelled=None) -> SessionImage:
    """Load the image as for planning and refuse another patient's (OtherPatientError naming both).
    Raises ImageLoadError (one line) when the file cannot be read."""
    planning_image = load_planning_image(path, progress=progress, is_cancelled=is_cancelled)
    image = planning_image.image
    check_same_patient(plan.patient_id, plan.patient_name, image.patient_id, image.patient_name)
    notes = []
    if not image.patient_id.strip() and not image.patient_name.strip():
        notes.append("the image carries no patient identity: check it is this patient's; the plan's is recorded")
    skin = planning_image.detected_skin
    if image.calibration is None:
        notes.append(f"the image has no mm scale: the session is kept, {NOT_CALIBRATED}")
    elif skin is None:
        notes.append("no skin line found on the image (no entry echo): depth cannot be measured")
    elif not skin.confirmed:
        notes.append("the skin line detected is not confident (" + "; ".join(skin.doubts) + "): no depth is "
                     "measured from it until it is confirmed in the window")
    return SessionImage(str(Path(path).resolve()), planning_image, tuple(notes))


def propose_session_outline(plan: Plan, when: SessionTime, loaded: SessionImage) -> tuple[LesionOutline, str]:
    """(outline, note): the proposal tool clicked at the centre of the previous outline (the last session
    before this one with an outline, else the plan's), moved by the skin line's change of depth at that
    outline's lateral centre. OutlineProposalError when there is nothing to seed it or it finds no lesion."""
    if not loaded.calibrated:
        raise OutlineProposalError(f"the image has no mm scale: an outline in mm cannot be placed on it "
                                   f"({NOT_CALIBRATED})")
    sessions = () if plan.course is None else plan.course.sessions
    earlier = [s for s in sessions
               if s.when.order_key < when.order_key and s.outline is not None and s.skin_surface is not None]
    if earlier:
        previous, previous_skin, source = earlier[-1].outline, earlier[-1].skin_surface, earlier[-1].when.label
    elif plan.outline is not None and plan.skin_surface is not None:
        previous, previous_skin, source = plan.outline, plan.skin_surface, "the plan"
    else:
        raise OutlineProposalError("no earlier outline to start from: outline the lesion yourself")
    skin = loaded.skin
    if skin is None:
        raise OutlineProposalError("no skin line on the image to move the earlier outline to: outline the lesion "
                                   "yourself")
    centre_x = previous.lateral_centre_mm
    shift = skin.depth_at(centre_x) - previous_skin.depth_at(centre_x)
    ys = [y + shift for _, y in previous.vertices_mm]
    seed = (centre_x, (min(ys) + max(ys)) / 2.0)
    try:
        outline = LesionOutline(propose_lesion_outline(loaded.image.frames[0], loaded.image.calibration, seed,
                                                       skin.depth_at))
    except (ProposalError, OutlineError) as err:
        raise OutlineProposalError(f"the outline proposed from {source}'s ({seed[0]:.1f}, {seed[1]:.1f}) mm "
                                   f"failed: {err}") from None
    return outline, (f"outline proposed inside {source}'s outline moved {shift:+.2f} mm to this skin line; "
                     f"check it")


def make_session(plan: Plan, when: SessionTime, acquired_on: date, loaded: SessionImage,
                 outline: LesionOutline | None) -> ImagingSession:
    """The session as the course keeps it: the image's identity, else the plan's (an image without one);
    an uncalibrated image is kept without outline or skin line, "not measurable until calibrated"."""
    if outline is not None and not loaded.calibrated:
        raise SessionError(f"{loaded.path} has no mm scale: an outline in mm cannot be placed on it")
    image = loaded.image
    return ImagingSession(when, acquired_on, loaded.path,
                          image.calibration.source if loaded.calibrated else None,
                          image.patient_id or plan.patient_id, image.patient_name or plan.patient_name,
                          outline, loaded.skin)


OUTLINE_FILE_FORMAT = "CSV lines 'x_mm,y_mm' (a header line allowed) or JSON [[x_mm, y_mm], ...]"


class PointsFileError(SessionError):
    """A file of points in mm (an outline, a skin line) that cannot be read; the message names it and the line."""


def read_outline_file(path: str | Path) -> LesionOutline:
    """The lesion outline in a file of the command line's --outline format (OUTLINE_FILE_FORMAT; a JSON object
    may hold the list under "lesion_outline_mm"), so a window and a script take the same files."""
    vertices = read_points_file(path, "outline", "lesion_outline_mm")
    try:
        return LesionOutline(tuple(vertices))
    except OutlineError as err:
        raise PointsFileError(f"outline file {path}: {err}") from None


def read_points_file(path: str | Path, what: str, json_key: str) -> list[tuple[float, float]]:
    """The points (x_mm, y_mm) in a CSV or JSON file (OUTLINE_FILE_FORMAT; a JSON object holds them under
    ``json_key``); ``what`` names the file in messages ("outline", "skin line")."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PointsFileError(f"cannot read the {what} file {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise PointsFileError(f"{what} file {path} is not a text file (UTF-8)") from None
    if path.suffix.lower() == ".json":
        return _json_points(path, text, what, json_key)
    return _csv_points(path, text, what)


def _number(value) -> float | None:
    if isinstance(value, (bool, str)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _json_points(path: Path, text: str, what: str, json_key: str) -> list[tuple[float, float]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PointsFileError(f"{what} file {path} is not valid JSON (line {err.lineno}: {err.msg})") from None
    if isinstance(data, dict):
        data = data.get(json_key)
    if not isinstance(data, list):
        raise PointsFileError(f"{what} file {path}: expected a list of [x_mm, y_mm] pairs or \"{json_key}\"")
    points = []
    for number, pair in enumerate(data, 1):
        xy = [_number(v) for v in pair] if isinstance(pair, list) and len(pair) == 2 else [None]
        if None in xy:
            raise PointsFileError(f"{what} file {path}: point {number} is not an [x_mm, y_mm] pair of numbers")
        points.append((xy[0], xy[1]))
    return points


def _csv_points(path: Path, text: str, what: str) -> list[tuple[float, float]]:
    points = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        cells = [_text_number(cell.strip()) for cell in line.replace(";", ",").split(",")]
        if len(cells) == 2 and None not in cells:
            points.append((cells[0], cells[1]))
        elif points or any(c is not None for c in cells):   # a header line such as "x_mm,y_mm" comes first
            raise PointsFileError(f"{what} file {path}, line {number}: expected 'x_mm,y_mm', got {line!r}")
    return points


def _text_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
