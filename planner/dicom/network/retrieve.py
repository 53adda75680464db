"""C-GET (PS3.4 C.4.3): the PACS sends instances back over our association, with us in the SCP
role for their storage SOP classes (PS3.7 D.3.3.4 SCP/SCU role selection).

Why a module of its own: objects travel byte for byte. One presentation context is offered per
transfer syntax so the PACS can send what it stores without transcoding, and each received
encoded dataset is written as it came, behind a new file meta header (PS3.10 7.1), so a digital
signature (PS3.15) still verifies after the round trip. A retrieve stopped part-way says which
complete files were written.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from pydicom import uid as _uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pynetdicom import evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet

from planner.core.atomic import atomic_write_bytes
from planner.core.errors import Cancelled

from ..pacs_settings import PacsNode
from .association import (IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, UNCOMPRESSED, CancelCheck,
                          Context, PacsError, ProgressCallback, held, lost, open_association)
from .query import InstanceSummary, check_uid
from .status import status_meaning, status_text

LOG = logging.getLogger(__name__)


class RetrieveCancelled(Cancelled):
    """The caller's ``is_cancelled()`` stopped a C-GET; ``retrieved`` lists the complete files.

    Not a PacsError: the PACS did nothing wrong, and a catcher of PacsError must not report a
    cancel as a failure."""

    def __init__(self, message: str, *, retrieved: tuple[Path, ...] = ()) -> None:
        super().__init__(message)
        self.retrieved = retrieved


class RetrieveIncomplete(PacsError):
    """The PACS finished a C-GET with failed sub-operations; ``retrieved`` lists what came."""


_IMAGE_SYNTAXES = UNCOMPRESSED + (
    _uid.JPEGBaseline8Bit, _uid.JPEGExtended12Bit, _uid.JPEGLosslessSV1, _uid.JPEGLSLossless,
    _uid.JPEGLSNearLossless, _uid.JPEG2000Lossless, _uid.JPEG2000, _uid.RLELossless)
# What a skin-planning study holds: ultrasound (and its screen captures) plus RT objects,
# reports and the documents a record-and-verify system files beside them.
_IMAGE_CLASSES = (
    _uid.UltrasoundImageStorage, _uid.UltrasoundMultiFrameImageStorage,
    _uid.SecondaryCaptureImageStorage, _uid.MultiFrameTrueColorSecondaryCaptureImageStorage,
    _uid.MultiFrameGrayscaleByteSecondaryCaptureImageStorage, _uid.VLPhotographicImageStorage,
    _uid.RTImageStorage)
_OTHER_CLASSES = (
    _uid.RTPlanStorage, _uid.RTIonPlanStorage, _uid.RTStructureSetStorage, _uid.RTDoseStorage,
    _uid.RTBeamsTreatmentRecordStorage, _uid.RTBrachyTreatmentRecordStorage,
    _uid.RTTreatmentSummaryRecordStorage, _uid.EncapsulatedPDFStorage, _uid.BasicTextSRStorage,
    _uid.EnhancedSRStorage, _uid.ComprehensiveSRStorage, _uid.KeyObjectSelectionDocumentStorage,
    _uid.GrayscaleSoftcopyPresentationStateStorage, _uid.RawDataStorage)
RETRIEVABLE_SOP_CLASSES = _IMAGE_CLASSES + _OTHER_CLASSES


def _get_contexts() -> list[Context]:
    """One context per (class, transfer syntax): the PACS then finds the syntax it stores and
    sends the object untouched, instead of transcoding it to a single negotiated one."""
    contexts = [Context(StudyRootQueryRetrieveInformationModelGet, UNCOMPRESSED)]
    for sop_class in _IMAGE_CLASSES:
        contexts += [Context(sop_class, (ts,)) for ts in _IMAGE_SYNTAXES]
    for sop_class in _OTHER_CLASSES:
        contexts += [Context(sop_class, (ts,)) for ts in UNCOMPRESSED]
    return contexts


def part10_bytes(sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str,
                 encoded_dataset: bytes, source_ae_title: str = "") -> bytes:
    """A DICOM file (PS3.10 7.1): preamble, DICM, file meta, then the dataset bytes unchanged."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    if source_ae_title:
        meta.SourceApplicationEntityTitle = source_ae_title
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return b"\x00" * 128 + b"DICM" + buffer.getvalue() + encoded_dataset


class _Receiver:
    """The C-STORE SCP side of a C-GET: writes each instance atomically as it arrives."""

    def __init__(self, out_dir: Path, source_ae_title: str) -> None:
        self.out_dir = out_dir
        self.source_ae_title = source_ae_title
        self.written: list[Path] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, event) -> int:
        request = event.request
        sop_instance = str(request.AffectedSOPInstanceUID or "")
        sop_class = str(request.AffectedSOPClassUID or "")
        transfer_syntax = str(event.context.transfer_syntax)  # the one this context negotiated
        try:
            check_uid(sop_instance, "SOP Instance UID")  # it names the file: no path tricks
            check_uid(sop_class, "SOP Class UID")
            check_uid(transfer_syntax, "Transfer Syntax UID")
        except ValueError as exc:
            with self._lock:
                self.refused.append(str(exc))
            return 0xA900  # PS3.4 B.2.3: data set does not match SOP Class
        data = part10_bytes(sop_class, sop_instance, transfer_syntax,
                            event.encoded_dataset(include_meta=False), self.source_ae_title)
        target = self.out_dir / f"{sop_instance}.dcm"
        try:
            atomic_write_bytes(target, data)
        except OSError as exc:
            with self._lock:
                self.refused.append(f"cannot write {target.name}: {exc.strerror or exc}")
            return 0xA700  # PS3.4 B.2.3: out of resources
        with self._lock:
            self.written.append(target)
        return 0x0000


def _retrieve(node: PacsNode, identifier: Dataset, out_dir: str | Path, what: str,
              progress: ProgressCallback | None, is_cancelled: CancelCheck | None) -> tuple[Path, ...]:
    if is_cancelled is not None and is_cancelled():
        raise RetrieveCancelled(f"retrieve of {what} cancelled before it started")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(out, node.called_ae_title)
    assoc, watch = open_association(node, _get_contexts(), scp_roles=RETRIEVABLE_SOP_CLASSES,
                                    handlers=[(evt.EVT_C_STORE, receiver)], purpose="C-GET")
    final: Dataset | None = None
    cancel_sent = False
    with held(assoc):
        for status, _ in assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet):
            if "Status" not in status:
                raise PacsError(lost(node, watch, f"C-GET of {what}"),
                                retrieved=tuple(receiver.written))
            if status_meaning(int(status.Status), "C-GET")[0] == "pending":
                _report_get_progress(status, progress)
                if not cancel_sent and is_cancelled is not None and is_cancelled():
                    assoc.send_c_cancel(1, query_model=StudyRootQueryRetrieveInformationModelGet)
                    cancel_sent = True
            else:
                final = status
    written = tuple(receiver.written)
    return _judge_get(node, final, written, receiver.refused, what, progress)


def _report_get_progress(status: Dataset, progress: ProgressCallback | None) -> None:
    if progress is None:
        return
    done = sum(int(status.get(k, 0) or 0) for k in ("NumberOfCompletedSuboperations",
                                                    "NumberOfFailedSuboperations",
                                                    "NumberOfWarningSuboperations"))
    total = done + int(status.get("NumberOfRemainingSuboperations", 0) or 0)
    if total:
        progress(done / total, f"Received {done} of {total}")


def _judge_get(node: PacsNode, final: Dataset | None, written: tuple[Path, ...], refused: list[str],
               what: str, progress: ProgressCallback | None) -> tuple[Path, ...]:
    """PS3.4 C.4.3.1.4: success, cancel, warning (some sub-operations failed) or failure."""
    if final is None:
        raise PacsError(f"{node} ended the C-GET of {what} without a final status", retrieved=written)
    code = int(final.Status)
    category, _ = status_meaning(code, "C-GET")
    failed = int(final.get("NumberOfFailedSuboperations", 0) or 0)
    why = f" ({refused[0]})" if refused else ""
    if category == "cancel":
        raise RetrieveCancelled(f"retrieve of {what} cancelled after {len(written)} instances",
                                retrieved=written)
    if category == "failure":
        raise PacsError(f"{node} could not send {what}: {status_text(code, 'C-GET', final)}{why}",
                        retrieved=written)
    if failed or category == "warning" or refused:
        raise RetrieveIncomplete(
            f"{node} sent {len(written)} instances of {what}, {failed} failed"
            f"{why or ' (an object type Planner does not accept, or a PACS-side error)'}",
            retrieved=written)
    if not written:
        raise PacsError(f"{node} has nothing to send for {what}")
    if progress is not None:
        progress(1.0, f"Received {len(written)}")
    LOG.info("C-GET %s: %d instances", node, len(written))
    return written


def retrieve_study(node: PacsNode, study_instance_uid: str, out_dir: str | Path,
                   progress: ProgressCallback | None = None,
                   is_cancelled: CancelCheck | None = None) -> tuple[Path, ...]:
    """C-GET a whole study into ``out_dir`` as ``<SOP Instance UID>.dcm`` files, byte-exact."""
    check_uid(study_instance_uid, "Study Instance UID")
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = study_instance_uid
    return _retrieve(node, identifier, out_dir, "the study", progress, is_cancelled)


def retrieve_instance(node: PacsNode, instance: InstanceSummary, out_dir: str | Path,
                      progress: ProgressCallback | None = None,
                      is_cancelled: CancelCheck | None = None) -> Path:
    """C-GET one instance found by ``find_instances`` (IMAGE level needs its study and series)."""
    for value, what in ((instance.study_instance_uid, "Study Instance UID"),
                        (instance.series_instance_uid, "Series Instance UID"),
                        (instance.sop_instance_uid, "SOP Instance UID")):
        check_uid(value, what)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier.StudyInstanceUID = instance.study_instance_uid
    identifier.SeriesInstanceUID = instance.series_instance_uid
    identifier.SOPInstanceUID = instance.sop_instance_uid
    written = _retrieve(node, identifier, out_dir, "the instance", progress, is_cancelled)
    return written[0]
