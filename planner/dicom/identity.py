"""Who and where an exported plan belongs to: the patient, study, frame of reference and image that
every exported object must share, and the common DICOM modules filled from them.

Why one place: a plan, structure set and dose that disagree on the patient, the study or the frame
of reference are worse than no export, and dciodvfy checks each object alone, never the set.
The patient and study attributes are copied from the planning image (when it is DICOM) so the RT
objects join the image's study instead of starting a second one for the same examination.
"""

from __future__ import annotations

import datetime as _dt
import io
from dataclasses import dataclass

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid
from pydicom.valuerep import format_number_as_ds

import planner
from planner.core.errors import PlannerError

CHARACTER_SET = "ISO_IR 192"  # UTF-8: patient names are not always ASCII
MANUFACTURER = "Planner"
IMPLEMENTATION_VERSION_NAME = "PLANNER_" + planner.__version__.replace(".", "_")
# RT Referenced Study items (PS3.3 C.8.8.5) reference the study by the retired Detached Study
# Management SOP Class, as the pydicom RT Structure Set sample and common TPS exports do.
DETACHED_STUDY_MANAGEMENT = "1.2.840.10008.3.1.2.3.1"


class IdentityError(PlannerError, ValueError):
    """The planning image and the plan disagree on who or what they are."""


@dataclass(frozen=True)
class ImageReference:
    """The ultrasound image the outline was drawn on, as the RT objects reference it."""

    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str


@dataclass(frozen=True)
class PatientStudy:
    """Patient (PS3.3 C.7.1.1) and General Study (C.7.2.1) attributes, shared by every object."""

    patient_name: str
    patient_id: str
    patient_birth_date: str
    patient_sex: str
    study_instance_uid: str
    study_date: str
    study_time: str
    study_id: str
    accession_number: str
    referring_physician_name: str
    study_description: str


@dataclass(frozen=True)
class ExportIdentity:
    """Everything the objects of one export share. ``created`` stamps every object alike."""

    patient_study: PatientStudy
    frame_of_reference_uid: str
    image: ImageReference | None   # None: an object that references no image (a treatment record)
    created: _dt.datetime


def new_uid() -> str:
    """A fresh UID for every exported instance, series and reference (never reused)."""
    return generate_uid()


def ds_text(value: float) -> str:
    """A Decimal String of at most 16 characters, as precise as that allows (PS3.5 6.2, DS)."""
    return format_number_as_ds(float(value))


def dicom_date(when: _dt.datetime) -> str:
    return when.strftime("%Y%m%d")


def dicom_time(when: _dt.datetime) -> str:
    return when.strftime("%H%M%S")


def read_image_identity(path: str, expected_sop_instance_uid: str) \
        -> tuple[ImageReference, PatientStudy, str | None, Dataset]:
    """(image reference, patient and study, frame of reference UID or None, header) of a DICOM image.

    Refuses a file whose SOP Instance UID is not the one the plan was drawn on: the file was
    replaced since it was loaded, and the contours would point at a different image.
    """
    try:
        header = dcmread(path, stop_before_pixels=True)
    except Exception as exc:
        raise IdentityError(f"cannot re-read the planning image {path}: {exc}") from exc
    sop_instance_uid = str(header.get("SOPInstanceUID", "") or "")
    if sop_instance_uid != expected_sop_instance_uid:
        raise IdentityError(f"the planning image {path} is no longer the image the plan was drawn on "
                            f"(SOP Instance UID {sop_instance_uid or 'missing'}, expected "
                            f"{expected_sop_instance_uid}); reopen it and check the outline")
    for keyword in ("SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID"):
        if not header.get(keyword):
            raise IdentityError(f"the planning image {path} has no {keyword}: it cannot be referenced")

    def text(keyword: str) -> str:
        return _text(header, keyword)

    reference = ImageReference(text("SOPClassUID"), sop_instance_uid, text("SeriesInstanceUID"))
    return reference, patient_study_of(header), (text("FrameOfReferenceUID") or None), header


def patient_study_of(header: Dataset) -> PatientStudy:
    """The Patient and General Study attributes of a DICOM object, as the objects made from it share them."""
    def text(keyword: str) -> str:
        return _text(header, keyword)

    return PatientStudy(
        patient_name=text("PatientName"), patient_id=text("PatientID"),
        patient_birth_date=text("PatientBirthDate"), patient_sex=text("PatientSex"),
        study_instance_uid=text("StudyInstanceUID"), study_date=text("StudyDate"),
        study_time=text("StudyTime"), study_id=text("StudyID"), accession_number=text("AccessionNumber"),
        referring_physician_name=text("ReferringPhysicianName"), study_description=text("StudyDescription"))


def _text(header: Dataset, keyword: str) -> str:
    return str(header.get(keyword, "") or "")


def new_dataset(identity: ExportIdentity, sop_class_uid: str, sop_instance_uid: str, modality: str,
                series_description: str, series_number: int) -> Dataset:
    """A dataset with file meta, SOP Common, Patient, General Study, RT Series, General Equipment and
    Frame of Reference filled; the caller adds its IOD's own modules."""
    when = identity.created
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid  # must equal SOPInstanceUID (dciodvfy)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME

    ds = Dataset()
    ds.file_meta = meta
    # SOP Common (PS3.3 C.12.1)
    ds.SpecificCharacterSet = CHARACTER_SET
    ds.InstanceCreationDate, ds.InstanceCreationTime = dicom_date(when), dicom_time(when)
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    # Patient (C.7.1.1) and General Study (C.7.2.1): the planning image's, so all objects agree
    ps = identity.patient_study
    ds.PatientName = ps.patient_name
    ds.PatientID = ps.patient_id
    ds.PatientBirthDate = ps.patient_birth_date
    ds.PatientSex = ps.patient_sex
    ds.StudyInstanceUID = ps.study_instance_uid
    ds.StudyDate = ps.study_date
    ds.StudyTime = ps.study_time
    ds.StudyID = ps.study_id
    ds.AccessionNumber = ps.accession_number
    ds.ReferringPhysicianName = ps.referring_physician_name
    if ps.study_description:
        ds.StudyDescription = ps.study_description
    # RT Series (C.8.8.1): one series per RT object
    ds.Modality = modality
    ds.SeriesInstanceUID = new_uid()
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.SeriesDate, ds.SeriesTime = dicom_date(when), dicom_time(when)
    ds.OperatorsName = ""
    # General Equipment (C.7.5.1)
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MANUFACTURER
    ds.SoftwareVersions = planner.__version__
    # Frame of Reference (C.7.4.1): the ultrasound plane's
    ds.FrameOfReferenceUID = identity.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    return ds


def encode(ds: Dataset) -> bytes:
    """The dataset as a DICOM Part 10 file (Explicit VR Little Endian)."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def referenced(sop_class_uid: str, sop_instance_uid: str) -> Dataset:
    """One item of a Referenced … Sequence (SOP Instance Reference Macro, PS3.3 Table 10-11)."""
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class_uid
    item.ReferencedSOPInstanceUID = sop_instance_uid
    return item
