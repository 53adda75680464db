"""A plan package: the folder a plan leaves Planner in, written and signed by the functions the
command line and the window both call.

    RTPLAN.dcm  RTSTRUCT.dcm  RTDOSE.dcm  US.dcm     the DICOM export (planner.dicom.export), the
                                                     RT Plan carrying the plan itself (plan_payload),
                                                     US.dcm the planning image the contours reference
    report.pdf                                       the plan report (planner.report), DRAFT or SIGNED
    plan.json                                        the plan file with its calculation record
    [signatures.txt]                                 only when report.pdf could not be redrawn (below)

Why all or nothing: a folder with an RT Plan but no report, or a report of another plan, invites
treating from the wrong record. ``write_plan_package`` stages every file in a hidden folder inside
``out_dir`` and moves them in together; any failure leaves the folder as it was.

Signing and the report. The report is drawn from the plan, its dose, the image and the technique;
the package keeps only the plan (in RTPLAN.dcm and plan.json), so ``sign_plan_package`` redraws the
report only when given them again, and then only after checking they are what was signed: the plan
must equal the one embedded in RTPLAN.dcm and the dose must give the same calculation record, or
nothing is signed. Without them the DRAFT report is left as printed (the physician signed from it)
and ``signatures.txt`` says who signed and that the report predates it. Recomputing the dose here was
rejected: it may differ from the dose signed (other beam data or engine version) and takes minutes.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

import planner
from planner.core.atomic import atomic_write_bytes
from planner.core.errors import PlannerError
from planner.core.plan import Plan
from planner.core.plan_file import save_plan
from planner.dose.result import DoseResult
from planner.report import PlanStatus, ReportError, SignatureLine, render_plan_report, report_content, write_plan_report

from .export import (ALL_FILES, RT_DOSE_FILE, RT_PLAN_FILE, RT_STRUCTURE_SET_FILE, ULTRASOUND_FILE, ExportError,
                     export_plan, move_into_place, staged_folder)
from .audit_anchor import audit_head_text, sign_with_audit_anchor
from .keys import SigningIdentity
from .plan_payload import (PlanPayloadError, calculation_record, payload_disagreements, read_plan_payload,
                           same_calculation)
from .signatures import CREATOR, SignatureCheck, SignatureError, SignatureStatus, verify_dataset

REPORT_FILE = "report.pdf"
PLAN_FILE = "plan.json"
SIGNATURES_FILE = "signatures.txt"
PACKAGE_FILES = (*ALL_FILES, REPORT_FILE, PLAN_FILE, SIGNATURES_FILE)


class PackageError(PlannerError, ValueError):
    """A package that cannot be written or signed; the message says why. Nothing was changed."""


@dataclass(frozen=True)
class PlanPackage:
    """A package folder as the last write or signing left it.

    ``report_is_current``: report.pdf was drawn from RTPLAN.dcm's present signatures (False after
    signing without the report inputs: the report still shows DRAFT, ``signatures_file`` says why).
    """

    folder: Path
    rt_plan: Path
    rt_structure_set: Path
    rt_dose: Path
    ultrasound: Path | None   # the planning image (None only in a package written before it was carried)
    report: Path
    plan_file: Path
    rt_plan_uid: str
    status: SignatureStatus
    report_is_current: bool = True
    signatures_file: Path | None = None
    notes: tuple[str, ...] = ()


def write_plan_package(out_dir, plan: Plan, dose_result: DoseResult | None, planning_image, technique, *,
                       overwrite: bool = False, beam_data=None, predecessor_uid: str | None = None,
                       audit_anchor=None) -> PlanPackage:
    """Write the DICOM export, report.pdf (DRAFT) and plan.json into ``out_dir``, all or nothing.

    Arguments as for planner.dicom.export.export_plan; ``beam_data``: the BeamData the dose was
    computed with, for the report's PDD (else the technique's engine is asked). An existing package
    is replaced only with ``overwrite=True``. ``predecessor_uid``: the approved RT Plan this package
    revises (planner.review.revision). ``audit_anchor``: as for export_plan; the report prints the
    anchor too. Raises PackageError with the reason.
    """
    folder = Path(out_dir)
    with staged_folder(folder, PACKAGE_FILES, overwrite, "a plan package", PackageError,
                       ".planner-package-") as staging:
        try:
            content = report_content(plan, dose_result, planning_image, technique, beam_data=beam_data,
                                     status=PlanStatus.DRAFT)
            files = export_plan(plan, dose_result, planning_image, technique, staging, predecessor_uid=predecessor_uid,
                                audit_anchor=audit_anchor)
            written = dcmread(files.rt_plan)
            embedded, record = read_plan_payload(written)
            content = dataclasses.replace(content, audit_head=audit_head_text(written))
            if embedded != plan:
                raise PackageError("the plan read back from RTPLAN.dcm differs from the plan exported (a Planner "
                                   "bug); nothing was written")
            write_plan_report(staging / REPORT_FILE, content)
            save_plan(staging / PLAN_FILE, plan, record)
            names = [RT_PLAN_FILE, RT_STRUCTURE_SET_FILE, RT_DOSE_FILE, ULTRASOUND_FILE, REPORT_FILE, PLAN_FILE]
            move_into_place(staging, folder, names, replaced=PACKAGE_FILES)
        except (ExportError, ReportError, PlanPayloadError) as exc:
            raise PackageError(str(exc)) from exc
        except OSError as exc:
            raise PackageError(f"writing the package to {folder} failed, nothing was written: "
                               f"{exc.strerror or exc}") from exc
    return _package(folder, files.rt_plan_uid, SignatureStatus.UNSIGNED, notes=files.notes)


def sign_plan_package(package_dir, identity: SigningIdentity, role: str = CREATOR, *, plan: Plan | None = None,
                      dose_result: DoseResult | None = None, planning_image=None, technique=None,
                      beam_data=None, audit_anchor=None) -> PlanPackage:
    """Add a ``role`` signature to the package's RTPLAN.dcm and bring the report up to date.

    Refuses (PackageError, nothing changed) an RT Plan whose signatures are broken, one without a
    readable embedded plan or whose embedded plan disagrees with its own attributes, and report
    inputs that are not what is signed. With ``plan``, ``dose_result``, ``planning_image`` and
    ``technique`` (all four) report.pdf is redrawn with the signatures; without them it is left and
    signatures.txt written (see the module docstring). RTPLAN.dcm and report.pdf are each replaced
    atomically, the report right after the RT Plan; if the report cannot be written the previous
    RT Plan is put back. ``audit_anchor``: as for export_plan, the entry of this signing, whose hash
    the signature covers.
    """
    folder = Path(package_dir)
    rt_plan = folder / RT_PLAN_FILE
    inputs = (plan, dose_result, planning_image, technique)
    redraw = all(x is not None for x in inputs)
    if not redraw and any(x is not None for x in inputs):
        raise PackageError("to redraw the report give the plan, its dose, the image and the technique together")
    try:
        previous = rt_plan.read_bytes()
        fd, name = tempfile.mkstemp(prefix=f".{RT_PLAN_FILE}.signing-", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise PackageError(f"cannot sign {rt_plan}: {exc.strerror or exc}") from exc
    signed = Path(name)
    try:
        sign_with_audit_anchor(rt_plan, signed, identity, role, audit_anchor)
        ds = dcmread(signed)
        checks = verify_dataset(ds)  # before anything converts an element (signatures.py)
        embedded, record = read_plan_payload(ds)
        disagreements = payload_disagreements(ds, embedded, record)
        if disagreements:
            raise PackageError(f"{rt_plan}: the embedded plan disagrees with the RT Plan ("
                               f"{'; '.join(disagreements)}); nothing was signed")
        if redraw:
            _check_report_inputs(folder, embedded, record, plan, dose_result, planning_image)
            content = report_content(embedded, dose_result, planning_image, technique, beam_data=beam_data,
                                     signatures=signature_lines(checks), audit_head=audit_head_text(ds))
            outputs = {REPORT_FILE: render_plan_report(content)}
        else:
            outputs = {SIGNATURES_FILE: signatures_text(checks, str(ds.SOPInstanceUID)).encode("utf-8")}
        os.replace(signed, rt_plan)
        try:
            for file_name, data in outputs.items():
                atomic_write_bytes(folder / file_name, data)
            if redraw:
                (folder / SIGNATURES_FILE).unlink(missing_ok=True)  # the report now shows the signatures
        except BaseException:
            atomic_write_bytes(rt_plan, previous)
            raise
    except (SignatureError, PlanPayloadError, ReportError) as exc:
        raise PackageError(f"{rt_plan}: {exc}") from exc
    except (OSError, InvalidDicomError) as exc:
        raise PackageError(f"signing {rt_plan} failed, nothing was changed: {getattr(exc, 'strerror', None) or exc}") \
            from exc
    finally:
        signed.unlink(missing_ok=True)
    return _package(folder, str(ds.SOPInstanceUID), SignatureStatus.of(checks), report_is_current=redraw,
                    signatures_file=None if redraw else folder / SIGNATURES_FILE)


def signature_lines(checks: tuple[SignatureCheck, ...]) -> tuple[SignatureLine, ...]:
    """The report's line for each verified signature (role, signer, time, verdict, fingerprint)."""
    lines = []
    for check in checks:
        if check.signed_at is None or not check.certificate_fingerprint_sha256:
            raise PackageError(f"{check.label} cannot be reported: {check.problem or 'no time or certificate'}")
        lines.append(SignatureLine(role=check.role or check.purpose or "purpose not given", signer=check.signer,
                                   signed_at=check.signed_at, valid=check.valid,
                                   problem="" if check.valid else (check.problem or ""),
                                   fingerprint_sha256=check.certificate_fingerprint_sha256,
                                   test_certificate=check.is_test_certificate))
    return tuple(lines)


def signatures_text(checks: tuple[SignatureCheck, ...], rt_plan_uid: str) -> str:
    """signatures.txt: who signed RTPLAN.dcm, and that report.pdf was printed before."""
    lines = [f"Signatures of {RT_PLAN_FILE} (SOP Instance UID {rt_plan_uid}) as Planner {planner.__version__} "
             f"verified them when signing:"]
    for check in checks:
        when = ("at an unknown time" if check.signed_at is None
                else f"{check.signed_at.astimezone(_dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
        test = "; TEST certificate - not for clinical use" if check.is_test_certificate else ""
        verdict = "intact" if check.valid else f"BROKEN: {check.problem}"
        lines.append(f"- {check.label}: signed {when}, {verdict}, certificate SHA-256 "
                     f"{check.certificate_fingerprint_sha256 or 'unknown'}{test}")
    lines += [f"{REPORT_FILE} was printed before these signatures and shows the plan as DRAFT; it is not the "
              f"signed record.",
              f"The signatures are checked on opening {RT_PLAN_FILE} in Planner, or with dcmsign --verify."]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- helpers

def _check_report_inputs(folder: Path, embedded: Plan, record: dict, plan: Plan, dose: DoseResult,
                         planning_image) -> None:
    """The report must show what is signed: the same plan, the same calculation, the same image."""
    if plan != embedded:
        raise PackageError("the plan given for the report is not the plan in RTPLAN.dcm; nothing was signed")
    if not same_calculation(calculation_record(plan, dose), record):
        raise PackageError("the dose given for the report is not the one RTPLAN.dcm was exported with "
                           "(another time, model or prescription); nothing was signed")
    image = getattr(planning_image, "image", planning_image)
    uid = getattr(image, "sop_instance_uid", "")
    if uid:
        struct = dcmread(folder / RT_STRUCTURE_SET_FILE, stop_before_pixels=True)
        if {sop for _, sop in referenced_images(struct)} != {uid}:
            raise PackageError("the image given for the report is not the one the plan's contours reference; "
                               "nothing was signed")


def referenced_images(struct) -> set[tuple[str, str]]:
    """(Series Instance UID, SOP Instance UID) of every image an RT Structure Set's contours lie on."""
    return {(str(series.SeriesInstanceUID), str(item.ReferencedSOPInstanceUID))
            for frame in struct.get("ReferencedFrameOfReferenceSequence", [])
            for study in frame.get("RTReferencedStudySequence", [])
            for series in study.get("RTReferencedSeriesSequence", [])
            for item in series.get("ContourImageSequence", [])}


def _package(folder: Path, rt_plan_uid: str, status: SignatureStatus, **extra) -> PlanPackage:
    ultrasound = folder / ULTRASOUND_FILE
    return PlanPackage(folder=folder, rt_plan=folder / RT_PLAN_FILE, rt_structure_set=folder / RT_STRUCTURE_SET_FILE,
                       rt_dose=folder / RT_DOSE_FILE, ultrasound=ultrasound if ultrasound.exists() else None,
                       report=folder / REPORT_FILE, plan_file=folder / PLAN_FILE, rt_plan_uid=rt_plan_uid,
                       status=status, **extra)


__all__ = ["PACKAGE_FILES", "PLAN_FILE", "REPORT_FILE", "SIGNATURES_FILE", "PackageError", "PlanPackage",
           "referenced_images", "sign_plan_package", "signature_lines", "signatures_text", "write_plan_package"]
