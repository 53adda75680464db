"""Issue 15 in the window: trust by fingerprint (point 4) and loud tampering (point 8).

A look-alike "Dr A. Oncologist" certificate (same subject, another key) is untrusted and the window
names both fingerprints; Trust Certificate… shows the fingerprint and asks; trusting and no longer
trusting take effect on the plan on screen at once; a certificate trusted by file path in older
settings is asked about once by its fingerprint. A plan whose patient name was changed after signing
shows the signed and the current name side by side in a red banner over the image.
"""

import pytest
from pydicom import dcmread

from planner.dicom.keys import certificate_fingerprint_sha256
from planner.dicom.signatures import sign_file
from planner.dicom.trust import load_trust_store
from planner.ui.trusted_signers import MIGRATION_QUESTION, TRUST_QUESTION, TrustedCertificatesDialog
from tests.dicom.export_fixtures import exported_demo_rt_plan
from tests.dicom.signature_fixtures import genuine_and_impostor, write_pem

NAME = "Dr A. Oncologist"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return exported_demo_rt_plan(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def doctors():
    """The genuine oncologist and an impostor with the same subject (name and clinic) and another key."""
    genuine, impostor = genuine_and_impostor(NAME)
    assert genuine.certificate.subject == impostor.certificate.subject
    return genuine, impostor


def scripted(window, answers):
    """Answer the questions named in ``answers``; record every question (title, text)."""
    asked = []

    def ask(title, text, choices):
        asked.append((title, text))
        return answers.get(title, "Discard" if "Discard" in choices else choices[-1])
    window.ask_user = ask
    return asked


def opened_in(window, qtbot, path):
    assert window.output.open_signed(path)
    qtbot.waitUntil(lambda: window.output.opened is not None and not window.runner.busy, timeout=30000)


def test_a_look_alike_certificate_is_untrusted_and_trust_changes_take_effect_at_once(window, qtbot, tmp_path,
                                                                                      exported, doctors):
    w, out = window, window.output
    genuine, impostor = doctors
    real, fake = (certificate_fingerprint_sha256(d.certificate) for d in doctors)
    _key, genuine_file = write_pem(tmp_path, "genuine", genuine.private_key, genuine.certificate)
    asked = scripted(w, {TRUST_QUESTION: "Do not trust"})

    # Trust Certificate… shows the fingerprint and asks; declining trusts nothing.
    assert not out.trust_certificate(genuine_file)
    assert asked[-1][0] == TRUST_QUESTION and real in asked[-1][1] and NAME in asked[-1][1]
    assert load_trust_store() == ()
    asked = scripted(w, {TRUST_QUESTION: "Trust"})
    assert out.trust_certificate(genuine_file)
    assert [e.fingerprint_sha256 for e in load_trust_store()] == [real]

    # The attack of the issue: the trusted file replaced by a look-alike, and a plan signed with its key.
    _key, impostor_file = write_pem(tmp_path, "impostor", impostor.private_key, impostor.certificate)
    genuine_file.write_bytes(impostor_file.read_bytes())
    forged = tmp_path / "forged" / "RTPLAN.dcm"
    sign_file(exported, forged, impostor, "creator")
    opened_in(w, qtbot, forged)
    assert not out.opened.treatable and not out.opened.checks[0].trusted
    for text in (w.last_problem, out.status_label.text()):
        assert f"its SHA-256 fingerprint is {fake}, not the trusted {real}" in text
    assert out.status_label.text().startswith("Plan: signed by Dr A. Oncologist, Demo Clinic (creator)")
    assert f"certificate SHA-256 {fake}" in out.status_label.text()          # every signature names its fingerprint

    # Trusting the other certificate after all (its fingerprint shown) takes effect on the plan on screen at once.
    assert out.trust_certificate(impostor_file)
    assert fake in asked[-1][1]
    assert out.opened.checks[0].trusted and "not trusted" not in out.status_label.text()

    # …and so does no longer trusting it, from the list of trusted certificates.
    dialog = w.output.signers.show_list()
    assert isinstance(dialog, TrustedCertificatesDialog)
    assert [dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())] == [real, fake]
    dialog.table.selectRow(1)
    scripted(w, {"Stop trusting this certificate?": "Stop trusting"})
    dialog.remove_button.click()
    assert [dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())] == [real]
    assert not out.opened.checks[0].trusted
    assert f"not the trusted {real}" in out.status_label.text()
    dialog.close()


def test_a_certificate_trusted_by_its_path_in_old_settings_is_asked_about_once_by_fingerprint(window, tmp_path,
                                                                                              doctors):
    w = window
    genuine, _impostor = doctors
    _key, cert_file = write_pem(tmp_path, "genuine", genuine.private_key, genuine.certificate)
    w.settings.qsettings.setValue("signatures/trusted_certificates", [str(cert_file), str(tmp_path / "gone.pem")])
    asked = scripted(w, {MIGRATION_QUESTION: "Trust"})
    assert w.output.trusted_certificates() == (genuine.certificate,)
    assert [title for title, _text in asked] == [MIGRATION_QUESTION]
    assert certificate_fingerprint_sha256(genuine.certificate) in asked[0][1] and str(cert_file) in asked[0][1]
    assert "gone.pem" in w.last_problem and "no longer trusted" in w.last_problem
    assert w.settings.trusted_certificate_paths() == []
    assert w.output.trusted_certificates() == (genuine.certificate,) and len(asked) == 1   # asked once only


def test_a_plan_changed_after_signing_shows_signed_and_current_values_in_a_red_banner(window, qtbot, tmp_path,
                                                                                      exported, doctors):
    w, out = window, window.output
    genuine, _impostor = doctors
    scripted(w, {})
    signed = tmp_path / "signed" / "RTPLAN.dcm"
    sign_file(exported, signed, genuine, "creator")
    opened_in(w, qtbot, signed)
    assert not out.tamper_banner.isVisible()                 # intact (if untrusted): no banner

    ds = dcmread(signed)
    signed_name = str(ds.PatientName)
    ds.PatientName = "Other^Patient"                         # changed after signing
    tampered = tmp_path / "tampered" / "RTPLAN.dcm"
    tampered.parent.mkdir()
    ds.save_as(tampered)
    opened_in(w, qtbot, tampered)
    banner = out.tamper_banner
    assert banner.isVisible() and banner.title.text() == "CHANGED AFTER SIGNING — NOT FOR TREATMENT"
    assert banner.rows_text() == [("", "Signed (shown on the image)", "In the file now (RT Plan: what the unit delivers)"),
                                  ("patient name", signed_name, "Other^Patient")]
    assert "the signature proves the values Planner shows are the signed ones" in banner.explanation.text()
    assert w.document.plan.patient_name == signed_name
    centre = w.centralWidget()                               # over the image
    assert banner.parent() is centre and banner.geometry().bottom() <= w.view.geometry().top()

    opened_in(w, qtbot, signed)                              # the intact plan again: the banner goes
    assert not banner.isVisible()
