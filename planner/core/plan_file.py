"""Plans on disk as JSON: human-readable, versioned, and checked on the way in.

A plan file that does not parse, has the wrong format tag or a future version, or holds an
impossible value is refused with a PlanFileError that names the field, never loaded half-way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from planner.core.atomic import atomic_write_text
from planner.core.course import CourseError, course_from_dict, course_to_dict
from planner.core.errors import PlannerError
from planner.core.manual_calibration import CalibrationError, ManualCalibration
from planner.core.outline import LesionOutline, OutlineError
from planner.core.plan import Plan, TreatmentSetup
from planner.core.prescription import DEFAULT_ISODOSE_PERCENT, Prescription, PrescriptionError, PrescriptionPoint
from planner.core.skin_surface import SkinSurface, SkinSurfaceError

FORMAT = "planner-plan"
# 2 added the treatment course (fractions delivered); 3 the skin line's doubts, so a Planner that
# cannot keep them refuses the file instead of measuring depth from a line nobody confirmed.
# 4 the course's imaging sessions (course format 2), so a Planner that would drop them refuses the
# file; a file of versions 1 to 3 loads with none.
VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)


class PlanFileError(PlannerError, ValueError):
    """A plan file that cannot be read; the message names the file and what is wrong."""


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "label": plan.label,
        "patient": {"name": plan.patient_name, "id": plan.patient_id},
        "image_path": plan.image_path,
        "setup": {
            "technique": plan.setup.technique_id,
            "machine": plan.setup.machine_id,
            "energy": plan.setup.energy_id,
            "applicator": plan.setup.applicator_id,
        },
        "prescription": {
            "dose_per_fraction_gy": plan.prescription.dose_per_fraction_gy,
            "fractions": plan.prescription.fractions,
            "point": {"mode": plan.prescription.point.mode, "depth_mm": plan.prescription.point.depth_mm,
                      "isodose_percent": plan.prescription.point.isodose_percent},
        },
        "lesion_outline_mm": None if plan.outline is None else [list(v) for v in plan.outline.vertices_mm],
        "skin_surface_mm": None if plan.skin_surface is None else [list(p) for p in plan.skin_surface.points_mm],
        "skin_surface_doubts": [] if plan.skin_surface is None else list(plan.skin_surface.doubts),
        "manual_calibration": None if plan.manual_calibration is None else {
            "known_distance_mm": plan.manual_calibration.known_distance_mm,
            "measured_pixels": plan.manual_calibration.measured_pixels,
        },
        "cone_axis_x_mm": plan.cone_axis_x_mm,
        "notes": plan.notes,
        "course": None if plan.course is None else course_to_dict(plan.course),
    }


def plan_from_dict(data: Any) -> Plan:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PlanFileError(f"not a Planner plan (expected \"format\": \"{FORMAT}\")")
    version = data.get("version")
    if version not in READABLE_VERSIONS:
        raise PlanFileError(f"plan format version {version!r} is not supported by this Planner (reads versions "
                            f"{', '.join(map(str, READABLE_VERSIONS))})")
    try:
        patient = data["patient"]
        setup = data["setup"]
        rx = data["prescription"]
        outline_data = data.get("lesion_outline_mm")
        skin_data = data.get("skin_surface_mm")
        manual = data.get("manual_calibration")
        course = data.get("course")
        return Plan(
            label=_text(data["label"], "label"),
            patient_name=_text(patient["name"], "patient.name"),
            patient_id=_text(patient["id"], "patient.id"),
            image_path=None if data.get("image_path") is None else _text(data["image_path"], "image_path"),
            setup=TreatmentSetup(
                technique_id=_text(setup["technique"], "setup.technique"),
                machine_id=_text(setup["machine"], "setup.machine"),
                energy_id=_text(setup["energy"], "setup.energy"),
                applicator_id=_text(setup["applicator"], "setup.applicator"),
            ),
            prescription=Prescription(rx["dose_per_fraction_gy"], rx["fractions"], _prescription_point(rx)),
            outline=None if outline_data is None else LesionOutline(tuple(tuple(v) for v in outline_data)),
            # Required from version 3: a line whose doubts were lost must not pass as confirmed.
            skin_surface=_skin_surface(skin_data, data["skin_surface_doubts"] if version >= 3 else []),
            manual_calibration=None if manual is None else ManualCalibration(
                manual["known_distance_mm"], manual["measured_pixels"]),
            cone_axis_x_mm=_optional_number(data.get("cone_axis_x_mm"), "cone_axis_x_mm"),
            notes=_text(data.get("notes", ""), "notes"),
            course=None if course is None else course_from_dict(course),
        )
    except KeyError as missing:
        raise PlanFileError(f"plan file lacks the field {missing.args[0]!r}") from None
    except (PrescriptionError, OutlineError, SkinSurfaceError, CalibrationError, CourseError) as bad:
        raise PlanFileError(f"plan file holds an impossible value: {bad}") from None
    except (TypeError, ValueError) as bad:
        raise PlanFileError(f"plan file holds a malformed value: {bad}") from None


def save_plan(path: str | os.PathLike, plan: Plan, calculation_record: dict | None = None,
              readable: bool = True) -> None:
    """Write the plan; ``calculation_record`` (which model and data gave the dose, the time shown)
    is kept beside it for the reader and ignored when the plan is loaded: the dose is always
    recomputed from the plan."""
    data = plan_to_dict(plan)
    if calculation_record is not None:
        data["calculation_record"] = calculation_record
    # Indented for people; compact for the recovery file written on every edit (json's C encoder
    # only runs without indent: 0.1 ms instead of 1.7 ms).
    atomic_write_text(path, json.dumps(data, indent=2 if readable else None, ensure_ascii=False) + "\n")


def load_plan(path: str | os.PathLike) -> Plan:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise PlanFileError(f"cannot read plan file {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise PlanFileError(f"{path} is not a text plan file (not UTF-8)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PlanFileError(f"{path} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    try:
        return plan_from_dict(data)
    except PlanFileError as err:
        raise PlanFileError(f"{path}: {err}") from None


def _prescription_point(rx: dict) -> PrescriptionPoint:
    point = rx.get("point")
    if point is None:
        return Prescription.__dataclass_fields__["point"].default
    if not isinstance(point, dict):
        raise PlanFileError("field 'prescription.point' must be an object")
    return PrescriptionPoint(point.get("mode"), point.get("depth_mm"), point.get("isodose_percent", DEFAULT_ISODOSE_PERCENT))


def _skin_surface(points: Any, doubts: Any) -> SkinSurface | None:
    """The plan's skin line with its open doubts; files before version 3 hold none (a line the
    user had accepted, as those Planners measured from every line)."""
    if not isinstance(doubts, list) or not all(isinstance(d, str) and d.strip() for d in doubts):
        raise PlanFileError("field 'skin_surface_doubts' must be a list of reasons in words")
    if points is None:
        if doubts:
            raise PlanFileError("field 'skin_surface_doubts' holds doubts but the plan has no skin line")
        return None
    return SkinSurface(tuple(tuple(p) for p in points), tuple(doubts))


def _optional_number(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) == float("inf"):
        raise PlanFileError(f"field {field!r} must be a finite number, got {value!r}")
    return float(value)


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise PlanFileError(f"field {field!r} must be text, got {type(value).__name__}")
    return value
