"""The clinic's trusted signers, pinned by SHA-256 fingerprint (issue 15, point 4).

A certificate is trusted by what it is, not by where it was found: when the user trusts one, its
SHA-256 fingerprint (of the DER certificate), subject and validity are written into the trust store
together with the certificate itself (needed to check a certificate it issued, when it is a CA).
A later change to the file it came from changes nothing: a look-alike "Dr A. Oncologist" certificate
with another key has another fingerprint and is not trusted, however it is named
(planner.dicom.signatures names both fingerprints in its verdict).

The store is a JSON file in Planner's data folder (``trusted_certificates.json``), read again at
every check, so a change takes effect at once in every window and command::

    {"format": "planner-trusted-certificates", "version": 1,
     "certificates": [{"fingerprint_sha256": "AB:CD:…", "subject": "CN=…,O=…", "name": "Dr A. Oncologist, Clinic",
                       "not_before": "…", "not_after": "…", "trusted_at": "…", "certificate_pem": "-----BEGIN …"}]}

An entry whose certificate does not have its recorded fingerprint is refused as a whole store
(someone edited it): nothing is trusted from a store that cannot be relied on.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from planner.core.atomic import atomic_write_text
from planner.core.errors import PlannerError
from planner.dicom.keys import SigningKeyError, certificate_fingerprint_sha256, describe_certificate, load_trusted_certificates
from planner.paths import data_dir

STORE_FILE = "trusted_certificates.json"
FORMAT = "planner-trusted-certificates"
VERSION = 1


class TrustStoreError(PlannerError, ValueError):
    """A trust store or certificate that cannot be used; the one-line message names the file and why."""


@dataclass(frozen=True)
class TrustedCertificate:
    """One trusted certificate, as recorded when the user trusted it."""

    fingerprint_sha256: str          # "AB:CD:…" (colon-separated upper-case hex, as openssl shows it)
    subject: str                     # RFC 4514: "CN=Dr A. Oncologist,O=Clinic"
    name: str                        # "Dr A. Oncologist, Clinic": how messages name the signer
    not_before: _dt.datetime
    not_after: _dt.datetime
    trusted_at: str = ""             # ISO 8601 UTC
    certificate: x509.Certificate | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, certificate: x509.Certificate, trusted_at: _dt.datetime | None = None) -> "TrustedCertificate":
        when = (trusted_at or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc)
        return cls(fingerprint_sha256=certificate_fingerprint_sha256(certificate),
                   subject=certificate.subject.rfc4514_string(), name=describe_certificate(certificate).signer(),
                   not_before=certificate.not_valid_before_utc, not_after=certificate.not_valid_after_utc,
                   trusted_at=when.isoformat(timespec="seconds"), certificate=certificate)

    def describe(self) -> str:
        """ "Dr A. Oncologist, Clinic — SHA-256 AB:…, valid 2026-01-01 to 2027-01-01" """
        return (f"{self.name} — SHA-256 {self.fingerprint_sha256}, valid {self.not_before:%Y-%m-%d} to "
                f"{self.not_after:%Y-%m-%d}")


def store_path() -> Path:
    """Where the window and the command line keep the trusted certificates (PLANNER_DATA_DIR in tests)."""
    return data_dir() / STORE_FILE


def load_trust_store(path: str | os.PathLike | None = None) -> tuple[TrustedCertificate, ...]:
    """The trusted certificates, in the order they were trusted; () when there is no store yet."""
    path = Path(path) if path is not None else store_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except (OSError, UnicodeDecodeError) as exc:
        raise TrustStoreError(f"the trust store {path} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise TrustStoreError(f"the trust store {path} is damaged (not JSON); nothing in it is trusted") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise TrustStoreError(f"the trust store {path} is not a Planner trust store (format {FORMAT} {VERSION})")
    entries = data.get("certificates")
    if not isinstance(entries, list):
        raise TrustStoreError(f"the trust store {path} has no list of certificates")
    return tuple(_entry(path, number, entry) for number, entry in enumerate(entries, 1))


def save_trust_store(entries: Iterable[TrustedCertificate], path: str | os.PathLike | None = None) -> None:
    path = Path(path) if path is not None else store_path()
    data = {"format": FORMAT, "version": VERSION, "certificates": [
        {"fingerprint_sha256": e.fingerprint_sha256, "subject": e.subject, "name": e.name,
         "not_before": e.not_before.isoformat(), "not_after": e.not_after.isoformat(), "trusted_at": e.trusted_at,
         "certificate_pem": e.certificate.public_bytes(Encoding.PEM).decode("ascii")}
        for e in entries]}
    try:
        atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=True) + "\n")
    except OSError as exc:
        raise TrustStoreError(f"the trust store {path} cannot be written: {exc.strerror or exc}") from None


def trust(certificates: Iterable[x509.Certificate], path: str | os.PathLike | None = None,
          *, now: _dt.datetime | None = None) -> tuple[TrustedCertificate, ...]:
    """Add ``certificates`` to the store (one already there by fingerprint stays as it was);
    returns the entries of the certificates given."""
    stored = list(load_trust_store(path))
    added = []
    for certificate in certificates:
        entry = find(stored, certificate_fingerprint_sha256(certificate))
        if entry is None:
            entry = TrustedCertificate.of(certificate, now)
            stored.append(entry)
        added.append(entry)
    save_trust_store(stored, path)
    return tuple(added)


def distrust(fingerprint_sha256: str, path: str | os.PathLike | None = None) -> bool:
    """Remove the certificate with this fingerprint; False when it was not trusted."""
    stored = load_trust_store(path)
    kept = tuple(e for e in stored if e.fingerprint_sha256 != normalise_fingerprint(fingerprint_sha256))
    if len(kept) == len(stored):
        return False
    save_trust_store(kept, path)
    return True


def find(entries: Iterable[TrustedCertificate], fingerprint_sha256: str) -> TrustedCertificate | None:
    wanted = normalise_fingerprint(fingerprint_sha256)
    return next((e for e in entries if e.fingerprint_sha256 == wanted), None)


def certificates_of(entries: Iterable[TrustedCertificate]) -> tuple[x509.Certificate, ...]:
    """The certificates to check signatures against (planner.dicom.signatures.verify_dataset)."""
    return tuple(e.certificate for e in entries)


def read_certificates(path: str | os.PathLike) -> tuple[x509.Certificate, ...]:
    """The certificates in a PEM file the user offers to trust (TrustStoreError when there are none)."""
    try:
        return load_trusted_certificates(path)
    except SigningKeyError as exc:
        raise TrustStoreError(str(exc)) from None


def normalise_fingerprint(text: str) -> str:
    """ "ab cd…", "abcd…" or "AB:CD:…" → "AB:CD:…"."""
    digits = "".join(c for c in str(text) if c not in ": ").upper()
    return ":".join(digits[i:i + 2] for i in range(0, len(digits), 2))


def _entry(path: Path, number: int, entry) -> TrustedCertificate:
    where = f"the trust store {path}, entry {number}"
    if not isinstance(entry, dict):
        raise TrustStoreError(f"{where} is not an object")
    try:
        certificate = x509.load_pem_x509_certificate(str(entry["certificate_pem"]).encode("ascii"))
        recorded = normalise_fingerprint(str(entry["fingerprint_sha256"]))
    except (KeyError, ValueError, UnicodeEncodeError):
        raise TrustStoreError(f"{where}: the certificate or its fingerprint is missing or damaged") from None
    actual = certificate_fingerprint_sha256(certificate)
    if actual != recorded:
        raise TrustStoreError(f"{where}: the certificate's SHA-256 fingerprint is {actual}, not the recorded "
                              f"{recorded}; the store was altered and nothing in it is trusted")
    trusted = TrustedCertificate.of(certificate)
    return TrustedCertificate(fingerprint_sha256=actual, subject=trusted.subject, name=trusted.name,
                              not_before=trusted.not_before, not_after=trusted.not_after,
                              trusted_at=str(entry.get("trusted_at", "")), certificate=certificate)


__all__ = ["STORE_FILE", "TrustStoreError", "TrustedCertificate", "certificates_of", "distrust", "find",
           "load_trust_store", "normalise_fingerprint", "read_certificates", "save_trust_store", "store_path",
           "trust"]
