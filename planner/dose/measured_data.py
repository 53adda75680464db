"""Measured beam data from CSV files that REPLACE the Monte Carlo values for one energy/cone/SSD.

A clinic's measured data always take precedence over the computed ones: the computed PDD, profiles
and B_w are a model, the measurement is the machine. Every file is validated line by line; an error
names the file and the line (1-based, counting every line including comments and the header) and
the expected unit, and nothing is loaded half-way. The record of what was loaded keeps the file name
and its SHA-256, so a plan says exactly which data produced its dose.

File formats (comma-separated, UTF-8; blank lines and lines starting with ``#`` are ignored; the
first other line is the header; units are part of the column names):

* PDD:        ``depth_mm,percent[,uncertainty_percent]`` (or ``depth_cm``). Central axis, % of the
  surface dose (kV PDDs are normalised at the surface, TG-61 in-air method): the first row must be
  depth 0 with 100 % (± 0.5). Depths strictly increasing.
* profiles:   ``depth_mm,off_axis_mm,percent_of_central_axis`` (or ``*_cm``). Rows grouped by depth;
  within a depth the off-axis distance increases from 0, where the value must be 100 % (± 0.5).
* backscatter: ``backscatter_factor,uncertainty`` — one row: B_w (water, this cone and SSD, ≥ 1)
  and its k = 1 standard uncertainty (absolute).
* output factors: ``cone_mm,output_factor`` — surface dose rate of each cone relative to a
  reference cone (exactly one row equal to 1.000 ± 0.0005) at one energy and SSD.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.core.errors import PlannerError
from planner.dose.beam_data import BeamData, Profile

PDD_SURFACE_TOLERANCE_PERCENT = 0.5
PDD_MAX_PERCENT = 110.0            # a kV PDD normalised at the surface cannot rise far above 100 %
BW_MAX = 1.6                       # TG-61 Table V tops out at 1.508 (SSD 100 cm, Ø 20 cm, 8 mm Al)
OF_REFERENCE_TOLERANCE = 0.0005


class MeasuredDataError(PlannerError, ValueError):
    """A measured-data file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class MeasuredFile:
    name: str
    sha256: str

    def describe(self) -> str:
        return f"measured: {self.name} (sha256 {self.sha256[:12]}…)"


@dataclass(frozen=True)
class MeasuredPDD:
    points: tuple[tuple[float, float], ...]             # (depth mm, % of surface dose)
    uncertainty: tuple[tuple[float, float], ...] | None  # (depth mm, k=1 percentage points) if given
    file: MeasuredFile


@dataclass(frozen=True)
class MeasuredProfiles:
    # (depth mm, ((off-axis mm, % of the central-axis dose at that depth), ...)), by increasing depth
    profiles: tuple[tuple[float, tuple[tuple[float, float], ...]], ...]
    file: MeasuredFile


@dataclass(frozen=True)
class MeasuredBackscatter:
    value: float
    uncertainty: float
    file: MeasuredFile


@dataclass(frozen=True)
class MeasuredOutputFactors:
    factors: tuple[tuple[float, float], ...]     # (cone diameter mm, output factor), by diameter
    reference_cone_mm: float
    file: MeasuredFile

    def factor(self, cone_mm: float) -> float | None:
        for d, f in self.factors:
            if abs(d - cone_mm) < 1e-6:
                return f
        return None


@dataclass(frozen=True)
class MeasuredBeamSet:
    """What has been measured for one energy, cone and SSD; None where the computed value stays."""

    energy_id: str
    applicator_id: str
    ssd_cm: float
    pdd: MeasuredPDD | None = None
    profiles: MeasuredProfiles | None = None
    backscatter: MeasuredBackscatter | None = None

    @property
    def complete(self) -> bool:
        return self.pdd is not None and self.profiles is not None and self.backscatter is not None


# ------------------------------------------------------------------------------------------- parsing

_LENGTH_UNITS = {"mm": 1.0, "cm": 10.0}


def _read(path: str | os.PathLike) -> tuple[str, MeasuredFile]:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise MeasuredDataError(f"cannot read {p}: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MeasuredDataError(f"{p.name}: not a UTF-8 text file") from None
    return text, MeasuredFile(p.name, hashlib.sha256(raw).hexdigest())


def _rows(text: str, name: str) -> tuple[int, list[str], list[tuple[int, list[str]]]]:
    """(header line number, header cells, [(line number, cells)]) with comments and blanks dropped."""
    header: list[str] | None = None
    header_line = 0
    rows: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        cells = [c.strip() for c in next(csv.reader(io.StringIO(stripped)))]
        if header is None:
            header, header_line = [c.lower() for c in cells], number
        else:
            rows.append((number, cells))
    if header is None:
        raise MeasuredDataError(f"{name}: the file is empty (no header line)")
    if not rows:
        raise MeasuredDataError(f"{name}: line {header_line}: a header but no data rows")
    return header_line, header, rows


def _length_column(header: list[str], base: str, name: str, line: int) -> tuple[int, float]:
    for unit, factor in _LENGTH_UNITS.items():
        col = f"{base}_{unit}"
        if col in header:
            return header.index(col), factor
    offered = " or ".join(f"{base}_{u}" for u in _LENGTH_UNITS)
    raise MeasuredDataError(f"{name}: line {line}: header {','.join(header)!r} lacks a column {offered} "
                            f"(lengths must be in mm or cm, named in the header)")


def _check_columns(header: list[str], allowed: set[str], name: str, line: int, expected: str) -> None:
    unknown = [c for c in header if c not in allowed]
    if unknown:
        raise MeasuredDataError(f"{name}: line {line}: unknown column {unknown[0]!r} (expected header: {expected})")
    if len(set(header)) != len(header):
        raise MeasuredDataError(f"{name}: line {line}: a column name appears twice")


def _number(cells: list[str], col: int, what: str, unit: str, name: str, line: int, ncols: int) -> float:
    if len(cells) != ncols:
        raise MeasuredDataError(f"{name}: line {line}: {len(cells)} values, the header has {ncols} columns")
    text = cells[col]
    try:
        v = float(text)
    except ValueError:
        raise MeasuredDataError(f"{name}: line {line}: {what} {text!r} is not a number ({unit})") from None
    if not math.isfinite(v):
        raise MeasuredDataError(f"{name}: line {line}: {what} {text!r} is not a finite number ({unit})")
    return v


def read_pdd_csv(path: str | os.PathLike) -> MeasuredPDD:
    text, f = _read(path)
    hl, header, rows = _rows(text, f.name)
    expected = "depth_mm,percent[,uncertainty_percent] (depth_cm accepted)"
    _check_columns(header, {"depth_mm", "depth_cm", "percent", "uncertainty_percent"}, f.name, hl, expected)
    zc, zf = _length_column(header, "depth", f.name, hl)
    if "percent" not in header:
        raise MeasuredDataError(f"{f.name}: line {hl}: header lacks the column 'percent' (expected {expected})")
    pc = header.index("percent")
    uc = header.index("uncertainty_percent") if "uncertainty_percent" in header else None
    n = len(header)
    points, sigmas = [], []
    for line, cells in rows:
        z = _number(cells, zc, "depth", "mm" if zf == 1 else "cm", f.name, line, n) * zf
        pct = _number(cells, pc, "percent", "%", f.name, line, n)
        if z < 0:
            raise MeasuredDataError(f"{f.name}: line {line}: depth {z:g} mm is above the surface (negative)")
        if points and z <= points[-1][0]:
            raise MeasuredDataError(f"{f.name}: line {line}: depth {z:g} mm does not increase "
                                    f"(previous {points[-1][0]:g} mm)")
        if not 0 <= pct <= PDD_MAX_PERCENT:
            raise MeasuredDataError(f"{f.name}: line {line}: {pct:g} % is outside 0–{PDD_MAX_PERCENT:g} % "
                                    f"(a kV PDD is normalised to 100 % at the surface)")
        if not points:
            if z != 0:
                raise MeasuredDataError(f"{f.name}: line {line}: the first depth must be 0 (the surface), got {z:g} mm")
            if abs(pct - 100.0) > PDD_SURFACE_TOLERANCE_PERCENT:
                raise MeasuredDataError(f"{f.name}: line {line}: the surface value is {pct:g} %; the PDD must be "
                                        f"normalised to 100 % at depth 0 (± {PDD_SURFACE_TOLERANCE_PERCENT:g} %)")
        points.append((z, pct))
        if uc is not None:
            s = _number(cells, uc, "uncertainty", "percentage points", f.name, line, n)
            if s < 0:
                raise MeasuredDataError(f"{f.name}: line {line}: uncertainty {s:g} is negative")
            sigmas.append((z, s))
    if len(points) < 2:
        raise MeasuredDataError(f"{f.name}: a PDD needs at least 2 depths, got {len(points)}")
    return MeasuredPDD(tuple(points), tuple(sigmas) if uc is not None else None, f)


def read_profiles_csv(path: str | os.PathLike) -> MeasuredProfiles:
    text, f = _read(path)
    hl, header, rows = _rows(text, f.name)
    expected = "depth_mm,off_axis_mm,percent_of_central_axis (*_cm accepted)"
    _check_columns(header, {"depth_mm", "depth_cm", "off_axis_mm", "off_axis_cm", "percent_of_central_axis"},
                   f.name, hl, expected)
    zc, zf = _length_column(header, "depth", f.name, hl)
    rc, rf = _length_column(header, "off_axis", f.name, hl)
    if "percent_of_central_axis" not in header:
        raise MeasuredDataError(f"{f.name}: line {hl}: header lacks 'percent_of_central_axis' (expected {expected})")
    pc = header.index("percent_of_central_axis")
    n = len(header)
    groups: list[tuple[float, list[tuple[float, float]], int]] = []
    for line, cells in rows:
        z = _number(cells, zc, "depth", "mm" if zf == 1 else "cm", f.name, line, n) * zf
        r = _number(cells, rc, "off-axis distance", "mm" if rf == 1 else "cm", f.name, line, n) * rf
        pct = _number(cells, pc, "percent_of_central_axis", "%", f.name, line, n)
        if z < 0:
            raise MeasuredDataError(f"{f.name}: line {line}: depth {z:g} mm is above the surface (negative)")
        if r < 0:
            raise MeasuredDataError(f"{f.name}: line {line}: off-axis distance {r:g} mm is negative "
                                    f"(give distances from the axis; profiles are taken as symmetric)")
        if not 0 <= pct <= PDD_MAX_PERCENT:
            raise MeasuredDataError(f"{f.name}: line {line}: {pct:g} % is outside 0–{PDD_MAX_PERCENT:g} %")
        if not groups or z != groups[-1][0]:
            if groups and z < groups[-1][0]:
                raise MeasuredDataError(f"{f.name}: line {line}: depth {z:g} mm comes after {groups[-1][0]:g} mm; "
                                        f"group the rows by increasing depth")
            if r != 0:
                raise MeasuredDataError(f"{f.name}: line {line}: the profile at depth {z:g} mm must start on "
                                        f"the axis (off-axis 0), got {r:g} mm")
            if abs(pct - 100.0) > PDD_SURFACE_TOLERANCE_PERCENT:
                raise MeasuredDataError(f"{f.name}: line {line}: the central-axis value at depth {z:g} mm is "
                                        f"{pct:g} %; profiles must be normalised to 100 % on the axis")
            groups.append((z, [], line))
        pts = groups[-1][1]
        if pts and r <= pts[-1][0]:
            raise MeasuredDataError(f"{f.name}: line {line}: off-axis distance {r:g} mm does not increase "
                                    f"(previous {pts[-1][0]:g} mm at depth {z:g} mm)")
        pts.append((r, pct))
    for z, pts, line in groups:
        if len(pts) < 2:
            raise MeasuredDataError(f"{f.name}: line {line}: the profile at depth {z:g} mm has a single point")
    return MeasuredProfiles(tuple((z, tuple(pts)) for z, pts, _ in groups), f)


def read_backscatter_csv(path: str | os.PathLike) -> MeasuredBackscatter:
    text, f = _read(path)
    hl, header, rows = _rows(text, f.name)
    expected = "backscatter_factor,uncertainty"
    _check_columns(header, {"backscatter_factor", "uncertainty"}, f.name, hl, expected)
    if header != ["backscatter_factor", "uncertainty"]:
        raise MeasuredDataError(f"{f.name}: line {hl}: expected header {expected}")
    if len(rows) != 1:
        raise MeasuredDataError(f"{f.name}: line {rows[1][0]}: one data row expected (B_w of one cone and SSD)")
    line, cells = rows[0]
    bw = _number(cells, 0, "backscatter factor", "dimensionless", f.name, line, 2)
    u = _number(cells, 1, "uncertainty", "absolute, k=1", f.name, line, 2)
    if bw < 1.0:
        raise MeasuredDataError(f"{f.name}: line {line}: B_w {bw:g} is below 1; backscatter can only add dose")
    if bw > BW_MAX:
        raise MeasuredDataError(f"{f.name}: line {line}: B_w {bw:g} is above {BW_MAX:g}, far outside TG-61 "
                                f"Table V (maximum 1.508); check the file")
    if u < 0:
        raise MeasuredDataError(f"{f.name}: line {line}: uncertainty {u:g} is negative")
    return MeasuredBackscatter(bw, u, f)


def read_output_factors_csv(path: str | os.PathLike) -> MeasuredOutputFactors:
    text, f = _read(path)
    hl, header, rows = _rows(text, f.name)
    expected = "cone_mm,output_factor"
    _check_columns(header, {"cone_mm", "cone_cm", "output_factor"}, f.name, hl, expected)
    cc, cf = _length_column(header, "cone", f.name, hl)
    if "output_factor" not in header:
        raise MeasuredDataError(f"{f.name}: line {hl}: header lacks 'output_factor' (expected {expected})")
    oc = header.index("output_factor")
    n = len(header)
    factors: dict[float, float] = {}
    refs = []
    for line, cells in rows:
        d = _number(cells, cc, "cone diameter", "mm" if cf == 1 else "cm", f.name, line, n) * cf
        of = _number(cells, oc, "output factor", "dimensionless", f.name, line, n)
        if d <= 0:
            raise MeasuredDataError(f"{f.name}: line {line}: cone diameter {d:g} mm must be above 0")
        if of <= 0:
            raise MeasuredDataError(f"{f.name}: line {line}: output factor {of:g} must be above 0")
        if d in factors:
            raise MeasuredDataError(f"{f.name}: line {line}: cone {d:g} mm appears twice")
        factors[d] = of
        if abs(of - 1.0) <= OF_REFERENCE_TOLERANCE:
            refs.append(d)
    if len(refs) != 1:
        raise MeasuredDataError(f"{f.name}: exactly one cone must have output factor 1.000 (the reference), "
                                f"found {len(refs)}")
    return MeasuredOutputFactors(tuple(sorted(factors.items())), refs[0], f)


# ------------------------------------------------------------------------------------------ applying

def apply_measured(beam: BeamData | None, measured: MeasuredBeamSet, *, kvp: float, hvl_mm_al: float,
                   field_diameter_mm: float) -> BeamData:
    """``beam`` with every measured quantity substituted; provenance says which file each came from.

    With ``beam`` None (no Monte Carlo wanted) the set must be complete (PDD, profiles and B_w).
    Measured profiles are % of the central axis at their depth; BeamData keeps % of the surface
    central-axis dose, so they are multiplied by PDD(depth)/100 of the PDD in use (interpolated
    linearly; a profile deeper than the PDD is refused).
    """
    if beam is None and not measured.complete:
        missing = [n for n, v in (("PDD", measured.pdd), ("profiles", measured.profiles),
                                  ("backscatter factor", measured.backscatter)) if v is None]
        raise MeasuredDataError(f"measured data for {measured.energy_id}, {measured.applicator_id} lack "
                                f"{', '.join(missing)} and no computed beam data were given")
    if beam is not None and abs(beam.ssd_cm - measured.ssd_cm) > 1e-9:
        raise MeasuredDataError(f"measured data are for SSD {measured.ssd_cm:g} cm, the beam is at {beam.ssd_cm:g} cm")
    if beam is None:
        nan = float("nan")
        beam = BeamData(kvp=float(kvp), hvl_mm_al=float(hvl_mm_al), field_diameter_mm=float(field_diameter_mm),
                        ssd_cm=float(measured.ssd_cm), n_photons=0, seed=0, pdd=(), pdd_uncertainty=(),
                        pdd_scoring_radius_mm=nan, profiles=(), backscatter_factor=nan,
                        backscatter_uncertainty=nan, fitted_filtration_mm_al=nan, achieved_hvl_mm_al=nan,
                        mean_energy_kev=nan, anode_angle_deg=nan, spectrum_provenance=("not used: measured data",),
                        engine_version="measured data", software_version=_software_version(),
                        cross_section_source="not used: measured data", filter_description=None, seconds=0.0,
                        provenance={"spectrum": "not used: measured data"})
    provenance = dict(beam.provenance)
    changes: dict = {}
    if measured.pdd is not None:
        m = measured.pdd
        changes["pdd"] = m.points
        changes["pdd_uncertainty"] = (m.uncertainty if m.uncertainty is not None
                                      else tuple((z, float("nan")) for z, _ in m.points))
        provenance["pdd"] = m.file.describe() + ("" if m.uncertainty else "; no uncertainty given in the file")
    pdd = changes.get("pdd", beam.pdd)
    if measured.profiles is not None:
        z_pdd = np.array([p[0] for p in pdd])
        v_pdd = np.array([p[1] for p in pdd])
        profiles = []
        for z, pts in measured.profiles.profiles:
            if z > z_pdd[-1] + 1e-9:
                raise MeasuredDataError(f"{measured.profiles.file.name}: profile depth {z:g} mm is deeper than the "
                                        f"PDD ({z_pdd[-1]:g} mm), so it cannot be put on the PDD's scale")
            scale = float(np.interp(z, z_pdd, v_pdd)) / 100.0
            profiles.append(Profile(z, tuple((r, p * scale) for r, p in pts),
                                    tuple((r, float("nan")) for r, _ in pts)))
        changes["profiles"] = tuple(profiles)
        provenance["profiles"] = (measured.profiles.file.describe() + "; % of central axis at depth × PDD(depth)")
    if measured.backscatter is not None:
        changes["backscatter_factor"] = measured.backscatter.value
        changes["backscatter_uncertainty"] = measured.backscatter.uncertainty
        provenance["backscatter_factor"] = (f"{measured.backscatter.file.describe()}; B_w = "
                                            f"{measured.backscatter.value:.4f} ± {measured.backscatter.uncertainty:.4f} (k=1)")
    changes["provenance"] = provenance
    return dataclasses.replace(beam, **changes)


def data_sources(beam: BeamData) -> dict[str, str]:
    """For each quantity, 'measured: file (sha256 …)' or the Monte Carlo description."""
    return {k: beam.provenance.get(k, "unknown") for k in ("pdd", "profiles", "backscatter_factor")}


def _software_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("planner")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
