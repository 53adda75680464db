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

One module per concern; this package names what the rest of Planner uses:
- ``profile``: roles, purpose codes, required attributes and MAC algorithms of the profiles;
- ``signing`` and ``verification``: the API (``sign_dataset``, ``sign_file``, ``verify_dataset``,
  ``verify_file``, ``mac_byte_stream``) and the verdict (``SignatureCheck``, ``SignatureStatus``);
- ``mac_stream``: which data elements a signature covers and how they are encoded for the MAC;
- ``signer_trust``: the signer's certificate and whether it is trusted;
- ``errors``: ``SignatureError``, damaged files, and reading a file to sign or check.
"""

from .errors import DAMAGE_ERRORS, DamagedFileError, SignatureError, damaged_file_message
from .profile import APPROVAL_GROUP, AUTHORIZATION, CREATOR
from .signing import sign_dataset, sign_file
from .verification import SignatureCheck, SignatureStatus, mac_byte_stream, verify_dataset, verify_file

__all__ = [
    "APPROVAL_GROUP", "AUTHORIZATION", "CREATOR", "DAMAGE_ERRORS", "DamagedFileError", "SignatureCheck",
    "SignatureError", "SignatureStatus", "damaged_file_message", "mac_byte_stream", "sign_dataset", "sign_file",
    "verify_dataset", "verify_file",
]
