"""Keys, certificates, datasets and dcmtk helpers shared by the signature and key tests."""

from __future__ import annotations

import datetime as dt
import functools
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from planner.dicom.keys import SigningIdentity

ROOT = Path(__file__).resolve().parents[2]
DEMO_ULTRASOUND = ROOT / "resources" / "demo" / "demo_ultrasound.dcm"
RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"
PASSPHRASE = b"correct horse battery staple"

requires_dcmsign = pytest.mark.skipif(shutil.which("dcmsign") is None,
                                      reason="dcmtk's dcmsign is not installed (apt-get install dcmtk)")


@functools.lru_cache(maxsize=None)
def rsa_key(name: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    """One key per name for the whole session: key generation is the slow part of these tests."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def make_certificate(key, common_name: str, organisation: str = "Test Clinic", *,
                     not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
                     issuer: tuple[x509.Certificate, object] | None = None, ca: bool = False,
                     key_usage_signing: bool = True) -> x509.Certificate:
    """A certificate for ``key``: self-signed unless ``issuer`` = (issuer certificate, issuer key)."""
    now = utc_now()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)])
    issuer_name, signing_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    usage = x509.KeyUsage(digital_signature=key_usage_signing, content_commitment=False,
                          key_encipherment=not key_usage_signing, data_encipherment=False, key_agreement=False,
                          key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False)
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(hours=1))
            .not_valid_after(not_after or now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .sign(signing_key, hashes.SHA256()))


def write_pem(folder: Path, stem: str, key, certificate: x509.Certificate,
              passphrase: bytes | None = PASSPHRASE) -> tuple[Path, Path]:
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    key_path, cert_path = folder / f"{stem}_key.pem", folder / f"{stem}_cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def signer(folder: Path, name: str, organisation: str = "Test Clinic") -> tuple[SigningIdentity, Path, Path]:
    """A self-signed signer and its PEM files (key encrypted with PASSPHRASE) in ``folder``."""
    key = rsa_key(name)
    certificate = make_certificate(key, name, organisation)
    stem = name.replace(" ", "_").replace(".", "")
    key_path, cert_path = write_pem(folder, stem, key, certificate)
    return SigningIdentity(key, certificate), key_path, cert_path


def small_plan() -> Dataset:
    """A small RT-Plan-like dataset: UTF-8 patient name, DS values, a nested sequence and the
    Approval module (group 300E), written the way Planner's writers make datasets."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = RT_PLAN_STORAGE
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = RT_PLAN_STORAGE
    ds.Modality = "RTPLAN"
    ds.Manufacturer = "Planner"
    ds.StationName = "ROOM 1   "  # extra trailing padding: dcmtk signs it as "ROOM 1" (PS3.5 6.2)
    ds.PatientName = "Müller^Zoë"
    ds.PatientID = "SIG-0001"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.RTPlanLabel = "Nose BCC"
    ds.RTPlanGeometry = "TREATMENT_DEVICE"
    applicator = Dataset()
    applicator.ApplicatorID = "CONE30"
    applicator.ApplicatorType = "PHOTON_CIRC"
    beam = Dataset()
    beam.BeamNumber = 1
    beam.BeamName = "kV 100"
    beam.SourceAxisDistance = "150.0"
    beam.ApplicatorSequence = Sequence([applicator])
    ds.BeamSequence = Sequence([beam])
    reference = Dataset()
    reference.DoseReferenceNumber = 1
    reference.TargetPrescriptionDose = "40.0"
    ds.DoseReferenceSequence = Sequence([reference])
    ds.ApprovalStatus = "UNAPPROVED"
    return ds


def save(ds: Dataset, path: Path, *, implicit_vr: bool = False) -> Path:
    if implicit_vr:
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
    ds.save_as(path, enforce_file_format=True)
    return path


def approve(ds: Dataset, reviewer: str = "Physicist^Ann") -> None:
    """What the physicist's approval writes: the Approval module only (PS3.3 C.8.8.16)."""
    ds.ApprovalStatus = "APPROVED"
    ds.ReviewDate = "20261201"
    ds.ReviewTime = "101500"
    ds.ReviewerName = reviewer


def dcmsign(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(["dcmsign", *map(str, args)], capture_output=True, text=True, timeout=60)


def dcmsign_verify(path: Path, *trusted_cert_files: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    trust = [arg for cert in trusted_cert_files for arg in ("+cf", str(cert))]
    return dcmsign("--verify", *trust, *extra, path)


def flip_byte_after(path: Path, marker: bytes, offset_in_value: int = 0) -> None:
    """Change one byte of the file: the byte ``offset_in_value`` after the first ``marker``."""
    data = bytearray(path.read_bytes())
    position = data.index(marker) + len(marker) + offset_in_value
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def run_planner(*args):
    """`planner ARGS` in the project folder, as a user types it (in this process: tests/cli_runner.py)."""
    from tests.cli_runner import planner

    return planner(*args)


def genuine_and_impostor(name: str, organisation: str = "Demo Clinic") -> tuple[SigningIdentity, SigningIdentity]:
    """A genuine signer and a look-alike with the same subject (name and clinic) and another key."""
    keys = rsa_key(f"genuine {name}"), rsa_key(f"impostor {name}")
    return tuple(SigningIdentity(key, make_certificate(key, name, organisation)) for key in keys)
