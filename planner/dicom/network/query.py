"""C-FIND (PS3.4 C.4.1) in the Study Root model (C.6.2): find studies and their instances.

Why a module of its own: a query is built from user input, so every matching key is checked
(a single value without backslashes or control characters; UIDs well formed) before it goes on
the wire, and the hierarchical model asks for the unique keys of every level above the one
queried (C.4.1.2.2). Matches come back as frozen summaries the browser and the retrieve use.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pynetdicom import Association
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from ..pacs_settings import PacsNode
from .association import UNCOMPRESSED, Context, PacsError, Watch, held, lost, open_association
from .status import status_meaning, status_text

LOG = logging.getLogger(__name__)

# PS3.5 9.1 in spirit; leading zeros tolerated, as real archives hold such UIDs. It also keeps
# a received SOP Instance UID, used as a file name, free of path separators.
_UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def check_uid(value: str, what: str) -> None:
    """ValueError unless ``value`` is a DICOM UID; shared with the retrieve, which names files by UIDs."""
    if not isinstance(value, str) or len(value) > 64 or not _UID_PATTERN.match(value):
        raise ValueError(f"{what} {value!r} is not a DICOM UID")


@dataclass(frozen=True)
class StudySummary:
    """One Study Root C-FIND match at STUDY level (PS3.4 C.6.2.1.2)."""

    study_instance_uid: str
    patient_id: str
    patient_name: str
    study_date: _dt.date | None
    study_time: str
    accession_number: str
    description: str
    modalities: tuple[str, ...]
    number_of_instances: int | None


@dataclass(frozen=True)
class InstanceSummary:
    """One C-FIND match at IMAGE level, with the keys of the levels above it for C-GET."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    modality: str
    instance_number: int | None


def _query_text(value: str, what: str) -> str:
    """A matching key value: single value, no backslash (a value separator) or control chars."""
    if "\\" in value or any(ord(ch) < 32 for ch in value):
        raise ValueError(f"{what} {value!r} may not contain a backslash or control characters")
    return value


def _date_key(study_date) -> str:
    """PS3.4 C.2.2.2.5 range matching: a date, (first, last) with None for an open end, or text."""
    def one(d) -> str:
        return "" if d is None else d.strftime("%Y%m%d")
    if study_date is None:
        return ""
    if isinstance(study_date, _dt.date):
        return one(study_date)
    if isinstance(study_date, tuple) and len(study_date) == 2:
        first, last = study_date
        return "" if first is None and last is None else f"{one(first)}-{one(last)}"
    text = _query_text(str(study_date), "Study date")
    if not re.fullmatch(r"\d{8}|\d{8}-|-\d{8}|\d{8}-\d{8}", text):
        raise ValueError(f"Study date {text!r} is not YYYYMMDD or a YYYYMMDD-YYYYMMDD range")
    return text


def _open_find(node: PacsNode) -> tuple[Association, Watch]:
    return open_association(node, [Context(StudyRootQueryRetrieveInformationModelFind, UNCOMPRESSED)],
                            purpose="C-FIND")


def _find(node: PacsNode, assoc: Association, watch: Watch, identifier: Dataset) -> list[Dataset]:
    """Run one C-FIND, collecting the pending identifiers; PacsError on failure or loss."""
    matches: list[Dataset] = []
    for status, found in assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind):
        if "Status" not in status:
            raise PacsError(lost(node, watch, "C-FIND"))
        category, _ = status_meaning(int(status.Status), "C-FIND")
        if category == "pending":
            if found is not None:
                matches.append(found)
        elif category in ("failure", "cancel"):
            raise PacsError(f"{node} refused the query: {status_text(status.Status, 'C-FIND', status)}")
    return matches


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _date_or_none(value) -> _dt.date | None:
    try:
        return _dt.datetime.strptime(str(value), "%Y%m%d").date()
    except ValueError:
        return None


def find_studies(node: PacsNode, patient_id: str | None = None, patient_name: str | None = None,
                 modality: str | None = "US", study_date=None) -> tuple[StudySummary, ...]:
    """Study Root C-FIND at STUDY level; ``patient_name`` may use * and ? wildcards (PS3.4 C.2.2.2.4).

    Matching on Modalities in Study is optional for a PACS, so matches are also filtered here.
    """
    query = Dataset()
    query.SpecificCharacterSet = "ISO_IR 192"
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = _query_text(patient_id or "", "Patient ID")
    query.PatientName = _query_text(patient_name or "", "Patient name")
    query.StudyInstanceUID = ""
    query.StudyDate = _date_key(study_date)
    query.StudyTime = ""
    query.AccessionNumber = ""
    query.StudyDescription = ""
    query.ModalitiesInStudy = _query_text(modality or "", "Modality")
    query.NumberOfStudyRelatedInstances = ""
    assoc, watch = _open_find(node)
    with held(assoc):
        matches = _find(node, assoc, watch, query)
    studies = []
    for found in matches:
        modalities = tuple(str(m) for m in _values(found.get("ModalitiesInStudy")))
        if modality and modalities and modality not in modalities:
            continue
        studies.append(StudySummary(
            study_instance_uid=str(found.get("StudyInstanceUID", "")),
            patient_id=str(found.get("PatientID", "")),
            patient_name=str(found.get("PatientName", "")),
            study_date=_date_or_none(found.get("StudyDate", "")),
            study_time=str(found.get("StudyTime", "")),
            accession_number=str(found.get("AccessionNumber", "")),
            description=str(found.get("StudyDescription", "")),
            modalities=modalities,
            number_of_instances=_int_or_none(found.get("NumberOfStudyRelatedInstances"))))
    LOG.info("C-FIND %s: %d studies", node, len(studies))
    return tuple(studies)


def _values(element_value) -> list:
    if element_value is None or element_value == "":
        return []
    if isinstance(element_value, (list, tuple)) or type(element_value).__name__ == "MultiValue":
        return list(element_value)
    return [element_value]


def find_instances(node: PacsNode, study_instance_uid: str) -> tuple[InstanceSummary, ...]:
    """Every instance of a study: SERIES then IMAGE level, as the hierarchical model asks
    (PS3.4 C.4.1.2.2: each query gives the unique keys of all the levels above it)."""
    check_uid(study_instance_uid, "Study Instance UID")
    assoc, watch = _open_find(node)
    instances = []
    with held(assoc):
        series_query = Dataset()
        series_query.QueryRetrieveLevel = "SERIES"
        series_query.StudyInstanceUID = study_instance_uid
        series_query.SeriesInstanceUID = ""
        series_query.Modality = ""
        for series in _find(node, assoc, watch, series_query):
            series_uid = str(series.get("SeriesInstanceUID", ""))
            image_query = Dataset()
            image_query.QueryRetrieveLevel = "IMAGE"
            image_query.StudyInstanceUID = study_instance_uid
            image_query.SeriesInstanceUID = series_uid
            image_query.SOPInstanceUID = ""
            image_query.SOPClassUID = ""
            image_query.InstanceNumber = ""
            for found in _find(node, assoc, watch, image_query):
                instances.append(InstanceSummary(
                    study_instance_uid, series_uid, str(found.get("SOPInstanceUID", "")),
                    str(found.get("SOPClassUID", "")), str(series.get("Modality", "")),
                    _int_or_none(found.get("InstanceNumber"))))
    LOG.info("C-FIND %s: %d instances", node, len(instances))
    return tuple(instances)


def holds_instance(node: PacsNode, study_instance_uid: str, series_instance_uid: str,
                   sop_instance_uid: str) -> bool:
    """Whether the PACS holds this one instance: a C-FIND at IMAGE level on its three unique keys
    (PS3.4 C.4.1.2.2), so an object it already has need not be sent again."""
    for value, what in ((study_instance_uid, "Study Instance UID"), (series_instance_uid, "Series Instance UID"),
                        (sop_instance_uid, "SOP Instance UID")):
        check_uid(value, what)
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = study_instance_uid
    query.SeriesInstanceUID = series_instance_uid
    query.SOPInstanceUID = sop_instance_uid
    assoc, watch = _open_find(node)
    with held(assoc):
        matches = _find(node, assoc, watch, query)
    return any(str(found.get("SOPInstanceUID", "")) == sop_instance_uid for found in matches)
