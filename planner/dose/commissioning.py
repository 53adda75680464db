"""A clinic's commissioning data for a kV unit: SSD, air-kerma rate, timer end effect, filtration.

One entry per (energy, cone). Every value carries the text saying where it came from; a value
that has not been measured is ``None`` and stays ``None`` — nothing downstream invents a number
for it, and every consumer reports "not commissioned" instead (planner.core.treatment_unit.NOT_COMMISSIONED).

File format (JSON, ``"format": "planner-commissioning"``, ``"version": 1``)::

    {"format": "planner-commissioning", "version": 1,
     "machine_id": "srt100-class", "label": "...", "demo": true, "disclaimer": "...",
     "entries": [
        {"energy": "50kV", "cone": "cone-15mm",
         "ssd_cm":                    {"value": 15.0,   "source": "..."},
         "air_kerma_rate_gy_per_min": {"value": 2.0,    "source": "..."},
         "timer_end_effect_min":      {"value": 0.0006, "source": "..."},
         "added_filtration_mm_al":    {"value": null,   "source": "..."}}, ...]}

Quantities and conventions:
- ``ssd_cm``: source-to-surface distance with the cone end on the skin (cm), > 0.
- ``air_kerma_rate_gy_per_min``: air-kerma rate free in air at the cone end (the SSD plane), for
  this cone, as measured for the TG-61 in-air method (M·N_K·P_stem,air per minute; Ma et al.,
  Med Phys 28:868, 2001), Gy/min, > 0.
- ``timer_end_effect_min``: ε in min, defined by the measured reading versus set time
  M(t_set) = Ṁ·(t_set − ε); ε > 0 when the tube delivers less than Ṁ·t_set (ramp-up), ε < 0 when
  it delivers more. The set time is therefore t_set = D/Ḋ + ε (planner.dose.kv_dose). May be any
  finite number, including 0 and negative values.
- ``added_filtration_mm_al``: informational (the spectrum is fitted to the measured HVL), ≥ 0.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.core.errors import PlannerError
from planner.core.treatment_unit import CommissionedValue, NOT_COMMISSIONED, Machine, UnknownChoice

FORMAT = "planner-commissioning"
VERSION = 1
DEMO_FILE_NAME = "demo-superficial-unit.json"
DEMO_MARK = "ILLUSTRATIVE DEMO VALUE — not measured, not for clinical use"

# field name -> (unit, rule): "positive", "non-negative" or "finite". A technique whose machines are
# commissioned by other quantities (eBx: a reference dose rate) passes its own CommissioningSchema.
QUANTITIES: dict[str, tuple[str, str]] = {
    "ssd_cm": ("cm", "positive"),
    "air_kerma_rate_gy_per_min": ("Gy/min", "positive"),
    "timer_end_effect_min": ("min", "finite"),
    "added_filtration_mm_al": ("mm Al", "non-negative"),
}


class CommissioningError(PlannerError, ValueError):
    """A commissioning file that cannot be used; the message names the file, entry and field."""


def not_commissioned(unit: str) -> CommissionedValue:
    return CommissionedValue(None, unit, NOT_COMMISSIONED)


@dataclass(frozen=True)
class ConeCommissioning:
    energy_id: str
    applicator_id: str
    ssd_cm: CommissionedValue
    air_kerma_rate_gy_per_min: CommissionedValue
    timer_end_effect_min: CommissionedValue
    added_filtration_mm_al: CommissionedValue


@dataclass(frozen=True)
class CommissioningSchema:
    """Which quantities a technique's commissioning holds per (energy, applicator), in this order.

    ``entry_type`` is a frozen dataclass taking (energy_id, applicator_id, *values in order);
    every entry type has ``ssd_cm`` (the beam data are computed at the commissioned SSD).
    """

    quantities: dict[str, tuple[str, str]]
    entry_type: type
    names: dict[str, str]          # what each quantity is called on screen and in reports

    def rows(self, entry) -> tuple[tuple[str, CommissionedValue], ...]:
        """(name, value) of every quantity of one entry, in the schema's order."""
        return tuple((self.names[q], getattr(entry, q)) for q in self.quantities)


KV_CONE_SCHEMA = CommissioningSchema(QUANTITIES, ConeCommissioning, {
    "ssd_cm": "source-to-surface distance", "air_kerma_rate_gy_per_min": "air-kerma rate in air",
    "timer_end_effect_min": "timer end effect", "added_filtration_mm_al": "added filtration"})


@dataclass(frozen=True)
class Commissioning:
    machine_id: str
    label: str
    is_demo: bool
    disclaimer: str
    entries: tuple  # of the schema's entry type (ConeCommissioning for kV cones)
    source_path: str | None = None
    sha256: str | None = None
    schema: CommissioningSchema = KV_CONE_SCHEMA

    def entry(self, energy_id: str, applicator_id: str):
        for e in self.entries:
            if e.energy_id == energy_id and e.applicator_id == applicator_id:
                return e
        return None

    def describe(self) -> str:
        where = "" if self.source_path is None else f" ({Path(self.source_path).name}, sha256 {self.sha256[:12]}…)"
        demo = " — DEMO: illustrative values, not for clinical use" if self.is_demo else ""
        return f"commissioning '{self.label}'{where}{demo}"


def uncommissioned(machine: Machine, schema: CommissioningSchema = KV_CONE_SCHEMA) -> Commissioning:
    """Every (energy, cone) of the machine with every value not commissioned."""
    entries = tuple(schema.entry_type(e.id, a.id, *(not_commissioned(u) for u, _ in schema.quantities.values()))
                    for e in machine.energies for a in machine.applicators)
    return Commissioning(machine.id, "not commissioned", False, NOT_COMMISSIONED, entries, schema=schema)


def demo_commissioning_path() -> Path:
    """``resources/commissioning/demo-superficial-unit.json`` at the repository root."""
    return Path(__file__).resolve().parents[2] / "resources" / "commissioning" / DEMO_FILE_NAME


def load_demo_commissioning(machine: Machine) -> Commissioning:
    return load_commissioning(demo_commissioning_path(), machine)


def load_commissioning(path: str | os.PathLike, machine: Machine,
                       schema: CommissioningSchema = KV_CONE_SCHEMA) -> Commissioning:
    """Read and validate a commissioning file for ``machine``; raises CommissioningError."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise CommissioningError(f"cannot read commissioning file {p}: {err.strerror or err}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CommissioningError(f"{p.name}: not a UTF-8 text file") from None
    except json.JSONDecodeError as err:
        raise CommissioningError(f"{p.name}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    try:
        c = commissioning_from_dict(data, machine, schema)
    except CommissioningError as err:
        raise CommissioningError(f"{p.name}: {err}") from None
    return Commissioning(c.machine_id, c.label, c.is_demo, c.disclaimer, c.entries,
                         source_path=str(p), sha256=hashlib.sha256(raw).hexdigest(), schema=schema)


def commissioning_from_dict(data: Any, machine: Machine, schema: CommissioningSchema = KV_CONE_SCHEMA) -> Commissioning:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CommissioningError(f"not a commissioning file (expected \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise CommissioningError(f"commissioning format version {data.get('version')!r} is not supported "
                                 f"(this Planner reads version {VERSION})")
    if data.get("machine_id") != machine.id:
        raise CommissioningError(f"file is for machine {data.get('machine_id')!r}, not {machine.id!r}")
    label = data.get("label")
    if not isinstance(label, str) or not label.strip():
        raise CommissioningError("field 'label' must be a non-empty text")
    is_demo = data.get("demo", False)
    if not isinstance(is_demo, bool):
        raise CommissioningError("field 'demo' must be true or false")
    disclaimer = data.get("disclaimer", "")
    if not isinstance(disclaimer, str):
        raise CommissioningError("field 'disclaimer' must be text")
    entries_raw = data.get("entries")
    if not isinstance(entries_raw, list):
        raise CommissioningError("field 'entries' must be a list")
    entries: list[ConeCommissioning] = []
    seen: set[tuple[str, str]] = set()
    for i, e in enumerate(entries_raw):
        where = f"entries[{i}]"
        if not isinstance(e, dict):
            raise CommissioningError(f"{where} must be an object")
        energy_id, cone_id = e.get("energy"), e.get("cone")
        try:
            machine.energy(energy_id)
            machine.applicator(cone_id)
        except UnknownChoice as err:
            raise CommissioningError(f"{where}: {err}") from None
        where = f"{where} ({energy_id}, {cone_id})"
        if (energy_id, cone_id) in seen:
            raise CommissioningError(f"{where}: a second entry for the same energy and cone")
        seen.add((energy_id, cone_id))
        unknown = set(e) - {"energy", "cone", *schema.quantities}
        if unknown:
            raise CommissioningError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        values = [_value(e.get(name), name, unit, rule, where) for name, (unit, rule) in schema.quantities.items()]
        entries.append(schema.entry_type(energy_id, cone_id, *values))
    for energy in machine.energies:
        for cone in machine.applicators:
            if (energy.id, cone.id) not in seen:
                entries.append(schema.entry_type(energy.id, cone.id,
                                                 *(not_commissioned(u) for u, _ in schema.quantities.values())))
    return Commissioning(machine.id, label, is_demo, disclaimer, tuple(entries), schema=schema)


def _value(item: Any, name: str, unit: str, rule: str, where: str) -> CommissionedValue:
    if item is None:
        return not_commissioned(unit)
    if not isinstance(item, dict) or set(item) - {"value", "source"}:
        raise CommissioningError(f"{where}: {name} must be {{\"value\": number or null, \"source\": text}}")
    source = item.get("source")
    if not isinstance(source, str) or not source.strip():
        raise CommissioningError(f"{where}: {name} has no source text (say where the number came from)")
    v = item.get("value")
    if v is None:
        return CommissionedValue(None, unit, source)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise CommissioningError(f"{where}: {name} must be a finite number of {unit} or null, got {v!r}")
    if rule == "positive" and v <= 0:
        raise CommissioningError(f"{where}: {name} must be above 0 {unit}, got {v:g} {unit}")
    if rule == "non-negative" and v < 0:
        raise CommissioningError(f"{where}: {name} cannot be negative, got {v:g} {unit}")
    return CommissionedValue(float(v), unit, source)
