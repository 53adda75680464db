"""Write a PlanningVolume as a DICOM CT series (one file per z slice) with its RT Structure Set.

Why: a phantom or a resampled CT must reach other systems (a second-check TPS, the record-and-verify
system, matRad) the way clinical CTs do, and reading it back through load_ct_volume is the test that
our reader and writer agree. Densities become CT numbers through the inverse of the HU table in
planner.imaging.hu_to_density. A structure whose shape the volume carries (volume.shapes: the
phantom's analytic C and core, a structure set's polygons) is written as that shape's outline on
each slice, so another system's DVH sees the structure Planner's DVH samples; any other mask
becomes CLOSED_PLANAR contours that trace the edges of its voxels, so re-reading (pixel centre
inside polygon, even-odd) gives back the same voxels.

The patient, study, equipment and frame-of-reference attributes come from planner.dicom.identity
like every other object Planner writes; the whole set appears in the folder at once or not at all
(planner.dicom.export.staged_folder). With ``uid_seed`` and ``created`` fixed the bytes depend only
on the inputs (as for the demo case), so a regenerated phantom is byte-identical.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, RTStructureSetStorage

from planner.core.atomic import atomic_write_bytes
from planner.core.errors import PlannerError
from planner.core.volume import PlanningVolume
from planner.imaging.dicom_writer import seeded_uid
from planner.imaging.hu_to_density import relative_electron_density_to_hu

from .export import move_into_place, staged_folder
from .identity import (DETACHED_STUDY_MANAGEMENT, ExportIdentity, ImageReference, PatientStudy, dicom_date,
                       dicom_time, ds_text, encode, new_dataset, referenced)
from .rt_structure_set import _observation, _roi

__all__ = ["CtSeriesWriteError", "RT_STRUCTURE_SET_FILE", "write_ct_series", "mask_outlines",
           "interpreted_type", "ct_file_name"]

RT_STRUCTURE_SET_FILE = "rtstruct.dcm"
RESCALE_INTERCEPT_HU = -1024.0   # stored value 0 is -1024 HU, the table's first point
CT_SERIES_NUMBER = 1
RT_STRUCTURE_SET_SERIES_NUMBER = 902
_CT_FILE = re.compile(r"^CT\d{4,}\.dcm$")
# ROIDisplayColor, by ROI number in turn
_COLOURS = ([255, 0, 0], [0, 160, 255], [0, 200, 0], [255, 200, 0], [200, 0, 255], [255, 128, 0])


class CtSeriesWriteError(PlannerError, ValueError):
    """The volume cannot be written as a CT series; the message says why."""


def ct_file_name(index: int) -> str:
    """The file of the index-th slice along z (0-based), CT0001.dcm upward."""
    return f"CT{index + 1:04d}.dcm"


def interpreted_type(name: str) -> str:
    """RT ROI Interpreted Type (PS3.3 C.8.8.8): PTV for PTV…, EXTERNAL for Body/External, else ORGAN."""
    if name.upper().startswith("PTV"):
        return "PTV"
    if name.strip().lower() in ("body", "external"):
        return "EXTERNAL"
    return "ORGAN"


def mask_outlines(mask_xy: np.ndarray) -> list[np.ndarray]:
    """Closed outlines of a 2-D [x, y] mask along its pixels' edges, in pixel units (centres at
    integers, so corners at half-integers), each an (n, 2) array of corners without repeats of the
    first point and without collinear points.

    Why edges of pixel squares: no pixel centre lies on them, so filling the outlines by the even-odd
    rule (XOR of all of them) gives back exactly the mask, holes and touching corners included.
    """
    mask = np.asarray(mask_xy, dtype=bool)
    padded = np.pad(mask, 1)
    inside = padded[1:-1, 1:-1]
    # Corner (i, j) is the pixel (i, j)'s corner at (i - 1/2, j - 1/2). Each pixel's square is
    # walked (i,j)→(i+1,j)→(i+1,j+1)→(i,j+1); an edge is kept where the neighbour across it is out,
    # so shared edges cancel and the rest link into closed loops.
    sides = (
        (padded[1:-1, :-2], (0, 0), (1, 0)),   # neighbour at y - 1
        (padded[2:, 1:-1], (1, 0), (1, 1)),    # neighbour at x + 1
        (padded[1:-1, 2:], (1, 1), (0, 1)),    # neighbour at y + 1
        (padded[:-2, 1:-1], (0, 1), (0, 0)),   # neighbour at x - 1
    )
    outgoing: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for neighbour, start, end in sides:
        i, j = np.nonzero(inside & ~neighbour)
        for a, b in zip(i.tolist(), j.tolist()):
            outgoing.setdefault((a + start[0], b + start[1]), []).append((a + end[0], b + end[1]))
    for ends in outgoing.values():
        ends.sort()
    loops = []
    while outgoing:
        first = min(outgoing)
        loop, previous, current = [first], first, _take(outgoing, first, None)
        while current != first:
            loop.append(current)
            step = (current[0] - previous[0], current[1] - previous[1])
            previous, current = current, _take(outgoing, current, step)
        loops.append(_without_collinear(np.array(loop, dtype=np.float64)) - 0.5)
    return loops


def _take(outgoing, vertex, step):
    """Remove and return the next corner from ``vertex``: turning right first (towards the inside),
    so two regions touching only at a corner stay two loops."""
    ends = outgoing[vertex]
    if step is None or len(ends) == 1:
        chosen = ends[0]
    else:
        preference = [(-step[1], step[0]), step, (step[1], -step[0])]   # right, straight, left
        chosen = min(ends, key=lambda e: preference.index((e[0] - vertex[0], e[1] - vertex[1]))
                     if (e[0] - vertex[0], e[1] - vertex[1]) in preference else 3)
    ends.remove(chosen)
    if not ends:
        del outgoing[vertex]
    return chosen


def _without_collinear(points: np.ndarray) -> np.ndarray:
    before = points - np.roll(points, 1, axis=0)
    after = np.roll(points, -1, axis=0) - points
    turn = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
    return points[turn != 0]


def _identity(volume: PlanningVolume, patient_name: str, patient_id: str, uid_seed: str | None,
              created: _dt.datetime, study_description: str, first_slice_uid: str, series_uid: str) -> ExportIdentity:
    patient_study = PatientStudy(
        patient_name=patient_name, patient_id=patient_id, patient_birth_date="", patient_sex="",
        study_instance_uid=volume.study_instance_uid or seeded_uid(uid_seed, "study"),
        study_date=dicom_date(created), study_time=dicom_time(created), study_id="1", accession_number="",
        referring_physician_name="", study_description=study_description)
    return ExportIdentity(patient_study, volume.frame_of_reference_uid or seeded_uid(uid_seed, "frame-of-reference"),
                          ImageReference(CTImageStorage, first_slice_uid, series_uid), created)


def _ct_slice(identity: ExportIdentity, volume: PlanningVolume, k: int, sop_uid: str, series_uid: str,
              series_description: str, hu_xy: np.ndarray) -> Dataset:
    """One CT Image (PS3.3 A.3) of slice k."""
    grid = volume.grid
    dx, dy, dz = grid.spacing_mm
    ds = new_dataset(identity, CTImageStorage, sop_uid, "CT", series_description, CT_SERIES_NUMBER)
    ds.SeriesInstanceUID = series_uid     # one series for all slices (new_dataset makes a fresh one)
    when = identity.created
    # General Series (C.7.3.1): Patient Position is Type 2C for CT; the frame is the patient's LPS
    ds.PatientPosition = "HFS"
    ds.Laterality = ""   # Type 2C: unknown for a whole volume (dciodvfy warns when empty, errors when absent)
    # General Image (C.7.6.1)
    ds.InstanceNumber = k + 1
    ds.ContentDate, ds.ContentTime = dicom_date(when), dicom_time(when)
    # Image Plane (C.7.6.2)
    ds.PixelSpacing = [ds_text(dy), ds_text(dx)]          # row spacing (y), column spacing (x)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [ds_text(grid.x_mm[0]), ds_text(grid.y_mm[0]), ds_text(grid.z_mm[k])]
    ds.SliceThickness = ds_text(dz)
    ds.SliceLocation = ds_text(grid.z_mm[k])
    # CT Image (C.8.2.1) and Image Pixel (C.7.6.3)
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = grid.y_mm.size, grid.x_mm.size
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = ds_text(RESCALE_INTERCEPT_HU)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.KVP = ""                 # Type 2: computed, never acquired
    ds.AcquisitionNumber = ""   # Type 2
    ds.WindowCenter, ds.WindowWidth = "40", "400"   # soft tissue, for viewers
    stored = np.rint(hu_xy - RESCALE_INTERCEPT_HU).astype(np.int16)
    ds.PixelData = np.ascontiguousarray(stored.T).tobytes()   # rows along y, columns along x
    return ds


def _slice_outlines_mm(volume: PlanningVolume, mask: np.ndarray, shape, k: int) -> list[np.ndarray]:
    """Slice k's closed outlines in mm: the structure's own shape where the volume carries one (the
    phantom's C and core, a structure set's polygons), else its mask traced along the voxel edges."""
    grid = volume.grid
    if shape is not None:
        return [np.asarray(p, dtype=np.float64) for p in shape.outlines_mm(float(grid.z_mm[k]))]
    if not mask[:, :, k].any():
        return []
    dx, dy, _ = grid.spacing_mm
    return [np.column_stack([grid.x_mm[0] + o[:, 0] * dx, grid.y_mm[0] + o[:, 1] * dy])
            for o in mask_outlines(mask[:, :, k])]


def _contours(volume: PlanningVolume, mask: np.ndarray, slice_uids: list[str], shape=None) -> list[Dataset]:
    grid = volume.grid
    contours = []
    for k in range(grid.z_mm.size):
        for outline in _slice_outlines_mm(volume, mask, shape, k):
            values: list[str] = []
            for x, y in outline:
                values += [ds_text(x), ds_text(y), ds_text(grid.z_mm[k])]
            contour = Dataset()
            contour.ContourNumber = len(contours) + 1
            contour.ContourImageSequence = Sequence([referenced(CTImageStorage, slice_uids[k])])
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(outline)
            contour.ContourData = values
            contours.append(contour)
    return contours


def _structure_set(identity: ExportIdentity, volume: PlanningVolume, sop_uid: str, series_uid: str,
                   ct_series_uid: str, slice_uids: list[str]) -> Dataset:
    """RT Structure Set (PS3.3 A.19) of the volume's masks on the CT just written."""
    ds = new_dataset(identity, RTStructureSetStorage, sop_uid, "RTSTRUCT", "Planner structures",
                     RT_STRUCTURE_SET_SERIES_NUMBER)
    ds.SeriesInstanceUID = series_uid
    when = identity.created
    ds.InstanceNumber = 1
    ds.StructureSetLabel = "Planner"
    ds.StructureSetName = (volume.description or "Planner structures")[:64]
    ds.StructureSetDate, ds.StructureSetTime = dicom_date(when), dicom_time(when)
    series = Dataset()
    series.SeriesInstanceUID = ct_series_uid
    series.ContourImageSequence = Sequence([referenced(CTImageStorage, uid) for uid in slice_uids])
    study = referenced(DETACHED_STUDY_MANAGEMENT, identity.patient_study.study_instance_uid)
    study.RTReferencedSeriesSequence = Sequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = identity.frame_of_reference_uid
    frame.RTReferencedStudySequence = Sequence([study])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame])
    rois, roi_contours, observations = [], [], []
    for number, (name, mask) in enumerate(volume.masks.items(), start=1):
        shape = volume.shapes.get(name)
        roi = _roi(identity, number, name, "traced along the voxel edges of Planner's mask" if shape is None
                   else "the structure's own outline (not its voxels)")
        roi.ROIGenerationAlgorithm = "AUTOMATIC"
        rois.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ROIDisplayColor = _COLOURS[(number - 1) % len(_COLOURS)]
        contours = _contours(volume, np.asarray(mask, dtype=bool), slice_uids, shape)
        if contours:  # Type 3: an empty mask is an ROI without contours
            item.ContourSequence = Sequence(contours)
        roi_contours.append(item)
        observations.append(_observation(number, number, interpreted_type(name)))
    ds.StructureSetROISequence = Sequence(rois)
    ds.ROIContourSequence = Sequence(roi_contours)
    ds.RTROIObservationsSequence = Sequence(observations)
    ds.ApprovalStatus = "UNAPPROVED"
    return ds


def write_ct_series(volume: PlanningVolume, folder, patient_name: str, patient_id: str, *,
                    uid_seed: str | None = None, created: _dt.datetime | None = None,
                    overwrite: bool = False, study_description: str = "",
                    series_description: str = "Planner CT") -> list[Path]:
    """Write CT0001.dcm… (one per z slice, increasing z) and rtstruct.dcm into ``folder``.

    The volume's own Frame of Reference and Study Instance UIDs are kept when it has them (a CT
    written back stays in its patient's frame and study); otherwise they are made, like every other
    UID, from ``uid_seed`` (random without it). ``overwrite`` replaces an earlier series in the
    folder (all its CT####.dcm files, not only those of the same names). Returns the CT paths in z
    order, then the structure set's. Raises CtSeriesWriteError.
    """
    grid = volume.grid
    if volume.density.shape != grid.shape or any(m.shape != grid.shape for m in volume.masks.values()):
        raise CtSeriesWriteError(f"the density and masks must have the grid's shape {grid.shape}")
    if min(grid.shape) < 1 or grid.z_mm.size < 2:
        raise CtSeriesWriteError(f"a CT series needs at least two slices, the volume has shape {grid.shape}")
    if max(grid.x_mm.size, grid.y_mm.size) > 65535:
        raise CtSeriesWriteError(f"slices of {grid.x_mm.size}×{grid.y_mm.size} pixels do not fit DICOM")
    folder = Path(folder)
    created = created or _dt.datetime.now()
    hu = relative_electron_density_to_hu(volume.density)
    names = [ct_file_name(k) for k in range(grid.z_mm.size)] + [RT_STRUCTURE_SET_FILE]
    ct_series_uid = seeded_uid(uid_seed, "ct-series")
    slice_uids = [seeded_uid(uid_seed, f"ct-slice-{k}") for k in range(grid.z_mm.size)]
    identity = _identity(volume, patient_name, patient_id, uid_seed, created, study_description,
                         slice_uids[0], ct_series_uid)
    earlier = sorted(p.name for p in folder.glob("CT*.dcm") if _CT_FILE.match(p.name)) if folder.is_dir() else []
    replaced = sorted(set(names) | set(earlier))   # never leave an older series' slices beside this one
    with staged_folder(folder, replaced, overwrite, "a CT series", CtSeriesWriteError, ".ct-series-") as staging:
        for k, name in enumerate(names[:-1]):
            ds = _ct_slice(identity, volume, k, slice_uids[k], ct_series_uid, series_description, hu[:, :, k])
            atomic_write_bytes(staging / name, encode(ds))
        structure_set = _structure_set(identity, volume, seeded_uid(uid_seed, "rtstruct-instance"),
                                       seeded_uid(uid_seed, "rtstruct-series"), ct_series_uid, slice_uids)
        atomic_write_bytes(staging / RT_STRUCTURE_SET_FILE, encode(structure_set))
        move_into_place(staging, folder, names, replaced=replaced)
    return [folder / name for name in names]
