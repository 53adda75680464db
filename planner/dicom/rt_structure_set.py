"""The RT Structure Set of a plan: the lesion outline and the skin line on the ultrasound plane.

Coordinates (shared/reference/dicom-notes.md §3.4): an ultrasound image has no Image Plane module,
so the image's own mm frame is the patient frame of this export — x lateral, y depth (increasing
downward), the image plane at z = 0 — in the planning image's Frame of Reference. The points are the
plan's vertices unchanged (mm), so the outline reads back exactly as drawn. Third-party viewers will
not lay these contours over an ultrasound image; Planner can, and R&V systems keep them with the plan.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import RTStructureSetStorage

from planner.core.outline import LesionOutline
from planner.core.skin_surface import SkinSurface

from .identity import (DETACHED_STUDY_MANAGEMENT, ExportIdentity, dicom_date, dicom_time, ds_text,
                       new_dataset, referenced)

LESION_ROI_NUMBER = 1
SKIN_ROI_NUMBER = 2
LESION_ROI_NAME = "Lesion"
SKIN_ROI_NAME = "Skin"
SERIES_NUMBER = 901


def contour_data(points_mm) -> list[str]:
    """(x, y) mm points as the flat x, y, z triplets of Contour Data (3006,0050), z = 0."""
    values: list[str] = []
    for x, y in points_mm:
        values += [ds_text(x), ds_text(y), "0"]
    return values


def build_rt_structure_set(identity: ExportIdentity, sop_instance_uid: str, label: str,
                           outline: LesionOutline, skin: SkinSurface) -> Dataset:
    """RT Structure Set IOD (PS3.3 A.19): the lesion (CLOSED_PLANAR) and the skin (OPEN_PLANAR)."""
    ds = new_dataset(identity, RTStructureSetStorage, sop_instance_uid, "RTSTRUCT",
                     "Planner structures", SERIES_NUMBER)
    when = identity.created
    ds.InstanceNumber = 1
    # Structure Set module (C.8.8.5)
    ds.StructureSetLabel = label[:16]
    ds.StructureSetName = label[:64]
    ds.StructureSetDate, ds.StructureSetTime = dicom_date(when), dicom_time(when)
    ds.ReferencedFrameOfReferenceSequence = Sequence([_referenced_frame(identity)])
    ds.StructureSetROISequence = Sequence([
        _roi(identity, LESION_ROI_NUMBER, LESION_ROI_NAME, "drawn or edited on the ultrasound by the physician"),
        _roi(identity, SKIN_ROI_NUMBER, SKIN_ROI_NAME, "found from the entry echo, corrected by the physician"),
    ])
    # ROI Contour module (C.8.8.6)
    ds.ROIContourSequence = Sequence([
        _roi_contour(identity, LESION_ROI_NUMBER, [255, 0, 0], "CLOSED_PLANAR", outline.vertices_mm),
        _roi_contour(identity, SKIN_ROI_NUMBER, [255, 200, 0], "OPEN_PLANAR", skin.points_mm),
    ])
    # RT ROI Observations module (C.8.8.8)
    ds.RTROIObservationsSequence = Sequence([
        _observation(1, LESION_ROI_NUMBER, "GTV"),
        _observation(2, SKIN_ROI_NUMBER, "EXTERNAL"),
    ])
    # Approval module (C.8.8.16): a structure set leaves Planner as a draft, like its plan
    ds.ApprovalStatus = "UNAPPROVED"
    return ds


def _referenced_frame(identity: ExportIdentity) -> Dataset:
    """Frame of reference → study → series → the ultrasound image (C.8.8.5, RT Referenced … Sequences)."""
    series = Dataset()
    series.SeriesInstanceUID = identity.image.series_instance_uid
    series.ContourImageSequence = Sequence([_image_item(identity)])
    study = referenced(DETACHED_STUDY_MANAGEMENT, identity.patient_study.study_instance_uid)
    study.RTReferencedSeriesSequence = Sequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = identity.frame_of_reference_uid
    frame.RTReferencedStudySequence = Sequence([study])
    return frame


def _image_item(identity: ExportIdentity) -> Dataset:
    # No Referenced Frame Number: the plane is the same for every frame of a cine loop.
    return referenced(identity.image.sop_class_uid, identity.image.sop_instance_uid)


def _roi(identity: ExportIdentity, number: int, name: str, description: str) -> Dataset:
    roi = Dataset()
    roi.ROINumber = number
    roi.ReferencedFrameOfReferenceUID = identity.frame_of_reference_uid
    roi.ROIName = name
    roi.ROIGenerationAlgorithm = "SEMIAUTOMATIC"
    roi.ROIGenerationDescription = description
    return roi


def _roi_contour(identity: ExportIdentity, number: int, colour: list[int], geometric_type: str,
                 points_mm) -> Dataset:
    contour = Dataset()
    contour.ContourNumber = 1
    contour.ContourImageSequence = Sequence([_image_item(identity)])
    contour.ContourGeometricType = geometric_type
    contour.NumberOfContourPoints = len(points_mm)
    contour.ContourData = contour_data(points_mm)
    item = Dataset()
    item.ReferencedROINumber = number
    item.ROIDisplayColor = colour
    item.ContourSequence = Sequence([contour])
    return item


def _observation(number: int, roi_number: int, interpreted_type: str) -> Dataset:
    observation = Dataset()
    observation.ObservationNumber = number
    observation.ReferencedROINumber = roi_number
    observation.RTROIInterpretedType = interpreted_type
    observation.ROIInterpreter = ""
    return observation
