"""DICOM digital signatures (PS3.15 Annex C RSA profiles; attributes in PS3.3 C.12.1.1.3).

A signature is one item of the Digital Signatures Sequence (FFFA,FFFA) plus one item of the MAC
Parameters Sequence (4FFE,0001) that shares its MAC ID Number. The signed bytes are the listed
top-level attributes re-encoded in the MAC Calculation Transfer Syntax, followed by the signature
item's own attributes (PS3.15 C.3); they are hashed with the MAC Algorithm and signed with RSA
PKCS#1 v1.5. Signatures made here verify in dcmtk's ``dcmsign`` and the other way round; the
byte stream is checked against ``dcmsign --dump`` in the tests (see shared dicom-notes §1.3).

Planner signs a plan twice:
* ``creator`` — the physician who made the plan (Creator RSA profile, purpose "Author's Signature"),
  over every attribute except the Approval module (group 300E), so a later approval keeps it valid;
* ``authorization`` — the reviewing physicist (Authorization RSA profile, purpose "Verification
  Signature"), over everything, approval included.

Integrity and trust are reported apart: ``valid`` says the signed bytes are those the holder of
the certificate's key signed; ``trusted`` says that certificate is one the clinic trusts and was
in date. A plan may be treated only when both hold; that decision belongs to the review layer.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import enum
import hashlib
import hmac
import io
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from pydicom import dcmread
from pydicom.charset import convert_encodings
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr_element, write_data_element
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, UID, generate_uid
from pydicom.valuerep import AMBIGUOUS_VR, DT, EXPLICIT_VR_LENGTH_32

from planner.core.atomic import atomic_write_bytes
from planner.dicom.keys import (MINIMUM_RSA_KEY_BITS, CertificateDescription, SigningIdentity,
                                certificate_fingerprint_sha256, der_element_length, describe_certificate,
                                validity_problem)

CREATOR = "creator"
AUTHORIZATION = "authorization"
ROLES = (CREATOR, AUTHORIZATION)

CERTIFICATE_TYPE_X509 = "X509_1993_SIG"
APPROVAL_GROUP = 0x300E  # Approval module (PS3.3 C.8.8.16): Approval Status, Review Date/Time, Reviewer Name
# Attributes the Creator and Authorization RSA profiles require in every signature (PS3.15 C.2, C.3).
PROFILE_REQUIRED = {0x00080016: "SOPClassUID", 0x00080018: "SOPInstanceUID",
                    0x0020000D: "StudyInstanceUID", 0x0020000E: "SeriesInstanceUID"}
PIXEL_DATA = 0x7FE00010

# Signature item attributes left out of the MAC (PS3.15 C.3 / PS3.3 C.12.1.1.3.1.3): they are made
# after, or independently of, the MAC.
_NOT_IN_MAC = {0x04000115,  # Certificate of Signer
               0x04000120,  # Signature
               0x04000305,  # Certified Timestamp Type
               0x04000310}  # Certified Timestamp
_ITEM, _SEQUENCE_END = struct.pack("<HH", 0xFFFE, 0xE000), struct.pack("<HH", 0xFFFE, 0xE0DD)


@dataclass(frozen=True)
class SignaturePurpose:
    """A Digital Signature Purpose code (ASTM E1762, PS3.16 CID 7007), as dcmsign writes it."""

    code_value: str
    meaning: str
    coding_scheme: str = "ASTM-sigpurpose"


PURPOSE_FOR_ROLE = {CREATOR: SignaturePurpose("1", "Author's Signature"),
                    AUTHORIZATION: SignaturePurpose("5", "Verification Signature")}
_ROLE_FOR_PURPOSE = {(p.coding_scheme, p.code_value): role for role, p in PURPOSE_FOR_ROLE.items()}


@dataclass(frozen=True)
class _MacAlgorithm:
    name: str
    digest: hashes.HashAlgorithm | None  # None: no cryptography hash (RIPEMD160, see _verify_pkcs1_ripemd160)
    weak: bool = False


MAC_ALGORITHMS = {
    "SHA256": _MacAlgorithm("SHA256", hashes.SHA256()),
    "SHA384": _MacAlgorithm("SHA384", hashes.SHA384()),
    "SHA512": _MacAlgorithm("SHA512", hashes.SHA512()),
    "RIPEMD160": _MacAlgorithm("RIPEMD160", None),  # dcmsign's default
    "SHA1": _MacAlgorithm("SHA1", hashes.SHA1(), weak=True),
    "MD5": _MacAlgorithm("MD5", hashes.MD5(), weak=True),
}
SIGNING_MAC_ALGORITHMS = ("SHA256", "SHA384", "SHA512")
# DER DigestInfo prefix for RIPEMD-160 (OID 1.3.36.3.2.1, NULL parameters), as OpenSSL writes it.
_RIPEMD160_DIGEST_INFO = bytes.fromhex("3021300906052b2403020105000414")


class SignatureError(ValueError):
    """A dataset or file that cannot be signed or checked; the message says which and why."""


class DamagedFileError(SignatureError):
    """A file pydicom cannot read through (a damaged element header or value): it vouches for nothing."""


# What pydicom raises on malformed data, often lazily, long after dcmread returned. Caught only where
# a file is read (verify_file, sign_file, signed_plan.open_signed_plan), which can name the file.
# OSError: pydicom's "No tag to read at file position ..."; the readers turn a file-system error
# (one with an errno) into "cannot read" before it gets here.
DAMAGE_ERRORS = (BytesLengthException, EOFError, IndexError, InvalidDicomError, KeyError, NotImplementedError,
                 OSError, OverflowError, TypeError, ValueError, struct.error)
_DETAIL_CHARACTERS = 160


def damaged_file_message(path, exc: BaseException) -> str:
    """One line: "PATH: the file is damaged (NotImplementedError: Unknown Value Representation ...)"."""
    detail = _printable((str(exc).splitlines() or [""])[0])
    if len(detail) > _DETAIL_CHARACTERS:
        detail = detail[:_DETAIL_CHARACTERS - 1] + "…"
    return f"{path}: the file is damaged ({type(exc).__name__}: {detail})"


def _printable(text: str) -> str:
    """``text`` on one line: a control character read from a damaged value is shown escaped (\\x0b)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


@contextlib.contextmanager
def _reading(path):
    """Turn what pydicom raises on a damaged ``path`` into DamagedFileError; a SignatureError passes."""
    try:
        yield
    except SignatureError:
        raise
    except DAMAGE_ERRORS as exc:
        raise DamagedFileError(damaged_file_message(path, exc)) from exc


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


# --- signing ----------------------------------------------------------------------------------

def sign_dataset(ds: Dataset, identity: SigningIdentity, role: str, *, mac_algorithm: str = "SHA256",
                 now: _dt.datetime | None = None, signature_uid: str | None = None) -> SignatureCheck:
    """Add one ``role`` signature to ``ds`` (in place) and return its check.

    Refuses a dataset whose existing signatures are broken (a countersignature would vouch for
    altered data), one that lacks the UIDs the profiles require, and attributes that cannot be
    signed reproducibly (unknown VR). Never re-assign a signed value afterwards: pydicom may
    re-format it and break the signature; only append further signatures.
    """
    if role not in ROLES:
        raise SignatureError(f"unknown signature role {role!r}; use one of {', '.join(ROLES)}")
    if mac_algorithm not in SIGNING_MAC_ALGORITHMS:
        raise SignatureError(f"Planner signs with {', '.join(SIGNING_MAC_ALGORITHMS)}, not {mac_algorithm}")
    when = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc)
    certificate = identity.certificate
    if not isinstance(identity.private_key, rsa.RSAPrivateKey) or identity.private_key.key_size < MINIMUM_RSA_KEY_BITS:
        raise SignatureError(f"cannot sign: an RSA key of at least {MINIMUM_RSA_KEY_BITS} bits is required")
    expired = validity_problem(certificate, when)
    if expired:
        raise SignatureError(f"cannot sign with {describe_certificate(certificate).signer()}: {expired}")
    _check_encoding_supported(ds)
    for check in verify_dataset(ds):
        if not check.valid:
            raise SignatureError(f"refusing to sign: {check.problem}")
    missing = [keyword for tag, keyword in PROFILE_REQUIRED.items() if not _present(ds, tag)]
    if missing:
        raise SignatureError(f"cannot sign: the {role} signature profile needs {', '.join(missing)}")

    tags, unsignable = [], []
    for tag in sorted(ds.keys()):
        if not _signable_tag(tag) or (role == CREATOR and tag >> 16 == APPROVAL_GROUP):
            continue
        reason = _unsignable_reason(ds, tag)
        if reason:
            unsignable.append(f"{_attribute_name(tag)} ({reason})")
        else:
            tags.append(int(tag))
    if unsignable:
        raise SignatureError("cannot sign: " + "; ".join(unsignable) + " cannot be signed reproducibly; "
                             "remove or correct these attributes first")

    mac_id = _next_mac_id(ds)
    mac_parameters = Dataset()
    mac_parameters.MACIDNumber = mac_id
    mac_parameters.MACCalculationTransferSyntaxUID = _mac_transfer_syntax(ds)
    mac_parameters.MACAlgorithm = mac_algorithm
    mac_parameters.DataElementsSigned = tags

    item = Dataset()
    item.MACIDNumber = mac_id
    item.DigitalSignatureUID = signature_uid or generate_uid()  # given: named in the audit entry beforehand
    item.DigitalSignatureDateTime = when.strftime("%Y%m%d%H%M%S.%f") + "+0000"
    item.CertificateType = CERTIFICATE_TYPE_X509
    purpose = PURPOSE_FOR_ROLE[role]
    code = Dataset()
    code.CodeValue = purpose.code_value
    code.CodingSchemeDesignator = purpose.coding_scheme
    code.CodeMeaning = purpose.meaning
    item.DigitalSignaturePurposeCodeSequence = Sequence([code])
    # Certified Timestamp Type / Certified Timestamp (Type 1C, 3) are left out: Planner has no
    # timestamp authority, and both are outside the MAC anyway.

    stream = _mac_stream(ds, tags, item)
    der = certificate.public_bytes(Encoding.DER)
    item.CertificateOfSigner = der + b"\0" * (len(der) % 2)  # OB values have even length (PS3.5 7.1)
    item.Signature = identity.private_key.sign(stream, padding.PKCS1v15(),
                                               MAC_ALGORITHMS[mac_algorithm].digest)

    if "MACParametersSequence" not in ds:
        ds.MACParametersSequence = Sequence()
    if "DigitalSignaturesSequence" not in ds:
        ds.DigitalSignaturesSequence = Sequence()
    ds.MACParametersSequence.append(mac_parameters)
    ds.DigitalSignaturesSequence.append(item)

    new = verify_dataset(ds, (certificate,), at=when)[-1]
    if not new.valid:  # cannot happen unless the encoder and verifier disagree: never hand it out
        ds.MACParametersSequence.pop()
        ds.DigitalSignaturesSequence.pop()
        raise SignatureError(f"internal check failed, signature removed: {new.problem}")
    return new


def sign_file(path_in: str | os.PathLike, path_out: str | os.PathLike, identity: SigningIdentity,
              role: str, *, mac_algorithm: str = "SHA256", prepare=None) -> SignatureCheck:
    """Sign a DICOM file and write the result atomically, in the input's transfer syntax.

    ``prepare``: called with the dataset before it is signed, to add what the signature must cover
    (e.g. the audit anchor, planner.dicom.audit_anchor); it may only add new attributes.

    The written bytes are read back and every signature verified before the file is replaced:
    nothing that would not verify is ever written.
    """
    with _reading(path_in):
        ds = _read_dicom(Path(path_in))
        if not str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or ""):
            raise SignatureError(f"{path_in} has no DICOM file meta information (transfer syntax); "
                                 "signing needs a DICOM Part 10 file")
        if prepare is not None:
            prepare(ds)
        check = sign_dataset(ds, identity, role, mac_algorithm=mac_algorithm)
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()
        for reread in verify_dataset(dcmread(io.BytesIO(data)), (identity.certificate,)):
            if not reread.valid:
                raise SignatureError(f"{path_in}: after writing, {reread.problem}; nothing was written")
    atomic_write_bytes(path_out, data)
    return check


# --- verification -----------------------------------------------------------------------------

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
        parameters.setdefault(_int_or_none(mac_item.get("MACIDNumber")), []).append(mac_item)
    return tuple(_check_one(ds, index, item, parameters, trusted, now) for index, item in enumerate(items, 1))


def verify_file(path: str | os.PathLike, trusted: Iterable[x509.Certificate] = (), *,
                at: _dt.datetime | None = None) -> tuple[SignatureCheck, ...]:
    """verify_dataset of a file; SignatureError when it is not DICOM or cannot be read (DamagedFileError)."""
    with _reading(path):
        return verify_dataset(_read_dicom(Path(path)), trusted, at=at)


def mac_byte_stream(ds: Dataset, index: int) -> bytes:
    """The exact bytes signature ``index`` (1-based) covers: what ``dcmsign --dump`` writes."""
    items = ds.get("DigitalSignaturesSequence") or ()
    if not 1 <= index <= len(items):
        raise SignatureError(f"no signature {index}: the dataset has {len(items)}")
    item = items[index - 1]
    mac_id = _int_or_none(item.get("MACIDNumber"))
    for mac_item in ds.get("MACParametersSequence") or ():
        if _int_or_none(mac_item.get("MACIDNumber")) == mac_id:
            return _mac_stream(ds, _tags_of(mac_item), item)
    raise SignatureError(f"signature {index}: no MAC Parameters item with MAC ID {mac_id}")


def _check_one(ds: Dataset, index: int, item: Dataset, parameters: dict[int, list[Dataset]],
               trusted: tuple[x509.Certificate, ...], now: _dt.datetime) -> SignatureCheck:
    mac_id = _int_or_none(item.get("MACIDNumber"))
    purpose_code, purpose = _purpose(item)
    role = _ROLE_FOR_PURPOSE.get(purpose_code) if purpose_code else None
    certificate, description, certificate_problem = _certificate_of_signer(item)
    signed_at, time_problem = _signature_datetime(item)
    mac_items = parameters.get(mac_id, [])
    mac_item = mac_items[0] if len(mac_items) == 1 else None
    algorithm = str(mac_item.get("MACAlgorithm", "") or "") if mac_item is not None else ""
    tags = _tags_of(mac_item) if mac_item is not None else ()
    signed = {tag for tag in tags if _signable_tag(tag)}
    not_signed = tuple(_attribute_name(tag) for tag in sorted(ds.keys())
                       if _signable_tag(tag) and int(tag) not in signed)

    problem = (certificate_problem
               or (f"{len(mac_items)} MAC Parameters items share MAC ID {mac_id}" if len(mac_items) > 1 else None)
               or (f"no MAC Parameters item for MAC ID {mac_id}" if mac_item is None else None)
               or time_problem
               or _integrity_problem(ds, item, mac_item, tags, certificate, algorithm))
    trust_problem, look_alikes = None, ()
    if certificate is not None and problem is None:
        trust_problem = _trust_problem(certificate, trusted, signed_at, now)
        if trust_problem is not None:
            look_alikes = _same_subject_fingerprints(certificate, trusted)

    signer = _printable(description.signer()) if description else "unknown signer"
    reason = problem or trust_problem
    return SignatureCheck(
        index=index, mac_id=mac_id, role=role, purpose=purpose, signer=signer,
        certificate_fingerprint_sha256=description.fingerprint_sha256 if description else None,
        is_test_certificate=bool(description and description.is_test),
        signed_at=signed_at, mac_algorithm=_printable(algorithm) or "unknown",
        digital_signature_uid=str(item.get("DigitalSignatureUID", "") or ""),
        attributes_signed=len(signed), attributes_not_signed=not_signed,
        valid=problem is None, trusted=problem is None and trust_problem is None,
        problem=_printable(f"{_label(index, role, purpose, signer)}: {reason}") if reason else None,
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
    if not _mac_transfer_syntax_supported(transfer_syntax):
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
        _check_encoding_supported(ds)
        if _signature_matches(public_key, signature, _mac_stream(ds, tags, item), mac):
            return None
    except SignatureError as exc:
        return str(exc)
    removed = [_attribute_name(tag) for tag in tags if _signable_tag(tag) and not _present(ds, tag)]
    if removed:
        return f"the signed data changed since signing (removed: {', '.join(removed)})"
    return "the signed data changed since signing"


def _signature_matches(public_key: rsa.RSAPublicKey, signature: bytes, stream: bytes, mac: _MacAlgorithm) -> bool:
    if mac.digest is None:
        return _verify_pkcs1_ripemd160(public_key, signature, stream)
    try:
        public_key.verify(signature, stream, padding.PKCS1v15(), mac.digest)
        return True
    except InvalidSignature:
        return False


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


def _trust_problem(certificate: x509.Certificate, trusted: tuple[x509.Certificate, ...],
                   signed_at: _dt.datetime | None, now: _dt.datetime) -> str | None:
    """Why the signer's certificate is not to be relied on, or None.

    Trusted means: the certificate itself is in ``trusted`` (pinned, as for a self-signed clinic
    certificate, like dcmsign's +cf), or a certificate in ``trusted`` that is a CA issued it
    directly. Longer chains and revocation lists are not evaluated.
    """
    if signed_at is not None:
        problem = validity_problem(certificate, signed_at)
        if problem:
            return f"at signing ({signed_at.astimezone(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC): {problem}"
    problem = validity_problem(certificate, now)
    if problem:
        return problem
    if not trusted:
        return "certificate not trusted (no trusted certificates were given)"
    fingerprint = certificate_fingerprint_sha256(certificate)
    if any(certificate_fingerprint_sha256(anchor) == fingerprint for anchor in trusted):
        return None
    for anchor in trusted:
        if anchor.subject == certificate.issuer and _is_ca(anchor) and validity_problem(anchor, now) is None:
            try:
                certificate.verify_directly_issued_by(anchor)
                return None
            except (ValueError, TypeError, InvalidSignature):
                continue
    look_alikes = _same_subject_fingerprints(certificate, trusted)
    if look_alikes:
        return (f"certificate not trusted: it bears the subject of a trusted certificate but its SHA-256 "
                f"fingerprint is {fingerprint}, not the trusted {' or '.join(look_alikes)} (another key: a "
                "look-alike, or a renewed certificate to trust only after its owner confirms this fingerprint)")
    return (f"certificate not trusted (SHA-256 {fingerprint} is neither one of the {len(trusted)} trusted "
            "certificates nor issued by one of them)")


def _same_subject_fingerprints(certificate: x509.Certificate, trusted: tuple[x509.Certificate, ...]) -> tuple[str, ...]:
    """Fingerprints of the trusted certificates with ``certificate``'s subject that are other certificates."""
    own = certificate_fingerprint_sha256(certificate)
    found = [certificate_fingerprint_sha256(anchor) for anchor in trusted if anchor.subject == certificate.subject]
    return tuple(dict.fromkeys(f for f in found if f != own))


# --- the MAC byte stream (PS3.15 C.3; dicom-notes §1.3) ---------------------------------------

def _mac_stream(ds: Dataset, tags: Iterable[int], item: Dataset) -> bytes:
    """Listed top-level attributes present in ``ds`` in tag order, then the signature item's
    own attributes except those in _NOT_IN_MAC, all in Explicit VR Little Endian with sequences
    and items written without lengths (undefined-length form minus the item delimiters)."""
    out = bytearray()
    wanted = {int(tag) for tag in tags}
    charset = _charset(ds, None)
    for tag in sorted(ds.keys()):
        if int(tag) in wanted and _signable_tag(tag) and _unsignable_reason(ds, tag) is None:
            _encode(ds, tag, charset, out)
    item_charset = _charset(item, charset)
    for tag in sorted(item.keys()):
        if int(tag) not in _NOT_IN_MAC and _signable_tag(tag):
            _encode(item, tag, item_charset, out)
    return bytes(out)


def _peek(container: Dataset, tag) -> tuple[RawDataElement | None, DataElement]:
    """The element as read from the file (None once converted) and a converted copy.

    ``container`` is left as it was: converting in place would make a later save re-encode values
    pydicom's way instead of writing the bytes that were signed.
    """
    stored = container.get_item(tag)
    if not isinstance(stored, RawDataElement):
        if stored.VR in AMBIGUOUS_VR:
            stored = correct_ambiguous_vr_element(stored, container, True)  # as saving would
        return None, stored
    if stored.value is None and stored.length:  # deferred read: let pydicom fetch it
        return None, container[tag]
    element = convert_raw_data_element(stored, encoding=container.original_character_set, ds=container)
    if element.VR in AMBIGUOUS_VR:
        element = correct_ambiguous_vr_element(element, container, stored.is_little_endian)
    return stored, element


def _encode(container: Dataset, tag, charset, out: bytearray) -> None:
    raw, element = _peek(container, tag)
    vr = (raw.VR if raw is not None and raw.VR else None) or element.VR
    header = struct.pack("<HH", int(tag) >> 16, int(tag) & 0xFFFF)
    if vr == "SQ":
        out += header + b"SQ\0\0"  # no length
        for item in element.value:
            out += _ITEM  # no length, and no item delimiter after it
            item_charset = _charset(item, charset)
            for sub_tag in sorted(item.keys()):
                if _signable_tag(sub_tag):
                    _encode(item, sub_tag, item_charset, out)
        out += _SEQUENCE_END
        return
    if int(tag) == PIXEL_DATA and _is_undefined_length(raw, element):
        out += header + vr.encode("ascii") + b"\0\0"  # encapsulated: no length
        for fragment in _fragments(raw.value if raw is not None else element.value):
            out += _ITEM + fragment  # each item without its length
        out += _SEQUENCE_END
        return
    if raw is not None and raw.is_little_endian:
        value = bytes(raw.value or b"")  # the bytes as stored: no re-formatting of numbers or text
    else:
        value = _encoded_value(element, vr, tag, charset)
    value = _canonical_value(value, vr)
    length = struct.pack("<HI", 0, len(value)) if vr in EXPLICIT_VR_LENGTH_32 else struct.pack("<H", len(value))
    out += header + vr.encode("ascii") + length + value


def _encoded_value(element: DataElement, vr: str, tag, charset) -> bytes:
    """The value field pydicom writes for ``element`` in Explicit VR Little Endian."""
    if vr in AMBIGUOUS_VR:
        raise SignatureError(f"{_attribute_name(tag)} has an unresolved value representation {vr}")
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_data_element(fp, element, charset)
    return fp.getvalue()[12 if vr in EXPLICIT_VR_LENGTH_32 else 8:]


# Character-string VRs, padded with a space (UI: with NUL) to an even length (PS3.5 6.2).
_STRING_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}


def _canonical_value(value: bytes, vr: str) -> bytes:
    """A value as dcmtk encodes it for the MAC: a string loses all its trailing padding and gets
    one pad byte back if its length is odd (so "AB   " is signed as "AB"); other values are
    padded with NUL to an even length. Observed with dcmsign 3.6.7 --dump on every string VR;
    PS3.5 6.2 makes trailing padding insignificant, so this changes no meaning."""
    if vr in _STRING_VRS:
        pad = b"\0" if vr == "UI" else b" "
        value = value.rstrip(pad)
    else:
        pad = b"\0"
    return value + pad if len(value) % 2 else value


def _fragments(value: bytes) -> list[bytes]:
    """The items of encapsulated pixel data (basic offset table first), without tags and lengths."""
    fragments, offset = [], 0
    while offset + 8 <= len(value):
        group, element, length = struct.unpack_from("<HHI", value, offset)
        if (group, element) == (0xFFFE, 0xE0DD):
            break
        if (group, element) != (0xFFFE, 0xE000) or offset + 8 + length > len(value):
            raise SignatureError("the encapsulated Pixel Data is malformed")
        fragments.append(bytes(value[offset + 8:offset + 8 + length]))
        offset += 8 + length
    return fragments


def _signable_tag(tag) -> bool:
    """Tags PS3.15 C.3 / dcmsign never sign: group lengths, file meta, Length to End, the
    signature sequences themselves, Data Set Trailing Padding, and item/delimitation tags."""
    tag = int(tag)
    group, element = tag >> 16, tag & 0xFFFF
    return not (element == 0 or group < 0x0008 or tag == 0x00080001 or group in (0xFFFA, 0xFFFE)
                or tag in (0x4FFE0001, 0xFFFCFFFC))


def _unsignable_reason(ds: Dataset, tag) -> str | None:
    """Why dcmsign would leave this attribute out although it is listed (an unknown VR, UN,
    anywhere inside it), or None."""
    raw, element = _peek(ds, tag)
    if (raw is not None and raw.VR == "UN") or element.VR == "UN":
        return "value representation UN"
    if element.VR == "SQ":
        for item in element.value:
            for sub_tag in item.keys():
                if _signable_tag(sub_tag) and _unsignable_reason(item, sub_tag):
                    return f"contains {_attribute_name(sub_tag)} with value representation UN"
    elif element.VR in AMBIGUOUS_VR:
        return f"ambiguous value representation {element.VR}"
    return None


# --- small helpers ----------------------------------------------------------------------------

def _check_encoding_supported(ds: Dataset) -> None:
    if _original_little_endian(ds) is False:
        raise SignatureError("Explicit VR Big Endian datasets are not supported; convert to little endian first")


def _original_little_endian(ds: Dataset) -> bool | None:
    return ds.original_encoding[1]


def _mac_transfer_syntax(ds: Dataset) -> str:
    """Explicit VR Little Endian, or the file's own encapsulated transfer syntax when its pixel
    data are encapsulated (dcmsign does the same; the byte stream is the same either way)."""
    transfer_syntax = UID(str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or ""))
    if PIXEL_DATA in ds and transfer_syntax and transfer_syntax.is_encapsulated:
        return transfer_syntax
    return ExplicitVRLittleEndian


def _mac_transfer_syntax_supported(uid: str) -> bool:
    if uid == ExplicitVRLittleEndian:
        return True
    known = UID(uid)
    return bool(uid) and known.is_transfer_syntax and known.is_encapsulated and not known.is_deflated


def _is_undefined_length(raw, element: DataElement) -> bool:
    if raw is not None:
        return raw.length == 0xFFFFFFFF
    return element.is_undefined_length


def _charset(container: Dataset, parent):
    declared = container.get("SpecificCharacterSet") if "SpecificCharacterSet" in container else None
    if declared:
        return convert_encodings(declared)
    return parent if parent is not None else convert_encodings("ISO_IR 6")


def _present(ds: Dataset, tag) -> bool:
    return int(tag) in ds


def _tags_of(mac_item: Dataset) -> tuple[int, ...]:
    value = mac_item.get("DataElementsSigned")
    if value is None or value == "":
        return ()
    return (int(value),) if isinstance(value, int) else tuple(int(tag) for tag in value)


def _next_mac_id(ds: Dataset) -> int:
    used = [_int_or_none(item.get("MACIDNumber")) for name in ("MACParametersSequence", "DigitalSignaturesSequence")
            for item in ds.get(name) or ()]
    used = [number for number in used if number is not None]
    return max(used) + 1 if used else 0


def _int_or_none(value) -> int | None:
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
    return key, _printable(str(code.get("CodeMeaning", "") or "") or f"code {key[1]}")


def _certificate_of_signer(item: Dataset) -> tuple[x509.Certificate | None, CertificateDescription | None,
                                                    str | None]:
    """(certificate, its description, None) or (None, None, why not). Every part a check reads is
    parsed here: cryptography parses lazily, so a damaged name would otherwise fail much later."""
    data = bytes(item.get("CertificateOfSigner", b"") or b"")
    if not data:
        return None, None, "the signer's certificate is missing"
    length = der_element_length(data) if data[:1] == b"\x30" else None
    if length is None or length > len(data) or any(data[length:]):  # only padding may follow the DER
        return None, None, "the signer's certificate is damaged"
    try:
        certificate = x509.load_der_x509_certificate(data[:length])
        certificate.public_key()
        return certificate, describe_certificate(certificate), None
    except ValueError:
        return None, None, "the signer's certificate cannot be read"
    except UnsupportedAlgorithm:
        return None, None, "the signer's certificate holds a key of a type this system cannot read"


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


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _attribute_name(tag) -> str:
    tag = int(tag)
    keyword = keyword_for_tag(tag)
    text = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return f"{text} {keyword}" if keyword else text


def _label(index: int, role: str | None, purpose: str | None, signer: str) -> str:
    return f"signature {index} ({role or purpose or 'no purpose given'}, {signer})"


def _read_dicom(path: Path) -> Dataset:
    """A DICOM file, or a bare dataset without the Part 10 header (as some archives store them)."""
    try:
        return dcmread(path)
    except InvalidDicomError:
        pass
    except OSError as exc:
        if exc.errno is None:  # pydicom's, on damaged content
            raise
        raise SignatureError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        ds = dcmread(path, force=True)
        first_group = min(ds.keys()) >> 16 if len(ds) else None
    except DAMAGE_ERRORS:
        first_group = None
    if first_group not in (0x0002, 0x0008):  # a dataset starts with file meta or group 0008
        raise SignatureError(f"{path} is not a DICOM file")
    return ds
