"""Send a plan package to the PACS with its planning image, unless the PACS holds that image already.

Why: the course and the review at another workstation work from the PACS alone, so the PACS must
hold the image the contours were drawn on. An image that came from the PACS is there already and is
not stored twice; one planned from a file or a picture is sent with the plan. The question is a
C-FIND on the image's own UIDs (the ones the structure set references). A PACS that lets Planner
store but not query is sent the image anyway, and the report says it could not ask.

The window's Send to PACS calls :func:`send_plan_package`; nothing here knows Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from .export import RT_DOSE_FILE, RT_PLAN_FILE, RT_STRUCTURE_SET_FILE, ULTRASOUND_FILE
from .network import CancelCheck, PacsError, ProgressCallback, SendReport, holds_instance, send_files
from .package import PackageError, referenced_images
from .pacs_settings import PacsNode
from .signatures import SignatureStatus, verify_file

ALREADY_ON_PACS = "already on the PACS"
SENT = "sent"


class BrokenPlanNotSent(PackageError):
    """A signature of the RT Plan is broken: such a plan is never sent."""


class DraftNotAskedFor(PackageError):
    """The RT Plan is unsigned (a draft) and the user did not ask for a draft to be sent."""


def check_sendable(package_dir, send_draft: bool = False) -> SignatureStatus:
    """The one rule, for the window and the command line: a plan whose signature is broken is never
    sent; an unsigned plan (a draft) only when the user asked for it. The RT Plan is verified as it is
    on disk now. SignatureError when it cannot be read as a plan at all."""
    rt_plan = Path(package_dir) / RT_PLAN_FILE
    status = SignatureStatus.of(verify_file(rt_plan))
    if status is SignatureStatus.BROKEN:
        raise BrokenPlanNotSent(f"{rt_plan}: a signature is broken; the plan is not sent")
    if status is SignatureStatus.UNSIGNED and not send_draft:
        raise DraftNotAskedFor(f"{rt_plan} is unsigned (a draft); sign it first, or ask for the draft to be sent")
    return status


@dataclass(frozen=True)
class PackageSendReport:
    """What the PACS answered for each file, and what became of the planning image (``planning_image``:
    ALREADY_ON_PACS, SENT, or a sentence saying why the PACS does not hold it)."""

    files: SendReport
    planning_image: str

    @property
    def all_stored(self) -> bool:
        return self.files.all_stored and self.planning_image_on_pacs

    @property
    def planning_image_on_pacs(self) -> bool:
        return self.planning_image.startswith((ALREADY_ON_PACS, SENT))

    def summary(self) -> str:
        return f"{self.files.summary()}; planning image: {self.planning_image}"


def send_plan_package(node: PacsNode, package_dir, progress: ProgressCallback | None = None,
                      is_cancelled: CancelCheck | None = None, *, send_draft: bool = False) -> PackageSendReport:
    """C-STORE the package's RT Plan, Structure Set and Dose, and its US.dcm when the PACS lacks it.

    PackageError (nothing sent) when a file is missing, US.dcm is not the image the structure set
    references, or check_sendable refuses the plan; PacsError as for network.send_files.
    """
    folder = Path(package_dir)
    rt_files = [folder / name for name in (RT_PLAN_FILE, RT_STRUCTURE_SET_FILE, RT_DOSE_FILE)]
    missing = [path.name for path in rt_files if not path.is_file()]
    if missing:
        raise PackageError(f"{folder} is not a whole plan package (no {', '.join(missing)}); nothing was sent")
    check_sendable(folder, send_draft)
    study, series, sop = _planning_image_uids(folder / RT_STRUCTURE_SET_FILE)
    image_file = folder / ULTRASOUND_FILE
    carried = image_file.is_file()
    if carried:
        _check_carried_image(image_file, sop)
    if progress is not None:
        progress(0.0, "Asking the PACS for the planning image")
    asked = ""
    try:
        on_pacs = holds_instance(node, study, series, sop)
    except PacsError as err:    # a PACS may take objects but refuse queries: then send the image
        on_pacs, asked = False, f" (the PACS could not be asked whether it held it: {err})"
    if on_pacs:
        return PackageSendReport(send_files(node, rt_files, progress, is_cancelled), ALREADY_ON_PACS)
    if not carried:
        return PackageSendReport(send_files(node, rt_files, progress, is_cancelled),
                                 "not on the PACS and not in the package: a review elsewhere has no image")
    report = send_files(node, [image_file, *rt_files], progress, is_cancelled)
    image = report.outcomes[0]
    return PackageSendReport(report, f"{SENT}{asked}" if image.stored else f"not stored ({image.meaning})")


def _planning_image_uids(struct_path: Path) -> tuple[str, str, str]:
    """(study, series, SOP Instance UID) of the one image the structure set's contours lie on."""
    try:
        struct = dcmread(struct_path, stop_before_pixels=True)
    except (InvalidDicomError, OSError) as exc:
        raise PackageError(f"{struct_path} cannot be read ({exc}); nothing was sent") from exc
    images = referenced_images(struct)
    if len(images) != 1:
        raise PackageError(f"{struct_path.name} references {len(images)} images, not the one planning image; "
                           f"nothing was sent")
    (series, sop), = images
    study = str(struct.get("StudyInstanceUID", ""))
    if not (study and series and sop):
        raise PackageError(f"{struct_path.name} does not name its image's study, series and instance; nothing was sent")
    return study, series, sop


def _check_carried_image(image_file: Path, sop_instance_uid: str) -> None:
    try:
        carried = str(dcmread(image_file, stop_before_pixels=True).get("SOPInstanceUID", ""))
    except (InvalidDicomError, OSError) as exc:
        raise PackageError(f"{image_file} cannot be read ({exc}); nothing was sent") from exc
    if carried != sop_instance_uid:
        raise PackageError(f"{image_file.name} is not the image the plan's contours lie on (SOP Instance UID "
                           f"{carried or 'missing'}, expected {sop_instance_uid}); nothing was sent")


__all__ = ["ALREADY_ON_PACS", "SENT", "PackageSendReport", "send_plan_package"]
