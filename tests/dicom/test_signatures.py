"""DICOM digital signatures: Planner's and dcmtk's dcmsign accept each other's, and any change to a
signed byte is refused by both (PS3.15 Annex C; shared dicom-notes §1)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from pydicom import dcmread, dcmwrite
from pydicom.dataelem import RawDataElement
from pydicom.uid import ImplicitVRLittleEndian

from planner.dicom.keys import SigningIdentity, load_signing_identity
from planner.dicom.signatures import (AUTHORIZATION, CREATOR, SignatureError, SignatureStatus, mac_byte_stream,
                                      sign_dataset, sign_file, verify_dataset, verify_file)
from tests.dicom.signature_fixtures import (DEMO_ULTRASOUND, PASSPHRASE, approve, dcmsign, dcmsign_verify,
                                            flip_byte_after, make_certificate, requires_dcmsign, rsa_key, save,
                                            signer, small_plan, utc_now, write_pem)

PIXEL_DATA_OB = b"\xe0\x7f\x10\x00OB\x00\x00"


# --- Planner signs, dcmsign verifies ------------------------------------------------------------

@requires_dcmsign
@pytest.mark.parametrize("source", ["demo ultrasound", "small plan, implicit VR"])
def test_planner_creator_signature_is_accepted_by_dcmsign(tmp_path, source):
    identity, _, cert_path = signer(tmp_path, "Dr A. Oncologist")
    unsigned = (DEMO_ULTRASOUND if source == "demo ultrasound"
                else save(small_plan(), tmp_path / "plan.dcm", implicit_vr=True))
    signed = tmp_path / "signed.dcm"
    check = sign_file(unsigned, signed, identity, CREATOR)

    assert check.valid and check.role == CREATOR and check.purpose == "Author's Signature"
    assert check.mac_algorithm == "SHA256"
    result = dcmsign_verify(signed, cert_path, extra=("+rg", "+rc"))
    assert result.returncode == 0, result.stderr
    ds = dcmread(signed)
    assert ds.file_meta.TransferSyntaxUID == dcmread(unsigned).file_meta.TransferSyntaxUID  # kept as it was
    item = ds.DigitalSignaturesSequence[0]
    assert ds.MACParametersSequence[0].MACCalculationTransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert item.CertificateType == "X509_1993_SIG" and len(item.Signature) == 256  # RSA-2048
    assert item.DigitalSignatureDateTime.endswith("+0000")
    assert "CertifiedTimestampType" not in item  # Type 1C: only with a Certified Timestamp
    expected_unsigned = () if source == "demo ultrasound" else ("(300E,0002) ApprovalStatus",)
    assert check.attributes_not_signed == expected_unsigned


@requires_dcmsign
def test_review_workflow_creator_then_approval_then_authorization_verifies_in_both(tmp_path):
    oncologist, _, oncologist_cert = signer(tmp_path, "Dr A. Oncologist")
    physicist, _, physicist_cert = signer(tmp_path, "Ann Physicist")
    ds = small_plan()
    sign_dataset(ds, oncologist, CREATOR)
    assert 0x300E0002 not in ds.MACParametersSequence[0].DataElementsSigned  # Approval module left out

    approve(ds)
    (creator,) = verify_dataset(ds, [oncologist.certificate])
    assert creator.valid and creator.trusted, creator.problem  # approval did not break it
    assert creator.attributes_not_signed == ("(300E,0002) ApprovalStatus", "(300E,0004) ReviewDate",
                                             "(300E,0005) ReviewTime", "(300E,0008) ReviewerName")
    sign_dataset(ds, physicist, AUTHORIZATION)
    path = save(ds, tmp_path / "approved.dcm")

    checks = verify_file(path, [oncologist.certificate, physicist.certificate])
    assert [(c.index, c.role, c.signer, c.valid, c.trusted) for c in checks] == [
        (1, CREATOR, "Dr A. Oncologist, Test Clinic", True, True),
        (2, AUTHORIZATION, "Ann Physicist, Test Clinic", True, True)]
    assert checks[1].attributes_not_signed == () and SignatureStatus.of(checks) is SignatureStatus.SIGNED
    result = dcmsign_verify(path, oncologist_cert, physicist_cert, extra=("+rc", "+ru"))
    assert result.returncode == 0, result.stderr


@requires_dcmsign
def test_changing_the_approval_after_authorization_breaks_only_the_authorization(tmp_path):
    oncologist, _, oncologist_cert = signer(tmp_path, "Dr A. Oncologist")
    physicist, _, physicist_cert = signer(tmp_path, "Ann Physicist")
    ds = small_plan()
    sign_dataset(ds, oncologist, CREATOR)
    approve(ds)
    sign_dataset(ds, physicist, AUTHORIZATION)
    ds.ApprovalStatus = "REJECTED"
    path = save(ds, tmp_path / "changed.dcm")

    creator, authorization = verify_file(path, [oncologist.certificate, physicist.certificate])
    assert creator.valid and not authorization.valid
    assert authorization.problem == ("signature 2 (authorization, Ann Physicist, Test Clinic): "
                                     "the signed data changed since signing")
    assert dcmsign_verify(path, oncologist_cert, physicist_cert).returncode == 101


@requires_dcmsign
def test_a_signature_survives_re_encoding_as_implicit_vr(tmp_path):
    """The MAC is computed in Explicit VR LE whatever the file's encoding (PACS often store implicit)."""
    identity, _, cert_path = signer(tmp_path, "Dr A. Oncologist")
    ds = small_plan()
    sign_dataset(ds, identity, CREATOR)
    reread = dcmread(save(ds, tmp_path / "explicit.dcm"))
    reread.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    implicit = tmp_path / "implicit.dcm"
    reread.save_as(implicit, enforce_file_format=True)

    assert dcmread(implicit).original_encoding == (True, True)
    assert [c.valid for c in verify_file(implicit, [identity.certificate])] == [True]
    assert dcmsign_verify(implicit, cert_path).returncode == 0


# --- dcmsign signs, Planner verifies --------------------------------------------------------------

MAC_OPTIONS = [pytest.param("--mac-sha256", "SHA256", id="SHA256"),
               pytest.param("--mac-sha512", "SHA512", id="SHA512"),
               pytest.param(None, "RIPEMD160", id="dcmsign-default-RIPEMD160")]


@requires_dcmsign
@pytest.mark.parametrize("mac_option, algorithm", MAC_OPTIONS)
def test_planner_verifies_dcmsign_signatures(tmp_path, mac_option, algorithm):
    _, key_path, cert_path = signer(tmp_path, "Dr B. Dcmtk")
    plan = save(small_plan(), tmp_path / "plan.dcm")
    signed = tmp_path / "signed.dcm"
    options = [mac_option] if mac_option else []
    result = dcmsign("--sign", key_path, cert_path, "+pw", PASSPHRASE.decode(), "--profile-creator",
                     "--sig-purpose", "1", *options, plan, signed)
    assert result.returncode == 0, result.stderr

    (check,) = verify_file(signed, [load_signing_identity(key_path, cert_path, PASSPHRASE).certificate])
    if algorithm == "RIPEMD160" and "ripemd160" not in hashlib.algorithms_available:
        assert not check.valid and "MAC algorithm RIPEMD160 is not supported" in check.problem
        return
    assert (check.valid, check.trusted, check.problem) == (True, True, None)
    assert (check.mac_algorithm, check.role, check.signer) == (algorithm, CREATOR, "Dr B. Dcmtk, Test Clinic")
    assert check.signed_at is not None and abs(check.signed_at - utc_now()) < dt.timedelta(minutes=5)


@requires_dcmsign
def test_without_ripemd160_a_dcmsign_default_signature_is_reported_as_unsupported(tmp_path, monkeypatch):
    """OpenSSL 3 may lack RIPEMD-160 (legacy provider off): say so instead of calling it tampered."""
    _, key_path, cert_path = signer(tmp_path, "Dr B. Dcmtk")
    signed = tmp_path / "signed.dcm"
    assert dcmsign("--sign", key_path, cert_path, "+pw", PASSPHRASE.decode(), DEMO_ULTRASOUND, signed).returncode == 0
    monkeypatch.setattr(hashlib, "algorithms_available", frozenset())

    (check,) = verify_file(signed)
    assert not check.valid and check.problem.endswith(
        "MAC algorithm RIPEMD160 is not supported (this system's OpenSSL has no RIPEMD-160)")


@requires_dcmsign
def test_a_dcmsign_md5_signature_is_not_relied_on(tmp_path):
    _, key_path, cert_path = signer(tmp_path, "Dr B. Dcmtk")
    signed = tmp_path / "signed.dcm"
    assert dcmsign("--sign", key_path, cert_path, "+pw", PASSPHRASE.decode(), "--mac-md5",
                   DEMO_ULTRASOUND, signed).returncode == 0

    (check,) = verify_file(signed)
    assert not check.valid and "MAC algorithm MD5 is too weak" in check.problem
    assert check.problem.startswith("signature 1 (no purpose given, Dr B. Dcmtk, Test Clinic): ")


@requires_dcmsign
@pytest.mark.parametrize("source", ["small plan", "demo ultrasound"])
def test_the_mac_byte_stream_equals_dcmsigns(tmp_path, source):
    """Gold test: the bytes Planner hashes are exactly those dcmsign hashed (``--dump``), for a
    dataset with a UTF-8 name, DS values, nested sequences and native pixel data."""
    _, key_path, cert_path = signer(tmp_path, "Dr B. Dcmtk")
    unsigned = DEMO_ULTRASOUND if source == "demo ultrasound" else save(small_plan(), tmp_path / "plan.dcm")
    signed, dump = tmp_path / "signed.dcm", tmp_path / "stream.bin"
    result = dcmsign("--sign", key_path, cert_path, "+pw", PASSPHRASE.decode(), "--mac-sha256",
                     "--sig-purpose", "5", "--dump", dump, unsigned, signed)
    assert result.returncode == 0, result.stderr

    stream = mac_byte_stream(dcmread(signed), 1)
    assert len(stream) > 200 and stream == dump.read_bytes()


@requires_dcmsign
def test_planner_signature_added_after_a_dcmsign_creator_signature(tmp_path):
    identity, key_path, cert_path = signer(tmp_path, "Dr B. Dcmtk")
    physicist, _, physicist_cert = signer(tmp_path, "Ann Physicist")
    plan, creator_signed = save(small_plan(), tmp_path / "plan.dcm"), tmp_path / "creator.dcm"
    assert dcmsign("--sign", key_path, cert_path, "+pw", PASSPHRASE.decode(), "--mac-sha256",
                   plan, creator_signed).returncode == 0
    both = tmp_path / "both.dcm"

    sign_file(creator_signed, both, physicist, AUTHORIZATION)

    assert [c.valid for c in verify_file(both, [identity.certificate, physicist.certificate])] == [True, True]
    assert dcmread(both).DigitalSignaturesSequence[1].MACIDNumber == 1
    assert dcmsign_verify(both, cert_path, physicist_cert).returncode == 0


# --- tampering ------------------------------------------------------------------------------------

@requires_dcmsign
@pytest.mark.parametrize("what, marker, offset", [
    pytest.param("patient name", b"DEMO^Pat", 0, id="patient-name"),
    pytest.param("pixel value", PIXEL_DATA_OB, 4 + 150_000, id="pixel-value")])
def test_flipping_one_signed_byte_is_refused_by_planner_and_dcmsign(tmp_path, what, marker, offset):
    identity, _, cert_path = signer(tmp_path, "Dr A. Oncologist")
    signed = tmp_path / "signed.dcm"
    sign_file(DEMO_ULTRASOUND, signed, identity, CREATOR)
    assert dcmsign_verify(signed, cert_path).returncode == 0

    flip_byte_after(signed, marker, offset)

    (check,) = verify_file(signed, [identity.certificate])
    assert not check.valid and not check.trusted
    assert check.problem == ("signature 1 (creator, Dr A. Oncologist, Test Clinic): "
                             "the signed data changed since signing")
    assert SignatureStatus.of([check]) is SignatureStatus.BROKEN
    result = dcmsign_verify(signed, cert_path)
    assert result.returncode == 101 and "corrupted" in result.stderr


def test_a_removed_signed_attribute_is_named(tmp_path):
    identity, _, _ = signer(tmp_path, "Dr A. Oncologist")
    ds = small_plan()
    sign_dataset(ds, identity, CREATOR)
    del ds.DoseReferenceSequence

    (check,) = verify_dataset(ds, [identity.certificate])
    assert not check.valid and check.problem.endswith(
        "the signed data changed since signing (removed: (300A,0010) DoseReferenceSequence)")


def test_an_attribute_added_after_signing_is_reported_as_not_signed(tmp_path):
    identity, _, _ = signer(tmp_path, "Dr A. Oncologist")
    ds = small_plan()
    sign_dataset(ds, identity, AUTHORIZATION)
    ds.InstitutionalDepartmentName = "ADDED LATER"

    (check,) = verify_dataset(ds, [identity.certificate])
    assert check.valid and check.attributes_not_signed == ("(0008,1040) InstitutionalDepartmentName",)


# --- trust is separate from integrity ---------------------------------------------------------------

def test_an_untrusted_or_expired_certificate_keeps_integrity_but_loses_trust(tmp_path):
    identity, _, _ = signer(tmp_path, "Dr A. Oncologist")
    ds = small_plan()
    sign_dataset(ds, identity, CREATOR)

    (untrusted,) = verify_dataset(ds)
    assert untrusted.valid and not untrusted.trusted
    assert untrusted.problem.endswith("certificate not trusted (no trusted certificates were given)")
    (stranger,) = verify_dataset(ds, [signer(tmp_path, "Someone Else")[0].certificate])
    assert stranger.valid and "certificate not trusted" in stranger.problem
    later = identity.certificate.not_valid_after_utc + dt.timedelta(days=1)
    (expired,) = verify_dataset(ds, [identity.certificate], at=later)
    expiry = identity.certificate.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
    assert expired.valid and not expired.trusted and f"certificate expired on {expiry}" in expired.problem
    assert SignatureStatus.of([untrusted]) is SignatureStatus.SIGNED  # integrity holds; trust is per check


def test_a_certificate_issued_by_a_trusted_authority_is_trusted(tmp_path):
    ca_key, signer_key = rsa_key("Clinic CA"), rsa_key("Dr C. Issued")
    authority = make_certificate(ca_key, "Clinic CA", ca=True)
    issued = make_certificate(signer_key, "Dr C. Issued", issuer=(authority, ca_key))
    ds = small_plan()
    sign_dataset(ds, SigningIdentity(signer_key, issued), CREATOR)

    (check,) = verify_dataset(ds, [authority])
    assert check.valid and check.trusted and check.problem is None
    assert not check.is_test_certificate


@requires_dcmsign
def test_a_signature_made_with_an_expired_certificate_is_intact_but_not_trusted(tmp_path):
    """dcmsign signs with an expired certificate (it only warns); both refuse to trust it."""
    key = rsa_key("Dr D. Expired")
    certificate = make_certificate(key, "Dr D. Expired", not_before=utc_now() - dt.timedelta(days=60),
                                   not_after=utc_now() - dt.timedelta(days=30))
    key_path, cert_path = write_pem(tmp_path, "expired", key, certificate)
    signed = tmp_path / "signed.dcm"
    assert dcmsign("--sign", key_path, cert_path, "+pw", PASSPHRASE.decode(), "--mac-sha256",
                   DEMO_ULTRASOUND, signed).returncode == 0

    (check,) = verify_file(signed, [certificate])
    expiry = certificate.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
    assert check.valid and not check.trusted
    assert "at signing (" in check.problem and f"certificate expired on {expiry}" in check.problem
    assert dcmsign_verify(signed, cert_path).returncode == 101


# --- refusals -----------------------------------------------------------------------------------------

def test_verifying_leaves_the_dataset_as_read(tmp_path):
    """Converting elements in place would make a later save re-encode the signed values."""
    identity, _, _ = signer(tmp_path, "Dr A. Oncologist")
    path = tmp_path / "signed.dcm"
    sign_file(DEMO_ULTRASOUND, path, identity, CREATOR)
    ds = dcmread(path)

    assert verify_dataset(ds, [identity.certificate])[0].valid
    assert isinstance(ds.get_item(0x00100010), RawDataElement)  # Patient Name
    assert isinstance(ds.get_item(0x7FE00010), RawDataElement)  # Pixel Data


def test_a_bare_dataset_without_file_meta_is_verified_but_not_signed(tmp_path):
    identity, _, _ = signer(tmp_path, "Dr A. Oncologist")
    ds = small_plan()
    sign_dataset(ds, identity, CREATOR)
    del ds.file_meta
    bare = tmp_path / "bare.dcm"
    dcmwrite(bare, ds, enforce_file_format=False, implicit_vr=True, little_endian=True)

    assert [c.valid for c in verify_file(bare, [identity.certificate])] == [True]
    with pytest.raises(SignatureError, match="has no DICOM file meta information"):
        sign_file(bare, tmp_path / "out.dcm", identity, AUTHORIZATION)


def test_an_unsigned_dataset_is_a_draft():
    assert verify_dataset(small_plan()) == ()
    assert SignatureStatus.of(()) is SignatureStatus.UNSIGNED
    assert SignatureStatus.UNSIGNED.value == "unsigned (draft)"


def test_sign_file_refuses_a_file_whose_signature_is_broken(tmp_path):
    identity, _, _ = signer(tmp_path, "Dr A. Oncologist")
    signed = tmp_path / "signed.dcm"
    sign_file(DEMO_ULTRASOUND, signed, identity, CREATOR)
    flip_byte_after(signed, b"DEMO^Pat")
    out = tmp_path / "countersigned.dcm"

    with pytest.raises(SignatureError, match=r"^refusing to sign: signature 1 \(creator, Dr A\. Oncologist, "
                                             r"Test Clinic\): the signed data changed since signing$"):
        sign_file(signed, out, identity, AUTHORIZATION)
    assert not out.exists()


def test_signing_refuses_bad_input(tmp_path):
    identity, _, _ = signer(tmp_path, "Dr A. Oncologist")
    not_dicom = tmp_path / "notes.txt"
    not_dicom.write_text("not a DICOM file")
    with pytest.raises(SignatureError, match="notes.txt is not a DICOM file"):
        sign_file(not_dicom, tmp_path / "out.dcm", identity, CREATOR)
    with pytest.raises(SignatureError, match="cannot read .*missing.dcm"):
        verify_file(tmp_path / "missing.dcm")
    with pytest.raises(SignatureError, match="unknown signature role 'physicist'"):
        sign_dataset(small_plan(), identity, "physicist")
    no_study = small_plan()
    del no_study.StudyInstanceUID
    with pytest.raises(SignatureError, match="creator signature profile needs StudyInstanceUID"):
        sign_dataset(no_study, identity, CREATOR)
    with pytest.raises(SignatureError, match="SHA256, SHA384, SHA512, not MD5"):
        sign_dataset(small_plan(), identity, CREATOR, mac_algorithm="MD5")
    after_expiry = identity.certificate.not_valid_after_utc + dt.timedelta(seconds=1)
    with pytest.raises(SignatureError, match="cannot sign with Dr A. Oncologist, Test Clinic: certificate expired on"):
        sign_dataset(small_plan(), identity, CREATOR, now=after_expiry)


def test_the_signature_is_rsa_pkcs1_sha256_over_the_mac_stream(tmp_path):
    """Independent of dcmtk: the Signature value verifies with the embedded certificate's key."""
    identity, _, _ = signer(tmp_path, "Dr A. Oncologist")
    ds = small_plan()
    sign_dataset(ds, identity, CREATOR)
    identity.certificate.public_key().verify(bytes(ds.DigitalSignaturesSequence[0].Signature),
                                             mac_byte_stream(ds, 1), padding.PKCS1v15(), hashes.SHA256())
