"""Reading an exported plan back, and the checks between its objects that dciodvfy does not make.

dciodvfy validates one object at a time against its IOD; it does not see that the plan references
this structure set, that the dose references this plan, that cumulative meterset weights run from
0 to the final weight, or that "required for the first control point" attributes are there
(dicom-notes.md §2.4). ``cross_reference_problems`` checks those; export runs it on every set
before writing, and a reviewer can run it on any set received.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import RTPlanStorage, RTStructureSetStorage

# "Required for the first control point" (Type 1C) attributes of a beam's control point 0.
FIRST_CONTROL_POINT_KEYWORDS = (
    "NominalBeamEnergy", "GantryAngle", "GantryRotationDirection", "BeamLimitingDeviceAngle",
    "BeamLimitingDeviceRotationDirection", "PatientSupportAngle", "PatientSupportRotationDirection",
    "TableTopEccentricAngle", "TableTopEccentricRotationDirection", "TableTopPitchAngle",
    "TableTopPitchRotationDirection", "TableTopRollAngle", "TableTopRollRotationDirection",
    "BeamLimitingDevicePositionSequence", "IsocenterPosition", "SourceToSurfaceDistance")


def read_dataset(path) -> Dataset:
    return dcmread(Path(path))


def dose_grid_gy(rt_dose: Dataset) -> np.ndarray:
    """The stored dose in Gy: pixel values × Dose Grid Scaling (PS3.3 C.8.8.3)."""
    return rt_dose.pixel_array.astype(np.float64) * float(rt_dose.DoseGridScaling)


def dose_axes_mm(rt_dose: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Lateral (x) and depth (y) positions of the grid's pixel centres, mm, for the axis-aligned plane."""
    x0, y0 = float(rt_dose.ImagePositionPatient[0]), float(rt_dose.ImagePositionPatient[1])
    row_spacing, column_spacing = (float(v) for v in rt_dose.PixelSpacing)
    return x0 + np.arange(rt_dose.Columns) * column_spacing, y0 + np.arange(rt_dose.Rows) * row_spacing


def roi_points_mm(rt_struct: Dataset, roi_name: str) -> np.ndarray:
    """(n, 3) contour points of the named ROI (its first contour), mm."""
    numbers = [roi.ROINumber for roi in rt_struct.StructureSetROISequence if roi.ROIName == roi_name]
    if len(numbers) != 1:
        raise KeyError(f"{len(numbers)} ROIs called {roi_name!r}")
    for item in rt_struct.ROIContourSequence:
        if item.ReferencedROINumber == numbers[0]:
            return np.asarray([float(v) for v in item.ContourSequence[0].ContourData]).reshape(-1, 3)
    raise KeyError(f"ROI {roi_name!r} has no contour")


def cross_reference_problems(rt_plan: Dataset, rt_struct: Dataset, rt_dose: Dataset,
                             image: Dataset | None = None) -> list[str]:
    """Every inconsistency found within and between the objects, in words; [] when none."""
    problems: list[str] = []
    objects = {"RT Plan": rt_plan, "RT Structure Set": rt_struct, "RT Dose": rt_dose}
    if image is not None:
        objects["image"] = image
    problems += _shared_identity(objects)
    problems += _references(rt_plan, rt_struct, rt_dose, image)
    problems += _structure_set_numbers(rt_struct)
    problems += _plan_numbers(rt_plan)
    return problems


def _shared_identity(objects: dict[str, Dataset]) -> list[str]:
    problems = []
    for name, ds in objects.items():
        meta = getattr(ds, "file_meta", None)
        if meta is not None and meta.get("MediaStorageSOPInstanceUID") != ds.SOPInstanceUID:
            problems.append(f"{name}: Media Storage SOP Instance UID differs from its SOP Instance UID")
    for keyword in ("PatientID", "PatientName", "StudyInstanceUID", "FrameOfReferenceUID"):
        values = {name: str(ds.get(keyword, "")) for name, ds in objects.items()}
        if keyword == "FrameOfReferenceUID" and not values.get("image", "x"):
            del values["image"]  # an ultrasound need not declare one; the RT objects then define it
        if len(set(values.values())) > 1:
            problems.append(f"{keyword} differs between the objects: {values}")
    return problems


def _references(rt_plan: Dataset, rt_struct: Dataset, rt_dose: Dataset, image: Dataset | None) -> list[str]:
    problems = []
    structure_refs = [(r.ReferencedSOPClassUID, r.ReferencedSOPInstanceUID)
                      for r in rt_plan.get("ReferencedStructureSetSequence", [])]
    if structure_refs != [(RTStructureSetStorage, rt_struct.SOPInstanceUID)]:
        problems.append(f"the RT Plan references structure set(s) {structure_refs}, not "
                        f"{rt_struct.SOPInstanceUID}")
    plan_refs = [(r.ReferencedSOPClassUID, r.ReferencedSOPInstanceUID)
                 for r in rt_dose.get("ReferencedRTPlanSequence", [])]
    if plan_refs != [(RTPlanStorage, rt_plan.SOPInstanceUID)]:
        problems.append(f"the RT Dose references plan(s) {plan_refs}, not {rt_plan.SOPInstanceUID}")
    frame = rt_struct.FrameOfReferenceUID
    images = set()
    for ref_frame in rt_struct.get("ReferencedFrameOfReferenceSequence", []):
        if ref_frame.FrameOfReferenceUID != frame:
            problems.append("the structure set's Referenced Frame of Reference is not its own")
        for study in ref_frame.get("RTReferencedStudySequence", []):
            if study.ReferencedSOPInstanceUID != rt_struct.StudyInstanceUID:
                problems.append("the structure set references a different study")
            for series in study.get("RTReferencedSeriesSequence", []):
                if image is not None and series.SeriesInstanceUID != image.SeriesInstanceUID:
                    problems.append("the structure set references a different image series")
                images |= {(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID)
                           for i in series.get("ContourImageSequence", [])}
    if len(images) != 1:
        problems.append(f"the structure set should reference exactly one image, references {len(images)}")
    for roi in rt_struct.get("ROIContourSequence", []):
        for contour in roi.get("ContourSequence", []):
            refs = {(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID)
                    for i in contour.get("ContourImageSequence", [])}
            if refs != images:
                problems.append(f"ROI {roi.ReferencedROINumber}: its contour references {refs}, not the "
                                f"structure set's image")
    if image is not None and images != {(image.SOPClassUID, image.SOPInstanceUID)}:
        problems.append(f"the contours reference {images}, not the image {image.SOPInstanceUID}")
    return problems


def _structure_set_numbers(rt_struct: Dataset) -> list[str]:
    problems = []
    rois = {roi.ROINumber: roi for roi in rt_struct.get("StructureSetROISequence", [])}
    for roi in rois.values():
        if roi.ReferencedFrameOfReferenceUID != rt_struct.FrameOfReferenceUID:
            problems.append(f"ROI {roi.ROIName!r} lies on another frame of reference")
    for item in rt_struct.get("ROIContourSequence", []):
        if item.ReferencedROINumber not in rois:
            problems.append(f"a contour references ROI number {item.ReferencedROINumber}, which does not exist")
        for contour in item.get("ContourSequence", []):
            if len(contour.ContourData) != 3 * int(contour.NumberOfContourPoints):
                problems.append(f"ROI {item.ReferencedROINumber}: Number of Contour Points does not match "
                                f"its Contour Data")
    for observation in rt_struct.get("RTROIObservationsSequence", []):
        if observation.ReferencedROINumber not in rois:
            problems.append(f"an observation references ROI number {observation.ReferencedROINumber}, which "
                            f"does not exist")
    return problems


def _plan_numbers(rt_plan: Dataset) -> list[str]:
    problems = []
    dose_references = {d.DoseReferenceNumber for d in rt_plan.get("DoseReferenceSequence", [])}
    setups = {s.PatientSetupNumber for s in rt_plan.get("PatientSetupSequence", [])}
    beams = {b.BeamNumber: b for b in rt_plan.get("BeamSequence", [])}
    applications = {a.ApplicationSetupNumber: a for a in rt_plan.get("ApplicationSetupSequence", [])}
    sources = {s.SourceNumber for s in rt_plan.get("SourceSequence", [])}
    for group in rt_plan.get("FractionGroupSequence", []):
        for ref in group.get("ReferencedDoseReferenceSequence", []):
            if ref.ReferencedDoseReferenceNumber not in dose_references:
                problems.append(f"fraction group {group.FractionGroupNumber} references a missing dose reference")
        beam_refs = [r.ReferencedBeamNumber for r in group.get("ReferencedBeamSequence", [])]
        if int(group.NumberOfBeams) != len(beam_refs) or set(beam_refs) != set(beams):
            problems.append(f"fraction group {group.FractionGroupNumber}: Number of Beams {group.NumberOfBeams}, "
                            f"referenced beams {beam_refs}, beams {sorted(beams)}")
        app_refs = [r.ReferencedBrachyApplicationSetupNumber
                    for r in group.get("ReferencedBrachyApplicationSetupSequence", [])]
        if int(group.NumberOfBrachyApplicationSetups) != len(app_refs) or set(app_refs) != set(applications):
            problems.append(f"fraction group {group.FractionGroupNumber}: Number of Brachy Application Setups "
                            f"{group.NumberOfBrachyApplicationSetups}, referenced {app_refs}, present "
                            f"{sorted(applications)}")
    for number, beam in beams.items():
        if beam.get("ReferencedPatientSetupNumber") not in setups:
            problems.append(f"beam {number} references a missing patient setup")
        problems += [f"beam {number}: {p}" for p in _weights(
            beam.get("ControlPointSequence", []), "CumulativeMetersetWeight",
            beam.get("FinalCumulativeMetersetWeight"), beam.get("NumberOfControlPoints"))]
        first = beam.ControlPointSequence[0] if beam.get("ControlPointSequence") else Dataset()
        missing = [k for k in FIRST_CONTROL_POINT_KEYWORDS if k not in first]
        if missing:
            problems.append(f"beam {number}: control point 0 lacks {', '.join(missing)}")
    for number, application in applications.items():
        for channel in application.get("ChannelSequence", []):
            if channel.ReferencedSourceNumber not in sources:
                problems.append(f"application setup {number}: channel {channel.ChannelNumber} references a "
                                f"missing source")
            problems += [f"application setup {number}, channel {channel.ChannelNumber}: {p}" for p in _weights(
                channel.get("BrachyControlPointSequence", []), "CumulativeTimeWeight",
                channel.get("FinalCumulativeTimeWeight"), channel.get("NumberOfControlPoints"))]
    return problems


def _weights(points, keyword: str, final, declared_count) -> list[str]:
    """Control points 0…n−1, weights non-decreasing from 0 to the final cumulative weight."""
    problems = []
    if declared_count is None or int(declared_count) != len(points) or len(points) < 2:
        problems.append(f"Number of Control Points {declared_count} for {len(points)} control points")
    if [int(p.ControlPointIndex) for p in points] != list(range(len(points))):
        problems.append("control point indices are not 0, 1, …")
    weights = [float(p.get(keyword)) for p in points if p.get(keyword) not in (None, "")]
    if len(weights) != len(points):
        problems.append(f"a control point has no {keyword}")
    elif weights:
        if weights[0] != 0 or any(b < a for a, b in zip(weights, weights[1:])):
            problems.append(f"{keyword} does not rise from 0: {weights}")
        if final is None or weights[-1] != float(final):
            problems.append(f"the last {keyword} {weights[-1]} is not the final weight {final}")
    return problems
