"""Read a DICOM CT series and its RT Structure Set into a PlanningVolume; resample it for dose.

Why so strict: the densities and structures read here are what an IMRT plan's dose and objectives
are computed on. A slice missing, a tilted gantry, two series mixed or a structure set drawn on
another scan would each give a plausible-looking but wrong plan, so every such input is refused
with one CtSeriesError that names the file or the slice, never guessed around.

Geometry (PS3.3 C.7.6.2): only axial slices, Image Orientation (Patient) = [1,0,0, 0,1,0], are
accepted, so pixel column i, row j of a slice is at x = IPP_x + i·Δcol, y = IPP_y + j·Δrow, and the
slice's z is its Image Position (Patient) projected on the slice normal. Arrays are indexed
[x, y, z] like every PlanningVolume.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import CTImageStorage, RTStructureSetStorage

from planner.core.errors import PlannerError
from planner.core.structure_geometry import PlanarContours, even_odd_on_lattice
from planner.core.volume import DicomOrigin, PlanningVolume, VoxelGrid

from .errors import one_line
from .hu_to_density import hu_to_relative_electron_density

__all__ = ["CtSeriesError", "load_ct_volume", "resample_volume", "rasterise_polygon",
           "AXIAL_ORIENTATION", "ORIENTATION_TOLERANCE", "SPACING_TOLERANCE_MM"]

AXIAL_ORIENTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
ORIENTATION_TOLERANCE = 1e-3          # direction cosines
SPACING_TOLERANCE_MM = 0.01           # slice spacing, pixel spacing and in-plane position
CONTOUR_PLANARITY_TOLERANCE_MM = 0.05  # a contour's points must share one z this closely
TARGET_TYPES = ("PTV", "CTV", "GTV")  # the isocentre default's fallback, in this order


class CtSeriesError(PlannerError, ValueError):
    """The CT series or its structure set cannot be used; the message names the file or slice."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


@dataclass(frozen=True)
class _Slice:
    path: Path
    ds: Dataset
    z_mm: float


# ---------------------------------------------------------------------------------------- reading

def _sop_class(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID") or getattr(ds.get("file_meta"), "MediaStorageSOPClassUID", None)
    return str(uid or "")


def _read(path: Path, explicit: bool) -> Dataset | None:
    """The dataset, or None for a non-DICOM file found in a folder (a README, a thumbnail)."""
    try:
        ds = dcmread(path)
    except InvalidDicomError as exc:
        if explicit:
            raise CtSeriesError(f"{path} is not a DICOM file ({exc})") from exc
        return None
    except Exception as exc:  # truncated or garbled: a damaged slice must never just vanish
        raise CtSeriesError(f"{path} cannot be read as DICOM: {exc}") from exc
    if not _sop_class(ds):
        raise CtSeriesError(f"{path} is damaged: it has no SOP Class UID")
    # pydicom reads a cut-off file without complaint, its last value short: refuse it here, before a
    # truncated UID passes for another series or a short pixel block for a missing slice
    for tag, element in ds.items():
        value, length = getattr(element, "value", None), getattr(element, "length", None)
        if isinstance(value, bytes) and length not in (None, 0xFFFFFFFF) and len(value) < length:
            raise CtSeriesError(f"{path} is truncated: element {tag} has {len(value)} of its {length} bytes")
    return ds


def _gather(folder_or_files) -> tuple[list[tuple[Path, Dataset]], list[tuple[Path, Dataset]], str]:
    """(CT files, RT Structure Set files, a name for the input in messages)."""
    if isinstance(folder_or_files, (str, os.PathLike)):
        source = Path(folder_or_files)
        if source.is_dir():
            paths, explicit, where = sorted(p for p in source.iterdir() if p.is_file()), False, str(source)
        elif source.is_file():
            paths, explicit, where = [source], True, str(source)
        else:
            raise CtSeriesError(f"{source} does not exist")
    else:
        paths, explicit = [Path(p) for p in folder_or_files], True
        where = f"the {len(paths)} files given"
        for path in paths:
            if not path.is_file():
                raise CtSeriesError(f"{path} does not exist or is not a file")
    cts, structure_sets = [], []
    for path in paths:
        ds = _read(path, explicit)
        if ds is None:
            continue
        sop_class = _sop_class(ds)
        if sop_class == CTImageStorage:
            cts.append((path, ds))
        elif sop_class == RTStructureSetStorage:
            structure_sets.append((path, ds))
    return cts, structure_sets, where


def _required(path: Path, ds: Dataset, keyword: str):
    value = ds.get(keyword)
    if value is None or value == "":
        raise CtSeriesError(f"CT slice {path.name} has no {keyword}")
    return value


def _numbers(path: Path, ds: Dataset, keyword: str, count: int) -> np.ndarray:
    value = _required(path, ds, keyword)
    try:
        numbers = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CtSeriesError(f"CT slice {path.name} has an unreadable {keyword} ({value})") from exc
    if numbers.size != count or not np.all(np.isfinite(numbers)):
        raise CtSeriesError(f"CT slice {path.name} has {keyword} {list(numbers)}, expected {count} numbers")
    return numbers


def _one_series(cts: list[tuple[Path, Dataset]], where: str) -> list[tuple[Path, Dataset]]:
    if not cts:
        raise CtSeriesError(f"no CT Image Storage files in {where}")
    by_series: dict[str, list[Path]] = {}
    for path, ds in cts:
        by_series.setdefault(str(_required(path, ds, "SeriesInstanceUID")), []).append(path)
    if len(by_series) > 1:
        parts = [f"{uid} ({len(files)} files, e.g. {files[0].name})" for uid, files in by_series.items()]
        raise CtSeriesError(f"{where} mixes {len(by_series)} CT series: " + " and ".join(parts)
                            + "; put one series in the folder or give its files")
    frames = {str(_required(path, ds, "FrameOfReferenceUID")) for path, ds in cts}
    if len(frames) > 1:
        raise CtSeriesError(f"the CT series in {where} has {len(frames)} Frame of Reference UIDs "
                            f"({', '.join(sorted(frames))}); one series must share one")
    return cts


def _sorted_slices(cts: list[tuple[Path, Dataset]]) -> tuple[list[_Slice], np.ndarray, float, tuple[int, int]]:
    """Slices sorted by position along the normal; (slices, pixel spacing [row, col], dz, (rows, cols))."""
    first_path, first = cts[0]
    rows, cols = int(_required(first_path, first, "Rows")), int(_required(first_path, first, "Columns"))
    spacing = _numbers(first_path, first, "PixelSpacing", 2)
    first_xy = _numbers(first_path, first, "ImagePositionPatient", 3)[:2]
    slices = []
    for path, ds in cts:
        orientation = _numbers(path, ds, "ImageOrientationPatient", 6)
        if np.max(np.abs(orientation - AXIAL_ORIENTATION)) > ORIENTATION_TOLERANCE:
            raise CtSeriesError(
                f"CT slice {path.name} is not axial: Image Orientation (Patient) "
                f"{[round(v, 6) for v in orientation]} (a tilted gantry, or a sagittal or coronal series); "
                f"Planner needs axial slices [1, 0, 0, 0, 1, 0]")
        if (int(_required(path, ds, "Rows")), int(_required(path, ds, "Columns"))) != (rows, cols):
            raise CtSeriesError(f"CT slice {path.name} is {ds.Columns}×{ds.Rows} pixels, "
                                f"{first_path.name} is {cols}×{rows}: one series must have one size")
        pixel_spacing = _numbers(path, ds, "PixelSpacing", 2)
        if np.max(np.abs(pixel_spacing - spacing)) > SPACING_TOLERANCE_MM:
            raise CtSeriesError(f"CT slice {path.name} has Pixel Spacing {list(pixel_spacing)} mm, "
                                f"{first_path.name} {list(spacing)} mm: one series must have one")
        position = _numbers(path, ds, "ImagePositionPatient", 3)
        if np.max(np.abs(position[:2] - first_xy)) > SPACING_TOLERANCE_MM:
            raise CtSeriesError(f"CT slice {path.name} starts at x, y = {list(position[:2])} mm, "
                                f"{first_path.name} at {list(first_xy)} mm: the slices are not stacked")
        normal = np.cross(orientation[:3], orientation[3:])
        slices.append(_Slice(path, ds, float(position @ normal)))
    slices.sort(key=lambda s: s.z_mm)
    if len(slices) < 2:
        raise CtSeriesError(f"only one CT slice ({slices[0].path.name}): a planning volume needs a series")
    z = np.array([s.z_mm for s in slices])
    gaps = np.diff(z)
    for k, gap in enumerate(gaps):
        if gap < SPACING_TOLERANCE_MM:
            raise CtSeriesError(f"CT slices {slices[k].path.name} and {slices[k + 1].path.name} are both "
                                f"at z = {z[k]:g} mm: a slice is duplicated or two series are mixed")
    dz = float(np.median(gaps))
    for k, gap in enumerate(gaps):
        if abs(gap - dz) <= SPACING_TOLERANCE_MM:
            continue
        multiple = round(gap / dz)
        if multiple >= 2 and abs(gap - multiple * dz) <= SPACING_TOLERANCE_MM * multiple:
            raise CtSeriesError(
                f"{multiple - 1} CT slice{'s' if multiple > 2 else ''} missing between z = {z[k]:g} mm "
                f"({slices[k].path.name}) and z = {z[k + 1]:g} mm ({slices[k + 1].path.name}): "
                f"{gap:g} mm apart, the series' spacing is {dz:g} mm")
        raise CtSeriesError(
            f"unequal CT slice spacing: z = {z[k]:g} mm ({slices[k].path.name}) to {z[k + 1]:g} mm "
            f"({slices[k + 1].path.name}) is {gap:g} mm, the series' spacing is {dz:g} mm")
    return slices, spacing, float((z[-1] - z[0]) / (len(z) - 1)), (rows, cols)


def _hu(slice_: _Slice, shape: tuple[int, int]) -> np.ndarray:
    """One slice's CT numbers, [x, y]."""
    path, ds = slice_.path, slice_.ds
    if int(ds.get("NumberOfFrames", 1) or 1) != 1 or int(ds.get("SamplesPerPixel", 1)) != 1:
        raise CtSeriesError(f"CT slice {path.name} is not a single-frame grey image")
    # Type 1 in the CT Image module: without them the stored values are not HU (water might read 1024)
    slope = float(_required(path, ds, "RescaleSlope"))
    intercept = float(_required(path, ds, "RescaleIntercept"))
    try:
        stored = ds.pixel_array
    except Exception as exc:
        raise CtSeriesError(f"CT slice {path.name} has unreadable pixel data: {exc}") from exc
    if stored.shape != shape:
        raise CtSeriesError(f"CT slice {path.name} has pixel data of shape {stored.shape}, expected {shape}")
    return (stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)).T


# ---------------------------------------------------------------------------------------- structures

def rasterise_polygon(columns_px: np.ndarray, rows_px: np.ndarray, shape_xy: tuple[int, int]) -> np.ndarray:
    """Pixel centres inside a closed polygon by the even-odd rule, as a [x, y] boolean array.

    The polygon is in pixel units (pixel centres at integers); the rule is the structure geometry's
    (planner.core.structure_geometry.even_odd_on_lattice), on the lattice of pixel centres.
    """
    n_cols, n_rows = shape_xy
    if n_cols == 0 or n_rows == 0:
        return np.zeros((n_cols, n_rows), dtype=bool)
    polygon = np.column_stack([np.asarray(columns_px, dtype=np.float64), np.asarray(rows_px, dtype=np.float64)])
    return even_odd_on_lattice(polygon, np.arange(n_cols, dtype=float), np.arange(n_rows, dtype=float))


def _structure_set_frames(ds: Dataset) -> set[str]:
    frames = {str(item.get("FrameOfReferenceUID", "")) for item in ds.get("ReferencedFrameOfReferenceSequence", [])}
    frames |= {str(roi.get("ReferencedFrameOfReferenceUID", "")) for roi in ds.get("StructureSetROISequence", [])}
    return frames - {""}


def _references_series(ds: Dataset, series_uid: str) -> bool:
    for frame in ds.get("ReferencedFrameOfReferenceSequence", []):
        for study in frame.get("RTReferencedStudySequence", []):
            for series in study.get("RTReferencedSeriesSequence", []):
                if str(series.get("SeriesInstanceUID", "")) == series_uid:
                    return True
    return False


def _choose_structure_set(found: list[tuple[Path, Dataset]], frame_uid: str, series_uid: str) \
        -> tuple[Path, Dataset] | None:
    """The folder's structure set on the CT's frame of reference (preferring one naming the series)."""
    if not found:
        return None
    matching = [(p, ds) for p, ds in found if _structure_set_frames(ds) == {frame_uid}]
    if not matching:
        names = ", ".join(f"{p.name} ({', '.join(sorted(_structure_set_frames(ds))) or 'no frame'})"
                          for p, ds in found)
        raise CtSeriesError(f"no RT Structure Set in the folder is on the CT's frame of reference {frame_uid}: "
                            f"{names}; give rtstruct_path explicitly or remove it")
    if len(matching) > 1:
        naming = [(p, ds) for p, ds in matching if _references_series(ds, series_uid)]
        matching = naming or matching
    if len(matching) > 1:
        raise CtSeriesError("the folder holds several RT Structure Sets for this CT ("
                            + ", ".join(p.name for p, _ in matching) + "); give rtstruct_path to choose one")
    return matching[0]


def _read_structure_set(path: Path) -> Dataset:
    ds = _read(Path(path), explicit=True)
    if _sop_class(ds) != RTStructureSetStorage:
        raise CtSeriesError(f"{path} is not an RT Structure Set (SOP Class {_sop_class(ds)})")
    return ds


def _masks(path: Path, ds: Dataset, grid: VoxelGrid, frame_uid: str) \
        -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, PlanarContours]]:
    """(masks by ROI name, interpreted type by ROI name, polygons by ROI name) of the structure set
    on the CT grid; the polygons are kept as drawn, for the DVH (planner.dose.structure_dvh)."""
    frames = _structure_set_frames(ds)
    if frames != {frame_uid}:
        raise CtSeriesError(f"RT Structure Set {path.name} is on frame of reference "
                            f"{', '.join(sorted(frames)) or '(none given)'}, the CT on {frame_uid}: "
                            f"its contours belong to another scan")
    names = {int(roi.ROINumber): str(roi.get("ROIName", "") or f"ROI {roi.ROINumber}")
             for roi in ds.get("StructureSetROISequence", []) if "ROINumber" in roi}
    types = {int(o.ReferencedROINumber): str(o.get("RTROIInterpretedType", "") or "")
             for o in ds.get("RTROIObservationsSequence", []) if "ReferencedROINumber" in o}
    seen: dict[str, int] = {}
    for number, name in names.items():
        if name in seen:
            raise CtSeriesError(f"RT Structure Set {path.name} names two ROIs '{name}' "
                                f"(numbers {seen[name]} and {number}); rename one")
        seen[name] = number
    x_mm, y_mm, z_mm = grid.x_mm, grid.y_mm, grid.z_mm
    dx, dy, dz = grid.spacing_mm
    masks: dict[str, np.ndarray] = {}
    shapes: dict[str, PlanarContours] = {}
    for item in ds.get("ROIContourSequence", []):
        contours = list(item.get("ContourSequence", []))
        if not contours:
            continue  # defined but never drawn: no structure to plan on
        number = int(item.get("ReferencedROINumber", -1))
        if number not in names:
            raise CtSeriesError(f"RT Structure Set {path.name}: contours of ROI number {number}, "
                                f"which its Structure Set ROI Sequence does not define")
        name = names[number]
        kinds = {str(c.get("ContourGeometricType", "")) for c in contours}
        if kinds == {"POINT"}:
            continue  # a marker (e.g. a reference point), not a volume
        mask = np.zeros(grid.shape, dtype=bool)
        planes: dict[int, list[np.ndarray]] = {}
        for index, contour in enumerate(contours, start=1):
            kind = str(contour.get("ContourGeometricType", ""))
            if kind != "CLOSED_PLANAR":
                raise CtSeriesError(f"RT Structure Set {path.name}, ROI '{name}', contour {index} is "
                                    f"{kind or 'of no geometric type'}: only CLOSED_PLANAR contours enclose a volume")
            try:
                points = np.array([float(v) for v in contour.ContourData], dtype=np.float64)
            except (AttributeError, TypeError, ValueError) as exc:
                raise CtSeriesError(f"RT Structure Set {path.name}, ROI '{name}', contour {index} "
                                    f"has unreadable Contour Data") from exc
            declared = int(contour.get("NumberOfContourPoints", points.size // 3) or 0)
            if points.size % 3 or points.size // 3 != declared or declared < 3:
                raise CtSeriesError(f"RT Structure Set {path.name}, ROI '{name}', contour {index} has "
                                    f"{points.size} Contour Data values for {declared} points")
            points = points.reshape(-1, 3)
            z = points[:, 2]
            if np.ptp(z) > CONTOUR_PLANARITY_TOLERANCE_MM:
                raise CtSeriesError(f"RT Structure Set {path.name}, ROI '{name}', contour {index} is not "
                                    f"in one axial plane (z from {z.min():g} to {z.max():g} mm)")
            k = int(np.argmin(np.abs(z_mm - z[0])))
            if abs(z_mm[k] - z[0]) > dz / 2 + 1e-6:
                raise CtSeriesError(f"RT Structure Set {path.name}, ROI '{name}', contour {index} at "
                                    f"z = {z[0]:g} mm lies outside the CT (slices z = {z_mm[0]:g} to "
                                    f"{z_mm[-1]:g} mm)")
            mask[:, :, k] ^= rasterise_polygon((points[:, 0] - x_mm[0]) / dx, (points[:, 1] - y_mm[0]) / dy,
                                               (x_mm.size, y_mm.size))
            planes.setdefault(k, []).append(points[:, :2].copy())
        masks[name] = mask
        # each contour on the CT slice it lies in, standing for that slice's slab
        shapes[name] = PlanarContours(tuple((float(z_mm[k]), tuple(planes[k])) for k in sorted(planes)), slab_mm=dz)
    if not masks:
        raise CtSeriesError(f"RT Structure Set {path.name} has no contours")
    return masks, {names[n]: t for n, t in types.items() if n in names and names[n] in masks}, shapes


def _isocentre(grid: VoxelGrid, masks: dict[str, np.ndarray], types: dict[str, str]) -> tuple[float, float, float]:
    """Centroid of the target (name starting PTV, else type PTV, CTV, GTV), else the volume centre."""
    target = next((n for n in masks if n.upper().startswith("PTV") and masks[n].any()), None)
    for kind in TARGET_TYPES:
        target = target or next((n for n in masks if types.get(n, "").upper() == kind and masks[n].any()), None)
    if target is None:
        return tuple(float((a[0] + a[-1]) / 2) for a in (grid.x_mm, grid.y_mm, grid.z_mm))
    i, j, k = np.nonzero(masks[target])
    return (float(grid.x_mm[i].mean()), float(grid.y_mm[j].mean()), float(grid.z_mm[k].mean()))


# ---------------------------------------------------------------------------------------- entry points

def load_ct_volume(folder_or_files, rtstruct_path=None) -> PlanningVolume:
    """The CT series (a folder, or its files) as relative electron density, with its structures.

    A folder's other files are ignored (non-DICOM files and non-CT objects); an explicitly given
    file must be DICOM. Without ``rtstruct_path`` the folder's RT Structure Set on the CT's frame of
    reference is used, if there is one. ROIs with no contours or only POINT contours (markers) are
    left out. ``isocentre_mm`` is the target's centroid (see _isocentre). Raises CtSeriesError.
    """
    cts, structure_sets, where = _gather(folder_or_files)
    cts = _one_series(cts, where)
    slices, pixel_spacing, dz, (rows, cols) = _sorted_slices(cts)
    first = slices[0].ds
    x0, y0 = (float(v) for v in first.ImagePositionPatient[:2])
    row_spacing, col_spacing = (float(v) for v in pixel_spacing)
    grid = VoxelGrid(x0 + np.arange(cols) * col_spacing, y0 + np.arange(rows) * row_spacing,
                     slices[0].z_mm + np.arange(len(slices)) * dz)
    hu = np.stack([_hu(s, (rows, cols)) for s in slices], axis=2)
    density = hu_to_relative_electron_density(hu).astype(np.float32)

    frame_uid, series_uid = str(first.FrameOfReferenceUID), str(first.SeriesInstanceUID)
    if rtstruct_path is not None:
        chosen = (Path(rtstruct_path), _read_structure_set(Path(rtstruct_path)))
    else:
        chosen = _choose_structure_set(structure_sets, frame_uid, series_uid)
    masks, types, shapes = _masks(*chosen, grid, frame_uid) if chosen else ({}, {}, {})

    patient = str(first.get("PatientName", "") or "anonymous")
    description = (f"CT {patient}, {len(slices)} slices, "
                   f"{col_spacing:g}×{row_spacing:g}×{dz:.3g} mm")
    return PlanningVolume(grid, density, masks, isocentre_mm=_isocentre(grid, masks, types),
                          description=description, frame_of_reference_uid=frame_uid,
                          study_instance_uid=str(first.get("StudyInstanceUID", "") or "") or None,
                          patient_name=str(first.get("PatientName", "") or ""),
                          patient_id=str(first.get("PatientID", "") or ""),
                          dicom_origin=_origin(chosen[1], first) if chosen else None, shapes=shapes)


# PatientStudy's fields (planner.dicom.identity) and the DICOM keywords they are read from
_PATIENT_STUDY_KEYWORDS = (
    ("patient_name", "PatientName"), ("patient_id", "PatientID"), ("patient_birth_date", "PatientBirthDate"),
    ("patient_sex", "PatientSex"), ("study_instance_uid", "StudyInstanceUID"), ("study_date", "StudyDate"),
    ("study_time", "StudyTime"), ("study_id", "StudyID"), ("accession_number", "AccessionNumber"),
    ("referring_physician_name", "ReferringPhysicianName"), ("study_description", "StudyDescription"))


def _origin(structure_set: Dataset, first_ct: Dataset) -> DicomOrigin:
    """The structure set's UID and ROI numbers and the CT's patient and study, for the exports."""
    rois = tuple((str(roi.get("ROIName", "") or f"ROI {roi.ROINumber}"), int(roi.ROINumber))
                 for roi in structure_set.get("StructureSetROISequence", []) if "ROINumber" in roi)
    study = tuple((field, str(first_ct.get(keyword, "") or "")) for field, keyword in _PATIENT_STUDY_KEYWORDS)
    return DicomOrigin(str(structure_set.SOPInstanceUID), rois, study)


def _resampled_axis(axis_mm: np.ndarray, spacing_mm: float) -> np.ndarray:
    """New voxel centres covering the old voxels' extent, centred on it."""
    old = float(axis_mm[1] - axis_mm[0]) if axis_mm.size > 1 else spacing_mm
    extent = axis_mm.size * old
    n = max(1, int(round(extent / spacing_mm)))
    centre = (axis_mm[0] + axis_mm[-1]) / 2.0
    return centre + (np.arange(n) - (n - 1) / 2.0) * spacing_mm


def _box_weights(width_voxels: float) -> np.ndarray | None:
    """Weights of a centred box ``width_voxels`` wide (partial voxels at its ends), or None if <= 1."""
    if width_voxels <= 1.0:
        return None
    half = width_voxels / 2.0
    reach = int(np.ceil(half - 0.5))
    offsets = np.arange(-reach, reach + 1, dtype=np.float64)
    weights = np.clip(np.minimum(offsets + 0.5, half) - np.maximum(offsets - 0.5, -half), 0.0, None)
    return weights / weights.sum()


def resample_volume(volume: PlanningVolume, spacing_mm) -> PlanningVolume:
    """The volume on a grid of ``spacing_mm`` (one number or x, y, z) over the same extent.

    Why: plans are computed on a coarser dose grid (e.g. 5 mm) than the CT (1-3 mm). Density is
    box-averaged over the new voxel's size, then interpolated trilinearly, so a 1 mm bone edge is not
    missed or over-weighted by point sampling; masks take the nearest old voxel, so they stay boolean;
    the structures' polygons (volume.shapes) are kept as drawn, for the DVH.
    """
    from scipy import ndimage

    spacing = np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (3,))
    if not np.all(spacing > 0):
        raise ValueError(f"spacing_mm must be positive, got {spacing_mm}")
    old_axes = (volume.grid.x_mm, volume.grid.y_mm, volume.grid.z_mm)
    old_spacing = np.array(volume.grid.spacing_mm)
    new_axes = [_resampled_axis(a, s) for a, s in zip(old_axes, spacing)]
    # fractional old indices of each new centre, per axis
    index = [(new - old[0]) / step for new, old, step in zip(new_axes, old_axes, old_spacing)]
    averaged = volume.density.astype(np.float32)
    for axis, (new_step, old_step) in enumerate(zip(spacing, old_spacing)):
        weights = _box_weights(new_step / old_step)
        if weights is not None:
            averaged = ndimage.correlate1d(averaged, weights, axis=axis, mode="nearest")
    coordinates = np.meshgrid(*index, indexing="ij")
    density = ndimage.map_coordinates(averaged, coordinates, order=1, mode="nearest").astype(np.float32)
    nearest = [np.clip(np.rint(i).astype(np.int64), 0, a.size - 1) for i, a in zip(index, old_axes)]
    masks = {name: mask[np.ix_(*nearest)] for name, mask in volume.masks.items()}
    label = "×".join(f"{s:g}" for s in spacing)
    return replace(volume, grid=VoxelGrid(*new_axes), density=density, masks=masks,
                   description=f"{volume.description}, resampled to {label} mm".lstrip(", "))
