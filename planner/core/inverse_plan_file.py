"""IMRT plans on disk as JSON, and the recovery file of unsaved IMRT edits.

Like the ultrasound plan file (planner.core.plan_file): human-readable, versioned, written
atomically, and checked on the way in, so a file that does not parse, is not an IMRT plan, comes
from a newer Planner or holds a wrong value is refused with an InversePlanFileError naming the
field, never loaded half-way and never a traceback.

Besides the plan, the file says where its planning volume came from (VolumeSource), because the
objectives name structures of that volume and the plan cannot be reopened without it.

With a clinical protocol applied, the optional "plan_context" section names the protocol, the
structure mapping and the earlier course with each file's SHA-256 (planner.core.plan_context_file),
so reopening makes them again; a file without it reads as before. Format version 2 since the
section: a Planner from before it refuses the file as newer, instead of opening the plan without
its protocol; version 1 files still open.

Units are in the key names (dose_gy, spacing_mm, gantry_angles_deg). DVH volumes are stored as
fractions ("volume_fraction": 0.95, as in the model) rather than percent: 0.07 * 100 is
7.000000000000001 in binary floating point, so a percent file would show such numbers and reopen
as a plan that differs from the one saved (the window compares plans to know whether the dose is
stale); a fraction round-trips exactly.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from planner.core.atomic import atomic_write_text
from planner.core.errors import PlannerError
from planner.core.inverse_plan import (DEFAULT_MODULATION_WEIGHT, DVH_KINDS, OBJECTIVE_KINDS, InversePlan,
                                      InversePrescription, Objective)
from planner.core.plan_context_file import EarlierCourseRecord, PlanContextRecord, ProtocolRecord

FORMAT = "planner-imrt-plan"
FORMAT_VERSION = 2
VOLUME_KINDS = {"tg119": "TG-119 C-shape phantom", "ct": "CT series"}
RECOVERY_FILE_NAME = "imrt-recovery.json"


class InversePlanFileError(PlannerError, ValueError):
    """An IMRT plan file that cannot be read or written; the message says what is wrong."""


@dataclass(frozen=True)
class VolumeSource:
    """Where the planning volume came from, so a saved plan can be reopened on the same volume.

    kind "tg119": the built-in phantom on `spacing_mm` voxels. kind "ct": the CT series in
    `folder` (an absolute path, so the file does not depend on the working folder), its structures
    from `rtstruct` (None: the folder's own RT Structure Set), resampled to `spacing_mm` dose-grid
    voxels.
    """

    kind: str
    spacing_mm: float
    folder: str | None = None
    rtstruct: str | None = None

    @classmethod
    def tg119(cls, spacing_mm: float) -> VolumeSource:
        return cls("tg119", float(spacing_mm))

    @classmethod
    def ct(cls, folder: str | os.PathLike, spacing_mm: float,
           rtstruct: str | os.PathLike | None = None) -> VolumeSource:
        """Paths made absolute here, while the working folder they are relative to is known."""
        return cls("ct", float(spacing_mm), os.path.abspath(os.fspath(folder)),
                   None if rtstruct is None else os.path.abspath(os.fspath(rtstruct)))

    def problem(self) -> str | None:
        """Why this source cannot be reopened, or None."""
        if self.kind not in VOLUME_KINDS:
            return f"planning volume of an unknown kind {self.kind!r} (known: {', '.join(VOLUME_KINDS)})"
        if not _finite(self.spacing_mm) or self.spacing_mm <= 0:
            return f"planning volume voxel size must be a number > 0 mm, got {self.spacing_mm!r}"
        if self.kind == "tg119" and (self.folder is not None or self.rtstruct is not None):
            return "the TG-119 phantom is built in: it has no CT folder or structure set file"
        if self.kind == "ct":
            if not isinstance(self.folder, str) or not os.path.isabs(self.folder):
                return f"a CT planning volume needs the absolute path of its folder, got {self.folder!r}"
            if self.rtstruct is not None and (not isinstance(self.rtstruct, str) or not os.path.isabs(self.rtstruct)):
                return f"the RT Structure Set must be an absolute path, got {self.rtstruct!r}"
        return None

    def describe(self) -> str:
        if self.kind == "tg119":
            return f"TG-119 C-shape phantom, {self.spacing_mm:g} mm voxels"
        if self.kind == "ct":
            structures = (f"structures from {self.rtstruct}" if self.rtstruct
                          else "structures from the folder's RT Structure Set")
            return f"CT series in {self.folder} ({structures}), resampled to {self.spacing_mm:g} mm voxels"
        return f"unknown planning volume {self.kind!r}"


# ---------------------------------------------------------------------------------------- dicts

def inverse_plan_to_dict(plan: InversePlan, source: VolumeSource,
                         context: PlanContextRecord | None = None) -> dict[str, Any]:
    """The plan as JSON-ready values (no check: the recovery file keeps unfinished plans too)."""
    rx = plan.prescription
    data = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "planning_volume": _source_to_dict(source),
        "prescription": {
            "target": rx.target,
            "dose_per_fraction_gy": rx.dose_per_fraction_gy,
            "fractions": rx.fractions,
            "coverage_volume_fraction": rx.coverage_volume_fraction,
        },
        "gantry_angles_deg": list(plan.gantry_angles_deg),
        "bixel_width_mm": plan.bixel_width_mm,
        "objectives": [_objective_to_dict(o) for o in plan.objectives],
        "max_iterations": plan.max_iterations,
        "modulation_weight": plan.modulation_weight,
    }
    if context is not None:
        data["plan_context"] = _context_to_dict(context)
    return data


def inverse_plan_from_dict(data: Any, *, require_valid: bool = True) -> tuple[InversePlan, VolumeSource]:
    """The plan and its volume's source, or InversePlanFileError (a plan_context section is checked
    too, and left out: see inverse_plan_and_context_from_dict)."""
    return inverse_plan_and_context_from_dict(data, require_valid=require_valid)[:2]


def inverse_plan_and_context_from_dict(data: Any, *, require_valid: bool = True
                                       ) -> tuple[InversePlan, VolumeSource, PlanContextRecord | None]:
    """The plan, its volume's source and its context (None: the file has none), or InversePlanFileError.

    Types are always checked; `require_valid=False` skips the plan's own problems() (an unfinished
    edit, e.g. no objectives yet) so the recovery file can bring back whatever the user had typed.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise InversePlanFileError(f"not a Planner IMRT plan (expected \"format\": \"{FORMAT}\""
                                   + (f", found {_shown(found)})" if found is not None else ")"))
    version = _get(data, "format_version", "")
    if not _is_int(version) or version < 1:
        raise InversePlanFileError(f"field 'format_version' must be a whole number ≥ 1, got {_shown(version)}")
    if version > FORMAT_VERSION:
        raise InversePlanFileError(f"written by a newer Planner (IMRT plan format version {version}); this "
                                   f"Planner reads version {FORMAT_VERSION}: update Planner to open it")
    source = _source_from_dict(_object(_get(data, "planning_volume", ""), "planning_volume"))
    problem = source.problem()
    if problem:
        raise InversePlanFileError(problem)

    rx_data = _object(_get(data, "prescription", ""), "prescription")
    prescription = InversePrescription(
        target=_text(_get(rx_data, "target", "prescription."), "prescription.target"),
        dose_per_fraction_gy=_number(_get(rx_data, "dose_per_fraction_gy", "prescription."),
                                     "prescription.dose_per_fraction_gy"),
        fractions=_whole(_get(rx_data, "fractions", "prescription."), "prescription.fractions"),
        coverage_volume_fraction=_number(_get(rx_data, "coverage_volume_fraction", "prescription."),
                                         "prescription.coverage_volume_fraction"),
    )
    angles = _list(_get(data, "gantry_angles_deg", ""), "gantry_angles_deg")
    objectives = _list(_get(data, "objectives", ""), "objectives")
    plan = InversePlan(
        prescription=prescription,
        gantry_angles_deg=tuple(_number(a, f"gantry_angles_deg[{i}]") for i, a in enumerate(angles)),
        bixel_width_mm=_number(_get(data, "bixel_width_mm", ""), "bixel_width_mm"),
        objectives=tuple(_objective_from_dict(o, i) for i, o in enumerate(objectives)),
        max_iterations=_whole(_get(data, "max_iterations", ""), "max_iterations"),
        # absent from files written before the control existed: the default
        modulation_weight=_number(data.get("modulation_weight", DEFAULT_MODULATION_WEIGHT), "modulation_weight"),
    )
    context = None
    if "plan_context" in data:
        if source.kind != "ct":
            raise InversePlanFileError("field 'plan_context': a clinical protocol is applied to a CT, "
                                       f"not to the {VOLUME_KINDS[source.kind]}")
        context = _context_from_dict(_object(data["plan_context"], "plan_context"))
    if require_valid:
        problems = plan.problems()
        if problems:
            raise InversePlanFileError("the plan cannot be optimised as written: " + "; ".join(problems))
    return plan, source, context


# ---------------------------------------------------------------------------------------- files

def save_inverse_plan(path: str | os.PathLike, plan: InversePlan, source: VolumeSource,
                      context: PlanContextRecord | None = None) -> None:
    """Write the plan atomically as indented UTF-8 JSON. A plan the loader would refuse (problems()
    non-empty, or a source that cannot be reopened) is refused here, so no unopenable file is made."""
    problems = [*filter(None, [source.problem()]), *plan.problems()]
    if problems:
        raise InversePlanFileError("the plan was not saved: " + "; ".join(problems))
    text = json.dumps(inverse_plan_to_dict(plan, source, context), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    try:
        atomic_write_text(path, text)
    except OSError as err:   # a full disk, a folder not writable: said in one line like the refusals above
        raise InversePlanFileError(f"the plan was not saved: cannot write {path}: {err.strerror or err}") from err


def load_inverse_plan(path: str | os.PathLike) -> tuple[InversePlan, VolumeSource]:
    return load_inverse_plan_and_context(path)[:2]


def load_inverse_plan_and_context(path: str | os.PathLike
                                  ) -> tuple[InversePlan, VolumeSource, PlanContextRecord | None]:
    try:
        return inverse_plan_and_context_from_dict(_read_json(path))
    except InversePlanFileError as err:
        raise InversePlanFileError(f"{path}: {err}") from None


# ---------------------------------------------------------------------------------------- recovery

class ImrtRecovery:
    """The open IMRT plan, written after every edit so a crash loses nothing (as RecoveryStore does
    for the ultrasound plan): a clean close clears it, so finding it at start-up means the last
    session did not close, and the user is offered the plan it holds."""

    def __init__(self, folder: str | os.PathLike, name: str = RECOVERY_FILE_NAME):
        self.path = Path(folder) / name  # one per IMRT window (planner.core.recovery)
        self.damaged_path: Path | None = None   # where the last damaged file was put aside, to tell the user

    def save(self, plan: InversePlan, source: VolumeSource, context: PlanContextRecord | None = None) -> None:
        """Atomic and compact (written on every edit; json's C encoder only runs without indent);
        unfinished plans are kept as they are."""
        data = inverse_plan_to_dict(plan, source, context)
        data["saved_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
        atomic_write_text(self.path, json.dumps(data, ensure_ascii=False) + "\n")

    def pending(self) -> bool:
        return self.path.exists()

    def load(self) -> tuple[InversePlan, VolumeSource, datetime] | None:
        """The recovered plan, its source and when it was saved; None when there is nothing to
        recover. A damaged file also gives None and is moved aside (kept, not deleted), its new
        place in `damaged_path`: start-up must never fail on it."""
        found = self.load_with_context()
        return None if found is None else found[:3]

    def load_with_context(self) -> tuple[InversePlan, VolumeSource, datetime, PlanContextRecord | None] | None:
        """As load(), with the plan's context (None: it had none)."""
        if not self.path.exists():
            return None
        try:
            data = _read_json(self.path)
            plan, source, context = inverse_plan_and_context_from_dict(data, require_valid=False)
            saved_at = datetime.fromisoformat(_text(_get(data, "saved_at", ""), "saved_at"))
            return plan, source, saved_at, context
        except (InversePlanFileError, ValueError):
            self._set_damaged_aside()
            return None

    def clear(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def _set_damaged_aside(self) -> None:
        aside = self.path.with_suffix(".damaged.json")
        if aside.exists():  # an earlier damaged file is kept too
            aside = self.path.with_name(f"{self.path.stem}.damaged-{time.strftime('%Y%m%d-%H%M%S')}.json")
        try:
            self.path.replace(aside)
            self.damaged_path = aside
        except OSError:
            self.damaged_path = None  # left where it is; the next save overwrites it


# ---------------------------------------------------------------------------------------- helpers

def _read_json(path: str | os.PathLike) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise InversePlanFileError(f"cannot read the file: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise InversePlanFileError(f"not a text file (not UTF-8 at byte {err.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InversePlanFileError(f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    except RecursionError:
        raise InversePlanFileError("not a Planner IMRT plan (JSON nested too deeply)") from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        raise InversePlanFileError(f"not a Planner IMRT plan ({err})") from None


def _source_to_dict(source: VolumeSource) -> dict[str, Any]:
    if source.kind == "ct":
        return {"kind": source.kind, "folder": source.folder, "rtstruct": source.rtstruct,
                "spacing_mm": source.spacing_mm}
    return {"kind": source.kind, "spacing_mm": source.spacing_mm}


def _source_from_dict(data: dict) -> VolumeSource:
    kind = _text(_get(data, "kind", "planning_volume."), "planning_volume.kind")
    if kind not in VOLUME_KINDS:
        raise InversePlanFileError(f"planning volume of an unknown kind {kind!r} (known: {', '.join(VOLUME_KINDS)})")
    spacing = _number(_get(data, "spacing_mm", "planning_volume."), "planning_volume.spacing_mm")
    if kind == "tg119":
        return VolumeSource(kind, spacing)
    folder = _text(_get(data, "folder", "planning_volume."), "planning_volume.folder")
    rtstruct = data.get("rtstruct")
    return VolumeSource(kind, spacing, folder,
                        None if rtstruct is None else _text(rtstruct, "planning_volume.rtstruct"))


def _context_to_dict(context: PlanContextRecord) -> dict[str, Any]:
    p, course = context.protocol, context.earlier_course
    data: dict[str, Any] = {}
    if p is not None:
        data["protocol"] = {**({"shipped": p.shipped} if p.shipped is not None else {"file": p.file}),
                            "sha256": p.sha256, "mapping": dict(p.mapping)}
    if course is not None:
        data["earlier_course"] = {"rt_dose": course.rt_dose, "rt_dose_sha256": course.rt_dose_sha256,
                                  "rt_plan": course.rt_plan, "rt_plan_sha256": course.rt_plan_sha256,
                                  "fractions": course.fractions}
    return data


def _context_from_dict(data: dict) -> PlanContextRecord:
    """The plan_context section; strict: an unknown key, a missing one or a wrong value is refused, named."""
    where = "plan_context."
    _only_keys(data, {"protocol", "earlier_course"}, where)
    # required: an earlier course's limits are its protocol's
    protocol = _object(_get(data, "protocol", where), "plan_context.protocol")
    where = "plan_context.protocol."
    kinds = [k for k in ("shipped", "file") if k in protocol]
    if len(kinds) != 1:
        raise InversePlanFileError("field 'plan_context.protocol' must have one of 'shipped' (a shipped protocol's "
                                   "id) or 'file' (a protocol file's absolute path)")
    _only_keys(protocol, {kinds[0], "sha256", "mapping"}, where)
    name = (_absolute if kinds[0] == "file" else _text)(protocol[kinds[0]], where + kinds[0])
    if not name:
        raise InversePlanFileError(f"field '{where}shipped' must name a shipped protocol, got \"\"")
    mapping = _object(_get(protocol, "mapping", where), where + "mapping")
    if not mapping:
        raise InversePlanFileError(f"field '{where}mapping' must map the protocol's structures to the CT's, got {{}}")
    record = ProtocolRecord(name if kinds[0] == "shipped" else None, name if kinds[0] == "file" else None,
                            _sha256(_get(protocol, "sha256", where), where + "sha256"),
                            tuple((key, _text(value, f"{where}mapping.{key}")) for key, value in mapping.items()))
    course = data.get("earlier_course")
    return PlanContextRecord(record, None if course is None else _course_from_dict(course))


def _course_from_dict(data: Any) -> EarlierCourseRecord:
    where = "plan_context.earlier_course."
    data = _object(data, where[:-1])
    _only_keys(data, {"rt_dose", "rt_dose_sha256", "rt_plan", "rt_plan_sha256", "fractions"}, where)
    plan, plan_sha, fractions = (_get(data, key, where) for key in ("rt_plan", "rt_plan_sha256", "fractions"))
    if (plan is None) != (plan_sha is None):
        raise InversePlanFileError(f"fields '{where}rt_plan' and '{where}rt_plan_sha256' must be given together")
    if plan is None and fractions is None:
        raise InversePlanFileError(f"field '{where}fractions' is needed without an RT Plan (its fractions)")
    if fractions is not None and (not _is_int(fractions) or fractions < 1):
        raise InversePlanFileError(f"field '{where}fractions' must be a whole number ≥ 1, got {_shown(fractions)}")
    return EarlierCourseRecord(_absolute(_get(data, "rt_dose", where), where + "rt_dose"),
                               _sha256(_get(data, "rt_dose_sha256", where), where + "rt_dose_sha256"),
                               None if plan is None else _absolute(plan, where + "rt_plan"),
                               None if plan is None else _sha256(plan_sha, where + "rt_plan_sha256"), fractions)


def _only_keys(data: dict, allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InversePlanFileError(f"the field '{prefix}{unknown[0]}' is not part of an IMRT plan file "
                                   f"(known there: {', '.join(sorted(allowed))})")


def _sha256(value: Any, field: str) -> str:
    text = _text(value, field)
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise InversePlanFileError(f"field '{field}' must be a SHA-256 (64 lower-case hex digits), got {_shown(text)}")
    return text


def _absolute(value: Any, field: str) -> str:
    text = _text(value, field)
    if not os.path.isabs(text):
        raise InversePlanFileError(f"field '{field}' must be an absolute path, got {_shown(text)}")
    return text


def _objective_to_dict(o: Objective) -> dict[str, Any]:
    d = {"structure": o.structure, "kind": o.kind, "dose_gy": o.dose_gy, "weight": o.weight}
    if o.kind in DVH_KINDS or o.volume_fraction != 0:  # a stale volume is kept too: the plan reopens equal
        d["volume_fraction"] = o.volume_fraction
    return d


def _objective_from_dict(data: Any, index: int) -> Objective:
    where = f"objectives[{index}]"
    data = _object(data, where)
    structure = _text(_get(data, "structure", f"{where}."), f"{where}.structure")
    kind = _text(_get(data, "kind", f"{where}."), f"{where}.kind")
    if kind not in OBJECTIVE_KINDS:
        raise InversePlanFileError(f"objective {index + 1} (on {structure!r}) is of an unknown kind {kind!r} "
                                   f"(known: {', '.join(OBJECTIVE_KINDS)})")
    volume = data.get("volume_fraction", 0.0) if kind not in DVH_KINDS else _get(data, "volume_fraction", f"{where}.")
    return Objective(structure, kind,
                     dose_gy=_number(_get(data, "dose_gy", f"{where}."), f"{where}.dose_gy"),
                     weight=_number(_get(data, "weight", f"{where}."), f"{where}.weight"),
                     volume_fraction=_number(volume, f"{where}.volume_fraction"))


def _get(data: dict, key: str, prefix: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise InversePlanFileError(f"the field '{prefix}{key}' is missing") from None


def _object(value: Any, field: str) -> dict:
    if not isinstance(value, dict):
        raise InversePlanFileError(f"field '{field}' must be an object ({{…}}), got {_shown(value)}")
    return value


def _list(value: Any, field: str) -> list:
    if not isinstance(value, list):
        raise InversePlanFileError(f"field '{field}' must be a list ([…]), got {_shown(value)}")
    return value


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise InversePlanFileError(f"field '{field}' must be text, got {_shown(value)}")
    return value


def _number(value: Any, field: str) -> float:
    """A float; non-finite values pass here and are named by problems(), which knows the range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InversePlanFileError(f"field '{field}' must be a number, got {_shown(value)}")
    try:
        return float(value)
    except OverflowError:
        raise InversePlanFileError(f"field '{field}' is too large a number") from None


def _whole(value: Any, field: str) -> int:
    if not _is_int(value):
        raise InversePlanFileError(f"field '{field}' must be a whole number, got {_shown(value)}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _shown(value: Any) -> str:
    """The offending value, shortened: a file may hold a huge list where a number belongs."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"
