"""Verifying signatures: one verdict per signature, integrity and trust reported apart.

Why a module of its own: ``valid`` says the signed bytes are those the holder of the
certificate's key signed; ``trusted`` says that certificate is one the clinic trusts and was in
date. A plan may be treated only when both hold; that decision belongs to the review layer, so
each check says what failed in one sentence and leaves the decision to it. RIPEMD-160 (dcmsign's
default MAC) is verified here although cryptography lacks it.
"""

from __future__ import annotations

import datetime as _dt
import enum
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydicom.dataset import Dataset
from pydicom.valuerep import DT

from planner.dicom.keys import MINIMUM_RSA_KEY_BITS

from .errors import SignatureError, printable, read_dicom, reading
from .mac_stream import (attribute_name, check_encoding_supported, mac_stream, mac_transfer_syntax_supported,
                         present, signable_tag, tags_of)
from .profile import CERTIFICATE_TYPE_X509, MAC_ALGORITHMS, ROLE_FOR_PURPOSE, MacAlgorithm
from .signer_trust import certificate_of_signer, certificate_trust_problem, same_subject_fingerprints


@dataclass(frozen=True)
class SignatureCheck:
    """The verdict on one signature.

    ``valid``: the signed attributes are unchanged and the signature was made by the key of the
    embedded certificate with an acceptable algorithm and key size (integrity).
    ``trusted``: that certificate is trusted (one of, or issued by one of, the certificates given)
    and was within its validity dates when signing and now.
    ``problem``: None when both hold, else one sentence naming the signature, the signer and what failed.
    ``attributes_not_signed``: top-level attributes present now but outside this signature (for a
    creator signature: the Approval module; anything else was added after signing or never signed).
    """

    index: int
    mac_id: int | None
    role: str | None
    purpose: str | None
    signer: str
    certificate_fingerprint_sha256: str | None
    is_test_certificate: bool
    signed_at: _dt.datetime | None
    mac_algorithm: str
    digital_signature_uid: str
    attributes_signed: int
    attributes_not_signed: tuple[str, ...]
    valid: bool
    trusted: bool
    problem: str | None
    certificate: x509.Certificate | None = field(default=None, repr=False, compare=False)
    # Fingerprints of trusted certificates that carry this signer's subject but are not its
    # certificate: a look-alike (or a renewed certificate nobody has trusted yet).
    trusted_fingerprints_of_subject: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """ "signature 1 (creator, Dr A. Oncologist, Clinic)": how messages name this signature."""
        return _label(self.index, self.role, self.purpose, self.signer)


class SignatureStatus(enum.Enum):
    """The one-word state of a dataset, for the title bar, the report and the plan list."""

    UNSIGNED = "unsigned (draft)"
    SIGNED = "signed"
    BROKEN = "signature broken"

    @classmethod
    def of(cls, checks: Iterable[SignatureCheck]) -> "SignatureStatus":
        """BROKEN if any signature fails its integrity check; trust is read from each check."""
        checks = tuple(checks)
        if not checks:
            return cls.UNSIGNED
        return cls.SIGNED if all(check.valid for check in checks) else cls.BROKEN


def verify_dataset(ds: Dataset, trusted_certificates: Iterable[x509.Certificate] = (), *,
                   at: _dt.datetime | None = None) -> tuple[SignatureCheck, ...]:
    """One check per item of the top-level Digital Signatures Sequence, in order (1-based index).

    ``at`` is the time the certificates must be valid at (default now). Signatures inside
    sequence items (dcmsign --sign-item) are not checked.
    """
    trusted = tuple(trusted_certificates)
    now = (at or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc)
    items = ds.get("DigitalSignaturesSequence") or ()
    parameters: dict[int, list[Dataset]] = {}
    for mac_item in ds.get("MACParametersSequence") or ():
        parameters.setdefault(int_or_none(mac_item.get("MACIDNumber")), []).append(mac_item)
    return tuple(_check_one(ds, index, item, parameters, trusted, now) for index, item in enumerate(items, 1))


def verify_file(path: str | os.PathLike, trusted: Iterable[x509.Certificate] = (), *,
                at: _dt.datetime | None = None) -> tuple[SignatureCheck, ...]:
    """verify_dataset of a file; SignatureError when it is not DICOM or cannot be read (DamagedFileError)."""
    with reading(path):
        return verify_dataset(read_dicom(Path(path)), trusted, at=at)


def mac_byte_stream(ds: Dataset, index: int) -> bytes:
    """The exact bytes signature ``index`` (1-based) covers: what ``dcmsign --dump`` writes."""
    items = ds.get("DigitalSignaturesSequence") or ()
    if not 1 <= index <= len(items):
        raise SignatureError(f"no signature {index}: the dataset has {len(items)}")
    item = items[index - 1]
    mac_id = int_or_none(item.get("MACIDNumber"))
    for mac_item in ds.get("MACParametersSequence") or ():
        if int_or_none(mac_item.get("MACIDNumber")) == mac_id:
            return mac_stream(ds, tags_of(mac_item), item)
    raise SignatureError(f"signature {index}: no MAC Parameters item with MAC ID {mac_id}")


def _check_one(ds: Dataset, index: int, item: Dataset, parameters: dict[int, list[Dataset]],
               trusted: tuple[x509.Certificate, ...], now: _dt.datetime) -> SignatureCheck:
    mac_id = int_or_none(item.get("MACIDNumber"))
    purpose_code, purpose = _purpose(item)
    role = ROLE_FOR_PURPOSE.get(purpose_code) if purpose_code else None
    certificate, description, certificate_problem = certificate_of_signer(item)
    signed_at, time_problem = _signature_datetime(item)
    mac_items = parameters.get(mac_id, [])
    mac_item = mac_items[0] if len(mac_items) == 1 else None
    algorithm = str(mac_item.get("MACAlgorithm", "") or "") if mac_item is not None else ""
    tags = tags_of(mac_item) if mac_item is not None else ()
    signed = {tag for tag in tags if signable_tag(tag)}
    not_signed = tuple(attribute_name(tag) for tag in sorted(ds.keys())
                       if signable_tag(tag) and int(tag) not in signed)

    problem = (certificate_problem
               or (f"{len(mac_items)} MAC Parameters items share MAC ID {mac_id}" if len(mac_items) > 1 else None)
               or (f"no MAC Parameters item for MAC ID {mac_id}" if mac_item is None else None)
               or time_problem
               or _integrity_problem(ds, item, mac_item, tags, certificate, algorithm))
    trust_problem, look_alikes = None, ()
    if certificate is not None and problem is None:
        trust_problem = certificate_trust_problem(certificate, trusted, signed_at, now)
        if trust_problem is not None:
            look_alikes = same_subject_fingerprints(certificate, trusted)

    signer = printable(description.signer()) if description else "unknown signer"
    reason = problem or trust_problem
    return SignatureCheck(
        index=index, mac_id=mac_id, role=role, purpose=purpose, signer=signer,
        certificate_fingerprint_sha256=description.fingerprint_sha256 if description else None,
        is_test_certificate=bool(description and description.is_test),
        signed_at=signed_at, mac_algorithm=printable(algorithm) or "unknown",
        digital_signature_uid=str(item.get("DigitalSignatureUID", "") or ""),
        attributes_signed=len(signed), attributes_not_signed=not_signed,
        valid=problem is None, trusted=problem is None and trust_problem is None,
        problem=printable(f"{_label(index, role, purpose, signer)}: {reason}") if reason else None,
        certificate=certificate, trusted_fingerprints_of_subject=look_alikes)


def _integrity_problem(ds: Dataset, item: Dataset, mac_item: Dataset, tags: tuple[int, ...],
                       certificate: x509.Certificate, algorithm: str) -> str | None:
    """Why the signature does not vouch for the data as it is now, or None (PS3.15 C.3)."""
    if algorithm not in MAC_ALGORITHMS:
        return f"MAC algorithm {algorithm or '(none)'} is not supported"
    mac = MAC_ALGORITHMS[algorithm]
    if mac.digest is None and "ripemd160" not in hashlib.algorithms_available:
        return f"MAC algorithm {algorithm} is not supported (this system's OpenSSL has no RIPEMD-160)"
    if mac.weak:
        return f"MAC algorithm {algorithm} is too weak to rely on (collisions can be made); re-sign with SHA256"
    transfer_syntax = str(mac_item.get("MACCalculationTransferSyntaxUID", "") or "")
    if not mac_transfer_syntax_supported(transfer_syntax):
        return f"MAC Calculation Transfer Syntax {transfer_syntax or '(none)'} is not supported"
    if str(item.get("CertificateType", "") or "") != CERTIFICATE_TYPE_X509:
        return f"certificate type {item.get('CertificateType', '(none)')} is not supported (only X509_1993_SIG)"
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        return "the signer's key is not RSA; only the RSA signature profiles are supported"
    if public_key.key_size < MINIMUM_RSA_KEY_BITS:
        return f"signed with a {public_key.key_size}-bit RSA key; at least {MINIMUM_RSA_KEY_BITS} bits are required"
    signature = bytes(item.get("Signature", b"") or b"")
    try:
        check_encoding_supported(ds)
        if _signature_matches(public_key, signature, mac_stream(ds, tags, item), mac):
            return None
    except SignatureError as exc:
        return str(exc)
    removed = [attribute_name(tag) for tag in tags if signable_tag(tag) and not present(ds, tag)]
    if removed:
        return f"the signed data changed since signing (removed: {', '.join(removed)})"
    return "the signed data changed since signing"


def _signature_matches(public_key: rsa.RSAPublicKey, signature: bytes, stream: bytes, mac: MacAlgorithm) -> bool:
    if mac.digest is None:
        return _verify_pkcs1_ripemd160(public_key, signature, stream)
    try:
        public_key.verify(signature, stream, padding.PKCS1v15(), mac.digest)
        return True
    except InvalidSignature:
        return False


# DER DigestInfo prefix for RIPEMD-160 (OID 1.3.36.3.2.1, NULL parameters), as OpenSSL writes it.
_RIPEMD160_DIGEST_INFO = bytes.fromhex("3021300906052b2403020105000414")


def _verify_pkcs1_ripemd160(public_key: rsa.RSAPublicKey, signature: bytes, stream: bytes) -> bool:
    """RSASSA-PKCS1-v1_5 verification (RFC 8017 8.2.2) with RIPEMD-160, which cryptography lacks.

    The whole encoded block is rebuilt and compared, never parsed, so no lax-padding forgery passes.
    """
    digest = hashlib.new("ripemd160", stream).digest()
    numbers = public_key.public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    value = int.from_bytes(signature, "big")
    if len(signature) != size or value >= numbers.n:
        return False
    encoded = pow(value, numbers.e, numbers.n).to_bytes(size, "big")
    digest_info = _RIPEMD160_DIGEST_INFO + digest
    expected = b"\x00\x01" + b"\xff" * (size - 3 - len(digest_info)) + b"\x00" + digest_info
    return hmac.compare_digest(encoded, expected)


def int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _purpose(item: Dataset) -> tuple[tuple[str, str] | None, str | None]:
    codes = item.get("DigitalSignaturePurposeCodeSequence") or ()
    if not codes:
        return None, None
    code = codes[0]
    key = (str(code.get("CodingSchemeDesignator", "") or ""), str(code.get("CodeValue", "") or ""))
    return key, printable(str(code.get("CodeMeaning", "") or "") or f"code {key[1]}")


def _signature_datetime(item: Dataset) -> tuple[_dt.datetime | None, str | None]:
    text = str(item.get("DigitalSignatureDateTime", "") or "").strip()
    if not text:
        return None, "the signature has no Digital Signature DateTime"
    try:
        when = DT(text)
    except ValueError:
        return None, f"the Digital Signature DateTime {text!r} cannot be read"
    if when.tzinfo is None:  # PS3.5 DT without offset: local time of the signer; assume UTC
        when = when.replace(tzinfo=_dt.timezone.utc)
    return _dt.datetime(when.year, when.month, when.day, when.hour, when.minute, when.second,
                        when.microsecond, tzinfo=when.tzinfo), None


def _label(index: int, role: str | None, purpose: str | None, signer: str) -> str:
    return f"signature {index} ({role or purpose or 'no purpose given'}, {signer})"
