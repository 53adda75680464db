"""A clinical protocol as a file: prescription, clinical goals with priorities, α/β per organ, the
structures it needs (derived ones by margins), and the optimiser's starting objectives.

Why a file: a clinic's schedule and its limits are data, reviewed and versioned apart from the code,
and every number in it must say where it came from. A number in the file is written
``{"value": 14, "source": "..."}``; a bare number (or an empty source) anywhere is refused with one
line naming its field. The only bare numbers allowed are ranks and counters that measure nothing
(``format_version``, ``priority``).

An optional ``reirradiation`` object states a re-irradiation's limits on one serial organ (EQD2 at
the organ's α/β: cumulative, this course's own, this course's share, the least interval; judged by
planner.core.reirradiation); without it a plan with an earlier course's dose is refused.

``prescription.normalisation`` says how an optimised plan is scaled: ``"coverage"`` (the default:
the target's coverage goal at the prescribed dose is exactly met) or ``"limits"`` (the dose scaled to
just below its first priority-1 organ limit, so the target is covered as far as the limits allow:
spine radiosurgery, where the cord's limit is absolute and the coverage is what it leaves).

Shipped protocols are ``resources/protocols/<id>.json``; a clinic's own file loads the same way
from its path (``load_protocol``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from planner.core.errors import PlannerError
from planner.core.inverse_plan import DVH_KINDS, OBJECTIVE_KINDS

FORMAT = "planner-protocol"
FORMAT_VERSION = 1
# Bare integers that rank or count and measure nothing: they need no source.
UNSOURCED_KEYS = frozenset({"format_version", "priority"})
ROLES = ("target", "organ", "external")
NORMALISATIONS = ("coverage", "limits")
# A goal's priority: 1 must be met, 2 should be, 3 is a wish (planner.core.protocols.objectives
# weighs each).
PRIORITIES = (1, 2, 3)
# The keys each object of the file may have: a misspelt key is refused, never ignored.
KEYS = {
    "": {"format", "format_version", "id", "version", "title", "verification", "prescription", "structures",
         "derived_structures", "alpha_beta_gy", "goals", "objectives", "reirradiation"},
    "prescription": {"target", "dose_gy", "fractions", "normalisation"},
    "normalisation": {"to", "source"},
    "structures": {"name", "role", "aliases"},
    "derived_structures": {"name", "base", "margin_mm", "subtract"},
    "goals": {"id", "structure", "metric", "comparison", "unit", "priority", "limit", "objective"},
    "objective": {"kind", "structure", "dose_gy", "weight"},
    "reirradiation": {"structure", "metric", "cumulative_eqd2_gy", "course_eqd2_gy", "course_share_percent",
                      "min_interval_months", "note"},
}
# Goal metrics: D<v>% / D<v>cc (dose at a volume), Dmean, V<x>Gy (volume at a dose, % or cc).
_METRIC = re.compile(r"^(?:D(?P<dp>\d+(?:\.\d+)?)%|D(?P<dc>\d+(?:\.\d+)?)cc|(?P<mean>Dmean)|V(?P<vx>\d+(?:\.\d+)?)Gy)$")


class ProtocolError(PlannerError, ValueError):
    """A protocol file Planner cannot use as written; the message names the field."""


@dataclass(frozen=True)
class Sourced:
    """A number and where it comes from (paper, table or section, units)."""

    value: float
    source: str


@dataclass(frozen=True)
class ProtocolStructure:
    """A structure the protocol names, by its TG-263 name, with its role."""

    name: str
    role: str                      # "target", "organ" or "external"
    aliases: tuple[str, ...] = ()  # extra names this protocol accepts besides the built-in variants


@dataclass(frozen=True)
class DerivedStructure:
    """A structure made from others: ``grow`` by ``margin_mm`` (a PRV), or ``base`` minus ``subtract``."""

    name: str
    base: str
    margin_mm: Sourced | None = None
    subtract: tuple[str, ...] = ()


@dataclass(frozen=True)
class GoalObjective:
    """A goal's optimiser term when it differs from the rule's default (starting_objectives)."""

    kind: str
    dose_gy: Sourced
    weight: Sourced
    structure: str | None = None


@dataclass(frozen=True)
class Goal:
    """One clinical goal: ``metric`` of ``structure`` compared (``<=`` or ``>=``) with ``limit``.

    Metrics: ``D95%`` / ``D0.03cc`` (Gy at a volume), ``Dmean`` (Gy), ``V16Gy`` (the volume at a dose,
    in ``%`` or ``cc`` as ``unit`` says)."""

    id: str
    structure: str
    metric: str
    comparison: str
    limit: Sourced
    unit: str
    priority: int
    objective: GoalObjective | None = None

    @property
    def text(self) -> str:
        return f"{self.metric} {'≤' if self.comparison == '<=' else '≥'} {self.limit.value:g} {self.unit}"


@dataclass(frozen=True)
class ReirradiationLimits:
    """A re-irradiation's limits on one serial organ, in EQD2 at the organ's α/β (the protocol's
    ``alpha_beta_gy``), each read on ``metric`` (a near-maximum, D<v>cc): the cumulative dose of the
    earlier course and this one, this course's own, this course's share of the cumulative, and the
    least time between the courses (planner.core.reirradiation judges them)."""

    structure: str
    metric: str                      # "D0.03cc": Planner's near-maximum, never one voxel
    cumulative_eqd2_gy: Sourced
    course_eqd2_gy: Sourced
    course_share_percent: Sourced
    min_interval_months: Sourced
    note: str = ""


@dataclass(frozen=True)
class Normalisation:
    """How the optimised dose is scaled (see the module text) and why the protocol asks for it."""

    to: str = "coverage"
    source: str = "Planner's default: the coverage goal at the prescribed dose is exactly met"


@dataclass(frozen=True)
class Protocol:
    id: str
    version: str
    title: str
    target: str
    dose_gy: Sourced
    fractions: Sourced
    structures: tuple[ProtocolStructure, ...]
    derived: tuple[DerivedStructure, ...]
    goals: tuple[Goal, ...]
    alpha_beta_gy: Mapping[str, Sourced]   # read-only (MappingProxyType)
    extra_objectives: tuple[GoalObjective, ...] = ()
    verification: str = ""
    reirradiation: ReirradiationLimits | None = None   # None: the protocol sets no re-irradiation limits
    normalisation: Normalisation = Normalisation()

    @property
    def dose_per_fraction_gy(self) -> float:
        return self.dose_gy.value / self.fractions.value

    def structure(self, name: str) -> ProtocolStructure | None:
        return next((s for s in self.structures if s.name == name), None)


# ------------------------------------------------------------------------------------------- loading

def protocols_dir() -> Path:
    """``resources/protocols`` at the repository root (next to the ``planner`` package)."""
    return Path(__file__).resolve().parents[3] / "resources" / "protocols"


def shipped_protocols() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in protocols_dir().glob("*.json")))


def load_protocol(name_or_path) -> Protocol:
    """A shipped protocol by its id (``spine-sbrt-16gy-1fx``) or a clinic's file by its path."""
    path = Path(name_or_path)
    if not (path.suffix == ".json" or path.exists()):
        path = protocols_dir() / f"{name_or_path}.json"
        if not path.exists():
            raise ProtocolError(f"no protocol {name_or_path!r}: Planner ships {', '.join(shipped_protocols())}, "
                                f"or give a protocol file's path")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"cannot read protocol file {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"protocol file {path.name} is not JSON (line {exc.lineno}: {exc.msg})") from exc
    return parse_protocol(data, path.name)


def parse_protocol(data: dict, where: str = "protocol") -> Protocol:
    """The protocol a file's JSON describes, or a ProtocolError naming the first field that is wrong."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ProtocolError(f"{where} is not a Planner protocol (\"format\": \"{FORMAT}\" missing)")
    if data.get("format_version") != FORMAT_VERSION:
        raise ProtocolError(f"{where}: format_version {data.get('format_version')!r} is not {FORMAT_VERSION}")
    _require_sources(data, where, "")
    _refuse_unknown_keys(data, where)
    read = _Reader(where)
    structures = tuple(ProtocolStructure(read.text(s, f"structures[{i}].name"),
                                         read.choice(s, f"structures[{i}].role", ROLES),
                                         read.names(s, f"structures[{i}].aliases"))
                       for i, s in enumerate(read.items(data, "structures")))
    names = [s.name for s in structures]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ProtocolError(f"{where}: structures name {doubled[0]} twice")
    derived = tuple(read.derived(d, f"derived_structures[{i}]")
                    for i, d in enumerate(data.get("derived_structures", [])))
    known = set(names) | {d.name for d in derived}
    for d in derived:
        for used in (d.base, *d.subtract):
            if used not in known:
                raise ProtocolError(f"{where}: derived structure {d.name} uses {used!r}, which the protocol does not name")
    prescription = data.get("prescription") or {}
    target = read.text(prescription, "prescription.target")
    if target not in known:
        raise ProtocolError(f"{where}: prescription.target {target!r} is not one of the protocol's structures")
    goals = tuple(read.goal(g, f"goals[{i}]", known) for i, g in enumerate(read.items(data, "goals")))
    ids = [g.id for g in goals]
    if len(set(ids)) != len(ids):
        raise ProtocolError(f"{where}: goal id {next(i for i in ids if ids.count(i) > 1)} is used twice")
    fractions = read.sourced(prescription, "prescription.fractions")
    if fractions.value < 1 or fractions.value != int(fractions.value):
        raise ProtocolError(f"{where}: prescription.fractions must be a whole number ≥ 1")
    alpha_beta = {organ: read.sourced(data["alpha_beta_gy"], f"alpha_beta_gy.{organ}")
                  for organ in data.get("alpha_beta_gy", {})}
    stray = sorted(set(alpha_beta) - known)
    if stray:
        raise ProtocolError(f"{where}: alpha_beta_gy.{stray[0]} is not one of the protocol's structures")
    extra = tuple(read.objective(o, f"objectives[{i}]", known, required_structure=True)
                  for i, o in enumerate(data.get("objectives", [])))
    reirradiation = read.reirradiation(data["reirradiation"], known, alpha_beta) if "reirradiation" in data else None
    dose = read.sourced(prescription, "prescription.dose_gy")
    normalisation = (read.normalisation(prescription["normalisation"], target, dose.value, goals, reirradiation)
                     if "normalisation" in prescription else Normalisation())
    return Protocol(read.text(data, "id"), read.text(data, "version"), read.text(data, "title"), target,
                    dose, fractions, structures, derived, goals,
                    MappingProxyType(alpha_beta), extra, str(data.get("verification", "")), reirradiation,
                    normalisation)


def _refuse_unknown_keys(data: dict, where: str) -> None:
    """A key the format does not know is a misspelling or a field Planner would silently ignore."""
    def check(node, kind: str, path: str) -> None:
        if not isinstance(node, dict):
            raise ProtocolError(f"{where}: {path or 'the file'} must be an object")
        unknown = sorted(set(node) - KEYS[kind])
        if unknown:
            raise ProtocolError(f"{where}: {path + '.' if path else ''}{unknown[0]} is not a field of a protocol "
                                f"{kind or 'file'} (known: {', '.join(sorted(KEYS[kind]))})")

    check(data, "", "")
    check(data.get("prescription", {}), "prescription", "prescription")
    if isinstance(data.get("prescription"), dict) and "normalisation" in data["prescription"]:
        check(data["prescription"]["normalisation"], "normalisation", "prescription.normalisation")
    for kind in ("structures", "derived_structures", "goals"):
        for i, item in enumerate(data.get(kind, [])):
            check(item, kind, f"{kind}[{i}]")
            if kind == "goals" and "objective" in item:
                check(item["objective"], "objective", f"goals[{i}].objective")
    for i, item in enumerate(data.get("objectives", [])):
        check(item, "objective", f"objectives[{i}]")
    if "reirradiation" in data:
        check(data["reirradiation"], "reirradiation", "reirradiation")


def _require_sources(node, where: str, path: str) -> None:
    """Refuse a number without its source, naming the field."""
    if isinstance(node, dict):
        if "value" in node:
            if not isinstance(node.get("source"), str) or not node["source"].strip():
                raise ProtocolError(f"{where}: {path} has no source (write {{\"value\": ..., \"source\": \"paper, table, units\"}})")
            return
        for key, value in node.items():
            if key in UNSOURCED_KEYS:
                continue
            _require_sources(value, where, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _require_sources(value, where, f"{path}[{i}]")
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        raise ProtocolError(f"{where}: {path} = {node!r} has no source (write {{\"value\": {node!r}, \"source\": \"...\"}})")


class _Reader:
    """Reads one field at a time, each error naming the field."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, message: str):
        raise ProtocolError(f"{self.where}: {message}")

    def items(self, data: dict, key: str) -> list:
        value = data.get(key)
        if not isinstance(value, list) or not value:
            self.fail(f"{key} must be a non-empty list")
        return value

    def text(self, data: dict, path: str) -> str:
        value = data.get(path.rsplit(".", 1)[-1]) if isinstance(data, dict) else None
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{path} must be a non-empty text")
        return value

    def choice(self, data: dict, path: str, choices) -> str:
        value = self.text(data, path)
        if value not in choices:
            self.fail(f"{path} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def names(self, data: dict, path: str) -> tuple[str, ...]:
        """An optional list of names (empty when absent)."""
        value = data.get(path.rsplit(".", 1)[-1], [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(f"{path} must be a list of names")
        return tuple(value)

    def sourced(self, data: dict, path: str) -> Sourced:
        node = data.get(path.rsplit(".", 1)[-1]) if isinstance(data, dict) else None
        if not isinstance(node, dict) or "value" not in node:
            self.fail(f"{path} is missing (write {{\"value\": ..., \"source\": \"...\"}})")
        value = node["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            self.fail(f"{path} must be a number ≥ 0, got {value!r}")
        return Sourced(float(value), node["source"].strip())

    def derived(self, d: dict, path: str) -> DerivedStructure:
        name, base = self.text(d, f"{path}.name"), self.text(d, f"{path}.base")
        margin = self.sourced(d, f"{path}.margin_mm") if "margin_mm" in d else None
        subtract = self.names(d, f"{path}.subtract")
        if (margin is None) == (not subtract):
            self.fail(f"{path} must give either margin_mm (grow {base}) or subtract (a list of structures)")
        return DerivedStructure(name, base, margin, subtract)

    def goal(self, g: dict, path: str, known: set) -> Goal:
        structure = self.text(g, f"{path}.structure")
        if structure not in known:
            self.fail(f"{path}.structure {structure!r} is not one of the protocol's structures")
        metric = self.text(g, f"{path}.metric")
        match = _METRIC.match(metric)
        if not match:
            self.fail(f"{path}.metric {metric!r} is not D<v>%, D<v>cc, Dmean or V<x>Gy")
        unit = self.choice(g, f"{path}.unit", ("%", "cc") if match["vx"] else ("Gy",))
        comparison = self.choice(g, f"{path}.comparison", ("<=", ">="))
        priority = g.get("priority")
        if priority not in PRIORITIES or isinstance(priority, bool):
            self.fail(f"{path}.priority must be one of {', '.join(map(str, PRIORITIES))}")
        objective = self.objective(g["objective"], f"{path}.objective", known) if "objective" in g else None
        limit = self.sourced(g, f"{path}.limit")
        if unit == "%" and limit.value > 100:
            self.fail(f"{path}.limit is {limit.value:g} %: a volume is at most 100 %")
        return Goal(self.text(g, f"{path}.id"), structure, metric, comparison, limit, unit, priority, objective)

    def objective(self, o: dict, path: str, known: set, required_structure: bool = False) -> GoalObjective:
        kind = self.choice(o, f"{path}.kind", tuple(k for k in OBJECTIVE_KINDS if k not in DVH_KINDS))
        structure = self.text(o, f"{path}.structure") if required_structure or "structure" in o else None
        if structure is not None and structure not in known:
            self.fail(f"{path}.structure {structure!r} is not one of the protocol's structures")
        return GoalObjective(kind, self.sourced(o, f"{path}.dose_gy"), self.sourced(o, f"{path}.weight"), structure)


    def reirradiation(self, r: dict, known: set, alpha_beta: dict) -> ReirradiationLimits:
        path = "reirradiation"
        structure = self.text(r, f"{path}.structure")
        if structure not in known:
            self.fail(f"{path}.structure {structure!r} is not one of the protocol's structures")
        if structure not in alpha_beta:
            self.fail(f"{path}.structure {structure} has no alpha_beta_gy: its EQD2 needs one")
        metric = self.text(r, f"{path}.metric")
        match = _METRIC.match(metric)
        if not (match and match["dc"]):
            self.fail(f"{path}.metric {metric!r} must be a near-maximum D<v>cc (e.g. D0.03cc)")
        share = self.sourced(r, f"{path}.course_share_percent")
        if not 0 < share.value <= 100:
            self.fail(f"{path}.course_share_percent must be above 0 and at most 100 %, got {share.value:g}")
        note = r.get("note", "")
        if not isinstance(note, str):
            self.fail(f"{path}.note must be a text")
        return ReirradiationLimits(structure, metric, self.sourced(r, f"{path}.cumulative_eqd2_gy"),
                                   self.sourced(r, f"{path}.course_eqd2_gy"), share,
                                   self.sourced(r, f"{path}.min_interval_months"), note)


    def normalisation(self, n: dict, target: str, prescribed_gy: float, goals, reirradiation) -> Normalisation:
        """To the limits needs what it scales against (a priority-1 organ dose limit or re-irradiation
        limits) and a coverage goal V<prescribed dose>Gy ≥ p % on the target, the figure it reports."""
        path = "prescription.normalisation"
        to = self.choice(n, f"{path}.to", NORMALISATIONS)
        source = self.text(n, f"{path}.source")
        if to == "limits":
            if not any(g.priority == 1 and g.comparison == "<=" for g in goals) and reirradiation is None:
                self.fail(f"{path}.to limits needs a priority-1 organ limit (\"<=\") to scale against")
            by_volume = next((g for g in goals if g.priority == 1 and g.comparison == "<=" and g.unit != "Gy"), None)
            if by_volume is not None:
                self.fail(f"{path}.to limits cannot scale against goal {by_volume.id} ({by_volume.metric} in "
                          f"{by_volume.unit}): a volume limit does not scale with the dose")
            if not any(g.structure == target and g.comparison == ">=" and g.unit == "%"
                       and parse_metric(g.metric) == ("volume_at_dose", prescribed_gy) for g in goals):
                self.fail(f"{path}.to limits needs a coverage goal V{prescribed_gy:g}Gy >= p % on {target}: "
                          f"the coverage the limits leave is what it reports")
        return Normalisation(to, source.strip())


def parse_metric(metric: str) -> tuple[str, float | None]:
    """(``"dose_at_percent"`` | ``"dose_at_cc"`` | ``"mean"`` | ``"volume_at_dose"``, its number)."""
    m = _METRIC.match(metric)
    if m is None:
        raise ProtocolError(f"{metric!r} is not D<v>%, D<v>cc, Dmean or V<x>Gy")
    if m["dp"]:
        return "dose_at_percent", float(m["dp"])
    if m["dc"]:
        return "dose_at_cc", float(m["dc"])
    if m["mean"]:
        return "mean", None
    return "volume_at_dose", float(m["vx"])
