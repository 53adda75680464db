"""Find a signed plan's planning image on the machine that opens it.

The embedded plan records where the image was on the planner's computer. On the physicist's
workstation, or after the study was fetched from the PACS, that path does not exist; the image is
then the ultrasound beside the RT Plan (US.dcm in a package, or the study's files as the PACS sent
them) that the plan's structure set references by SOP Instance UID. Nothing else is accepted: an
image the structure set does not name would put the outline on the wrong pixels.
"""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from planner.dicom.signed_plan import SignedPlan


def locate_planning_image(signed: SignedPlan) -> tuple[str | None, str]:
    """(path of the planning image or None, how it was found — for the review and the window)."""
    recorded = signed.plan.image_path
    if recorded and Path(recorded).is_file():
        return recorded, f"planning image at its recorded path {recorded}"
    folder = None if signed.path is None else Path(signed.path).parent
    if folder is None:
        return None, f"the planning image {recorded} is not on this computer"
    headers = list(_dicom_headers(folder))
    referenced = {uid for _, ds in headers if ds.get("Modality") == "RTSTRUCT"
                  and ds.get("StudyInstanceUID") == _study_of(signed) for uid in _referenced_uids(ds)}
    for path, ds in headers:
        if ds.get("Modality") == "US" and str(ds.get("SOPInstanceUID", "")) in referenced:
            return str(path), (f"the planning image {recorded} is not on this computer; used {path.name} beside the "
                               f"RT Plan, the ultrasound its structure set references")
    return None, (f"the planning image {recorded} is not on this computer, and no ultrasound beside the RT Plan is "
                  f"the one its structure set references")


def _study_of(signed: SignedPlan) -> str | None:
    try:
        return dcmread(signed.path, stop_before_pixels=True, specific_tags=["StudyInstanceUID"]).get(
            "StudyInstanceUID")
    except (InvalidDicomError, OSError):
        return None


def _dicom_headers(folder: Path):
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        try:
            yield path, dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError):
            continue


def _referenced_uids(ds: Dataset) -> set[str]:
    """Every Referenced SOP Instance UID anywhere in the dataset (the contour images)."""
    found: set[str] = set()
    for element in ds.iterall():
        if element.keyword == "ReferencedSOPInstanceUID" and element.value:
            found.add(str(element.value))
    return found
