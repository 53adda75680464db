"""Write an 8-bit grey B-mode image as a DICOM Ultrasound Image Storage object.

Why: the demo case must be a real DICOM file that goes through the same loader as clinical
images (and that other viewers accept), with its scale carried the way scanners carry it: a
Sequence of Ultrasound Regions in cm, not Pixel Spacing. The attribute set is the minimal one
dciodvfy accepts (shared/reference/dicom-notes.md section 3.2).

Deterministic output: with ``uid_seed`` and a fixed ``content_datetime`` the bytes depend only on
the inputs, so regenerating the demo gives a byte-identical file.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundImageStorage, generate_uid

from planner.core.atomic import atomic_write_bytes

from .calibration import PixelCalibration

__all__ = ["write_ultrasound_dicom", "mm_to_cm"]

IMPLEMENTATION_VERSION_NAME = "PLANNER_0_1"


def mm_to_cm(value_mm: float) -> float:
    """Millimetres to centimetres as an exact decimal shift (see calibration.cm_to_mm)."""
    from decimal import Decimal

    return float(Decimal(repr(float(value_mm))) / 10)


def seeded_uid(seed: str | None, purpose: str) -> str:
    if seed is None:
        return generate_uid()
    return generate_uid(entropy_srcs=[seed, purpose])


def _region(rows: int, cols: int, calibration: PixelCalibration) -> Dataset:
    """One 2-D tissue region covering the whole image; reference pixel = centre of pixel (0, 0)."""
    region = Dataset()
    region.RegionSpatialFormat = 1      # 2-D
    region.RegionDataType = 1           # tissue
    region.RegionFlags = 0
    region.RegionLocationMinX0 = 0
    region.RegionLocationMinY0 = 0
    region.RegionLocationMaxX1 = cols - 1
    region.RegionLocationMaxY1 = rows - 1
    region.ReferencePixelX0 = 0         # offset from the region's top-left corner
    region.ReferencePixelY0 = 0
    region.PhysicalUnitsXDirection = 3  # cm
    region.PhysicalUnitsYDirection = 3
    region.ReferencePixelPhysicalValueX = mm_to_cm(calibration.x0_mm)
    region.ReferencePixelPhysicalValueY = mm_to_cm(calibration.y0_mm)
    region.PhysicalDeltaX = mm_to_cm(calibration.mm_per_pixel_x)
    region.PhysicalDeltaY = mm_to_cm(calibration.mm_per_pixel_y)
    return region


def write_ultrasound_dicom(
    path: str | os.PathLike[str],
    pixels_u8: np.ndarray,
    calibration: PixelCalibration,
    patient_name: str,
    patient_id: str,
    *,
    uid_seed: str | None = None,
    content_datetime: _dt.datetime | None = None,
    study_description: str = "High-frequency dermal ultrasound",
    series_description: str = "B-mode",
    manufacturer: str = "Planner",
    body_part_examined: str | None = None,
    laterality: str = "",  # unknown: dciodvfy warns when empty and errors when absent
    transducer_frequency_khz: int | None = None,
    image_comments: str | None = None,
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "SMALL PARTS", "0001"),  # 0001 = 2-D imaging
) -> Path:
    """Write ``pixels_u8`` (rows, cols) uint8 as MONOCHROME2 Ultrasound Image Storage, atomically.

    The file is first written to a temporary file in the target folder and then moved over the
    target with ``os.replace``, so a crash never leaves a half-written image that a later load
    would take for a real one. Returns the path written.
    """
    pixels = np.asarray(pixels_u8)
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise ValueError(f"pixels_u8 must be a 2-D uint8 array, got {pixels.shape} {pixels.dtype}")
    rows, cols = pixels.shape
    if not (0 < rows <= 65535 and 0 < cols <= 65535):
        raise ValueError(f"image size {cols}x{rows} does not fit DICOM Rows/Columns")
    when = content_datetime or _dt.datetime.now()
    date, time = when.strftime("%Y%m%d"), when.strftime("%H%M%S")

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundImageStorage
    meta.MediaStorageSOPInstanceUID = seeded_uid(uid_seed, "sop-instance")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = seeded_uid("planner-implementation", "class")
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = list(image_type)  # DERIVED\SECONDARY for a picture converted to DICOM
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    ds.SOPClassUID = UltrasoundImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = time
    ds.AccessionNumber = ""
    ds.Modality = "US"
    ds.Manufacturer = manufacturer
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = study_description
    ds.SeriesDescription = series_description
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    if body_part_examined:  # "SKIN" is not a defined term, dciodvfy warns; omit by default
        ds.BodyPartExamined = body_part_examined
    if transducer_frequency_khz is not None:
        ds.TransducerData = [f"{transducer_frequency_khz / 1000:g} MHz linear"]
    ds.StudyInstanceUID = seeded_uid(uid_seed, "study")
    ds.SeriesInstanceUID = seeded_uid(uid_seed, "series")
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.Laterality = laterality
    ds.FrameOfReferenceUID = seeded_uid(uid_seed, "frame-of-reference")
    ds.PositionReferenceIndicator = ""
    if image_comments:
        ds.ImageComments = image_comments

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "00"
    ds.SequenceOfUltrasoundRegions = Sequence([_region(rows, cols, calibration)])
    if transducer_frequency_khz is not None:
        ds.SequenceOfUltrasoundRegions[0].TransducerFrequency = int(transducer_frequency_khz)
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()

    target = Path(path)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    atomic_write_bytes(target, buffer.getvalue())
    return target
