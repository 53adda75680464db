"""The course's own DICOM objects, so the course can be rebuilt from the PACS alone (issue 17, point 5).

What the RT Plan does not hold and the course needs: each imaging session's image, its outline, skin
line and place on the timeline (baseline / before:N / after:N / followup:W, date, calibration source),
the fraction treatment records (RTRECORD-Fnn.dcm, planner.dicom.treatment_record), the longest
acceptable gap, the decision with the patient and any phases. ``prepare_course_objects`` gathers them as
files to C-STORE beside the plan package: the session images and the records, then one course object.

One course object per send, not an RT Structure Set per session image. Why:
- the course is one unit: its sessions are checked together (timeline order, one image a place, dates
  against the baseline), and max gap, decision and phases belong to no image. course_to_dict /
  course_from_dict read and write it whole, with its format version, so phases and whatever the course
  gains later travel without a change here; per-image objects would split it, and a lost one would
  silently shorten the course;
- an RT Structure Set needs a Frame of Reference in patient coordinates, which a 2-D ultrasound picture
  (a PNG session) does not have, and would hold the timeline place nowhere standard.
The object is a Raw Data Storage instance (PS3.3 A.37: data only its maker reads): the course JSON in a
private block as the RT Plan embeds its plan (planner.dicom.plan_payload; here group 3259, creator
"PLANNER COURSE 1", element xx00 UT), and every image, record and package object it rests on named by
UID in the payload (study, series, instance: what a C-GET needs) and, for any DICOM reader, in the Raw Data
module's Referenced Instance Sequence with its purpose (coding scheme 99PLANNER). Each send
writes a new instance in one series per RT Plan; the newest (sent_at) is the course.

Session images: a DICOM image is sent as it is when it is the plan's patient (an image of another
patient is refused); a picture (PNG, JPEG, TIFF) is converted: a DICOM Ultrasound image with its scale
when it has one, else a Secondary Capture image (no scale: a picture session is "not measurable until
calibrated"), with the plan's patient and study, its UIDs seeded by the RT Plan, the place and the
file's bytes, so sending the course again stores the same instance instead of a copy.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence
from pydicom.uid import RawDataStorage, SecondaryCaptureImageStorage, generate_uid

import planner
from planner.core.atomic import atomic_write_bytes
from planner.core.course import course_to_dict
from planner.core.course_imaging import OtherPatientError, check_same_patient
from planner.core.errors import PlannerError
from planner.core.plan import Plan
from planner.imaging import ImageLoadError, load_ultrasound, write_ultrasound_dicom

from .export import RT_DOSE_FILE, RT_PLAN_FILE, RT_STRUCTURE_SET_FILE, ULTRASOUND_FILE
from .identity import ExportIdentity, dicom_date, encode, new_dataset, new_uid, patient_study_of, referenced
from .network import holds_instance
from .plan_payload import PRIVATE_GROUP
from .treatment_record import RECORD_FILE   # as `planner course record-fraction` names them beside the plan

COURSE_CREATOR = "PLANNER COURSE 1"   # the layout's version is the creator's: a new layout gets a new creator
COURSE_ELEMENT = 0x00                 # (3259,xx00) UT: the payload JSON
PAYLOAD_FORMAT = "planner-course-object"
PAYLOAD_VERSION = 1
COURSE_SERIES_NUMBER = 905            # treatment records 904 (planner.dicom.treatment_record)
IMAGE_SERIES_NUMBER = 906             # converted session pictures
COURSE_FILE = "COURSE.dcm"
PURPOSE_SCHEME = "99PLANNER"          # a private coding scheme (PS3.16 8.2: "99" prefix) for why an instance is named


class CourseObjectError(PlannerError, ValueError):
    """The course cannot be turned into DICOM objects, or an object is not a readable course object."""


@dataclass(frozen=True)
class InstanceRef:
    """Where an object lives on the PACS: the unique keys a C-FIND / C-GET at IMAGE level needs."""

    study: str
    series: str
    sop_instance: str
    sop_class: str

    @classmethod
    def of(cls, ds: Dataset) -> "InstanceRef":
        return cls(*(str(ds.get(k, "") or "") for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                                                         "SOPClassUID")))

    def as_dict(self) -> dict[str, str]:
        return {"study": self.study, "series": self.series, "sop_instance": self.sop_instance,
                "sop_class": self.sop_class}


@dataclass(frozen=True)
class CourseFile:
    """One file to store, what it is in words ("the image at baseline", "fraction 2's record"), its instance."""

    path: Path
    what: str
    ref: InstanceRef


@dataclass(frozen=True)
class CourseObjects:
    """The course's files to store after the plan package (``parts``), then ``course_object`` last;
    ``package``: the package's instances the course object names (file name → instance), ``rt_plan_uid``
    the RT Plan the course is of."""

    parts: tuple[CourseFile, ...]
    course_object: CourseFile
    package: dict[str, InstanceRef]
    rt_plan_uid: str


@dataclass(frozen=True)
class CoursePayload:
    """A course object read back: the course as course_to_dict wrote it, and where its objects live."""

    sop_instance_uid: str
    sent_at: str
    patient_id: str
    rt_plan: InstanceRef
    package: dict[str, InstanceRef]          # package file name → its instance
    session_images: dict[str, InstanceRef]   # session time text ("after:2") → its image
    records: dict[int, InstanceRef]          # fraction number → its treatment record
    course: dict[str, Any]


def session_file(when_text: str) -> str:
    """The file name of the session's image in a fetched course ("after:2" → "SESSION-after-2.dcm")."""
    return f"SESSION-{when_text.replace(':', '-')}.dcm"


def prepare_course_objects(plan: Plan, package_dir, staging_dir, *, now: _dt.datetime | None = None) -> CourseObjects:
    """The files that put ``plan``'s course on the PACS, written into ``staging_dir`` where made here.

    Refused (CourseObjectError, nothing written that matters) when the plan has no course, the package
    lacks its RT objects, a session's image is missing or of another patient, or a recorded fraction has
    no treatment record beside the plan, of the RT Plan of its phase (this package's when not recorded).
    The records of a re-planned course's earlier phases are looked for beside this plan too."""
    folder, staging = Path(package_dir), Path(staging_dir)
    if plan.course is None:
        raise CourseObjectError("the plan has no treatment course: there is nothing of a course to send")
    rt_plan = _read(folder / RT_PLAN_FILE, "the package's RT Plan")
    package = _package_refs(folder, rt_plan)
    parts: list[CourseFile] = []
    images: dict[str, InstanceRef] = {}
    for session in plan.course.sessions:
        path, ref = _session_image(session, plan, rt_plan, staging)
        images[session.when.text] = ref
        parts.append(CourseFile(path, f"the image at {session.when.label}", ref))
    records: dict[int, InstanceRef] = {}
    for fraction in plan.course.records:
        path = folder / RECORD_FILE.format(number=fraction.number)
        if not path.is_file():
            raise CourseObjectError(f"fraction {fraction.number} is recorded but {path.name} is not beside the plan: "
                                    f"its treatment record cannot be sent; nothing was sent")
        record = _read(path, f"fraction {fraction.number}'s treatment record")
        # a re-planned course: a fraction is recorded against the RT Plan of its phase (this one if not recorded)
        expected = plan.course.phase_at(fraction.number).rt_plan_uid or str(rt_plan.SOPInstanceUID)
        planned = [str(i.ReferencedSOPInstanceUID) for i in record.get("ReferencedRTPlanSequence", [])]
        if planned != [expected] or int(record.get("InstanceNumber") or 0) != fraction.number:
            raise CourseObjectError(f"{path.name} is not fraction {fraction.number}'s record of RT Plan {expected}; "
                                    f"nothing was sent")
        records[fraction.number] = InstanceRef.of(record)
        parts.append(CourseFile(path, f"fraction {fraction.number}'s treatment record", records[fraction.number]))
    ds = build_course_object(rt_plan, plan, package, images, records, now=now)
    out = staging / COURSE_FILE
    atomic_write_bytes(out, encode(ds))
    return CourseObjects(tuple(parts), CourseFile(out, "the course object", InstanceRef.of(ds)), package,
                         str(rt_plan.SOPInstanceUID))


def build_course_object(rt_plan: Dataset, plan: Plan, package: dict[str, InstanceRef],
                        images: dict[str, InstanceRef], records: dict[int, InstanceRef], *,
                        now: _dt.datetime | None = None) -> Dataset:
    """The Raw Data Storage instance that carries ``plan``'s course (module doc)."""
    sent_at = now or _dt.datetime.now()
    plan_uid = str(rt_plan.SOPInstanceUID)
    identity = ExportIdentity(patient_study_of(rt_plan), "", None, sent_at.replace(microsecond=0))
    ds = new_dataset(identity, RawDataStorage, new_uid(), "OT", "Planner treatment course", COURSE_SERIES_NUMBER)
    _general_series(ds, generate_uid(entropy_srcs=[plan_uid, "treatment course"]))   # one series per RT Plan
    # Raw Data module (C.19.1) and Acquisition Context (C.7.6.14, Type 2: empty)
    ds.InstanceNumber = 1
    ds.ContentDate, ds.ContentTime = dicom_date(sent_at), sent_at.strftime("%H%M%S.%f")
    ds.CreatorVersionUID = generate_uid(entropy_srcs=["Planner", planner.__version__])
    ds.AcquisitionContextSequence = Sequence([])
    payload = {"format": PAYLOAD_FORMAT, "version": PAYLOAD_VERSION, "sent_at": sent_at.isoformat(),
               "rt_plan": InstanceRef.of(rt_plan).as_dict(),
               "package": {name: ref.as_dict() for name, ref in package.items()},
               "session_images": {when: ref.as_dict() for when, ref in images.items()},
               "records": {str(number): ref.as_dict() for number, ref in records.items()},
               "course": course_to_dict(plan.course)}
    ds.ReferencedInstanceSequence = _referenced_instances(
        [(ref, _purpose("PACKAGE", "Plan package object")) for ref in package.values()]
        + [(ref, _purpose("SESSION", "Imaging session image")) for ref in images.values()]
        + [(ref, _purpose("RECORD", "Fraction treatment record")) for ref in records.values()])
    block = ds.private_block(PRIVATE_GROUP, COURSE_CREATOR, create=True)
    block.add_new(COURSE_ELEMENT, "UT", json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True))
    return ds


def read_course_object(ds: Dataset) -> CoursePayload:
    """The course object's payload; CourseObjectError when ``ds`` is not one Planner can read."""
    uid = str(ds.get("SOPInstanceUID", "") or "")
    try:
        value = ds.private_block(PRIVATE_GROUP, COURSE_CREATOR)[COURSE_ELEMENT].value
        data = json.loads(value.decode("utf-8") if isinstance(value, bytes) else value)
    except KeyError:
        raise CourseObjectError(f"{uid} is not a Planner course object (no private creator {COURSE_CREATOR!r})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CourseObjectError(f"the course object {uid} is garbled (not JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != PAYLOAD_FORMAT or data.get("version") != PAYLOAD_VERSION:
        raise CourseObjectError(f"the course object {uid} is not of format {PAYLOAD_FORMAT} version {PAYLOAD_VERSION}")
    try:
        return CoursePayload(uid, str(data["sent_at"]), str(ds.get("PatientID", "") or ""),
                             InstanceRef(**data["rt_plan"]),
                             {name: InstanceRef(**ref) for name, ref in data["package"].items()},
                             {when: InstanceRef(**ref) for when, ref in data["session_images"].items()},
                             {int(number): InstanceRef(**ref) for number, ref in data["records"].items()},
                             data["course"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CourseObjectError(f"the course object {uid} lacks or garbles {exc}") from None


def not_held(node, refs) -> set[str]:
    """SOP Instance UIDs of ``refs`` the PACS does not list at a C-FIND on their unique keys: a C-STORE answered
    success is not proof the object was kept (Orthanc reports success for an instance its filter drops).
    PacsError when the PACS cannot be asked."""
    return {ref.sop_instance for ref in refs if not holds_instance(node, ref.study, ref.series, ref.sop_instance)}


# ----------------------------------------------------------------------------------------- parts

def _read(path: Path, what: str) -> Dataset:
    try:
        return dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError) as exc:
        raise CourseObjectError(f"{what} {path} cannot be read ({getattr(exc, 'strerror', None) or exc}); "
                                f"nothing was sent") from None


def _package_refs(folder: Path, rt_plan: Dataset) -> dict[str, InstanceRef]:
    """The package's RT objects and its planning image (the one the structure set's contours lie on,
    carried or already on the PACS): what a second workstation needs to show the plan again."""
    struct = _read(folder / RT_STRUCTURE_SET_FILE, "the package's")
    refs = {RT_PLAN_FILE: InstanceRef.of(rt_plan), RT_STRUCTURE_SET_FILE: InstanceRef.of(struct),
            RT_DOSE_FILE: InstanceRef.of(_read(folder / RT_DOSE_FILE, "the package's"))}
    images = [(str(series.SeriesInstanceUID), item)
              for frame in struct.get("ReferencedFrameOfReferenceSequence", [])
              for study in frame.get("RTReferencedStudySequence", [])
              for series in study.get("RTReferencedSeriesSequence", [])
              for item in series.get("ContourImageSequence", [])]
    if len({str(item.ReferencedSOPInstanceUID) for _, item in images}) != 1:
        raise CourseObjectError(f"{RT_STRUCTURE_SET_FILE} does not reference one planning image; nothing was sent")
    series, item = images[0]
    refs[ULTRASOUND_FILE] = InstanceRef(str(struct.StudyInstanceUID), series, str(item.ReferencedSOPInstanceUID),
                                        str(item.ReferencedSOPClassUID))
    return refs


def _session_image(session, plan: Plan, rt_plan: Dataset, staging: Path) -> tuple[Path, InstanceRef]:
    """The session's image as the DICOM file to send: itself, or the picture converted (module doc)."""
    source = Path(session.image_path)
    where = f"the image at {session.when.label} ({source})"
    if not source.is_file():
        raise CourseObjectError(f"{where} is not found; nothing was sent")
    try:
        header = dcmread(source, stop_before_pixels=True)
    except InvalidDicomError:
        header = None
    except OSError as exc:
        raise CourseObjectError(f"{where} cannot be read ({exc.strerror or exc}); nothing was sent") from None
    if header is not None:
        try:
            check_same_patient(plan.patient_id, plan.patient_name, str(header.get("PatientID", "") or ""),
                               str(header.get("PatientName", "") or ""))
        except OtherPatientError as err:
            raise CourseObjectError(f"{where}: {err}; nothing was sent") from None
        return source, InstanceRef.of(header)
    try:
        image = load_ultrasound(str(source))
    except ImageLoadError as err:
        raise CourseObjectError(f"{where}: {err}; nothing was sent") from None
    seed = "|".join((str(rt_plan.SOPInstanceUID), session.when.text, hashlib.sha256(source.read_bytes()).hexdigest()))
    out = staging / session_file(session.when.text)
    acquired = _dt.datetime.combine(session.acquired_on, _dt.time())
    comment = f"Converted by Planner from {source.name}, the course's image at {session.when.label}"
    pixels = np.asarray(image.frames[0])
    if image.calibration is not None and pixels.ndim == 2 and pixels.dtype == np.uint8:
        write_ultrasound_dicom(out, pixels, image.calibration, plan.patient_name, plan.patient_id, uid_seed=seed,
                               content_datetime=acquired, series_description="Course image (converted picture)",
                               image_comments=f"{comment}; scale: {image.calibration.source}",
                               image_type=("DERIVED", "SECONDARY", "SMALL PARTS", "0001"))
    elif image.calibration is not None:
        raise CourseObjectError(f"{where}: a scaled picture in colour or over 8 bits cannot be converted with its "
                                f"scale yet; nothing was sent")
    else:
        atomic_write_bytes(out, encode(_secondary_capture(rt_plan, pixels, seed, acquired, comment)))
    return out, InstanceRef.of(dcmread(out, stop_before_pixels=True))


def _secondary_capture(rt_plan: Dataset, pixels: np.ndarray, seed: str, acquired: _dt.datetime,
                       comment: str) -> Dataset:
    """A picture without a scale as a Secondary Capture Image (PS3.3 A.8.1) in the plan's patient and study."""
    if not (pixels.dtype == np.uint8 and (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3))
            or pixels.dtype == np.uint16 and pixels.ndim == 2):
        raise CourseObjectError(f"a picture of {pixels.dtype} {pixels.shape} cannot be stored as DICOM")
    identity = ExportIdentity(patient_study_of(rt_plan), "", None, acquired)
    ds = new_dataset(identity, SecondaryCaptureImageStorage, generate_uid(entropy_srcs=[seed, "instance"]), "OT",
                     "Course image (converted picture)", IMAGE_SERIES_NUMBER)
    _general_series(ds, generate_uid(entropy_srcs=[seed, "series"]))
    ds.ConversionType = "WSD"                       # SC Equipment (C.8.6.1): workstation
    ds.InstanceNumber = 1                           # General Image (C.7.6.1)
    ds.PatientOrientation = ""
    ds.ContentDate, ds.ContentTime = dicom_date(acquired), acquired.strftime("%H%M%S")
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.ImageComments = comment + "; no mm scale"
    colour = pixels.ndim == 3
    ds.SamplesPerPixel = 3 if colour else 1         # Image Pixel (C.7.6.3)
    ds.PhotometricInterpretation = "RGB" if colour else "MONOCHROME2"
    if colour:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = pixels.shape[:2]
    bits = 8 * pixels.dtype.itemsize
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.PixelData = np.ascontiguousarray(pixels).astype(pixels.dtype.newbyteorder("<")).tobytes()
    return ds


def _general_series(ds: Dataset, series_uid: str) -> None:
    """The series of an object without an image plane (no Frame of Reference module), laterality unknown."""
    del ds.FrameOfReferenceUID, ds.PositionReferenceIndicator
    ds.SeriesInstanceUID = series_uid
    ds.Laterality = ""   # General Series, Type 2C: dciodvfy errors when absent (planner.imaging.dicom_writer)


def _purpose(value: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, PURPOSE_SCHEME, meaning
    return code


def _referenced_instances(refs: list[tuple[InstanceRef, Dataset]]) -> Sequence:
    """Raw Data module's Referenced Instance Sequence (C.19.1): each instance with why it is referenced."""
    items = []
    for ref, purpose in refs:
        item = referenced(ref.sop_class, ref.sop_instance)
        item.PurposeOfReferenceCodeSequence = Sequence([purpose])
        items.append(item)
    return Sequence(items)


__all__ = ["COURSE_CREATOR", "COURSE_FILE", "CourseFile", "CourseObjectError", "CourseObjects",
           "CoursePayload", "InstanceRef", "build_course_object", "not_held", "prepare_course_objects",
           "read_course_object",
           "session_file"]
