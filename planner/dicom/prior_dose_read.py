"""Reading an earlier course from another system: its RT Dose and, for its fractions and date, the RT
Plan the dose references (issue 18, re-irradiation). The reader of planner.dicom.prior_dose's files
and of any other system's.

Why so strict: EQD2 needs the whole course's physical dose in Gy and its fraction count. An RT Dose
says neither reliably unless it is Dose Units GY, Dose Type PHYSICAL and Dose Summation Type PLAN
(PS3.3 C.8.8.3: a BEAM or FRACTION dose is part of the course, RELATIVE has no Gy), and it holds no
fraction count at all: that is the RT Plan's Number of Fractions Planned (C.8.8.13), trusted only if
the dose's Referenced RT Plan is that plan. Anything else is refused with the reason.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.uid import RTDoseStorage, RTPlanStorage

from planner.core.reirradiation import PriorCourseDose, ReirradiationError
from planner.core.volume import VoxelGrid

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
FRACTIONS_FROM_PLAN = "RT Plan Number of Fractions Planned"
FRACTIONS_GIVEN = "given by the user (no RT Plan)"
_SPACING_TOLERANCE_MM = 1e-3


def read_prior_course(rtdose_path, rtplan_path=None, fractions: int | None = None) -> PriorCourseDose:
    """The earlier course of ``rtdose_path``: fractions from ``rtplan_path``'s Number of Fractions
    Planned (its SOP Instance UID must be the dose's Referenced RT Plan), else ``fractions`` as given
    (only without a plan: with one, a different number is refused); neither: refused. Raises
    ReirradiationError with one line."""
    dose_ds = _read(rtdose_path, RTDoseStorage, "RT Dose")
    _require(dose_ds, "DoseUnits", "GY", "its dose in Gy is unknown")
    _require(dose_ds, "DoseType", "PHYSICAL", "EQD2 is computed from the physical dose")
    _require(dose_ds, "DoseSummationType", "PLAN", "it is not the dose of the whole course")
    scaling = _number(dose_ds, "DoseGridScaling")
    if not scaling > 0:
        raise ReirradiationError(f"the earlier course's RT Dose has Dose Grid Scaling {scaling!r}: its dose is unknown")
    frame = str(dose_ds.get("FrameOfReferenceUID", "") or "")
    if not frame:
        raise ReirradiationError("the earlier course's RT Dose has no Frame of Reference UID: it cannot be placed")
    grid, dose = _dose_on_grid(dose_ds, scaling)
    plan_date, prescribed, source = None, None, FRACTIONS_GIVEN
    if rtplan_path is not None:
        plan_ds = _read(rtplan_path, RTPlanStorage, "RT Plan")
        planned = _plan_fractions(plan_ds, dose_ds)
        if fractions is not None and fractions != planned:
            raise ReirradiationError(f"the earlier course's RT Plan plans {planned} fractions, but {fractions} were "
                                     f"given: give one of them")
        fractions, source = planned, FRACTIONS_FROM_PLAN
        plan_date, prescribed = _date(plan_ds.get("RTPlanDate", "")), _prescribed_gy(plan_ds)
    if fractions is None:
        raise ReirradiationError("the earlier course's fractions are unknown: give its RT Plan or --prior-fractions")
    if isinstance(fractions, bool) or not isinstance(fractions, int) or fractions < 1:
        raise ReirradiationError(f"the earlier course's fractions must be a whole number ≥ 1, got {fractions!r}")
    return PriorCourseDose(dose, grid, fractions, source, frame, plan_date, str(rtdose_path),
                           None if rtplan_path is None else str(rtplan_path), prescribed)


def _read(path, sop_class: str, what: str):
    try:
        ds = dcmread(Path(path))
    except (InvalidDicomError, OSError) as exc:
        raise ReirradiationError(f"cannot read the earlier course's {what} {path}: {exc}") from exc
    if str(ds.get("SOPClassUID", "")) != sop_class:
        raise ReirradiationError(f"{path} is not an {what} (SOP Class {ds.get('SOPClassUID', 'missing')})")
    return ds


def _require(ds, keyword: str, wanted: str, why: str) -> None:
    found = str(ds.get(keyword, "") or "").strip().upper()
    if found != wanted:
        words = " ".join(w for w in _split_camel(keyword))
        raise ReirradiationError(f"the earlier course's RT Dose has {words} {found or 'missing'}, not {wanted}: {why}")


def _split_camel(keyword: str) -> list[str]:
    out, word = [], ""
    for ch in keyword:
        if ch.isupper() and word:
            out.append(word)
            word = ""
        word += ch
    return out + [word]


def _number(ds, keyword: str) -> float:
    try:
        return float(ds.get(keyword))
    except (TypeError, ValueError):
        return float("nan")


def _dose_on_grid(ds, scaling: float) -> tuple[VoxelGrid, np.ndarray]:
    """The dose in Gy indexed [x, y, z] on the voxel centres its Image Plane and Grid Frame Offset
    Vector give (PS3.3 C.8.8.3.2); only axial grids with even, increasing spacing."""
    orientation = tuple(float(v) for v in ds.get("ImageOrientationPatient", ()) or ())
    if len(orientation) != 6 or not np.allclose(orientation, AXIAL, atol=1e-4):
        raise ReirradiationError(f"the earlier course's RT Dose is not an axial grid (Image Orientation "
                                 f"{list(orientation)}): Planner places only axial dose grids")
    x0, y0, z0 = (float(v) for v in ds.ImagePositionPatient)
    row_mm, column_mm = (float(v) for v in ds.PixelSpacing)
    pixels = np.asarray(ds.pixel_array, dtype=np.float64)
    if pixels.ndim == 2:
        pixels = pixels[None]
    offsets = np.asarray([float(v) for v in ds.get("GridFrameOffsetVector", [0.0]) or [0.0]], dtype=np.float64)
    if offsets.size != pixels.shape[0]:
        raise ReirradiationError(f"the earlier course's RT Dose has {pixels.shape[0]} frames but "
                                 f"{offsets.size} grid frame offsets")
    # relative offsets start at 0; absolute ones at the first frame's z (C.8.8.3.2)
    z = offsets + (z0 if offsets[0] == 0.0 else 0.0)
    dose = pixels.transpose(2, 1, 0) * scaling      # (frames, rows, columns) -> [x, y, z]
    if z.size > 1 and z[1] < z[0]:
        z, dose = z[::-1], dose[:, :, ::-1]
    if z.size > 1 and not np.allclose(np.diff(z), z[1] - z[0], atol=_SPACING_TOLERANCE_MM):
        raise ReirradiationError("the earlier course's RT Dose frames are not evenly spaced: Planner cannot "
                                 "interpolate it")
    grid = VoxelGrid(x0 + np.arange(dose.shape[0]) * column_mm, y0 + np.arange(dose.shape[1]) * row_mm, z)
    return grid, np.ascontiguousarray(dose)


def _plan_fractions(plan_ds, dose_ds) -> int:
    """The plan's Number of Fractions Planned, once the dose is known to be this plan's."""
    referenced = [str(r.get("ReferencedSOPInstanceUID", "")) for r in dose_ds.get("ReferencedRTPlanSequence", [])]
    uid = str(plan_ds.get("SOPInstanceUID", ""))
    if uid not in referenced:
        raise ReirradiationError(f"the earlier course's RT Dose references RT Plan {', '.join(referenced) or 'none'}, "
                                 f"not the RT Plan given ({uid}): its fractions may not be this dose's")
    groups = list(plan_ds.get("FractionGroupSequence", []))
    counts = {int(g.NumberOfFractionsPlanned) for g in groups if g.get("NumberOfFractionsPlanned") is not None}
    if len(counts) != 1:
        raise ReirradiationError(f"the earlier course's RT Plan has {len(groups)} fraction groups planning "
                                 f"{sorted(counts) or 'no'} fractions: Planner needs one count for the whole dose")
    return counts.pop()


def _prescribed_gy(plan_ds) -> float | None:
    doses = [float(r.TargetPrescriptionDose) for r in plan_ds.get("DoseReferenceSequence", [])
             if r.get("TargetPrescriptionDose") not in (None, "")]
    return doses[0] if len(doses) == 1 else None


def _date(value) -> dt.date | None:
    text = str(value or "").strip()
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date() if text else None
    except ValueError:
        return None
