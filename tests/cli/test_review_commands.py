"""`planner review`, `approve` and `reject` on a real signed package, as a script would run them:
the exit statuses, the JSON, the decision written or the file left alone."""

import json
from pathlib import Path

import pytest
from pydicom import dcmread

from tests.cli.test_signing_commands import treat_before_review
from tests.dicom.signature_fixtures import PASSPHRASE, signer
from tests.review.test_plan_review import signed_package
from tests.cli_runner import planner

ROOT = Path(__file__).resolve().parents[2]




@pytest.fixture
def package(tmp_path):
    folder, _doctor, doctor_cert = signed_package(tmp_path / "plan", tmp_path)
    _physicist, physicist_key, physicist_cert = signer(tmp_path, "J. Physicist")
    passphrase = tmp_path / "passphrase.txt"
    passphrase.write_bytes(PASSPHRASE + b"\n")
    return folder, doctor_cert, physicist_key, physicist_cert, passphrase


def decide(command, package, tmp_path, *extra, passphrase=None):
    folder, doctor_cert, key, cert, passphrase_file = package
    return planner(command, folder / "RTPLAN.dcm", "--key", key, "--cert", cert, "--reviewer", "Physicist^Jo",
                   "--passphrase-file", passphrase or passphrase_file, "--trust", doctor_cert,
                   "--audit-db", tmp_path / "audit.sqlite", *extra)


def test_review_json_says_it_may_be_approved_with_the_second_check_difference(package):
    folder, doctor_cert, *_ = package
    run = planner("review", folder, "--trust", doctor_cert, "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["can_approve"] is True and report["reasons"] == []
    assert (report["treatable"], report["reviewed"], report["clinic_policy"]) == (False, False, "review_first")
    assert abs(report["second_check_difference_percent"]) < 0.5
    assert report["signatures"][0]["signer"] == "Dr A. Oncologist, Test Clinic"
    assert report["signatures"][0]["role"] == "creator" and report["signatures"][0]["status"] == "intact"
    untrusted = planner("review", folder)
    assert untrusted.returncode == 1
    assert "can approve     NO" in untrusted.stdout and "not trusted" in untrusted.stdout


def test_approve_then_review_shows_it_approved_and_the_audit_log_holds(package, tmp_path):
    folder, doctor_cert, _key, physicist_cert, _ = package
    run = decide("approve", package, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("APPROVED ") and "second check difference" in run.stdout
    assert PASSPHRASE.decode() not in run.stdout + run.stderr
    review = planner("review", folder, "--trust", doctor_cert, "--trust", physicist_cert)
    assert review.returncode == 1
    assert "APPROVED by Physicist^Jo" in review.stdout and "already approved" in review.stdout
    assert "  treatable: yes — " in review.stdout and "  reviewed:  yes — " in review.stdout
    assert "authorization: J. Physicist, Test Clinic" in review.stdout
    audit = planner("audit", "verify", "--db", tmp_path / "audit.sqlite")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    shown = planner("audit", "show", "--db", tmp_path / "audit.sqlite", "--json")
    assert [e["action"] for e in json.loads(shown.stdout)["entries"]] == ["approve"]


def test_where_the_clinic_treats_before_review_the_review_says_unreviewed(package, private_user_folders):
    folder, doctor_cert, *_ = package
    settings = treat_before_review(private_user_folders)
    run = planner("review", folder, "--trust", doctor_cert)
    assert run.returncode == 0, run.stderr
    assert ("  treatable: yes — " in run.stdout and "  reviewed:  NO — " in run.stdout
            and f"UNREVIEWED — treated before the physics review by clinic policy ({settings})" in run.stdout)


def test_reject_with_a_reason(package, tmp_path):
    folder, *_ = package
    run = decide("reject", package, tmp_path, "--reason", "prescribe to 3 mm depth instead")
    assert run.returncode == 0, run.stderr
    ds = dcmread(folder / "RTPLAN.dcm")
    assert ds.ApprovalStatus == "REJECTED"
    assert ds.ApprovalStatusFurtherDescription == "prescribe to 3 mm depth instead"


def test_a_wrong_passphrase_is_exit_2_and_the_file_is_unchanged(package, tmp_path):
    folder, *_ = package
    before = (folder / "RTPLAN.dcm").read_bytes()
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase\n")
    run = decide("approve", package, tmp_path, passphrase=wrong)
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and "not the passphrase" not in run.stderr
    assert (folder / "RTPLAN.dcm").read_bytes() == before
    no_reason = decide("reject", package, tmp_path, "--reason", " ")
    assert no_reason.returncode == 2 and (folder / "RTPLAN.dcm").read_bytes() == before


def test_a_refused_approval_is_exit_1_with_the_reasons_and_the_file_unchanged(package, tmp_path):
    folder, doctor_cert, key, cert, passphrase = package
    before = (folder / "RTPLAN.dcm").read_bytes()
    run = planner("approve", folder, "--key", key, "--cert", cert, "--reviewer", "Physicist^Jo",
                  "--passphrase-file", passphrase, "--audit-db", tmp_path / "audit.sqlite")  # no --trust
    assert run.returncode == 1
    assert "cannot approve" in run.stderr and "not trusted" in run.stderr
    assert (folder / "RTPLAN.dcm").read_bytes() == before


def test_review_of_a_file_that_is_not_an_rt_plan_is_exit_2(tmp_path):
    (tmp_path / "x.dcm").write_text("hello")
    run = planner("review", tmp_path / "x.dcm")
    assert run.returncode == 2 and "not a DICOM file" in run.stderr
