"""Who did it, as every audit entry says it: one function for the command line and the window.

``who`` is the signer's certificate subject and SHA-256 fingerprint when a certificate was used (the
name alone can be forged by anyone able to make a certificate, planner.dicom.trust), else the OS
user; ``os_user`` is always the account logged in, kept beside it in its own field.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from cryptography import x509

from planner.dicom.keys import certificate_fingerprint_sha256, describe_certificate

UNKNOWN_USER = "unknown user"


@dataclass(frozen=True)
class Actor:
    who: str
    os_user: str


def os_user() -> str:
    """The logged-in account's name; "unknown user" when the system cannot say."""
    try:
        return getpass.getuser() or UNKNOWN_USER
    except (KeyError, OSError):   # no user name in the environment or the password database
        return UNKNOWN_USER


def actor(certificate: x509.Certificate | None = None, user: str | None = None) -> Actor:
    """The Actor for an entry: "Dr A. Physicist, Clinic (SHA-256 AB:12:…)" with a certificate, else the OS user."""
    account = user or os_user()
    if certificate is None:
        return Actor(account, account)
    name = describe_certificate(certificate).signer()
    return Actor(f"{name} (SHA-256 {certificate_fingerprint_sha256(certificate)})", account)


__all__ = ["Actor", "actor", "os_user"]
