"""Trust by fingerprint (issue 15, point 4): a certificate is trusted as it was when the user trusted
it; a look-alike with the trusted subject and another key is untrusted, in the core and in
`planner verify --json`, with both fingerprints named; an altered store trusts nothing."""

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from planner.dicom.keys import certificate_fingerprint_sha256
from planner.dicom.signatures import sign_file, verify_file
from planner.dicom.signed_plan import open_signed_plan
from planner.dicom.trust import (TrustStoreError, certificates_of, distrust, load_trust_store, store_path, trust)
from tests.dicom.export_fixtures import exported_demo_rt_plan
from tests.dicom.signature_fixtures import genuine_and_impostor, run_planner, write_pem

ROOT = Path(__file__).resolve().parents[2]
NAME = "Dr A. Oncologist"


planner = run_planner


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return exported_demo_rt_plan(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def doctors():
    """The genuine oncologist and an impostor with the same subject (name and clinic) and another key."""
    genuine, impostor = genuine_and_impostor(NAME)
    assert genuine.certificate.subject == impostor.certificate.subject
    return genuine, impostor


def test_a_trusted_certificate_is_kept_by_fingerprint_subject_and_validity(doctors, tmp_path):
    genuine, _impostor = doctors
    key_file, cert_file = write_pem(tmp_path, "genuine", genuine.private_key, genuine.certificate)
    (entry,) = trust([genuine.certificate])
    assert entry.fingerprint_sha256 == certificate_fingerprint_sha256(genuine.certificate)
    assert entry.subject == "O=Demo Clinic,CN=Dr A. Oncologist" and entry.name == "Dr A. Oncologist, Demo Clinic"
    assert entry.not_before == genuine.certificate.not_valid_before_utc
    assert entry.not_after == genuine.certificate.not_valid_after_utc
    stored = json.loads(store_path().read_text())["certificates"]
    assert [e["fingerprint_sha256"] for e in stored] == [entry.fingerprint_sha256]
    assert load_trust_store() == (entry,)
    cert_file.unlink()                                     # the file it came from plays no part any more
    assert certificates_of(load_trust_store()) == (genuine.certificate,)
    assert trust([genuine.certificate]) == (entry,) and len(load_trust_store()) == 1   # trusted once
    assert distrust(entry.fingerprint_sha256.replace(":", "").lower()) and load_trust_store() == ()
    assert not distrust(entry.fingerprint_sha256)


def test_an_impostor_with_the_trusted_subject_is_untrusted_naming_both_fingerprints(doctors, exported, tmp_path):
    genuine, impostor = doctors
    trust([genuine.certificate])
    forged = tmp_path / "RTPLAN.dcm"
    sign_file(exported, forged, impostor, "creator")
    (check,) = verify_file(forged, certificates_of(load_trust_store()))
    real, fake = (certificate_fingerprint_sha256(c) for c in (genuine.certificate, impostor.certificate))
    assert check.valid and not check.trusted
    assert check.trusted_fingerprints_of_subject == (real,)
    assert check.problem == (
        f"signature 1 (creator, Dr A. Oncologist, Demo Clinic): certificate not trusted: it bears the subject of a "
        f"trusted certificate but its SHA-256 fingerprint is {fake}, not the trusted {real} (another key: a "
        f"look-alike, or a renewed certificate to trust only after its owner confirms this fingerprint)")
    opened = open_signed_plan(forged, certificates_of(load_trust_store()))
    assert not opened.treatable and f"certificate SHA-256 {fake}" in opened.message

    # The command line reads the same store: refused, both fingerprints named.
    run = planner("verify", forged, "--json")
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    assert report["treatable"] is False and report["all_signatures_hold"] is False
    assert report["trusted"] == [{"signer": "Dr A. Oncologist, Demo Clinic",
                                  "subject": "O=Demo Clinic,CN=Dr A. Oncologist", "fingerprint_sha256": real}]
    (signature,) = report["signatures"]
    assert signature["valid"] is True and signature["trusted"] is False
    assert signature["certificate_fingerprint_sha256"] == fake
    assert signature["trusted_fingerprints_of_same_subject"] == [real]
    assert fake in signature["problem"] and real in signature["problem"]

    # The genuine oncologist's signature on the same plan is trusted through the store alone.
    signed = tmp_path / "genuine" / "RTPLAN.dcm"
    sign_file(exported, signed, genuine, "creator")
    report = json.loads(planner("verify", signed, "--json").stdout)
    assert report["signatures"][0]["trusted"] is True and report["signatures"][0]["problem"] is None


def test_an_altered_trust_store_trusts_nothing(doctors):
    genuine, impostor = doctors
    trust([genuine.certificate])
    data = json.loads(store_path().read_text())
    data["certificates"][0]["certificate_pem"] = impostor.certificate.public_bytes(Encoding.PEM).decode()
    store_path().write_text(json.dumps(data))
    with pytest.raises(TrustStoreError, match=r"entry 1: the certificate's SHA-256 fingerprint is .*, not the "
                                              r"recorded .*; the store was altered and nothing in it is trusted"):
        load_trust_store()
    store_path().write_text("{not json")
    with pytest.raises(TrustStoreError, match="is damaged"):
        load_trust_store()
