"""Signing keys and X.509 certificates for DICOM digital signatures (PS3.15 Annex C, RSA profiles).

A signing identity is an RSA private key with the certificate that names its owner. It comes
from a PKCS#12 file (certificate inside) or a PEM key plus a PEM certificate. Everything that
would make a signature worthless or unverifiable (wrong passphrase, short or non-RSA key, a
certificate outside its validity dates or for another key) is refused here, with a one-line
message naming the file, before anything is signed.

The passphrase is used once to decrypt the key and is never stored, logged or repeated in a
message. A clinic without a certificate authority can make a self-signed TEST certificate; it is
marked in its subject (Organizational Unit) so the UI and the report can say so.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from planner.core.atomic import atomic_write_bytes
from planner.core.errors import PlannerError

MINIMUM_RSA_KEY_BITS = 2048  # PS3.15 Annex C Base RSA profile; NIST SP 800-131A from 2014
TEST_CERTIFICATE_KEY_BITS = 3072
TEST_CERTIFICATE_MARK = "Planner TEST certificate - not for clinical use"
# A fresh certificate is dated a little in the past: dcmsign refuses a signature made in the same
# second as the certificate's "not before" (observed with dcmtk 3.6.7), and clocks drift.
TEST_CERTIFICATE_BACKDATE = _dt.timedelta(minutes=10)
PRIVATE_KEY_FILE_MODE = 0o600


class SigningKeyError(PlannerError, ValueError):
    """A key or certificate that cannot be used to sign; the message names the file and the reason."""


@dataclass(frozen=True)
class SigningIdentity:
    """An RSA private key, the X.509 certificate of its owner, and any issuing certificates.

    The repr names the certificate only: the key object is never printed.
    """

    private_key: rsa.RSAPrivateKey = field(repr=False)
    certificate: x509.Certificate = field(repr=False)
    chain: tuple[x509.Certificate, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:
        return f"SigningIdentity({describe_certificate(self.certificate).text()})"


@dataclass(frozen=True)
class CertificateDescription:
    """What a person needs to know about a certificate to trust a signature made with it."""

    common_name: str
    organisation: str
    issuer: str
    valid_from: _dt.datetime
    valid_until: _dt.datetime
    fingerprint_sha256: str
    is_test: bool
    is_self_signed: bool

    def signer(self) -> str:
        """"CN, O" (or just one of them): how the signer is named in messages."""
        return ", ".join(part for part in (self.common_name, self.organisation) if part) or "unnamed signer"

    def text(self) -> str:
        test = " [TEST certificate - not for clinical use]" if self.is_test else ""
        issuer = "self-signed" if self.is_self_signed else f"issued by {self.issuer}"
        return (f"{self.signer()}{test}, {issuer}, valid {_date_text(self.valid_from)} to "
                f"{_date_text(self.valid_until)}, SHA-256 {self.fingerprint_sha256}")


def load_signing_identity(key_path: str | os.PathLike, cert_path: str | os.PathLike | None = None,
                          passphrase: bytes | None = None) -> SigningIdentity:
    """The identity in a PKCS#12 file (``cert_path`` None), or a PEM key plus a PEM certificate.

    A PEM key file that also holds the certificate needs no ``cert_path``. The certificate must be
    valid now, belong to the key, and allow digital signatures.
    """
    key_path = Path(key_path)
    key_data = _read(key_path, "signing key")
    certificates: list[x509.Certificate] = []
    if _looks_like_pem(key_data):
        private_key = _load_pem_key(key_path, key_data, passphrase)
    else:
        private_key, certificates = _load_pkcs12(key_path, key_data, passphrase)

    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise SigningKeyError(f"signing key {key_path}: not an RSA key ({_key_kind(private_key)}); "
                              "the DICOM RSA signature profiles (PS3.15 Annex C) need RSA")
    if private_key.key_size < MINIMUM_RSA_KEY_BITS:
        raise SigningKeyError(f"signing key {key_path}: RSA key of {private_key.key_size} bits is too short; "
                              f"at least {MINIMUM_RSA_KEY_BITS} bits are required")
    cert_source = key_path
    if cert_path is not None:
        cert_source = Path(cert_path)
        certificates = _load_pem_certificates(cert_source, _read(cert_source, "certificate"))
    elif _looks_like_pem(key_data):
        certificates = _load_pem_certificates(key_path, key_data)
    if not certificates:
        raise SigningKeyError(f"{cert_source}: no certificate found; give the signer's PEM certificate")
    own = [cert for cert in certificates if _same_public_key(cert, private_key)]
    if not own:
        subject = describe_certificate(certificates[0]).signer()
        raise SigningKeyError(f"certificate {cert_source} ({subject}) does not match the signing key {key_path}")
    certificate = own[0]
    _check_validity(certificate, cert_source, _now())
    _check_key_usage(certificate, cert_source)
    chain = tuple(cert for cert in certificates if cert is not certificate)
    return SigningIdentity(private_key, certificate, chain)


def create_test_certificate(key_out: str | os.PathLike, cert_out: str | os.PathLike, common_name: str,
                            organisation: str, passphrase: bytes, days: int = 365) -> SigningIdentity:
    """Write a new RSA-3072 key (PEM, encrypted with ``passphrase``, mode 0600) and a self-signed
    certificate marked as a TEST certificate, for a clinic without a certificate authority.

    Refuses to overwrite existing files: a lost private key cannot be recovered.
    """
    key_out, cert_out = Path(key_out), Path(cert_out)
    if not common_name.strip():
        raise SigningKeyError("a test certificate needs the signer's name (common name)")
    if not passphrase:
        raise SigningKeyError(f"signing key {key_out}: a passphrase is required to protect the key")
    if days < 1:
        raise SigningKeyError(f"a test certificate must be valid for at least one day (asked: {days})")
    for path in (key_out, cert_out):
        if path.exists():
            raise SigningKeyError(f"{path} already exists; refusing to overwrite it")

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=TEST_CERTIFICATE_KEY_BITS)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name.strip())]
    if organisation.strip():
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation.strip()))
    attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TEST_CERTIFICATE_MARK))
    name = x509.Name(attributes)
    now = _now()
    public_key = private_key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - TEST_CERTIFICATE_BACKDATE)
        .not_valid_after(now + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(private_key, hashes.SHA256())
    )
    key_pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.BestAvailableEncryption(passphrase))
    atomic_write_bytes(key_out, key_pem, mode=PRIVATE_KEY_FILE_MODE)
    try:
        atomic_write_bytes(cert_out, certificate.public_bytes(serialization.Encoding.PEM))
    except BaseException:
        key_out.unlink(missing_ok=True)  # no key without its certificate
        raise
    return SigningIdentity(private_key, certificate)


def load_trusted_certificates(path: str | os.PathLike) -> tuple[x509.Certificate, ...]:
    """The certificates in a PEM file, to trust signers by (``planner verify --trust``, dcmsign's +cf)."""
    path = Path(path)
    certificates = _load_pem_certificates(path, _read(path, "certificate"))
    if not certificates:
        raise SigningKeyError(f"{path}: no PEM certificate found")
    return tuple(certificates)


def is_test_certificate(cert: x509.Certificate) -> bool:
    """True for a certificate made by :func:`create_test_certificate` (its subject carries the mark)."""
    return any(attribute.value == TEST_CERTIFICATE_MARK
               for attribute in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME))


def certificate_fingerprint_sha256(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate as colon-separated upper-case hex, as openssl and browsers show it."""
    return ":".join(f"{byte:02X}" for byte in cert.fingerprint(hashes.SHA256()))


def describe_certificate(cert: x509.Certificate) -> CertificateDescription:
    return CertificateDescription(
        common_name=_name_part(cert.subject, NameOID.COMMON_NAME),
        organisation=_name_part(cert.subject, NameOID.ORGANIZATION_NAME),
        issuer=_issuer_text(cert.issuer),
        valid_from=cert.not_valid_before_utc,
        valid_until=cert.not_valid_after_utc,
        fingerprint_sha256=certificate_fingerprint_sha256(cert),
        is_test=is_test_certificate(cert),
        is_self_signed=cert.issuer == cert.subject,
    )


def validity_problem(cert: x509.Certificate, at: _dt.datetime) -> str | None:
    """Why ``cert`` is not valid at ``at`` ("expired on …", "not yet valid …"), or None."""
    valid = f"valid {_date_text(cert.not_valid_before_utc)} to {_date_text(cert.not_valid_after_utc)}"
    if at < cert.not_valid_before_utc:
        return f"certificate not yet valid at {_date_text(at)} ({valid})"
    if at > cert.not_valid_after_utc:
        return f"certificate expired on {_date_text(cert.not_valid_after_utc)} ({valid})"
    return None


# --- reading ----------------------------------------------------------------------------------

def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def _looks_like_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data[:4096]


def _is_encrypted_pem(data: bytes) -> bool:
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data


def _load_pem_key(path: Path, data: bytes, passphrase: bytes | None):
    if b"PRIVATE KEY-----" not in data:
        raise SigningKeyError(f"signing key {path} holds no private key (was the certificate given instead?)")
    encrypted = _is_encrypted_pem(data)
    if encrypted and not passphrase:
        raise SigningKeyError(f"signing key {path} is protected by a passphrase; none was given")
    try:
        return serialization.load_pem_private_key(data, passphrase if encrypted else None)
    except ValueError:
        if encrypted:
            raise SigningKeyError(f"signing key {path}: wrong passphrase") from None
        raise SigningKeyError(f"signing key {path}: not a readable PEM private key (damaged or another format)") from None
    except (TypeError, UnsupportedAlgorithm):
        raise SigningKeyError(f"signing key {path}: not a readable PEM private key (unsupported key type or encryption)") from None


def _load_pem_certificates(path: Path, data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return []
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise SigningKeyError(f"certificate {path}: not a readable PEM certificate (damaged?)") from None


def _load_pkcs12(path: Path, data: bytes, passphrase: bytes | None):
    if der_element_length(data) != len(data):
        raise SigningKeyError(f"signing key {path}: neither a PEM key nor a readable PKCS#12 file (damaged?)")
    for attempt in ((passphrase, None) if passphrase else (None,)):
        try:
            private_key, certificate, additional = pkcs12.load_key_and_certificates(data, attempt)
            break
        except ValueError:
            continue
        except UnsupportedAlgorithm:
            raise SigningKeyError(f"signing key {path}: PKCS#12 encryption not supported") from None
    else:
        if passphrase:
            raise SigningKeyError(f"signing key {path}: wrong passphrase (or the PKCS#12 file is damaged)")
        raise SigningKeyError(f"signing key {path} is protected by a passphrase; none was given")
    if private_key is None:
        raise SigningKeyError(f"{path}: the PKCS#12 file holds no private key")
    certificates = ([certificate] if certificate is not None else []) + list(additional)
    return private_key, certificates


def der_element_length(data: bytes) -> int | None:
    """Length of the DER element at the start of ``data`` (header + content), or None if malformed.

    Also trims the pad byte DICOM adds to an odd-length Certificate of Signer (OB values are even)."""
    if len(data) < 2:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return None
    return 2 + count + int.from_bytes(data[2:2 + count], "big")


# --- checks -----------------------------------------------------------------------------------

def _same_public_key(cert: x509.Certificate, private_key) -> bool:
    cert_key = cert.public_key()
    return (isinstance(cert_key, rsa.RSAPublicKey) and isinstance(private_key, rsa.RSAPrivateKey)
            and cert_key.public_numbers() == private_key.public_key().public_numbers())


def _check_validity(cert: x509.Certificate, path: Path, now: _dt.datetime) -> None:
    problem = validity_problem(cert, now)
    if problem:
        raise SigningKeyError(f"{path}: {problem}")


def _check_key_usage(cert: x509.Certificate, path: Path) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (usage.digital_signature or usage.content_commitment):
        raise SigningKeyError(f"certificate {path}: its Key Usage does not allow digital signatures")


def _key_kind(key) -> str:
    size = getattr(key, "key_size", None)
    curve = getattr(getattr(key, "curve", None), "name", None)
    kind = type(key).__name__.lstrip("_").replace("PrivateKey", "")
    return f"{kind} {curve}" if curve else (f"{kind} {size} bits" if size else kind)


def _name_part(name: x509.Name, oid) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def _issuer_text(name: x509.Name) -> str:
    parts = [_name_part(name, NameOID.COMMON_NAME), _name_part(name, NameOID.ORGANIZATION_NAME)]
    return ", ".join(part for part in parts if part) or name.rfc4514_string()


def _date_text(when: _dt.datetime) -> str:
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)

