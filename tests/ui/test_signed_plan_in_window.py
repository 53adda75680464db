"""Issue 6 in the window: export the demo plan, sign it as the physician, send it to a real PACS,
open it again with its signatures checked, and refuse a tampered copy by name."""

import shutil
import subprocess

from planner.dicom.keys import create_test_certificate
from planner.dicom.pacs_settings import PacsNode
from planner.ui.signing_dialog import SigningDialog
from planner.ui.trusted_signers import TRUST_QUESTION
from tests.dicom.signature_fixtures import dcmsign_verify, flip_byte_after
from tests.dicom.test_network import orthanc  # noqa: F401  (a real Orthanc on loopback)
from tests.ui.test_ebx_in_window import wait_for_dose

PASSPHRASE = "clinic test passphrase"


def idle(window, qtbot):
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60000)


def test_export_sign_send_open_and_refuse_a_tampered_plan(demo_window, qtbot, tmp_path, orthanc):  # noqa: F811
    w = demo_window
    wait_for_dose(w, qtbot)
    out = w.output
    assert out.status_label.text() == "Plan: draft, not exported"

    package = tmp_path / "package"
    assert out.export_package(package)
    idle(w, qtbot)
    assert (package / "RTPLAN.dcm").exists() and (package / "report.pdf").exists(), w.last_problem
    assert "unsigned (draft)" in out.status_label.text()

    # The physician signs through the dialog: a wrong passphrase first, then the right one.
    key, cert = tmp_path / "oncologist.key.pem", tmp_path / "oncologist.cert.pem"
    create_test_certificate(key, cert, "Dr A. Oncologist", "Demo Clinic", PASSPHRASE.encode())
    out.choose_signer()
    dialog = w.findChild(SigningDialog)
    qtbot.keyClicks(dialog.key_path, str(key))
    qtbot.keyClicks(dialog.cert_path, str(cert))
    qtbot.keyClicks(dialog.passphrase, "wrong")
    dialog.sign_button.click()
    assert dialog.isVisible() and "wrong passphrase" in dialog.message.text()
    assert dialog.passphrase.text() == "" and "wrong" not in dialog.message.text().replace("wrong passphrase", "")
    qtbot.keyClicks(dialog.passphrase, PASSPHRASE)
    dialog.sign_button.click()
    idle(w, qtbot)
    assert not dialog.isVisible()
    assert out.status_label.text().startswith("Plan: signed"), (out.status_label.text(), w.last_problem)
    assert dcmsign_verify(package / "RTPLAN.dcm", cert).returncode == 0
    report_text = subprocess.run(["pdftotext", str(package / "report.pdf"), "-"], capture_output=True,
                                 text=True).stdout
    assert "SIGNED" in report_text and "Dr A. Oncologist" in report_text and "TEST" in report_text

    # Sent to the PACS.
    w.settings.save_pacs_node(PacsNode(orthanc.host, orthanc.dicom_port, orthanc.ae_title,
                                       orthanc.client_ae_title, timeout_s=5))
    assert out.send_to_pacs()
    idle(w, qtbot)
    assert "Sent: 4 of 4 stored" in w.statusBar().currentMessage(), w.last_problem    # with the planning image
    assert w.statusBar().currentMessage().endswith("; planning image: sent")
    assert len(orthanc.rest("/instances")) == 4

    # An edit after signing: the signature does not cover it, so the plan is a draft again.
    w.document.apply(w.document.plan.with_notes("edited after signing"), "Edit notes")
    assert out.status_label.text() == "Plan: draft, not exported"
    assert not out.sign(object())
    assert "Export the plan as it is now" in w.last_problem
    w.undo_action.trigger()

    # Open the signed plan: its signature is checked; the self-signed TEST certificate must be trusted
    # (by its fingerprint, after the question that shows it).
    ask = w.ask_user
    w.ask_user = lambda title, text, choices: "Trust" if title == TRUST_QUESTION else ask(title, text, choices)
    assert out.trust_certificate(cert)
    assert out.open_signed(package / "RTPLAN.dcm")
    idle(w, qtbot)
    qtbot.waitUntil(lambda: out.opened is not None, timeout=10000)
    assert out.opened.checks[0].trusted and "TEST certificate" in out.status_label.text()
    assert not out.opened.treatable and "signed, awaiting review" in out.status_label.text()   # no physicist yet
    assert "Dr A. Oncologist" in out.status_label.text()

    # A copy with one byte of the signed plan changed is refused for treatment, naming the signature.
    tampered = tmp_path / "tampered"
    shutil.copytree(package, tampered)
    flip_byte_after(tampered / "RTPLAN.dcm", b'"dose_per_fraction_gy":', 1)   # 18.0 Gy → 19.0 Gy
    assert out.open_signed(tampered / "RTPLAN.dcm")
    assert "signature 1 (creator, Dr A. Oncologist" in w.last_problem and "refused for treatment" in w.last_problem
    idle(w, qtbot)
    qtbot.waitUntil(lambda: out.opened is not None and not out.opened.treatable, timeout=10000)
    assert w.document.plan.prescription.dose_per_fraction_gy == 19.0   # shown as it is, never repaired
    assert out.status_label.text().startswith("SIGNATURE BROKEN — not for treatment")


def test_an_ultrasound_study_is_found_on_the_pacs_fetched_and_planned_on(window, qtbot, orthanc):  # noqa: F811
    from planner.dicom.network import send_files
    from planner.imaging.demo import DEMO_IMAGE_NAME, demo_case_path

    w = window
    node = PacsNode(orthanc.host, orthanc.dicom_port, orthanc.ae_title, orthanc.client_ae_title, timeout_s=5)
    demo = demo_case_path() / DEMO_IMAGE_NAME
    assert send_files(node, [demo]).all_stored
    w.settings.save_pacs_node(node)
    browser = w.output.browse_pacs()
    qtbot.keyClicks(browser.patient_id, "DEMO-0001")
    browser.find_button.click()
    idle(w, qtbot)
    assert browser.table.rowCount() >= 1 and "US" in browser.table.item(0, 4).text(), browser.message.text()
    browser.table.selectRow(0)
    browser.retrieve_button.click()
    idle(w, qtbot)   # the C-GET, then the image loads
    idle(w, qtbot)
    qtbot.waitUntil(lambda: w.document.plan is not None, timeout=30000)
    assert "pacs-retrieved" in w.document.plan.image_path
    assert w.document.planning_image.image.calibration is not None

    browser = w.output.browse_pacs()
    qtbot.keyClicks(browser.patient_id, "NOBODY-HERE")
    browser.find_button.click()
    idle(w, qtbot)
    assert browser.table.rowCount() == 0 and "No ultrasound study" in browser.message.text()
