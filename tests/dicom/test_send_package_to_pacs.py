"""Issue 15, point 7: Send to PACS carries the planning image, so the course and the review work from
the PACS alone. Against a real Orthanc, fresh for every test (an empty PACS is part of the story)."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
from pydicom import dcmread

from planner.dicom.network import retrieve_study, send_files
from planner.dicom.package import PackageError
from planner.dicom.package_send import ALREADY_ON_PACS, SENT, send_plan_package
from planner.dicom.pacs_settings import PacsNode
from planner.imaging.demo import DEMO_IMAGE_NAME, demo_case_path
from planner.review.plan_review import review_plan
from tests.dicom import orthanc_server
from tests.dicom.orthanc_server import orthanc_available, running_orthanc
from tests.dicom.test_network import dataset_bytes
from tests.review.test_plan_review import real_case, signed_package

DEMO_US = demo_case_path() / DEMO_IMAGE_NAME


@pytest.fixture
def orthanc(tmp_path_factory):
    if not orthanc_available():
        pytest.skip("Debian's Orthanc (/usr/sbin/Orthanc) is not installed: apt-get install orthanc")
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture
def node(orthanc) -> PacsNode:
    return PacsNode(orthanc.host, orthanc.dicom_port, orthanc.ae_title, orthanc.client_ae_title, timeout_s=5)


@pytest.fixture(scope="module")
def demo_package(tmp_path_factory):
    """The demo plan (planned on the DICOM demo ultrasound), written and signed by the physician."""
    folder, identity, _ = signed_package(tmp_path_factory.mktemp("package") / "plan", tmp_path_factory.mktemp("keys"))
    return folder, identity


def stored_in_orthanc(orthanc) -> dict[str, tuple[str, str]]:
    """Orthanc's own view (REST): SOP Instance UID → (modality, Study Instance UID) of every instance."""
    found = {}
    for series_id in orthanc.rest("/series"):
        series = orthanc.rest(f"/series/{series_id}")
        study = orthanc.rest(f"/studies/{series['ParentStudy']}")["MainDicomTags"]["StudyInstanceUID"]
        for instance_id in series["Instances"]:
            uid = orthanc.rest(f"/instances/{instance_id}")["MainDicomTags"]["SOPInstanceUID"]
            found[uid] = (series["MainDicomTags"]["Modality"], study)
    return found


def test_a_package_from_a_dicom_ultrasound_brings_its_image_to_an_empty_pacs(demo_package, tmp_path, orthanc, node):
    folder, _ = demo_package
    image = dcmread(DEMO_US, stop_before_pixels=True)
    assert (folder / "US.dcm").read_bytes() == DEMO_US.read_bytes()   # the original object, unchanged

    report = send_plan_package(node, folder)

    assert report.planning_image == SENT and report.all_stored, report.summary()
    assert report.summary().endswith("; planning image: sent")
    assert [o.path.name for o in report.files.outcomes] == ["US.dcm", "RTPLAN.dcm", "RTSTRUCT.dcm", "RTDOSE.dcm"]
    uids = {name: str(dcmread(folder / name, stop_before_pixels=True).SOPInstanceUID)
            for name in ("RTPLAN.dcm", "RTSTRUCT.dcm", "RTDOSE.dcm")}
    study = str(image.StudyInstanceUID)
    assert stored_in_orthanc(orthanc) == {str(image.SOPInstanceUID): ("US", study),
                                          uids["RTPLAN.dcm"]: ("RTPLAN", study),
                                          uids["RTSTRUCT.dcm"]: ("RTSTRUCT", study),
                                          uids["RTDOSE.dcm"]: ("RTDOSE", study)}
    [stored_image] = [i for i in orthanc.rest("/instances")
                      if orthanc.rest(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"] == image.SOPInstanceUID]
    (tmp_path / "stored.dcm").write_bytes(orthanc.rest_bytes(f"/instances/{stored_image}/file"))
    assert dataset_bytes(tmp_path / "stored.dcm") == dataset_bytes(DEMO_US)   # the dataset as the archive had it


def test_sent_again_the_image_is_not_sent_twice(demo_package, orthanc, node):
    folder, _ = demo_package
    assert send_plan_package(node, folder).planning_image == SENT
    before = stored_in_orthanc(orthanc)

    again = send_plan_package(node, folder)

    assert again.planning_image == ALREADY_ON_PACS and again.all_stored, again.summary()
    assert again.summary().endswith("; planning image: already on the PACS")
    assert [o.path.name for o in again.files.outcomes] == ["RTPLAN.dcm", "RTSTRUCT.dcm", "RTDOSE.dcm"]
    assert stored_in_orthanc(orthanc) == before and len(before) == 4


def test_an_image_that_came_from_the_pacs_is_not_sent_back(demo_package, orthanc, node):
    folder, _ = demo_package
    assert send_files(node, [DEMO_US]).all_stored          # the ultrasound was on the PACS before planning

    report = send_plan_package(node, folder)

    assert report.planning_image == ALREADY_ON_PACS, report.summary()
    assert "US.dcm" not in [o.path.name for o in report.files.outcomes]
    assert len(stored_in_orthanc(orthanc)) == 4


def test_from_the_pacs_alone_another_workstation_reviews_with_the_planning_image(tmp_path, orthanc, node,
                                                                                monkeypatch):
    registry, _, plan, _, dose, _ = real_case()
    workstation_a = tmp_path / "workstation-a"
    recorded = workstation_a / "images" / DEMO_IMAGE_NAME   # where the planner had the image
    recorded.parent.mkdir(parents=True)
    shutil.copy(DEMO_US, recorded)
    folder, doctor, _ = signed_package(workstation_a / "plan", workstation_a,
                                       plan=replace(plan, image_path=str(recorded)), dose=dose)
    rt_plan = dcmread(folder / "RTPLAN.dcm", stop_before_pixels=True)
    assert send_plan_package(node, folder).all_stored
    shutil.rmtree(workstation_a)                            # nothing of the planner's computer is left

    workstation_b = tmp_path / "workstation-b"               # a second, empty data folder
    monkeypatch.setenv("PLANNER_DATA_DIR", str(workstation_b / "data"))
    study = workstation_b / "from-pacs"
    retrieve_study(node, str(rt_plan.StudyInstanceUID), study)
    result = review_plan(study / f"{rt_plan.SOPInstanceUID}.dcm", [doctor.certificate], registry=registry)

    image_uid = str(dcmread(DEMO_US, stop_before_pixels=True).SOPInstanceUID)
    assert result.planning_image.image.source_path == str(study / f"{image_uid}.dcm")
    assert result.can_approve, result.reasons
    assert abs(result.second_check_difference_percent) < 0.5


def test_a_package_whose_image_is_not_the_one_its_contours_reference_is_not_sent(demo_package, tmp_path, orthanc,
                                                                                  node):
    folder, _ = demo_package
    copy = shutil.copytree(folder, tmp_path / "copy")
    stranger = dcmread(DEMO_US)
    stranger.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    stranger.save_as(copy / "US.dcm")

    with pytest.raises(PackageError, match="US.dcm is not the image the plan's contours lie on"):
        send_plan_package(node, copy)
    assert orthanc.rest("/instances") == []


def test_an_old_package_without_its_image_says_the_pacs_lacks_it(demo_package, tmp_path, orthanc, node):
    folder, _ = demo_package
    copy = shutil.copytree(folder, tmp_path / "copy")
    (copy / "US.dcm").unlink()

    report = send_plan_package(node, copy)

    assert report.planning_image == "not on the PACS and not in the package: a review elsewhere has no image"
    assert report.files.all_stored and not report.all_stored
    assert sorted(modality for modality, _ in stored_in_orthanc(orthanc).values()) == ["RTDOSE", "RTPLAN", "RTSTRUCT"]


def test_a_pacs_that_refuses_queries_is_sent_the_image_and_the_report_says_why(demo_package, tmp_path, monkeypatch):
    if not orthanc_available():
        pytest.skip("Debian's Orthanc (/usr/sbin/Orthanc) is not installed: apt-get install orthanc")
    folder, _ = demo_package
    may_store_not_find = orthanc_server.orthanc_config

    def config(*args, **kwargs):
        settings = may_store_not_find(*args, **kwargs)
        aet, host, port = settings["DicomModalities"]["planner"]
        settings["DicomModalities"]["planner"] = {"AET": aet, "Host": host, "Port": port, "AllowFind": False}
        return settings

    monkeypatch.setattr(orthanc_server, "orthanc_config", config)
    with running_orthanc(tmp_path / "orthanc") as server:
        node = PacsNode(server.host, server.dicom_port, server.ae_title, server.client_ae_title, timeout_s=5)
        report = send_plan_package(node, folder)
        assert report.planning_image.startswith("sent (the PACS could not be asked whether it held it: "), \
            report.summary()
        assert report.all_stored and len(stored_in_orthanc(server)) == 4


def test_the_send_rule_is_kept_before_any_connection(demo_package, tmp_path):
    """A broken plan is never sent and a draft only when asked: send_plan_package refuses before it
    connects (the PACS here is a port where nothing listens, so a connection attempt would say so)."""
    from planner.dicom.package_send import BrokenPlanNotSent, DraftNotAskedFor, check_sendable
    from planner.dicom.signatures import SignatureStatus
    from tests.dicom.signature_fixtures import flip_byte_after
    from tests.ports import free_port

    nowhere = PacsNode("127.0.0.1", free_port(), "TESTPACS", timeout_s=1)
    folder, _ = demo_package
    assert check_sendable(folder) is SignatureStatus.SIGNED
    broken = shutil.copytree(folder, tmp_path / "broken")
    flip_byte_after(broken / "RTPLAN.dcm", b'"dose_per_fraction_gy":', 1)
    for send_draft in (False, True):
        with pytest.raises(BrokenPlanNotSent, match=r"a signature is broken; the plan is not sent"):
            send_plan_package(nowhere, broken, send_draft=send_draft)
    draft = shutil.copytree(folder, tmp_path / "draft")
    ds = dcmread(draft / "RTPLAN.dcm")
    del ds[0xFFFAFFFA]                              # the Digital Signatures Sequence
    del ds[0x4FFE0001]                              # and its MAC Parameters
    ds.save_as(draft / "RTPLAN.dcm")
    with pytest.raises(DraftNotAskedFor, match=r"is unsigned \(a draft\)"):
        send_plan_package(nowhere, draft)
    assert check_sendable(draft, send_draft=True) is SignatureStatus.UNSIGNED
