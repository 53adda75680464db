"""Plan packages: written whole or not at all, signed in place with the report redrawn from what was
signed (or left with signatures.txt), verified by Planner and dcmsign, refused when broken."""

import json
import os
import subprocess
from dataclasses import replace

import pytest
from pydicom import dcmread

from planner.core.plan_file import load_plan
from planner.dicom import package as package_module
from planner.dicom.package import PackageError, sign_plan_package, write_plan_package
from planner.dicom.plan_payload import read_plan_payload
from planner.dicom.signatures import SignatureStatus, verify_file
from planner.report.formatting import fingerprint
from tests.dicom.export_fixtures import demo_kv_case
from tests.dicom.signature_fixtures import dcmsign_verify, flip_byte_after, requires_dcmsign, signer
from tests.dose.kv_fixtures import fixture_source

PACKAGE = ["RTDOSE.dcm", "RTPLAN.dcm", "RTSTRUCT.dcm", "US.dcm", "plan.json", "report.pdf"]


def beam_of(case):
    """The synthetic beam data the fixture dose was computed with, for the report's PDD."""
    _, plan, technique, dose = case
    machine = technique.machine(plan.setup.machine_id)
    return fixture_source(machine.energy(plan.setup.energy_id), machine.applicator(plan.setup.applicator_id),
                          dose.ssd_cm)


def write(case, out_dir, **kwargs):
    planning_image, plan, technique, dose = case
    return write_plan_package(out_dir, plan, dose, planning_image, technique, beam_data=beam_of(case), **kwargs)


def report_inputs(case):
    planning_image, plan, technique, dose = case
    return dict(plan=plan, dose_result=dose, planning_image=planning_image, technique=technique,
                beam_data=beam_of(case))


def pdf_text(path) -> str:
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.split())


def contents(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture(scope="module")
def kv_case():
    return demo_kv_case()


def test_a_package_holds_the_export_a_draft_report_and_the_plan_file(kv_case, tmp_path):
    _, plan, _, dose = kv_case
    package = write(kv_case, tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "out")) == PACKAGE
    assert package.status is SignatureStatus.UNSIGNED and package.ultrasound == package.folder / "US.dcm"
    assert package.rt_plan_uid == dcmread(package.rt_plan).SOPInstanceUID
    text = pdf_text(package.report)
    assert "Plan status: DRAFT (unsigned)" in text and "this plan is a DRAFT" in text
    assert load_plan(package.plan_file) == plan
    record = json.loads(package.plan_file.read_text())["calculation_record"]
    assert record == read_plan_payload(dcmread(package.rt_plan))[1]  # the same record in both places
    assert record["treatment_time_min"] == dose.treatment_time_min
    with pytest.raises(PackageError, match="already holds a plan package"):
        write(kv_case, tmp_path / "out")


@requires_dcmsign
def test_signing_redraws_the_report_with_the_signature_and_both_verifiers_accept(kv_case, tmp_path):
    package = write(kv_case, tmp_path / "out")
    identity, _key, cert = signer(tmp_path, "Dr A. Oncologist")
    signed = sign_plan_package(package.folder, identity, **report_inputs(kv_case))
    assert signed.status is SignatureStatus.SIGNED and signed.report_is_current and signed.signatures_file is None
    assert signed.rt_plan_uid == package.rt_plan_uid  # signed in place: the same instance
    assert sorted(os.listdir(package.folder)) == PACKAGE  # no temporary file left

    (check,) = verify_file(signed.rt_plan, [identity.certificate])
    assert check.valid and check.trusted and check.role == "creator"
    result = dcmsign_verify(signed.rt_plan, cert)
    assert result.returncode == 0, result.stdout + result.stderr
    text = pdf_text(signed.report)
    assert "Plan status: SIGNED" in text and "DRAFT" not in text
    assert "Dr A. Oncologist" in text and fingerprint(check.certificate_fingerprint_sha256.replace(":", "")) in text


def test_signing_without_the_report_inputs_keeps_the_draft_report_and_says_so(kv_case, tmp_path):
    package = write(kv_case, tmp_path / "out")
    report_before = package.report.read_bytes()
    identity, _key, _cert = signer(tmp_path, "Dr A. Oncologist")
    signed = sign_plan_package(package.folder, identity)
    assert signed.status is SignatureStatus.SIGNED and not signed.report_is_current
    assert signed.report.read_bytes() == report_before
    note = signed.signatures_file.read_text()
    assert "signature 1 (creator, Dr A. Oncologist, Test Clinic)" in note and "shows the plan as DRAFT" in note
    # A later signing with the inputs redraws the report, which then supersedes the note.
    again = sign_plan_package(package.folder, identity, "authorization", **report_inputs(kv_case))
    assert again.report_is_current and not (package.folder / "signatures.txt").exists()
    assert "Plan status: APPROVED" in pdf_text(again.report)


@pytest.mark.parametrize("change, message", [
    (lambda inputs: {**inputs, "plan": replace(inputs["plan"], notes="changed after export")},
     "not the plan in RTPLAN.dcm"),
    (lambda inputs: {**inputs, "dose_result": replace(inputs["dose_result"], treatment_time_min=3.0)},
     "not the one RTPLAN.dcm was exported with"),
    (lambda inputs: {**inputs, "planning_image": replace(inputs["planning_image"].image, sop_instance_uid="1.2.3")},
     "not the one the plan's contours reference"),
    (lambda inputs: {**inputs, "technique": None}, "give the plan, its dose, the image and the technique together"),
])
def test_report_inputs_that_are_not_what_is_signed_are_refused_and_nothing_changes(kv_case, tmp_path, change,
                                                                                   message):
    package = write(kv_case, tmp_path / "out")
    before = contents(package.folder)
    identity, _key, _cert = signer(tmp_path, "Dr A. Oncologist")
    with pytest.raises(PackageError, match=message):
        sign_plan_package(package.folder, identity, **change(report_inputs(kv_case)))
    assert contents(package.folder) == before


def test_a_package_whose_signature_is_broken_is_not_signed_again(kv_case, tmp_path):
    package = write(kv_case, tmp_path / "out")
    identity, _key, _cert = signer(tmp_path, "Dr A. Oncologist")
    sign_plan_package(package.folder, identity)
    flip_byte_after(package.rt_plan, b'"fractions":')
    before = contents(package.folder)
    with pytest.raises(PackageError, match=r"refusing to sign: signature 1 \(creator, Dr A. Oncologist, Test Clinic\): "
                                           r"the signed data changed since signing"):
        sign_plan_package(package.folder, identity, "authorization")
    assert contents(package.folder) == before


@pytest.mark.parametrize("existing", [False, True])
def test_a_failing_report_leaves_no_file_behind(kv_case, tmp_path, monkeypatch, existing):
    out = tmp_path / "out"
    if existing:
        out.mkdir()

    def broken_report(path, content):
        raise RuntimeError("the PDF writer broke half-way")

    monkeypatch.setattr(package_module, "write_plan_report", broken_report)
    with pytest.raises(RuntimeError, match="broke half-way"):
        write(kv_case, out)
    assert (os.listdir(out) == []) if existing else not out.exists()


def test_a_failing_replacement_keeps_the_previous_package_whole(kv_case, tmp_path, monkeypatch):
    out = tmp_path / "out"
    write(kv_case, out)
    identity, _key, _cert = signer(tmp_path, "Dr A. Oncologist")
    sign_plan_package(out, identity)  # the previous package is signed: it must survive whole
    before = contents(out)

    def broken_report(path, content):
        path.write_bytes(b"%PDF- half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(package_module, "write_plan_report", broken_report)
    with pytest.raises(PackageError, match="nothing was written: No space left on device"):
        write(kv_case, out, overwrite=True)
    assert contents(out) == before
    monkeypatch.undo()
    replaced = write(kv_case, out, overwrite=True)
    assert sorted(os.listdir(out)) == PACKAGE  # the old signatures.txt went with the old plan
    assert replaced.status is SignatureStatus.UNSIGNED and verify_file(replaced.rt_plan) == ()
