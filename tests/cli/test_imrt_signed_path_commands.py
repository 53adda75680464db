"""An IMRT plan on the signed path from the command line (issue 16): `planner imrt --out`, `sign`,
`review`, `approve`, as a script would run them, with the same commands as a kV or eBx plan.

Outside checks: pydicom reads the Approval module that was written, the signatures are verified
again from the file, and the second check is ompMC's (recorded answers of
tests/review/test_imrt_second_check.py, the same TG-119 plan at 5 mm; a live run takes minutes).
"""

from __future__ import annotations

import json
import shutil

import pytest
from pydicom import dcmread

from planner.dicom.signatures import AUTHORIZATION, CREATOR, verify_file
from planner.paths import data_dir
from planner.review.imrt_second_check import default_cache_path
from tests.cli_runner import planner
from tests.dicom.signature_fixtures import PASSPHRASE, signer
from tests.dicom.test_imrt_signature import move_a_leaf_in_the_last_control_point
from tests.review.test_imrt_second_check import RECORDED
from tests.tg119_recorded_plan import tg119_recorded_export


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`planner imrt --tg119 --grid-mm 5 --out DIR` as stored (tests/tg119_recorded_plan.py): RTPLAN (with the plan it was optimised from), RTDOSE, CT."""
    return tg119_recorded_export(tmp_path_factory, "imrt-cli")


@pytest.fixture
def people(tmp_path, exported):
    """A copy of the export, the physician's and the physicist's test keys, the passphrase file, and the
    workstation's Monte Carlo cache holding the recorded answers."""
    folder = tmp_path / "plan"
    shutil.copytree(exported, folder)
    _, doctor_key, doctor_cert = signer(tmp_path, "Dr A. Oncologist")
    _, physicist_key, physicist_cert = signer(tmp_path, "J. Physicist")
    passphrase = tmp_path / "passphrase.txt"
    passphrase.write_bytes(PASSPHRASE + b"\n")
    assert default_cache_path().parent == data_dir()   # the test's private data folder (tests/conftest.py)
    data_dir().mkdir(parents=True, exist_ok=True)
    shutil.copy(RECORDED, default_cache_path())
    return folder, (doctor_key, doctor_cert), (physicist_key, physicist_cert), passphrase


def approve(folder, signer_files, doctor, passphrase, tmp_path, reviewer="Physicist^Jo"):
    """`planner approve` of the package's RT Plan with ``signer_files`` (key, certificate), trusting ``doctor``."""
    key, cert = signer_files
    return planner("approve", folder / "RTPLAN.dcm", "--key", key, "--cert", cert, "--reviewer", reviewer,
                   "--passphrase-file", passphrase, "--trust", doctor[1], "--audit-db", tmp_path / "audit.sqlite")


def sign(folder, doctor, passphrase):
    key, cert = doctor
    return planner("sign", folder / "RTPLAN.dcm", "--key", key, "--cert", cert, "--passphrase-file", passphrase)


def test_signed_reviewed_and_approved_like_any_plan(people, tmp_path):
    folder, doctor, physicist, passphrase = people
    rt_plan = folder / "RTPLAN.dcm"
    signed = sign(folder, doctor, passphrase)
    assert signed.returncode == 0, signed.stderr

    review = planner("review", rt_plan, "--trust", doctor[1], "--json")
    assert review.returncode == 0, review.stdout + review.stderr
    report = json.loads(review.stdout)
    assert report["can_approve"] is True and report["reasons"] == []
    assert report["recomputation"]["reproduced"] is True
    assert {f["name"] for f in report["recomputation"]["figures"]} >= {"PTV D95", "Core D10", "dose at the isocentre"}
    check = report["second_check"]
    assert check["verdict"] == "agree" and abs(check["difference_percent"]) < 3.0   # TG-219's review level
    assert check["method"].startswith("Independent Monte Carlo (ompMC")

    approved = approve(folder, physicist, doctor, passphrase, tmp_path)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    ds = dcmread(rt_plan)
    assert (ds.ApprovalStatus, str(ds.ReviewerName)) == ("APPROVED", "Physicist^Jo")
    checks = verify_file(rt_plan, [])
    assert [c.role for c in checks] == [CREATOR, AUTHORIZATION] and all(c.valid for c in checks)
    assert "APPROVED" in (folder / "signatures.txt").read_text()

    again = planner("review", rt_plan, "--trust", doctor[1], "--trust", physicist[1])
    assert again.returncode == 1
    assert "APPROVED by Physicist^Jo" in again.stdout and "already approved" in again.stdout
    shown = planner("audit", "show", "--db", tmp_path / "audit.sqlite", "--json")
    entry = json.loads(shown.stdout)["entries"][-1]
    assert entry["action"] == "approve" and entry["details"]["second_check_verdict"] == "agree"


def test_the_physician_cannot_approve_their_own_plan(people, tmp_path):
    folder, doctor, _, passphrase = people
    assert sign(folder, doctor, passphrase).returncode == 0
    before = (folder / "RTPLAN.dcm").read_bytes()
    run = approve(folder, doctor, doctor, passphrase, tmp_path, reviewer="Oncologist^A")
    assert run.returncode != 0 and "review must be by another person" in run.stderr
    assert (folder / "RTPLAN.dcm").read_bytes() == before


def test_a_leaf_moved_after_signing_is_refused(people, tmp_path):
    folder, doctor, physicist, passphrase = people
    assert sign(folder, doctor, passphrase).returncode == 0
    move_a_leaf_in_the_last_control_point(folder / "RTPLAN.dcm", folder / "RTPLAN.dcm")
    review = planner("review", folder / "RTPLAN.dcm", "--trust", doctor[1], "--json")
    assert review.returncode == 1
    report = json.loads(review.stdout)
    assert report["can_approve"] is False and report["signatures"][0]["status"] == "BROKEN"
    assert any("altered after signing" in reason for reason in report["reasons"])
    before = (folder / "RTPLAN.dcm").read_bytes()
    run = approve(folder, physicist, doctor, passphrase, tmp_path)
    assert run.returncode != 0 and "altered after signing" in run.stderr
    assert (folder / "RTPLAN.dcm").read_bytes() == before


def test_the_export_is_in_the_audit_log_and_its_hash_in_the_plan(tmp_path):
    """`planner imrt --out` records the export like `planner plan` does: the entry in the log, its hash
    in the RT Plan (planner.dicom.audit_anchor), so `audit verify --against` can find the plan."""
    from planner.dicom.audit_anchor import read_audit_anchors

    out, db = tmp_path / "plan", tmp_path / "audit.sqlite"
    ran = planner("imrt", "--tg119", "--grid-mm", "10", "--iterations", "5", "--out", out, "--audit-db", db)
    assert ran.returncode == 0, ran.stderr
    ds = dcmread(out / "RTPLAN.dcm")
    shown = json.loads(planner("audit", "show", "--db", db, "--json").stdout)["entries"]
    assert [(e["action"], e["plan_uid"]) for e in shown] == [("export", str(ds.SOPInstanceUID))]
    assert [(a.action, a.entry_hash) for a in read_audit_anchors(ds)] == [("export", shown[0]["entry_hash"])]
    against = planner("audit", "verify", "--db", db, "--against", out)
    assert against.returncode == 0, against.stdout + against.stderr
