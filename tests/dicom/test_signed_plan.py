"""Opening a plan from its RT Plan: draft, signed and treatable only when trusted, broken and refused
with the signature and signer named, and what is not a Planner RT Plan refused in one line."""

import datetime as dt

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from planner.dicom.export import export_plan
from planner.dicom.keys import create_test_certificate, load_signing_identity
from planner.dicom.signatures import SignatureStatus, sign_file
from planner.core.clinic_settings import ClinicSettings
from planner.dicom.signed_plan import ClinicPolicyError, SignedPlanError, open_signed_plan
from tests.dicom.export_fixtures import demo_kv_case
from tests.dicom.signature_fixtures import PASSPHRASE, approve, flip_byte_after, save, signer, small_plan


@pytest.fixture(scope="module")
def kv_case():
    return demo_kv_case()


@pytest.fixture(scope="module")
def export(kv_case, tmp_path_factory):
    planning_image, plan, technique, dose = kv_case
    return export_plan(plan, dose, planning_image, technique, tmp_path_factory.mktemp("kv"))


@pytest.fixture(scope="module")
def test_certificate(tmp_path_factory):
    """A clinic TEST certificate made the way `planner` makes one (self-signed, marked TEST)."""
    folder = tmp_path_factory.mktemp("keys")
    create_test_certificate(folder / "key.pem", folder / "cert.pem", "Dr A. Oncologist", "Skin Clinic", PASSPHRASE)
    return load_signing_identity(folder / "key.pem", folder / "cert.pem", PASSPHRASE)


def signed_copy(source, tmp_path, identity, role="creator"):
    path = tmp_path / "RTPLAN.dcm"
    sign_file(source, path, identity, role)
    return path


def approved_copy(source, tmp_path):
    """``source`` signed by the physician, then APPROVED and signed by another person, the physicist:
    (the file, the physician, the physicist), each signer as signature_fixtures.signer gives it."""
    doctor, physicist = signer(tmp_path, "Dr A. Oncologist"), signer(tmp_path, "J. Physicist")
    path = signed_copy(source, tmp_path, doctor[0])
    ds = dcmread(path)
    approve(ds)
    save(ds, path)
    sign_file(path, path, physicist[0], "authorization")
    return path, doctor, physicist


def test_an_unsigned_plan_opens_as_a_draft(kv_case, export):
    opened = open_signed_plan(export.folder)  # a package folder is opened by its RTPLAN.dcm
    assert opened.plan == kv_case[1] and opened.checks == ()
    assert opened.status is SignatureStatus.UNSIGNED and opened.status.value == "unsigned (draft)"
    assert not opened.treatable and opened.message == "draft: not signed"
    assert opened.rt_plan_uid == export.rt_plan_uid and opened.path == export.rt_plan
    assert opened.calculation_record["treatment_time_min"] == kv_case[3].treatment_time_min


def test_signed_by_the_physician_with_a_trusted_test_certificate_it_awaits_review_and_says_test(
        kv_case, export, tmp_path, test_certificate):
    path = signed_copy(export.rt_plan, tmp_path, test_certificate)
    opened = open_signed_plan(path, [test_certificate.certificate])
    (check,) = opened.checks
    assert opened.status is SignatureStatus.SIGNED and not opened.treatable and opened.plan == kv_case[1]
    when = check.signed_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    assert opened.message == (f"signed by Dr A. Oncologist, Skin Clinic (creator) on {when} UTC, certificate "
                              f"SHA-256 {check.certificate_fingerprint_sha256}, TEST certificate "
                              f"— not for clinical use — signed, awaiting review, not treatable: the physicist "
                              f"has not approved it (Approval Status UNAPPROVED) — DEMO commissioning — not for "
                              f"clinical use")
    assert not opened.reviewed and opened.clinic.policy == "review_first"
    # A clinic that treats before the physics review says so: treatable, not reviewed, and UNREVIEWED.
    early = open_signed_plan(path, [test_certificate.certificate], clinic=ClinicSettings(True, source="clinic.toml"))
    assert early.treatable and not early.reviewed
    assert ("UNREVIEWED — treated before the physics review by clinic policy (clinic.toml): the physicist has not "
            "approved it (Approval Status UNAPPROVED)") in early.message


def test_the_clinic_settings_decide_when_not_given(export, tmp_path, test_certificate, private_user_folders):
    """Read once per opening from clinic.toml; a wrong file is an error, never the default policy."""
    path = signed_copy(export.rt_plan, tmp_path, test_certificate)
    trusted = [test_certificate.certificate]
    assert not open_signed_plan(path, trusted).treatable          # no clinic.toml: review first
    settings = private_user_folders[1] / "clinic.toml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("treat_before_review = true\n", encoding="utf-8")
    opened = open_signed_plan(path, trusted)
    assert opened.treatable and not opened.reviewed and opened.clinic.policy == "treat_before_review"
    assert f"UNREVIEWED — treated before the physics review by clinic policy ({settings})" in opened.message
    settings.write_text("treat_before_review = yes\n", encoding="utf-8")
    with pytest.raises(ClinicPolicyError, match="whether it is treatable cannot be said: the clinic settings .* "
                                                "are not valid TOML"):
        open_signed_plan(path, trusted)


@pytest.mark.parametrize("treat_before_review", [False, True])
def test_an_approved_plan_is_reviewed_and_a_broken_one_never_treatable_under_either_policy(
        export, tmp_path, treat_before_review):
    clinic = ClinicSettings(treat_before_review)
    path, doctor, physicist = approved_copy(export.rt_plan, tmp_path)
    trusted = [doctor[0].certificate, physicist[0].certificate]
    approved = open_signed_plan(path, trusted, clinic=clinic)
    assert approved.treatable and approved.reviewed and "UNREVIEWED" not in approved.message
    broken = tmp_path / "broken.dcm"
    ds = dcmread(path)
    ds.PatientName = "Other^Patient"
    ds.save_as(broken, enforce_file_format=True)
    opened = open_signed_plan(broken, trusted, clinic=clinic)
    assert opened.status is SignatureStatus.BROKEN and not opened.treatable and not opened.reviewed
    assert "refused for treatment" in opened.message and "UNREVIEWED" not in opened.message


def test_approved_only_by_another_persons_authorization_signature(export, tmp_path):
    doctor, _key, _cert = signer(tmp_path, "Dr A. Oncologist")
    physicist, _key, _cert = signer(tmp_path, "J. Physicist")
    trusted = [doctor.certificate, physicist.certificate]
    path = signed_copy(export.rt_plan, tmp_path, doctor)
    ds = dcmread(path)
    ds.ApprovalStatus = "APPROVED"                   # outside the creator signature: nobody signed it yet
    ds.save_as(path, enforce_file_format=True)
    opened = open_signed_plan(path, trusted)
    assert not opened.treatable
    assert "awaiting review, not treatable: Approval Status says APPROVED but no authorization signature" \
        in opened.message
    own = tmp_path / "own.dcm"
    sign_file(path, own, doctor, "authorization")    # the physician approving her own plan
    opened = open_signed_plan(own, trusted)
    assert not opened.treatable
    assert ("approved by its own creator (Dr A. Oncologist, Test Clinic): another person must review and "
            "approve it") in opened.message
    sign_file(path, path, physicist, "authorization")
    opened = open_signed_plan(path, trusted)
    assert opened.treatable and "awaiting review" not in opened.message and "refused" not in opened.message
    assert not open_signed_plan(path, [doctor.certificate]).treatable   # the physicist's key must be trusted too


def test_an_untrusted_certificate_keeps_the_signature_intact_but_not_treatable(export, tmp_path, test_certificate):
    path = signed_copy(export.rt_plan, tmp_path, test_certificate)
    other, _key, _cert = signer(tmp_path, "Someone Else")
    for trusted in ((), (other.certificate,)):
        opened = open_signed_plan(path, trusted)
        assert opened.status is SignatureStatus.SIGNED and opened.checks[0].valid and not opened.treatable
        assert ("refused for treatment: signature 1 (creator, Dr A. Oncologist, Skin Clinic): certificate not "
                "trusted") in opened.message


def test_a_broken_signature_is_refused_naming_signature_and_signer(kv_case, export, tmp_path):
    identity, _key, _cert = signer(tmp_path, "Dr A. Oncologist")
    path = signed_copy(export.rt_plan, tmp_path, identity)
    flip_byte_after(path, b'"label":"')  # "Demo: …" becomes "Eemo: …" inside the embedded plan
    opened = open_signed_plan(path, [identity.certificate])
    assert opened.status is SignatureStatus.BROKEN and not opened.treatable
    assert opened.message == ("signature 1 (creator, Dr A. Oncologist, Test Clinic): the signed data changed since "
                              "signing — refused for treatment")
    assert opened.plan.label == "E" + kv_case[1].label[1:]  # the plan as it is now, for looking at
    flip_byte_after(path, b'"label":"', -1)  # the opening quote: no plan can be read any more
    with pytest.raises(SignedPlanError, match=r"the embedded plan is garbled .* — signature broken$"):
        open_signed_plan(path, [identity.certificate])


def test_an_attribute_added_after_signing_is_not_treatable(export, tmp_path):
    identity, _key, _cert = signer(tmp_path, "Dr A. Oncologist")
    path = signed_copy(export.rt_plan, tmp_path, identity)
    ds = dcmread(path)
    ds.StationName = "ROOM 2"  # not there when signed: nobody signed it
    ds.save_as(path, enforce_file_format=True)
    opened = open_signed_plan(path, [identity.certificate])
    assert opened.status is SignatureStatus.SIGNED and not opened.treatable
    assert "does not cover (0008,1010) StationName (added after signing)" in opened.message


def test_rt_plan_attributes_that_disagree_with_the_embedded_plan_are_not_treatable(export, tmp_path):
    """Both signed, yet the record-and-verify system would deliver other than what Planner shows."""
    ds = dcmread(export.rt_plan)
    ds.FractionGroupSequence[0].ReferencedBeamSequence[0].BeamMeterset = "9.5"
    altered = save(ds, tmp_path / "altered.dcm")
    identity, _key, _cert = signer(tmp_path, "Dr A. Oncologist")
    path = signed_copy(altered, tmp_path, identity)
    opened = open_signed_plan(path, [identity.certificate])
    assert opened.status is SignatureStatus.SIGNED and not opened.treatable
    assert "the embedded plan disagrees with the RT Plan: beam-on time (min): RT Plan 9.5" in opened.message


def test_a_plan_signed_only_for_authorization_has_no_physicians_signature(export, tmp_path):
    identity, _key, _cert = signer(tmp_path, "Bo Physicist")
    path = signed_copy(export.rt_plan, tmp_path, identity, "authorization")
    opened = open_signed_plan(path, [identity.certificate])
    assert not opened.treatable and "no creator (physician's) signature" in opened.message


@pytest.mark.parametrize("make, message", [
    (lambda tmp: get_testdata_file("CT_small.dcm"), "is CT Image Storage, not an RT Plan"),
    (lambda tmp: tmp / "random.bin", "is not a DICOM file"),
    (lambda tmp: save(small_plan(), tmp / "other.dcm"), "is an RT Plan Planner cannot open: no embedded Planner plan"),
    (lambda tmp: tmp / "missing.dcm", "cannot read"),
    (lambda tmp: tmp, "holds no RTPLAN.dcm: not a plan package"),
])
def test_what_is_not_a_planner_rt_plan_is_refused_in_one_line(tmp_path, make, message):
    (tmp_path / "random.bin").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(SignedPlanError, match=message) as raised:
        open_signed_plan(make(tmp_path))
    assert "\n" not in str(raised.value)
