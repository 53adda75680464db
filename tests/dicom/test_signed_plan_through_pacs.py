"""Issue 6, done-when: a plan stored in a real PACS (Orthanc) and fetched back still verifies,
in Planner and in dcmtk's dcmsign; a byte changed after the round trip is still caught."""

import shutil

from planner.dicom.network import retrieve_study, send_files
from planner.dicom.signatures import sign_file, verify_file
from tests.dicom.signature_fixtures import dcmsign_verify, flip_byte_after, save, signer, small_plan
from tests.dicom.test_network import node, orthanc  # noqa: F401  (the running Orthanc and its address)


def test_a_signed_plan_sent_to_orthanc_and_fetched_back_still_verifies(node, tmp_path):  # noqa: F811
    identity, _key, cert_path = signer(tmp_path, "Dr A. Oncologist")
    plan = small_plan()
    unsigned = save(plan, tmp_path / "plan.dcm")
    signed = tmp_path / "plan-signed.dcm"
    sign_file(unsigned, signed, identity, "creator")

    report = send_files(node, [signed])
    assert report.all_stored, report.summary()
    fetched = retrieve_study(node, plan.StudyInstanceUID, tmp_path / "fetched")
    assert len(fetched) == 1

    checks = verify_file(fetched[0], [identity.certificate])
    assert len(checks) == 1 and checks[0].valid and checks[0].trusted, checks[0].problem
    assert checks[0].role == "creator" and "Dr A. Oncologist" in checks[0].signer
    if shutil.which("dcmsign"):
        result = dcmsign_verify(fetched[0], cert_path)
        assert result.returncode == 0, result.stdout + result.stderr

    # The same file with one signed byte changed: both refuse.
    flip_byte_after(fetched[0], "Müller".encode("utf-8"))
    broken = verify_file(fetched[0], [identity.certificate])
    assert not broken[0].valid and "changed since signing" in broken[0].problem
    if shutil.which("dcmsign"):
        assert dcmsign_verify(fetched[0], cert_path).returncode != 0
