"""`planner make-test-certificate`, `sign` and `verify` on an exported RT Plan and a plan package: what
Planner signs, dcmsign accepts; a changed byte is caught and named; a refused signing leaves the file
untouched; verify says whether Planner would treat the plan."""

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from planner.dicom.package import write_plan_package
from planner.dicom.signatures import sign_file
from tests.dicom.export_fixtures import demo_kv_case, exported_demo_rt_plan
from tests.dicom.signature_fixtures import (PASSPHRASE, run_planner, dcmsign_verify, flip_byte_after, make_certificate,
                                            requires_dcmsign, rsa_key, signer, write_pem)
from tests.dicom.test_signed_plan import approved_copy

ROOT = Path(__file__).resolve().parents[2]
SIGNER = "Dr A. Oncologist"
CERTIFICATE_PASSPHRASE = "tr0ub4dor & 3 — not echoed"


planner = run_planner


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return exported_demo_rt_plan(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    """(key, certificate, passphrase file) made by `planner make-test-certificate`."""
    folder = tmp_path_factory.mktemp("identity")
    passphrase_file = folder / "passphrase.txt"
    passphrase_file.write_text(CERTIFICATE_PASSPHRASE + "\n")
    key, cert = folder / "oncologist_key.pem", folder / "oncologist_cert.pem"
    result = planner("make-test-certificate", "--key-out", key, "--cert-out", cert, "--name", SIGNER,
                     "--organisation", "Test Clinic", "--passphrase-file", passphrase_file)
    assert result.returncode == 0, result.stderr
    assert "TEST" in result.stdout and CERTIFICATE_PASSPHRASE not in result.stdout + result.stderr
    assert key.stat().st_mode & 0o077 == 0                          # the private key is the owner's only
    return key, cert, passphrase_file


@pytest.fixture(scope="module")
def written_package(tmp_path_factory):
    """An unsigned plan package of the demo, as `planner plan` and the window write it."""
    planning_image, plan, technique, dose = demo_kv_case()
    return write_plan_package(tmp_path_factory.mktemp("package") / "plan", plan, dose, planning_image,
                              technique).folder


@pytest.fixture
def package(written_package, tmp_path):
    return Path(shutil.copytree(written_package, tmp_path / "plan"))


def contents(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture
def plan_file(exported, tmp_path):
    copy = tmp_path / "RTPLAN.dcm"
    copy.write_bytes(exported.read_bytes())
    return copy


def sign(path, identity, *extra):
    key, cert, passphrase_file = identity
    return planner("sign", path, "--key", key, "--cert", cert, "--passphrase-file", passphrase_file, *extra)


@requires_dcmsign
def test_a_signed_plan_verifies_in_planner_and_in_dcmsign(plan_file, identity):
    result = sign(plan_file, identity)
    assert result.returncode == 0, result.stderr
    assert "signature 1 (creator, Dr A. Oncologist, Test Clinic)" in result.stdout
    assert CERTIFICATE_PASSPHRASE not in result.stdout + result.stderr

    verified = planner("verify", plan_file, "--trust", identity[1], "--json")
    assert verified.returncode == 1, verified.stderr              # every signature holds, but nobody approved it
    report = json.loads(verified.stdout)
    assert report["status"] == "signed" and report["all_signatures_hold"] is True
    assert report["treatable"] is False and "signed, awaiting review" in report["treatable_message"]
    (signature,) = report["signatures"]
    assert (signature["index"], signature["role"]) == (1, "creator")
    assert signature["signer"] == "Dr A. Oncologist, Test Clinic"
    assert signature["valid"] and signature["trusted"] and signature["test_certificate"]
    assert signature["problem"] is None and len(signature["certificate_fingerprint_sha256"].split(":")) == 32
    assert dt.datetime.fromisoformat(signature["signed_at"]) <= dt.datetime.now(dt.timezone.utc)

    assert dcmsign_verify(plan_file, identity[1]).returncode == 0


def test_verify_prints_each_signature_and_refuses_an_untrusted_signer(plan_file, identity):
    assert sign(plan_file, identity).returncode == 0
    result = planner("verify", plan_file)                                  # no --trust: nobody is trusted
    assert result.returncode == 1
    for shown in ("signature 1: creator, Dr A. Oncologist", "certificate  SHA-256 ", "TEST certificate",
                  "valid        yes", "trusted      no"):
        assert shown in result.stdout
    assert result.stderr.count("\n") == 1 and "not trusted" in result.stderr


@requires_dcmsign
def test_a_changed_byte_breaks_the_signature_and_names_it(plan_file, identity):
    assert sign(plan_file, identity).returncode == 0
    flip_byte_after(plan_file, b"DEMO-0001", offset_in_value=-1)        # "DEMO-0000": the Patient ID, signed
    result = planner("verify", plan_file, "--trust", identity[1])
    assert result.returncode == 1
    assert "signature broken" in result.stdout and "valid        NO" in result.stdout
    assert "signature 1 (creator, Dr A. Oncologist, Test Clinic)" in result.stderr
    assert json.loads(planner("verify", plan_file, "--trust", identity[1], "--json").stdout)["status"] == \
        "signature broken"
    assert dcmsign_verify(plan_file, identity[1]).returncode == 101


def test_a_damaged_signed_file_is_one_line_exit_1(plan_file, identity):
    assert sign(plan_file, identity).returncode == 0
    flip_byte_after(plan_file, b"DEMO-0001", offset_in_value=5)         # the next element's VR: unreadable
    result = planner("verify", plan_file, "--trust", identity[1])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "damaged" in result.stderr
    before = plan_file.read_bytes()
    assert sign(plan_file, identity).returncode == 2 and plan_file.read_bytes() == before


def test_an_unsigned_plan_is_a_draft(plan_file):
    result = planner("verify", plan_file, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["status"] == "unsigned (draft)"
    assert (report["treatable"], report["treatable_message"]) == (False, "draft: not signed")
    assert "unsigned (draft)" in result.stderr


def test_a_file_planner_did_not_make_has_no_treatable_verdict():
    result = planner("verify", ROOT / "resources" / "demo" / "demo_ultrasound.dcm", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["treatable"] is None and "treatable" not in result.stderr


@requires_dcmsign
def test_a_package_is_signed_in_place_with_signatures_txt_and_verifies_awaiting_review(package, identity):
    report_before = (package / "report.pdf").read_bytes()
    result = sign(package, identity)
    assert result.returncode == 0, result.stderr
    assert f"signed {package / 'RTPLAN.dcm'}: signature 1 (creator, Dr A. Oncologist, Test Clinic)" in result.stdout
    assert "still shows the plan as DRAFT" in result.stdout and "signatures.txt" in result.stdout
    assert (package / "report.pdf").read_bytes() == report_before
    assert "signature 1 (creator, Dr A. Oncologist, Test Clinic)" in (package / "signatures.txt").read_text()
    assert not [p for p in package.iterdir() if p.name.startswith(".")]            # no temporary file left

    # Intact and trusted, but signed by the physician alone: not treatable until the physicist approves it.
    verified = planner("verify", package / "RTPLAN.dcm", "--trust", identity[1])
    assert verified.returncode == 1, verified.stderr
    assert "treatable: NO — signed by Dr A. Oncologist, Test Clinic (creator)" in verified.stdout
    assert ("signed, awaiting review, not treatable: the physicist has not approved it (Approval Status "
            "UNAPPROVED)") in verified.stdout and verified.stderr.count("\n") == 1
    report = json.loads(planner("verify", package / "RTPLAN.dcm", "--trust", identity[1], "--json").stdout)
    assert report["all_signatures_hold"] is True and report["treatable"] is False
    assert "awaiting review" in report["treatable_message"] and "DEMO commissioning" in report["treatable_message"]
    assert dcmsign_verify(package / "RTPLAN.dcm", identity[1]).returncode == 0


def test_an_authorization_signature_is_refused_so_the_review_cannot_be_skipped(package, identity):
    before = (package / "RTPLAN.dcm").read_bytes()
    result = sign(package / "RTPLAN.dcm", identity, "--role", "authorization")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "only by `planner approve` or `planner reject` after the physicist's review" in result.stderr
    assert (package / "RTPLAN.dcm").read_bytes() == before and not (package / "signatures.txt").exists()


def test_intact_trusted_signatures_without_a_creator_are_not_treatable_exit_1(plan_file, identity, tmp_path):
    # an authorization-only plan (made with the library, as `sign` no longer makes one) is refused for treatment
    from planner.dicom.signatures import sign_file
    from planner.dicom.keys import load_signing_identity

    key, cert, passphrase_file = identity
    sign_file(plan_file, plan_file, load_signing_identity(key, cert, passphrase_file.read_bytes().strip()),
              "authorization")
    result = planner("verify", plan_file, "--trust", cert, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["all_signatures_hold"] is True and report["treatable"] is False
    assert "no creator (physician's) signature" in report["treatable_message"]
    assert result.stderr.count("\n") == 1 and "refused for treatment" in result.stderr


def test_make_test_certificate_never_overwrites(identity):
    key, cert, passphrase_file = identity
    before = key.read_bytes()
    result = planner("make-test-certificate", "--key-out", key, "--cert-out", cert.with_name("other.pem"),
                     "--name", SIGNER, "--passphrase-file", passphrase_file)
    assert result.returncode == 2 and "already exists" in result.stderr
    assert key.read_bytes() == before


def test_without_a_file_the_passphrase_is_asked_on_the_terminal_and_never_printed(monkeypatch, capsys):
    from planner.cli import shared
    from planner.cli.shared import InputError

    prompts = []
    monkeypatch.setattr(shared, "terminal_available", lambda: True)
    monkeypatch.setattr(shared.getpass, "getpass", lambda prompt: prompts.append(prompt) or "s3cret")
    assert shared.read_passphrase(None, "Passphrase for k.pem: ") == b"s3cret"
    assert shared.read_passphrase(None, "New passphrase: ", confirm=True) == b"s3cret"
    assert prompts == ["Passphrase for k.pem: ", "New passphrase: ", "Again: "]
    answers = iter(["one", "two"])
    monkeypatch.setattr(shared.getpass, "getpass", lambda prompt: next(answers))
    with pytest.raises(InputError, match="differ"):
        shared.read_passphrase(None, "New passphrase: ", confirm=True)
    monkeypatch.setattr(shared, "terminal_available", lambda: False)
    with pytest.raises(InputError, match="--passphrase-file"):
        shared.read_passphrase(None, "Passphrase: ")
    assert "s3cret" not in capsys.readouterr().out


# --------------------------------------------------------------------------------- the clinic's review policy

def treat_before_review(private_user_folders, value: str = "true") -> Path:
    """Write the clinic's settings (clinic.toml in this test's configuration folder)."""
    settings = private_user_folders[1] / "clinic.toml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(f"treat_before_review = {value}\n", encoding="utf-8")
    return settings


def verify_json(path, *certificates):
    run = planner("verify", path, *[a for c in certificates for a in ("--trust", c)], "--json")
    return run.returncode, json.loads(run.stdout)


def test_a_physician_signed_plan_awaits_review_unless_the_clinic_treats_before_review(
        plan_file, tmp_path, private_user_folders):
    doctor = signer(tmp_path, SIGNER)
    sign_file(plan_file, plan_file, doctor[0], "creator")
    code, report = verify_json(plan_file, doctor[2])
    assert code == 1
    assert (report["treatable"], report["reviewed"], report["clinic_policy"]) == (False, False, "review_first")
    assert "signed, awaiting review, not treatable" in report["treatable_message"]

    settings = treat_before_review(private_user_folders)
    code, report = verify_json(plan_file, doctor[2])
    assert code == 0
    assert (report["treatable"], report["reviewed"], report["clinic_policy"]) == (True, False, "treat_before_review")
    unreviewed = f"UNREVIEWED — treated before the physics review by clinic policy ({settings})"
    assert unreviewed in report["treatable_message"]
    text = planner("verify", plan_file, "--trust", doctor[2])
    assert text.returncode == 0, text.stderr
    assert "  treatable: yes — " in text.stdout and unreviewed in text.stdout
    assert (f"  reviewed:  NO — This clinic treats before the physics review ({settings}): unreviewed plans are "
            f"treatable.") in text.stdout


@pytest.mark.parametrize("policy", ["false", "true"])
def test_an_approved_plan_is_reviewed_and_a_broken_one_refused_under_either_policy(
        exported, tmp_path, private_user_folders, policy):
    treat_before_review(private_user_folders, policy)
    path, doctor, physicist = approved_copy(exported, tmp_path)
    code, report = verify_json(path, doctor[2], physicist[2])
    assert code == 0
    assert (report["treatable"], report["reviewed"]) == (True, True)
    assert "UNREVIEWED" not in report["treatable_message"]
    flip_byte_after(path, b"DEMO-0001", offset_in_value=-1)        # "DEMO-0000": the Patient ID, signed
    code, report = verify_json(path, doctor[2], physicist[2])
    assert code == 1
    assert (report["status"], report["treatable"], report["reviewed"]) == ("signature broken", False, False)
    assert "refused for treatment" in report["treatable_message"]


def test_a_wrong_clinic_settings_file_is_exit_2_in_one_line(plan_file, tmp_path, private_user_folders):
    doctor = signer(tmp_path, SIGNER)
    sign_file(plan_file, plan_file, doctor[0], "creator")
    settings = treat_before_review(private_user_folders, '"sometimes"')
    run = planner("verify", plan_file, "--trust", doctor[2], "--json")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1
    assert (f"whether it is treatable cannot be said: the clinic settings {settings}: treat_before_review must be "
            f"a true/false value, not 'sometimes'") in run.stderr
