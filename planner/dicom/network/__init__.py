"""DICOM networking with a PACS or record-and-verify system: C-ECHO, C-STORE, C-FIND and C-GET.

Why this shape:
- Every failure of a whole operation is one ``PacsError`` with a one-line message a user can act
  on (PACS not running, wrong AE title, timeout, abort); failures of single objects are per-file
  outcomes in a ``SendReport`` so nothing fails half-way unnoticed.
- Objects travel byte for byte. C-STORE offers each file's own transfer syntax in a context of
  its own, so pydicom writes the dataset back unchanged; C-GET offers one context per transfer
  syntax so the PACS can send what it stores without transcoding, and the received encoded
  dataset is written as it came, behind a new file meta header. A digital signature (PS3.15)
  therefore still verifies after the round trip.
- Patient data never go to the log at INFO: counts and addresses only.

One module per concern; this package names what the rest of Planner uses (the modules' other
public names, such as ``retrieve.part10_bytes``, are the package's own):
- ``association``: opening, holding and ending an association, why one failed, ``PacsError``, C-ECHO;
- ``status``: what a DIMSE status code means;
- ``store``: C-STORE of files, with a per-file ``SendReport``;
- ``query``: Study Root C-FIND of studies and instances;
- ``retrieve``: C-GET of a study or an instance, written byte for byte.

References: PS3.4 Annex A (Verification), B (Storage), C (Query/Retrieve: C.4.1 C-FIND,
C.4.3 C-GET, C.6.2 Study Root); PS3.7 9.1 (DIMSE-C services), Annex C (status codes);
PS3.8 9.3 (association PDUs: reject and abort reasons); PS3.10 7.1 (file meta information).
"""

from .association import CancelCheck, PacsError, ProgressCallback, echo
from .query import InstanceSummary, StudySummary, find_instances, find_studies, holds_instance
from .retrieve import RetrieveCancelled, RetrieveIncomplete, retrieve_instance, retrieve_study
from .status import status_meaning
from .store import NotDicomFile, SendReport, StoreOutcome, send_files

__all__ = [
    "PacsError", "NotDicomFile", "RetrieveCancelled", "RetrieveIncomplete",
    "StoreOutcome", "SendReport", "StudySummary", "InstanceSummary",
    "echo", "send_files", "find_studies", "find_instances", "holds_instance", "retrieve_study",
    "retrieve_instance", "status_meaning", "ProgressCallback", "CancelCheck",
]
