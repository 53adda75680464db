"""The earlier course fetched from a real PACS (issue 18, point 4): the spine phantom's CT, structure set, earlier
RT Dose and RT Plan stored in Orthanc by C-STORE, then fetch_prior_course C-FINDs the patient's RT Doses and
C-GETs the one and the RT Plan it references. The fetched datasets equal the stored files byte for byte after
the file meta (which the C-GET writes anew: PS3.10 7.1, Planner's own Implementation Class UID and the PACS as
source); a second RT Dose makes a choice the user must name, and the RT Plan a dose references but the PACS
lacks is said, not guessed. Orthanc's REST answers are the independent view of what it holds."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from pydicom import dcmread

from planner.dicom.network import send_files
from planner.dicom.pacs_settings import PacsNode
from planner.dicom.prior_dose_fetch import PriorDoseFetchError, fetch_prior_course
from tests.dicom.orthanc_server import orthanc_available, running_orthanc
from tests.dicom.test_prior_dose_read import spine_case

pytestmark = pytest.mark.skipif(not orthanc_available(), reason="Debian's Orthanc is needed")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return spine_case(tmp_path_factory.mktemp("spine"))


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory, case):
    """Orthanc holding the CT, its structure set and the earlier course on the CT's frame."""
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        store(server, [*case.ct_files, case.prior_dose, case.prior_plan])
        yield server


@pytest.fixture
def second_dose(orthanc, case):
    """The same patient's earlier dose on another frame also on the PACS, without its RT Plan; removed after."""
    store(orthanc, [case.other_frame_dose])
    ds = dcmread(case.other_frame_dose, stop_before_pixels=True)
    yield ds
    orthanc.rest(f"/instances/{orthanc_ids(orthanc)[ds.SOPInstanceUID]}", method="DELETE")


def store(orthanc, files) -> None:
    assert send_files(node(orthanc), files).all_stored
    held = orthanc_ids(orthanc)
    assert all(str(dcmread(f, stop_before_pixels=True).SOPInstanceUID) in held for f in files)


def orthanc_ids(orthanc) -> dict[str, str]:
    """SOP Instance UID → Orthanc's instance ID, as its REST API lists them."""
    return {orthanc.rest(f"/instances/{i}/simplified-tags")["SOPInstanceUID"]: i for i in orthanc.rest("/instances")}


def node(orthanc) -> PacsNode:
    return PacsNode(orthanc.host, orthanc.dicom_port, orthanc.ae_title, orthanc.client_ae_title, 20.0)


def pacs(orthanc) -> str:
    """--prior-pacs for the command line."""
    return f"{orthanc.ae_title}@{orthanc.host}:{orthanc.dicom_port}"


def dataset_bytes(path: Path) -> bytes:
    """A Part 10 file's bytes after its file meta: 128-byte preamble, "DICM", then (0002,0000) File Meta
    Information Group Length, explicit VR little endian (tag 4 bytes, "UL", length 2, value 4), whose value
    is how many bytes of group 2 follow it (PS3.10 7.1)."""
    data = path.read_bytes()
    assert data[128:132] == b"DICM" and data[132:138] == b"\x02\x00\x00\x00UL"
    (group_length,) = struct.unpack("<I", data[140:144])
    return data[144 + group_length:]


def assert_same_object(fetched: Path, original: Path) -> None:
    assert dataset_bytes(fetched) == dataset_bytes(original)
    a, b = dcmread(fetched), dcmread(original)
    assert a.file_meta.TransferSyntaxUID == b.file_meta.TransferSyntaxUID and a == b


def study_text(ds) -> str:
    """How the refusal names an RT Dose: its UID, its study's date and description (from the file itself)."""
    date = f"{ds.StudyDate[:4]}-{ds.StudyDate[4:6]}-{ds.StudyDate[6:]}"
    return f"{ds.SOPInstanceUID} (study of {date}, {str(ds.StudyDescription)!r})"


def test_the_patients_one_rt_dose_and_its_rt_plan_are_fetched_as_stored(orthanc, case, tmp_path):
    seen = []
    patient = str(dcmread(case.prior_dose, stop_before_pixels=True).PatientID)
    fetched = fetch_prior_course(node(orthanc), patient, tmp_path / "earlier", progress=lambda f, t: seen.append(f))
    assert (fetched.rt_dose, fetched.rt_plan) == (tmp_path / "earlier" / "RTDOSE_prior.dcm",
                                                 tmp_path / "earlier" / "RTPLAN_prior.dcm")
    assert sorted(p.name for p in (tmp_path / "earlier").iterdir()) == ["RTDOSE_prior.dcm", "RTPLAN_prior.dcm"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier"]   # no staging folder left
    assert_same_object(fetched.rt_dose, case.prior_dose)
    assert_same_object(fetched.rt_plan, case.prior_plan)
    assert fetched.rt_dose_uid == dcmread(case.prior_dose).SOPInstanceUID and fetched.plan_note == ""
    assert seen[0] == 0.0 and seen[-1] == 1.0


def test_two_rt_doses_are_refused_listing_both(orthanc, case, second_dose, tmp_path):
    first = dcmread(case.prior_dose, stop_before_pixels=True)
    with pytest.raises(PriorDoseFetchError) as error:
        fetch_prior_course(node(orthanc), first.PatientID, tmp_path / "earlier")
    listed = sorted([study_text(first), study_text(second_dose)])   # as found: the order the PACS answers
    said = str(error.value)
    assert said.startswith(f"patient ID {first.PatientID!r} has 2 RT Doses on the PACS: ")
    assert sorted(said.split(": ", 1)[1].split("; name")[0].split("; ")) == listed
    assert said.endswith("; name the earlier course's by its SOP Instance UID (--prior-dose-uid)")
    assert "\n" not in said and not (tmp_path / "earlier").exists()


def test_the_named_rt_dose_is_fetched_and_an_rt_plan_the_pacs_lacks_is_said(orthanc, case, second_dose, tmp_path):
    fetched = fetch_prior_course(node(orthanc), second_dose.PatientID, tmp_path / "earlier",
                                 rt_dose_uid=second_dose.SOPInstanceUID)
    assert_same_object(fetched.rt_dose, case.other_frame_dose)
    assert fetched.rt_plan is None and sorted(p.name for p in (tmp_path / "earlier").iterdir()) == ["RTDOSE_prior.dcm"]
    plan_uid = second_dose.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID
    assert plan_uid == dcmread(case.other_frame_plan).SOPInstanceUID   # not stored (the fixture)
    assert fetched.plan_note == (f"the RT Dose {second_dose.SOPInstanceUID} references RT Plan {plan_uid}, which the "
                                 f"PACS does not hold")


def test_an_rt_dose_the_patient_lacks_is_refused_naming_it(orthanc, case, tmp_path):
    patient = str(dcmread(case.prior_dose, stop_before_pixels=True).PatientID)
    plan_uid = str(dcmread(case.prior_plan, stop_before_pixels=True).SOPInstanceUID)   # an instance, not a dose
    with pytest.raises(PriorDoseFetchError) as error:
        fetch_prior_course(node(orthanc), patient, tmp_path / "earlier", rt_dose_uid=plan_uid)
    assert str(error.value) == (f"the PACS holds no RT Dose {plan_uid} of patient ID {patient!r} (its RT Doses: "
                                f"{study_text(dcmread(case.prior_dose, stop_before_pixels=True))})")
    assert not (tmp_path / "earlier").exists()


def test_a_patient_without_an_rt_dose_is_refused(orthanc, tmp_path):
    with pytest.raises(PriorDoseFetchError) as error:
        fetch_prior_course(node(orthanc), "NOBODY-HERE", tmp_path / "earlier")
    assert str(error.value) == "the PACS holds no RT Dose of patient ID 'NOBODY-HERE'"


def test_a_folder_that_holds_something_or_a_wildcard_is_refused_before_asking(tmp_path):
    # a PACS nobody listens on: neither reaches the network
    nowhere = PacsNode("127.0.0.1", 9, "NOBODY", "PLANNER", 1.0)
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / "mine.txt").write_text("the user's", encoding="utf-8")
    with pytest.raises(PriorDoseFetchError) as error:
        fetch_prior_course(nowhere, "P1", tmp_path / "earlier")
    assert str(error.value) == (f"{tmp_path / 'earlier'} is not an empty folder: an earlier course is fetched into "
                                f"an empty one")
    with pytest.raises(PriorDoseFetchError) as error:
        fetch_prior_course(nowhere, "P*", tmp_path / "new")
    assert str(error.value) == "the patient ID must be one exact ID (no wildcard), got 'P*'"
    assert [p.name for p in tmp_path.iterdir()] == ["earlier"]
    assert [p.name for p in (tmp_path / "earlier").iterdir()] == ["mine.txt"]
