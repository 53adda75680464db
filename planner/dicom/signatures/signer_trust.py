"""The signer's certificate: read from a signature item, and whether it is to be trusted.

Why a module of its own: integrity and trust are reported apart. A signature can be intact yet
made with a certificate the clinic does not trust, out of date, or a look-alike bearing a trusted
subject under another key; this module says which, naming SHA-256 fingerprints. The clinic's
list of trusted certificates itself is kept by planner.dicom.trust.
"""

from __future__ import annotations

import datetime as _dt

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from pydicom.dataset import Dataset

from planner.dicom.keys import (CertificateDescription, certificate_fingerprint_sha256, der_element_length,
                                describe_certificate, validity_problem)


def certificate_trust_problem(certificate: x509.Certificate, trusted: tuple[x509.Certificate, ...],
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
    look_alikes = same_subject_fingerprints(certificate, trusted)
    if look_alikes:
        return (f"certificate not trusted: it bears the subject of a trusted certificate but its SHA-256 "
                f"fingerprint is {fingerprint}, not the trusted {' or '.join(look_alikes)} (another key: a "
                "look-alike, or a renewed certificate to trust only after its owner confirms this fingerprint)")
    return (f"certificate not trusted (SHA-256 {fingerprint} is neither one of the {len(trusted)} trusted "
            "certificates nor issued by one of them)")


def same_subject_fingerprints(certificate: x509.Certificate, trusted: tuple[x509.Certificate, ...]) -> tuple[str, ...]:
    """Fingerprints of the trusted certificates with ``certificate``'s subject that are other certificates."""
    own = certificate_fingerprint_sha256(certificate)
    found = [certificate_fingerprint_sha256(anchor) for anchor in trusted if anchor.subject == certificate.subject]
    return tuple(dict.fromkeys(f for f in found if f != own))


def certificate_of_signer(item: Dataset) -> tuple[x509.Certificate | None, CertificateDescription | None,
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


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
