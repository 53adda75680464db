"""Send, query and retrieve against a real PACS (Debian's Orthanc on loopback).

What is proven: objects go to the PACS and come back byte for byte (so a PS3.15 signature would
still verify), the query finds the study with its modalities, and every way a send can fail
ends in one clear PacsError before anything is half-done.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian, RTPlanStorage, generate_uid

from planner.dicom.network import (
    NotDicomFile, PacsError, RetrieveCancelled, StudySummary, echo, find_instances, find_studies,
    retrieve_instance, retrieve_study, send_files, status_meaning,
)
from planner.dicom.pacs_settings import PacsNode
from tests.dicom.orthanc_server import free_port, orthanc_available, running_orthanc

DEMO_US = Path(__file__).resolve().parents[2] / "resources" / "demo" / "demo_ultrasound.dcm"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    if not orthanc_available():
        pytest.skip("Debian's Orthanc (/usr/sbin/Orthanc) is not installed: apt-get install orthanc")
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture(scope="module")
def node(orthanc) -> PacsNode:
    return PacsNode(orthanc.host, orthanc.dicom_port, orthanc.ae_title, orthanc.client_ae_title,
                    timeout_s=5)


def rt_plan_like(path: Path, demo: Dataset) -> Path:
    """A small RT Plan in the demo's study, written Implicit VR LE in UTF-8 with a DS value in a
    form pydicom would not write itself: any re-encoding on the way shows up as changed bytes."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = RTPlanStorage
    ds.SOPInstanceUID = generate_uid()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber",
                    "ReferringPhysicianName", "StudyDescription"):
        setattr(ds, keyword, demo.get(keyword, ""))
    ds.Modality = "RTPLAN"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 2
    ds.InstanceNumber = 1
    ds.Manufacturer = "Planner test"
    ds.RTPlanLabel = "Nase links"
    ds.RTPlanName = "Basaliom – Nasenflügel"  # en dash and umlaut: UTF-8 bytes must survive
    ds.RTPlanDate, ds.RTPlanTime = "20240611", "101500"
    ds.RTPlanGeometry = "TREATMENT_DEVICE"
    fraction_group = Dataset()
    fraction_group.FractionGroupNumber = 1
    fraction_group.NumberOfFractionsPlanned = 5
    fraction_group.NumberOfBeams = 0
    fraction_group.NumberOfBrachyApplicationSetups = 0
    ds.FractionGroupSequence = Sequence([fraction_group])
    dose_reference = Dataset()
    dose_reference.DoseReferenceNumber = 1
    dose_reference.DoseReferenceStructureType = "SITE"
    dose_reference.DoseReferenceType = "TARGET"
    dose_reference.add_new(0x300A0026, "DS", "7.000")  # TargetPrescriptionDose, as a TPS wrote it
    ds.DoseReferenceSequence = Sequence([dose_reference])
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture(scope="module")
def stored_study(node, tmp_path_factory):
    """The demo ultrasound plus an RT Plan of the same study, sent once for the module."""
    folder = tmp_path_factory.mktemp("to-send")
    plan = rt_plan_like(folder / "rtplan.dcm", dcmread(DEMO_US))
    seen = []
    report = send_files(node, [DEMO_US, plan], progress=lambda f, m: seen.append(f))
    return report, (DEMO_US, plan), seen


def dataset_bytes(path: Path) -> bytes:
    """The encoded dataset after the file meta (PS3.10 7.1: group length follows 'DICM')."""
    raw = path.read_bytes()
    assert raw[128:132] == b"DICM"
    tag, vr, length, group_length = struct.unpack("<I2sHI", raw[132:144])
    assert (tag, vr, length) == (0x00000002, b"UL", 4)
    return raw[144 + group_length:]


# ----------------------------------------------------------------------------- the happy path


def test_echo_answers(node):
    assert 0 <= echo(node) < node.timeout_s


def test_send_stores_every_file_and_the_pacs_has_them(orthanc, stored_study):
    report, sent, seen = stored_study
    assert report.all_stored and report.stored == sent
    assert [(o.status, o.category) for o in report.outcomes] == [(0, "success"), (0, "success")]
    assert seen[-1] == 1.0
    on_pacs = {orthanc.rest(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"]
               for i in orthanc.rest("/instances")}
    assert {dcmread(p).SOPInstanceUID for p in sent} <= on_pacs


def test_find_studies_by_patient_id_with_modality(node, stored_study):
    demo = dcmread(DEMO_US)
    studies = find_studies(node, patient_id=demo.PatientID, modality="US")
    assert len(studies) == 1
    study = studies[0]
    assert isinstance(study, StudySummary)
    assert study.study_instance_uid == demo.StudyInstanceUID
    assert study.patient_id == demo.PatientID and study.patient_name == str(demo.PatientName)
    assert study.study_date == dt.date(int(demo.StudyDate[:4]), int(demo.StudyDate[4:6]), int(demo.StudyDate[6:]))
    assert set(study.modalities) == {"US", "RTPLAN"}
    assert study.number_of_instances == 2
    assert study.description == demo.StudyDescription
    assert find_studies(node, patient_id=demo.PatientID, modality="CT") == ()
    assert find_studies(node, patient_id="NOBODY-0000") == ()
    assert len(find_studies(node, patient_name="DEMO*", study_date=(dt.date(2024, 1, 1), None))) == 1


def test_retrieve_study_gives_back_the_same_bytes(node, stored_study, tmp_path):
    _, sent, _ = stored_study
    progress = []
    retrieved = retrieve_study(node, dcmread(DEMO_US).StudyInstanceUID, tmp_path / "in",
                               progress=lambda f, m: progress.append(f))
    assert len(retrieved) == 2 and progress[-1] == 1.0
    by_uid = {dcmread(p).SOPInstanceUID: p for p in retrieved}
    for original in sent:
        sent_ds = dcmread(original)
        back = by_uid[sent_ds.SOPInstanceUID]
        back_ds = dcmread(back)
        # Explicit stays explicit, implicit stays implicit: nothing was transcoded
        assert back_ds.file_meta.TransferSyntaxUID == sent_ds.file_meta.TransferSyntaxUID
        assert back_ds.file_meta.MediaStorageSOPInstanceUID == sent_ds.SOPInstanceUID
        for element in sent_ds:
            assert back_ds[element.tag] == element, element.keyword
        assert len(back_ds) == len(sent_ds)
        assert dataset_bytes(back) == dataset_bytes(original), original.name
    assert not list((tmp_path / "in").glob(".*.tmp")), "atomic writes leave no temporary files"


def test_find_and_retrieve_one_instance(node, stored_study, tmp_path):
    _, (_, plan), _ = stored_study
    instances = find_instances(node, dcmread(DEMO_US).StudyInstanceUID)
    assert {i.modality for i in instances} == {"US", "RTPLAN"}
    wanted = next(i for i in instances if i.sop_class_uid == RTPlanStorage)
    path = retrieve_instance(node, wanted, tmp_path)
    assert path.name == f"{wanted.sop_instance_uid}.dcm"
    assert dataset_bytes(path) == dataset_bytes(plan)


def test_cancel_before_the_first_file_sends_nothing(node):
    report = send_files(node, [DEMO_US], is_cancelled=lambda: True)
    assert report.cancelled and report.stored == () and not report.all_stored
    assert [o.category for o in report.outcomes] == ["not sent"]


def test_cancelling_a_retrieve_keeps_what_came_complete(node, tmp_path):
    copies = []
    study_uid = generate_uid()
    for index in range(4):
        ds = dcmread(DEMO_US)
        ds.PatientID = "CANCEL-0001"
        ds.StudyInstanceUID = study_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        copies.append(tmp_path / f"copy{index}.dcm")
        ds.save_as(copies[-1])
    assert send_files(node, copies).all_stored
    answers = iter([False, True])  # go ahead, then cancel at the first pending response
    with pytest.raises(RetrieveCancelled) as caught:
        retrieve_study(node, study_uid, tmp_path / "in", is_cancelled=lambda: next(answers, True))
    retrieved = caught.value.retrieved
    assert 1 <= len(retrieved) < 4
    sent = {dcmread(p).SOPInstanceUID: p for p in copies}
    for path in retrieved:  # each file that did arrive is whole
        assert dataset_bytes(path) == dataset_bytes(sent[path.stem])
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == sorted(p.name for p in retrieved)


def test_a_caller_error_mid_retrieve_aborts_cleanly(node, stored_study, tmp_path):
    def broken_progress(fraction, message):
        raise RuntimeError("progress bar gone")
    with pytest.raises(RuntimeError, match="progress bar gone"):
        retrieve_study(node, dcmread(DEMO_US).StudyInstanceUID, tmp_path, progress=broken_progress)
    assert echo(node) < node.timeout_s  # the PACS was left in a usable state


def test_patient_data_stay_out_of_the_info_log(node, stored_study, tmp_path, caplog):
    demo = dcmread(DEMO_US)
    caplog.set_level(logging.INFO)
    find_studies(node, patient_id=demo.PatientID)
    retrieve_study(node, demo.StudyInstanceUID, tmp_path)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "the operations do log at INFO"
    for secret in (demo.PatientID, str(demo.PatientName), demo.StudyInstanceUID, demo.SOPInstanceUID):
        assert secret not in text


# ----------------------------------------------------------------------------- failures


def test_pacs_down_says_so_fast():
    port = free_port()
    started = time.monotonic()
    with pytest.raises(PacsError, match=rf"no DICOM service at 127\.0\.0\.1:{port} — is the PACS running\?"):
        send_files(PacsNode("127.0.0.1", port, "TESTPACS", timeout_s=2), [DEMO_US])
    assert time.monotonic() - started < 2


def test_wrong_called_ae_title_is_rejected_by_the_pacs(orthanc):
    wrong = PacsNode(orthanc.host, orthanc.dicom_port, "NOT-THE-PACS", orthanc.client_ae_title, timeout_s=5)
    with pytest.raises(PacsError) as caught:
        echo(wrong)
    message = str(caught.value)
    assert "rejected" in message and "called AE title not recognised" in message
    assert "'NOT-THE-PACS'" in message and orthanc.host in message and "\n" not in message


def test_unknown_calling_ae_title_gets_a_hint(orthanc):
    stranger = PacsNode(orthanc.host, orthanc.dicom_port, orthanc.ae_title, "STRANGER", timeout_s=5)
    with pytest.raises(PacsError, match="'STRANGER'") as caught:
        send_files(stranger, [DEMO_US])
    assert caught.value.report is not None and caught.value.report.stored == ()


def test_non_dicom_file_is_refused_before_any_association(orthanc, node, tmp_path):
    fresh = dcmread(DEMO_US)
    fresh.SOPInstanceUID = fresh.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    good = tmp_path / "good.dcm"
    fresh.save_as(good)
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    with pytest.raises(NotDicomFile, match=r"notes\.txt is not a DICOM file .*nothing was sent") as caught:
        send_files(node, [good, notes])
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, PacsError)
    found = [i for i in orthanc.rest("/instances")
             if orthanc.rest(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"] == fresh.SOPInstanceUID]
    assert found == []
    # Against a port where nothing listens the file check still comes first: no connection tried
    with pytest.raises(NotDicomFile):
        send_files(PacsNode("127.0.0.1", free_port(), "TESTPACS", timeout_s=1), [good, notes])


def test_silent_peer_times_out():
    with socket.socket() as listener:  # accepts TCP (kernel backlog) but never speaks DICOM
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(PacsError, match=r"did not answer the association request within 1 s \(timeout\)"):
            echo(PacsNode("127.0.0.1", port, "TESTPACS", timeout_s=1))
        assert time.monotonic() - started < 3


def test_a_pacs_that_stops_answering_times_out():
    """The DIMSE timeout: association accepted, then no C-ECHO response (a stalled archive).
    A local pynetdicom SCP plays the stalled PACS; Orthanc cannot be made to stall on cue."""
    from pynetdicom import AE as ServerAE, evt
    from pynetdicom.sop_class import Verification

    release = threading.Event()

    def stall(event):
        release.wait(5)
        return 0x0000

    server_ae = ServerAE(ae_title="STALLED")
    server_ae.add_supported_context(Verification)
    server = server_ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_ECHO, stall)])
    try:
        port = server.server_address[1]
        started = time.monotonic()
        with pytest.raises(PacsError, match=rf"no response from 127\.0\.0\.1:{port} to C-ECHO within 1 s \(timeout\)"):
            echo(PacsNode("127.0.0.1", port, "STALLED", timeout_s=1))
        assert time.monotonic() - started < 3
    finally:
        release.set()
        server.shutdown()


def test_retrieving_an_unknown_study_is_an_error(node, tmp_path):
    with pytest.raises(PacsError):
        retrieve_study(node, generate_uid(), tmp_path)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- pure values


@pytest.mark.parametrize("kwargs, words", [
    (dict(port=0), "port"), (dict(port=70000), "port"), (dict(called_ae_title=""), "empty"),
    (dict(called_ae_title="A" * 17), "longer than 16"), (dict(calling_ae_title="BAD\\AE"), "backslash"),
    (dict(calling_ae_title=" PAD"), "space"), (dict(timeout_s=0), "timeout"), (dict(host=""), "host"),
])
def test_pacs_node_refuses_bad_settings(kwargs, words):
    settings = dict(host="pacs.example", port=104, called_ae_title="PACS") | kwargs
    with pytest.raises(ValueError, match=words):
        PacsNode(**settings)


def test_query_keys_are_checked_before_any_connection():
    nowhere = PacsNode("127.0.0.1", free_port(), "TESTPACS", timeout_s=1)
    with pytest.raises(ValueError, match="backslash"):
        find_studies(nowhere, patient_id="A\\B")
    with pytest.raises(ValueError, match="YYYYMMDD"):
        find_studies(nowhere, study_date="June 2024")
    with pytest.raises(ValueError, match="not a DICOM UID"):
        retrieve_study(nowhere, "../../etc", "out")


def test_status_meanings_follow_the_standard():
    assert status_meaning(0x0000) == ("success", "success")
    assert status_meaning(0xB000, "C-STORE") == ("warning", "coercion of data elements")
    assert status_meaning(0xB000, "C-GET")[0] == "warning"
    assert status_meaning(0xA7FF) == ("failure", "refused: out of resources")
    assert status_meaning(0xC123) == ("failure", "cannot understand")
    assert status_meaning(0xFF00, "C-FIND")[0] == "pending"
    assert status_meaning(0x0122) == ("failure", "SOP Class not supported")
