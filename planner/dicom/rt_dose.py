"""The RT Dose of a plan: the dose plane on the ultrasound image, for the whole treatment course.

What the numbers mean: the engine's grid is Gy per fraction; the object holds the PLAN dose (every
fraction of the plan: per-fraction grid × number of fractions), DoseSummationType PLAN, because that
is what a receiving TPS or viewer reads without knowing our fractionation. Stored as 16-bit unsigned
integers × Dose Grid Scaling, with the scale chosen so the maximum maps to 65 000: one step is
1/65 000 of the maximum (0.0015 %), far below the 0.1 % asked. Where the engine has no beam data
(NaN) the object says 0 Gy, and the Dose Comment says so.

Geometry (dicom-notes.md §3.4): one frame in the structure set's plane, x lateral and y depth in mm,
z = 0; Image Position (Patient) is the centre of the first grid point, Pixel Spacing the grid step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import RTDoseStorage, RTPlanStorage

from planner.core.errors import PlannerError
from planner.dose.result import DoseResult

from .identity import ExportIdentity, dicom_date, dicom_time, ds_text, new_dataset, referenced

SERIES_NUMBER = 903
LEVELS_FOR_MAXIMUM = 65_000  # headroom below 65 535 so rounding the scale can never overflow
AXIS_UNIFORMITY_MM = 1e-6


class DoseGridError(PlannerError, ValueError):
    """A dose grid that cannot be written as an RT Dose plane."""


@dataclass(frozen=True, eq=False)
class QuantisedDose:
    """Stored values and the scale that turns them back into Gy: dose = pixels × scaling_gy."""

    pixels: np.ndarray       # uint16, (rows = len(y), columns = len(x))
    scaling_gy: float        # exactly the value the file carries (parsed back from its DS text)
    scaling_text: str
    nan_count: int


def quantise_dose(dose_gy: np.ndarray) -> QuantisedDose:
    """16-bit values and Dose Grid Scaling (3004,000E) for a grid in Gy; NaN becomes 0."""
    grid = np.asarray(dose_gy, dtype=np.float64)
    nan = np.isnan(grid)
    if np.isinf(grid).any():
        raise DoseGridError("the dose grid holds an infinite value")
    finite = grid[~nan]
    if finite.size and finite.min() < 0:
        raise DoseGridError(f"the dose grid holds a negative dose ({finite.min():.6g} Gy)")
    maximum = float(finite.max()) if finite.size else 0.0
    if maximum == 0.0:
        scaling_text = "1"
    else:
        scaling_text = ds_text(maximum / LEVELS_FOR_MAXIMUM)
    scaling = float(scaling_text)
    pixels = np.rint(np.where(nan, 0.0, grid) / scaling)
    if pixels.max(initial=0) > np.iinfo(np.uint16).max:  # cannot happen with the headroom above
        raise DoseGridError("the dose grid does not fit 16 bits with this scaling")
    return QuantisedDose(pixels.astype(np.uint16), scaling, scaling_text, int(nan.sum()))


def grid_step_mm(axis_mm: np.ndarray, name: str) -> float:
    """The constant step of a dose grid axis; refuses an irregular or decreasing axis."""
    axis = np.asarray(axis_mm, dtype=np.float64)
    if axis.ndim != 1 or axis.size < 2 or not np.all(np.isfinite(axis)):
        raise DoseGridError(f"the dose grid's {name} axis needs at least 2 finite positions")
    steps = np.diff(axis)
    step = float(steps.mean())
    if step <= 0 or np.max(np.abs(steps - step)) > AXIS_UNIFORMITY_MM:
        raise DoseGridError(f"the dose grid's {name} axis is not evenly spaced and increasing")
    return step


def build_rt_dose(identity: ExportIdentity, sop_instance_uid: str, dose: DoseResult, fractions: int,
                  rt_plan_uid: str) -> tuple[Dataset, tuple[str, ...]]:
    """RT Dose IOD (PS3.3 A.18), one plane, plan total in Gy; returns the dataset and notes for the user."""
    grid = np.asarray(dose.dose_grid_gy, dtype=np.float64)
    x_mm, y_mm = np.asarray(dose.x_mm, dtype=np.float64), np.asarray(dose.y_mm, dtype=np.float64)
    if grid.shape != (y_mm.size, x_mm.size):
        raise DoseGridError(f"the dose grid is {grid.shape}, its axes {y_mm.size} × {x_mm.size}")
    dx, dy = grid_step_mm(x_mm, "lateral"), grid_step_mm(y_mm, "depth")
    quantised = quantise_dose(grid * fractions)
    notes = []
    comment = f"plan dose: {fractions} fraction(s)"
    if quantised.nan_count:
        notes.append(f"RT Dose: {quantised.nan_count} grid points without beam data (NaN) written as 0 Gy")
        comment += "; no beam data written as 0 Gy"

    ds = new_dataset(identity, RTDoseStorage, sop_instance_uid, "RTDOSE", "Planner dose", SERIES_NUMBER)
    when = identity.created
    # General Image module (C.7.6.1)
    ds.InstanceNumber = 1
    ds.ContentDate, ds.ContentTime = dicom_date(when), dicom_time(when)
    # Image Plane module (C.7.6.2): the ultrasound plane, z = 0
    ds.PixelSpacing = [ds_text(dy), ds_text(dx)]  # row spacing (depth), column spacing (lateral)
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.ImagePositionPatient = [ds_text(x_mm[0]), ds_text(y_mm[0]), "0"]
    ds.SliceThickness = ""
    # Image Pixel module (C.7.6.3), as the RT Dose module constrains it (C.8.8.3.4)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = quantised.pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(quantised.pixels, dtype="<u2").tobytes()
    # RT Dose module (C.8.8.3)
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseComment = comment[:64]
    ds.DoseSummationType = "PLAN"
    ds.ReferencedRTPlanSequence = Sequence([referenced(RTPlanStorage, rt_plan_uid)])
    ds.DoseGridScaling = quantised.scaling_text
    ds.TissueHeterogeneityCorrection = "WATER"  # the engines compute dose in water
    return ds, tuple(notes)
