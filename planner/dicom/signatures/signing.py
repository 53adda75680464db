"""Signing a dataset or a file with one role's signature (PS3.15 Annex C, RSA PKCS#1 v1.5).

Why a module of its own: a signature is added only when it can be relied on. A dataset whose
existing signatures are broken, that lacks the UIDs the profile requires, or holds attributes that
cannot be signed reproducibly is refused; every new signature is verified before it is handed out,
and a signed file is read back and verified before it replaces anything.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from planner.core.atomic import atomic_write_bytes
from planner.dicom.keys import MINIMUM_RSA_KEY_BITS, SigningIdentity, describe_certificate, validity_problem

from .errors import SignatureError, read_dicom, reading
from .mac_stream import (attribute_name, check_encoding_supported, mac_stream, mac_transfer_syntax, present,
                         signable_tag, unsignable_reason)
from .profile import (APPROVAL_GROUP, CERTIFICATE_TYPE_X509, CREATOR, MAC_ALGORITHMS, PROFILE_REQUIRED,
                      PURPOSE_FOR_ROLE, ROLES, SIGNING_MAC_ALGORITHMS)
from .verification import SignatureCheck, int_or_none, verify_dataset


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
    check_encoding_supported(ds)
    for check in verify_dataset(ds):
        if not check.valid:
            raise SignatureError(f"refusing to sign: {check.problem}")
    missing = [keyword for tag, keyword in PROFILE_REQUIRED.items() if not present(ds, tag)]
    if missing:
        raise SignatureError(f"cannot sign: the {role} signature profile needs {', '.join(missing)}")

    tags, unsignable = [], []
    for tag in sorted(ds.keys()):
        if not signable_tag(tag) or (role == CREATOR and tag >> 16 == APPROVAL_GROUP):
            continue
        reason = unsignable_reason(ds, tag)
        if reason:
            unsignable.append(f"{attribute_name(tag)} ({reason})")
        else:
            tags.append(int(tag))
    if unsignable:
        raise SignatureError("cannot sign: " + "; ".join(unsignable) + " cannot be signed reproducibly; "
                             "remove or correct these attributes first")

    mac_id = _next_mac_id(ds)
    mac_parameters = Dataset()
    mac_parameters.MACIDNumber = mac_id
    mac_parameters.MACCalculationTransferSyntaxUID = mac_transfer_syntax(ds)
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

    stream = mac_stream(ds, tags, item)
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
    with reading(path_in):
        ds = read_dicom(Path(path_in))
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


def _next_mac_id(ds: Dataset) -> int:
    used = [int_or_none(item.get("MACIDNumber")) for name in ("MACParametersSequence", "DigitalSignaturesSequence")
            for item in ds.get(name) or ()]
    used = [number for number in used if number is not None]
    return max(used) + 1 if used else 0
