"""Signing keys and certificates: every unusable key or certificate is refused with a one-line
message naming the file, and the passphrase never appears anywhere."""

from __future__ import annotations

import datetime as dt
import re
import stat

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from planner.dicom.keys import (TEST_CERTIFICATE_MARK, SigningKeyError, certificate_fingerprint_sha256,
                                create_test_certificate, describe_certificate, is_test_certificate,
                                load_signing_identity, load_trusted_certificates)
from tests.dicom.signature_fixtures import PASSPHRASE, make_certificate, rsa_key, utc_now, write_pem


def refused(match: str, *args, **kwargs) -> str:
    with pytest.raises(SigningKeyError, match=match) as info:
        load_signing_identity(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_created_test_certificate_loads_and_is_marked(tmp_path):
    key_path, cert_path = tmp_path / "keys" / "oncologist.key", tmp_path / "keys" / "oncologist.pem"
    created = create_test_certificate(key_path, cert_path, "Dr A. Oncologist", "Skin Clinic", PASSPHRASE, days=30)

    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert PASSPHRASE not in key_path.read_bytes()
    identity = load_signing_identity(key_path, cert_path, passphrase=PASSPHRASE)
    assert identity.certificate == created.certificate and identity.private_key.key_size == 3072
    assert is_test_certificate(identity.certificate)
    assert identity.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value \
        == TEST_CERTIFICATE_MARK
    description = describe_certificate(identity.certificate)
    assert (description.common_name, description.organisation, description.is_test, description.is_self_signed) \
        == ("Dr A. Oncologist", "Skin Clinic", True, True)
    assert description.issuer == "Dr A. Oncologist, Skin Clinic"
    assert dt.timedelta(days=29) < description.valid_until - utc_now() <= dt.timedelta(days=30)
    assert description.valid_from < utc_now() - dt.timedelta(minutes=5)  # dated back for clock drift
    assert "TEST certificate - not for clinical use" in repr(identity)
    assert "PRIVATE" not in repr(identity) and PASSPHRASE.decode() not in repr(identity)


def test_the_fingerprint_is_the_sha256_of_the_der_certificate(tmp_path):
    certificate = make_certificate(rsa_key("Dr A. Oncologist"), "Dr A. Oncologist")
    fingerprint = certificate_fingerprint_sha256(certificate)

    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fingerprint)
    assert fingerprint.replace(":", "").lower() == certificate.fingerprint(hashes.SHA256()).hex()
    assert not is_test_certificate(certificate)


def test_create_test_certificate_never_overwrites_a_key(tmp_path):
    key_path, cert_path = tmp_path / "k.pem", tmp_path / "c.pem"
    key_path.write_bytes(b"someone's key")
    with pytest.raises(SigningKeyError, match="k.pem already exists; refusing to overwrite it"):
        create_test_certificate(key_path, cert_path, "Dr A", "Clinic", PASSPHRASE)
    assert key_path.read_bytes() == b"someone's key" and not cert_path.exists()
    with pytest.raises(SigningKeyError, match="a passphrase is required"):
        create_test_certificate(tmp_path / "k2.pem", tmp_path / "c2.pem", "Dr A", "Clinic", b"")


def test_a_wrong_passphrase_is_named_and_never_echoed(tmp_path):
    key_path, cert_path = write_pem(tmp_path, "doc", rsa_key("Dr A"), make_certificate(rsa_key("Dr A"), "Dr A"))
    wrong = b"Tr0ub4dor&3-my-wrong-guess"

    message = refused(r"signing key .*doc_key\.pem: wrong passphrase$", key_path, cert_path, passphrase=wrong)
    assert wrong.decode() not in message and PASSPHRASE.decode() not in message
    refused(r"doc_key\.pem is protected by a passphrase; none was given", key_path, cert_path)


def test_an_unencrypted_pem_key_with_the_certificate_in_the_same_file_loads(tmp_path):
    key, certificate = rsa_key("Dr A"), make_certificate(rsa_key("Dr A"), "Dr A")
    key_path, cert_path = write_pem(tmp_path, "plain", key, certificate, passphrase=None)
    combined = tmp_path / "combined.pem"
    combined.write_bytes(key_path.read_bytes() + cert_path.read_bytes())

    assert load_signing_identity(combined).certificate == certificate
    assert load_signing_identity(key_path, cert_path, passphrase=b"not needed").certificate == certificate


@pytest.mark.parametrize("when, expected", [
    ("expired", r"expired on \d{4}-\d\d-\d\d \d\d:\d\d UTC \(valid \d{4}-\d\d-\d\d .* to \d{4}-\d\d-\d\d"),
    ("not yet valid", r"not yet valid at .* \(valid \d{4}-\d\d-\d\d .* to \d{4}-\d\d-\d\d")])
def test_a_certificate_outside_its_validity_dates_is_refused_with_the_dates(tmp_path, when, expected):
    now = utc_now()
    start, end = ((now - dt.timedelta(days=400), now - dt.timedelta(days=35)) if when == "expired"
                  else (now + dt.timedelta(days=2), now + dt.timedelta(days=400)))
    key = rsa_key("Dr A")
    key_path, cert_path = write_pem(tmp_path, "dated", key, make_certificate(key, "Dr A", not_before=start,
                                                                               not_after=end))
    message = refused(r"dated_cert\.pem: certificate " + expected, key_path, cert_path, passphrase=PASSPHRASE)
    assert end.strftime("%Y-%m-%d") in message and start.strftime("%Y-%m-%d") in message


def test_a_non_rsa_key_is_refused(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    key_path = tmp_path / "ec_key.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(PASSPHRASE)))
    refused(r"ec_key\.pem: not an RSA key \(EC secp256r1\)", key_path, tmp_path / "unused.pem", passphrase=PASSPHRASE)


def test_a_1024_bit_rsa_key_is_refused(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    key_path, cert_path = write_pem(tmp_path, "short", key, make_certificate(key, "Dr Short"))
    refused(r"short_key\.pem: RSA key of 1024 bits is too short; at least 2048 bits are required",
            key_path, cert_path, passphrase=PASSPHRASE)


def test_a_certificate_of_another_key_is_refused(tmp_path):
    key_path, _ = write_pem(tmp_path, "mine", rsa_key("Dr A"), make_certificate(rsa_key("Dr A"), "Dr A"))
    _, other_cert = write_pem(tmp_path, "other", rsa_key("Dr B"), make_certificate(rsa_key("Dr B"), "Dr B"))
    refused(r"certificate .*other_cert\.pem \(Dr B, Test Clinic\) does not match the signing key .*mine_key\.pem",
            key_path, other_cert, passphrase=PASSPHRASE)


def test_a_certificate_not_for_signing_is_refused(tmp_path):
    key = rsa_key("Dr A")
    key_path, cert_path = write_pem(tmp_path, "tls", key, make_certificate(key, "Dr A", key_usage_signing=False))
    refused(r"tls_cert\.pem: its Key Usage does not allow digital signatures", key_path, cert_path,
            passphrase=PASSPHRASE)


def test_pkcs12_round_trip_with_its_chain(tmp_path):
    ca_key, key = rsa_key("Clinic CA"), rsa_key("Dr A")
    authority = make_certificate(ca_key, "Clinic CA", ca=True)
    certificate = make_certificate(key, "Dr A", issuer=(authority, ca_key))
    bundle = tmp_path / "dr_a.p12"
    bundle.write_bytes(pkcs12.serialize_key_and_certificates(
        b"Dr A", key, certificate, [authority], serialization.BestAvailableEncryption(PASSPHRASE)))

    identity = load_signing_identity(bundle, passphrase=PASSPHRASE)
    assert identity.certificate == certificate and identity.chain == (authority,)
    assert identity.private_key.private_numbers() == key.private_numbers()
    message = refused(r"dr_a\.p12: wrong passphrase", bundle, passphrase=b"guess")
    assert "guess" not in message
    refused(r"dr_a\.p12 is protected by a passphrase; none was given", bundle)


@pytest.mark.parametrize("content, expected", [
    (b"\x30\x82\x10\x00" + b"\x00" * 40, r"garbled\.bin: neither a PEM key nor a readable PKCS#12 file"),
    (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", r"garbled\.bin: not a readable PEM private key"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", r"garbled\.bin holds no private key"),
])
def test_a_garbled_key_file_is_refused(tmp_path, content, expected):
    garbled = tmp_path / "garbled.bin"
    garbled.write_bytes(content)
    refused(expected, garbled, passphrase=PASSPHRASE)


def test_a_missing_file_is_refused(tmp_path):
    refused(r"cannot read the signing key .*absent\.pem: No such file or directory", tmp_path / "absent.pem")
    key_path, _ = write_pem(tmp_path, "doc", rsa_key("Dr A"), make_certificate(rsa_key("Dr A"), "Dr A"))
    refused(r"cannot read the certificate .*absent_cert\.pem", key_path, tmp_path / "absent_cert.pem",
            passphrase=PASSPHRASE)


def test_trusted_certificates_load_from_a_pem_bundle(tmp_path):
    first = make_certificate(rsa_key("Dr A"), "Dr A")
    second = make_certificate(rsa_key("Dr B"), "Dr B")
    bundle = tmp_path / "trusted.pem"
    bundle.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (first, second)))

    assert load_trusted_certificates(bundle) == (first, second)
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here")
    with pytest.raises(SigningKeyError, match=r"empty\.pem: no PEM certificate found"):
        load_trusted_certificates(empty)
