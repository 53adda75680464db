"""The RSA signature profiles Planner signs with (PS3.15 C.2 Creator, C.3 Authorization).

Why a module of its own: signing and verification must agree on the same vocabulary, the roles
and their Digital Signature Purpose codes, the attributes each profile requires and the MAC
algorithms accepted.

Planner signs a plan twice:
* ``creator`` — the physician who made the plan (Creator RSA profile, purpose "Author's Signature"),
  over every attribute except the Approval module (group 300E), so a later approval keeps it valid;
* ``authorization`` — the reviewing physicist (Authorization RSA profile, purpose "Verification
  Signature"), over everything, approval included.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes

CREATOR = "creator"
AUTHORIZATION = "authorization"
ROLES = (CREATOR, AUTHORIZATION)

CERTIFICATE_TYPE_X509 = "X509_1993_SIG"
APPROVAL_GROUP = 0x300E  # Approval module (PS3.3 C.8.8.16): Approval Status, Review Date/Time, Reviewer Name
# Attributes the Creator and Authorization RSA profiles require in every signature (PS3.15 C.2, C.3).
PROFILE_REQUIRED = {0x00080016: "SOPClassUID", 0x00080018: "SOPInstanceUID",
                    0x0020000D: "StudyInstanceUID", 0x0020000E: "SeriesInstanceUID"}


@dataclass(frozen=True)
class SignaturePurpose:
    """A Digital Signature Purpose code (ASTM E1762, PS3.16 CID 7007), as dcmsign writes it."""

    code_value: str
    meaning: str
    coding_scheme: str = "ASTM-sigpurpose"


PURPOSE_FOR_ROLE = {CREATOR: SignaturePurpose("1", "Author's Signature"),
                    AUTHORIZATION: SignaturePurpose("5", "Verification Signature")}
ROLE_FOR_PURPOSE = {(p.coding_scheme, p.code_value): role for role, p in PURPOSE_FOR_ROLE.items()}


@dataclass(frozen=True)
class MacAlgorithm:
    name: str
    digest: hashes.HashAlgorithm | None  # None: no cryptography hash (RIPEMD160: see verification.py)
    weak: bool = False


MAC_ALGORITHMS = {
    "SHA256": MacAlgorithm("SHA256", hashes.SHA256()),
    "SHA384": MacAlgorithm("SHA384", hashes.SHA384()),
    "SHA512": MacAlgorithm("SHA512", hashes.SHA512()),
    "RIPEMD160": MacAlgorithm("RIPEMD160", None),  # dcmsign's default
    "SHA1": MacAlgorithm("SHA1", hashes.SHA1(), weak=True),
    "MD5": MacAlgorithm("MD5", hashes.MD5(), weak=True),
}
SIGNING_MAC_ALGORITHMS = ("SHA256", "SHA384", "SHA512")
