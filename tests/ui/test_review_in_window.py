"""Issue 7 in the window, the full round: a plan on the demo, the physician signs, the physicist
reviews it (second check within 0.5 %) and approves with a second signature that dcmsign accepts;
editing the approved plan makes a new unapproved revision; an altered plan cannot be approved."""

import getpass
import shutil

from cryptography import x509

from planner.dicom.audit_anchor import read_audit_anchors
from planner.dicom.keys import certificate_fingerprint_sha256, create_test_certificate, load_signing_identity
from planner.review.audit import AuditLog, default_audit_path
from planner.review.audit_anchors import verify_against
from planner.review.revision import predecessor_of
from planner.ui.signing_dialog import SigningDialog
from planner.ui.trusted_signers import TRUST_QUESTION
from pydicom import dcmread
from tests.dicom.signature_fixtures import dcmsign_verify, flip_byte_after
from tests.ui.gui_driver import choose_in_combo
from tests.dicom.test_network import orthanc  # noqa: F401  (a real Orthanc on loopback)
from tests.ui.test_ebx_in_window import wait_for_dose

PASSPHRASE = b"round test"


def fingerprint(files) -> str:
    return certificate_fingerprint_sha256(x509.load_pem_x509_certificate(files[1].read_bytes()))


def idle(window, qtbot):
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=120000)


def signed_by_physician(w, qtbot, tmp_path):
    """The demo at 100 kV, Ø 20 mm (the 90 % isodose reaches the lesion), exported and signed."""
    wait_for_dose(w, qtbot)
    choose_in_combo(w.plan_panel.energy_combo, "100 kV (HVL 2.20 mm Al)")
    choose_in_combo(w.plan_panel.applicator_combo, "Ø 20 mm")
    qtbot.waitUntil(lambda: not w.runner.busy and w.dose.last_result is not None
                    and w.dose.last_result.treatment_time_min is not None, timeout=120000)
    package = tmp_path / "package"
    assert w.output.export_package(package)
    idle(w, qtbot)
    certs = {}
    ask = w.ask_user
    w.ask_user = lambda title, text, choices: "Trust" if title == TRUST_QUESTION else ask(title, text, choices)
    for who in ("oncologist", "physicist"):
        key, cert = tmp_path / f"{who}.key.pem", tmp_path / f"{who}.cert.pem"
        create_test_certificate(key, cert, f"Dr {who.title()}", "Demo Clinic", PASSPHRASE)
        certs[who] = (key, cert)
        assert w.output.trust_certificate(cert)
    assert w.output.sign(load_signing_identity(*certs["oncologist"], PASSPHRASE))
    idle(w, qtbot)
    assert w.output.status_label.text().startswith("Plan: signed"), w.last_problem
    return package, certs


def test_sign_review_approve_and_revise_in_the_window(demo_window, qtbot, tmp_path):
    w = demo_window
    package, certs = signed_by_physician(w, qtbot, tmp_path)
    rt_plan = package / "RTPLAN.dcm"

    w.reviewing.review(rt_plan)
    idle(w, qtbot)
    qtbot.waitUntil(lambda: w.review_panel.review is not None, timeout=60000)
    review = w.review_panel.review
    assert abs(review.second_check_difference_percent) <= 0.5
    assert review.can_approve, review.reasons
    assert w.review_panel.approve_button.isEnabled()
    assert "agree" in w.review_panel.check_label.text()

    # The physicist approves: name, then the key in the signing dialog.
    qtbot.keyClicks(w.review_panel.reviewer_name, "Physicist^Ann")
    w.review_panel.approve_button.click()
    dialog = [d for d in w.findChildren(SigningDialog) if d.isVisible()][0]
    assert dialog.chosen_role == "authorization"
    key, cert = certs["physicist"]
    qtbot.keyClicks(dialog.key_path, str(key))
    qtbot.keyClicks(dialog.cert_path, str(cert))
    qtbot.keyClicks(dialog.passphrase, PASSPHRASE.decode())
    dialog.sign_button.click()
    idle(w, qtbot)
    qtbot.waitUntil(lambda: w.review_panel.review is not None
                    and w.review_panel.review.approval.status == "APPROVED", timeout=60000)
    assert "APPROVED by Physicist^Ann" in w.review_panel.header.text()
    ds = dcmread(rt_plan)
    assert ds.ApprovalStatus == "APPROVED" and len(ds.DigitalSignaturesSequence) == 2
    run = dcmsign_verify(rt_plan, certs["oncologist"][1], certs["physicist"][1], extra=("+rc", "+ru"))
    assert run.returncode == 0, run.stdout + run.stderr
    actions = [w.review_panel.audit_table.item(r, 2).text() for r in range(w.review_panel.audit_table.rowCount())]
    assert {"export", "sign", "approve"} <= set(actions)
    with AuditLog(default_audit_path()) as audit:
        assert audit.verify().ok
        written = [e for e in audit.entries(ds.SOPInstanceUID) if e.action in ("export", "sign", "approve")]
        assert verify_against(audit.entries(), package).ok
    # each step's entry hash is inside the plan, covered by the next signature (issue 15, point 6)
    assert [(a.action, a.seq, a.entry_hash) for a in read_audit_anchors(ds)] == [
        (e.action, e.seq, e.entry_hash) for e in written]
    assert [e.action for e in written] == ["export", "sign", "approve"]
    me = getpass.getuser()
    assert [(e.who, e.os_user) for e in written] == [
        (me, me),
        (f"Dr Oncologist, Demo Clinic (SHA-256 {fingerprint(certs['oncologist'])})", me),
        (f"Dr Physicist, Demo Clinic (SHA-256 {fingerprint(certs['physicist'])})", me)]

    # The approved plan is locked: an edit is exported as a new, unapproved revision.
    qtbot.waitUntil(lambda: w.output.opened is not None and w.output.revision is not None, timeout=60000)
    assert "locked" in w.output.status_label.text()
    approved_bytes = rt_plan.read_bytes()
    assert not w.review_panel.not_this_plan.isVisible()             # the approved plan is on screen
    w.document.apply(w.document.plan.with_notes("boost the margin"), "Edit notes")
    assert "new revision of the approved plan" in w.output.status_label.text()
    # the Review tab no longer describes the plan on screen: a red banner, and no decision from here
    assert w.review_panel.not_this_plan.isVisible()
    assert "The plan on screen is not the reviewed plan" in w.review_panel.not_this_plan.text()
    assert "APPROVED" in w.review_panel.not_this_plan.text()
    assert not w.review_panel.approve_button.isEnabled() and not w.review_panel.reject_button.isEnabled()
    revised = tmp_path / "revision"
    assert w.output.export_package(revised)
    idle(w, qtbot)
    new = dcmread(revised / "RTPLAN.dcm")
    assert new.SOPInstanceUID != ds.SOPInstanceUID and new.ApprovalStatus == "UNAPPROVED"
    assert predecessor_of(revised / "RTPLAN.dcm") == ds.SOPInstanceUID
    assert rt_plan.read_bytes() == approved_bytes

    # Opening anything else clears the approved plan's lock and predecessor: what is planned next is
    # a draft of its own, never a "revision" of the approved plan (issue 15, point 3).
    w.open_demo()
    idle(w, qtbot)
    assert w.output.opened is None and w.output.revision is None and w.output.package is None
    assert w.output.status_label.text() == "Plan: draft, not exported"


def test_a_plan_altered_after_the_physician_signed_cannot_be_approved(demo_window, qtbot, tmp_path):
    w = demo_window
    package, _ = signed_by_physician(w, qtbot, tmp_path)
    altered = tmp_path / "altered"
    shutil.copytree(package, altered)
    flip_byte_after(altered / "RTPLAN.dcm", b'"label":"', 0)   # "Demo: …" → "Eemo: …"
    w.reviewing.review(altered / "RTPLAN.dcm", open_in_window=False)
    idle(w, qtbot)
    assert w.review_panel.review is not None, w.review_panel.header.text()
    assert not w.review_panel.review.can_approve
    assert not w.review_panel.approve_button.isEnabled()
    assert "Cannot be approved" in w.review_panel.reasons_label.text()
    assert "changed since signing" in w.review_panel.reasons_label.text()


def test_a_signed_plan_is_fetched_from_the_pacs_and_reviewed(demo_window, qtbot, tmp_path, orthanc):  # noqa: F811
    from planner.dicom.pacs_settings import PacsNode

    w = demo_window
    signed_by_physician(w, qtbot, tmp_path)
    w.settings.save_pacs_node(PacsNode(orthanc.host, orthanc.dicom_port, orthanc.ae_title,
                                       orthanc.client_ae_title, timeout_s=5))
    assert w.output.send_to_pacs()
    idle(w, qtbot)
    browser = w.reviewing.browse_pacs()
    qtbot.keyClicks(browser.patient_id, "DEMO-0001")
    browser.find_button.click()
    idle(w, qtbot)
    assert browser.table.rowCount() >= 1, browser.message.text()
    browser.table.selectRow(0)
    browser.retrieve_button.click()
    idle(w, qtbot)          # the C-GET, then the review
    idle(w, qtbot)
    qtbot.waitUntil(lambda: w.review_panel.review is not None, timeout=60000)
    review = w.review_panel.review
    assert "pacs-retrieved" in str(review.path)
    assert review.can_approve, review.reasons     # the fetched copy's signature still holds
    assert abs(review.second_check_difference_percent) <= 0.5
