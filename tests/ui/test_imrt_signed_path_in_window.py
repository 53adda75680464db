"""Issue 16 in the windows: an IMRT plan travels the signed path like a surface plan.

The IMRT window (TG-119 at 5 mm, 3 iterations) exports and the physician signs through the signing
dialog; Review Plan… in the main window reviews that RT Plan in the Review tab and opens it in an
IMRT window (never as a surface plan), on the volume it names, with the objectives it embeds; an
approved copy opens locked until Start Revision and its revision's export names it as PREDECESSOR; a
leaf moved after signing shows the broken signature; and the physicist approves the TG-119 plan in the
Review tab with the real independent Monte Carlo check (its recorded answers), after which it reopens
locked. The expected values come from outside the windows: pydicom reading the RT Plan and the
signature verifier (planner.dicom.signed_plan).
"""

from __future__ import annotations

import html
import json
import shutil

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox
from pydicom import dcmread
from pytestqt.qtbot import QtBot

from planner.dicom.inverse_payload import INVERSE_CREATOR, EmbeddedInversePlan
from planner.dicom.plan_payload import PRIVATE_GROUP
from planner.dicom.signatures import AUTHORIZATION, SignatureStatus, sign_file
from planner.dicom.signed_plan import open_signed_plan
from planner.review.revision import predecessor_of
from planner.ui.imrt.objectives_table import DOSE, STRUCTURE
from planner.ui.signing_dialog import SigningDialog
from planner.ui.trusted_signers import TRUST_QUESTION
from tests.dicom.signature_fixtures import PASSPHRASE, signer
from tests.dicom.test_imrt_signature import move_a_leaf_in_the_last_control_point
from tests.ui.gui_driver import make_window
from tests.ui.test_imrt_window import click_optimise, set_iterations, type_into_cell
from tests.tg119_recorded_plan import tg119_recorded_export

VOXEL_MM = 5.0
ITERATIONS = 3
PTV_MAX = 1          # TG-119's starting objectives: PTV min, PTV max, Core max, Body max
PTV_MAX_TYPED = "56"  # not the default, so the embedded objectives are the ones typed
ANSWERS = {"Unsaved IMRT plan": "Discard", "Unsaved plan": "Discard", TRUST_QUESTION: "Trust"}


# --- driving the windows ----------------------------------------------------------------------------
def wait_until(condition, timeout_s: float = 60.0, what: str = "") -> None:
    for _ in range(int(timeout_s * 1000 / 20)):
        if condition():
            return
        QTest.qWait(20)
    assert condition(), f"timed out waiting for {what or condition}"


def idle(window) -> None:
    wait_until(lambda: not window.runner.busy, what=f"{window.objectName()} to finish its task")


def click(window, action) -> None:
    QTest.mouseClick(window.toolbar.widgetForAction(action), Qt.MouseButton.LeftButton)


def imrt_window(main):
    """The IMRT window the main window opened last, once its volume is shown, in front."""
    wait_until(lambda: main.imrt.windows and main.imrt.windows[-1].volume is not None and not main.runner.busy,
               what="the IMRT window")
    window = main.imrt.windows[-1]
    QTest.qWaitForWindowExposed(window)
    window.activateWindow()
    return window


def typed(bot, window, row: int, column: int, text: str) -> None:
    """Typed into the objectives table (tests/ui/test_imrt_window.py), the window in front; a refused
    edit puts the plan's value back on the next loop."""
    window.activateWindow()
    QTest.qWait(10)
    type_into_cell(bot, window, row, column, text)
    QTest.qWait(20)


def dismiss_problems(window) -> None:
    """Press OK on the problem boxes the window showed (they take the keyboard focus)."""
    for box in window.findChildren(QMessageBox):
        if box.isVisible():
            box.accept()
    QTest.qWait(20)


def optimise(bot, window) -> None:
    set_iterations(bot, window, ITERATIONS)
    click_optimise(bot, window)
    idle(window)
    assert window.result is not None, window.last_problem


def type_into_signing_dialog(window, role: str, key, cert) -> SigningDialog:
    """The open signing dialog of ``window`` asks for ``role``: key, certificate and passphrase typed, Sign."""
    dialog = next(d for d in window.findChildren(SigningDialog) if d.isVisible())
    assert dialog.chosen_role == role
    QTest.keyClicks(dialog.key_path, str(key))
    QTest.keyClicks(dialog.cert_path, str(cert))
    QTest.keyClicks(dialog.passphrase, PASSPHRASE.decode())
    dialog.sign_button.click()
    return dialog


def sign_in_dialog(window, key, cert) -> None:
    """File ▸ Sign Plan…, then the key, certificate and passphrase typed into the signing dialog."""
    window.sign_action.trigger()
    dialog = type_into_signing_dialog(window, "creator", key, cert)
    idle(window)
    assert not dialog.isVisible(), dialog.message.text()


def close_all(main) -> None:
    for window in list(main.imrt.windows):
        window.runner.cancel()
        window.runner.wait(10.0)
        window.close()
    main.runner.cancel()
    main.runner.wait(10.0)
    main.close()


def embedded_plan_json(path) -> dict:
    """The IMRT plan the RT Plan embeds, read with pydicom: creator PLANNER INVERSE PLAN 1 in group 3259."""
    ds = dcmread(path)
    slot = next(s for s in range(0x10, 0x100)
                if (PRIVATE_GROUP << 16 | s) in ds and ds[PRIVATE_GROUP << 16 | s].value == INVERSE_CREATOR)
    return json.loads(ds[(PRIVATE_GROUP << 16) | (slot << 8)].value)


def objectives_of(plan) -> list[dict]:
    return [{"structure": o.structure, "kind": o.kind, "dose_gy": o.dose_gy, "weight": o.weight,
             "volume_fraction": o.volume_fraction} for o in plan.objectives]


def json_objectives(data: dict) -> list[dict]:
    return [{"volume_fraction": 0.0, **o} for o in data["objectives"]]


# --- the plan signed in the IMRT window, once for the module ------------------------------------------
@pytest.fixture(scope="module")
def signed_in_window(qapp, request, tmp_path_factory):
    """TG-119 at 5 mm in the IMRT window opened from the main window's File menu: PTV max typed as
    56 Gy, optimised, exported and signed by Dr A. Oncologist through the signing dialog."""
    tmp = tmp_path_factory.mktemp("imrt-signed-path")
    with pytest.MonkeyPatch.context() as env:   # this module's own user folders (as tests/conftest.py makes them)
        env.setenv("PLANNER_DATA_DIR", str(tmp / "user-data"))
        env.setenv("PLANNER_CONFIG_DIR", str(tmp / "user-config"))
        bot = QtBot(request)   # the window tests' typing, for this module's one signed plan
        doctor, key, cert = signer(tmp, "Dr A. Oncologist")
        main = make_window(ANSWERS)
        main.show()
        try:
            main.imrt.ask_voxel_size = lambda title: VOXEL_MM
            main.imrt.new_phantom_action.trigger()
            window = main.imrt.windows[-1]
            QTest.qWaitForWindowExposed(window)
            typed(bot, window, PTV_MAX, DOSE, PTV_MAX_TYPED)
            optimise(bot, window)
            window.ask_export_folder = lambda: str(tmp / "plan")
            click(window, window.export_action)
            idle(window)
            assert window.last_export is not None, window.last_problem
            before = window.signed_path.status_label.text()
            sign_in_dialog(window, key, cert)
            yield {"rt_plan": window.last_export.rt_plan, "doctor": doctor, "cert": cert, "tmp": tmp,
                   "status_before": before, "status_after": window.signed_path.status_label.text(),
                   "message": window.last_status, "problem": window.last_problem}
        finally:
            close_all(main)


@pytest.fixture
def main(qtbot, monkeypatch):
    """A fresh main window. The review's independent Monte Carlo check of an IMRT plan takes minutes;
    it has its own tests (tests/review/test_imrt_second_check.py), so here it is said not made."""
    import planner.review.plan_review as plan_review

    monkeypatch.setattr(plan_review, "imrt_second_check_of",
                        lambda *_a, **_k: (None, "the independent second check is not run in this window test"),
                        raising=False)
    w = make_window(ANSWERS)
    qtbot.addWidget(w)
    with qtbot.waitExposed(w):
        w.show()
    yield w
    close_all(w)


def test_signed_in_the_imrt_window_the_signature_verifies(signed_in_window):
    s = signed_in_window
    opened = open_signed_plan(s["rt_plan"], [s["doctor"].certificate])
    assert opened.status is SignatureStatus.SIGNED, s["problem"]
    (check,) = opened.checks
    assert check.valid and check.trusted and check.role == "creator"
    assert check.signer.startswith("Dr A. Oncologist")
    # the RT Plan embeds the plan as typed in the window
    assert isinstance(opened.plan, EmbeddedInversePlan)
    data = embedded_plan_json(s["rt_plan"])
    assert data["objectives"][PTV_MAX]["dose_gy"] == float(PTV_MAX_TYPED)
    assert data["planning_volume"] == {"kind": "tg119", "spacing_mm": VOXEL_MM}
    # the status bar says who signed, as the signature does
    assert s["status_before"].startswith("Plan: unsigned (draft), exported to plan")
    assert s["status_after"].startswith("Plan: signed by Dr A. Oncologist"), s["status_after"]
    assert "(creator)" in s["status_after"]
    assert s["message"].startswith("Signed (creator) by Dr A. Oncologist")
    # the export and the signing are each in the audit log, their entries' hashes inside the signed plan
    from planner.dicom.audit_anchor import read_audit_anchors
    assert [a.action for a in read_audit_anchors(dcmread(s["rt_plan"]))] == ["export", "sign"]


def test_review_plan_shows_the_imrt_review_and_opens_it_in_an_imrt_window(signed_in_window, main, qtbot):
    s = signed_in_window
    assert main.output.trust_certificate(s["cert"])
    assert main.reviewing.review(s["rt_plan"])
    wait_until(lambda: main.review_panel.review is not None, what="the review")
    window = imrt_window(main)
    panel, review = main.review_panel, main.review_panel.review
    # the Review tab: the physician's signature, intact and trusted, and why it cannot be approved here
    signatures = html.unescape(panel.signatures_label.text())
    assert "creator: Dr A. Oncologist" in signatures and "intact, trusted" in signatures
    assert not review.can_approve and review.reasons
    reasons = html.unescape(panel.reasons_label.text())
    assert "Cannot be approved" in reasons and all(r in reasons for r in review.reasons)
    assert not panel.approve_button.isEnabled()
    ds = dcmread(s["rt_plan"])
    assert str(ds.PatientID) in panel.header.text()
    # it is not opened as a surface plan: the main window's plan is untouched, an IMRT window shows it
    assert main.document.plan is None
    data = embedded_plan_json(s["rt_plan"])
    assert window.volume.grid.spacing_mm == (data["planning_volume"]["spacing_mm"],) * 3
    assert objectives_of(window.plan) == json_objectives(data)
    table = window.objectives.table
    assert [table.cellWidget(r, STRUCTURE).currentText() for r in range(table.rowCount())] == \
        [o["structure"] for o in data["objectives"]]
    assert table.item(PTV_MAX, DOSE).text() in (PTV_MAX_TYPED, f"{float(PTV_MAX_TYPED):g}",
                                                f"{float(PTV_MAX_TYPED):.1f}")
    assert list(window.plan.gantry_angles_deg) == data["gantry_angles_deg"]
    assert window.plan.prescription.dose_per_fraction_gy == data["prescription"]["dose_per_fraction_gy"]
    assert window.plan.prescription.fractions == data["prescription"]["fractions"]
    rx = data["prescription"]
    assert window.summary.prescription_label.text() == (
        f"{rx['fractions'] * rx['dose_per_fraction_gy']:g} Gy in {rx['fractions']} × {rx['dose_per_fraction_gy']:g} Gy "
        f"to {rx['target']} D{rx['coverage_volume_fraction'] * 100:g}")
    status = window.signed_path.status_label
    assert status.text().startswith("Plan: signed by Dr A. Oncologist") and "not treatable" in status.text()
    assert "signed, awaiting review" in status.toolTip()   # the verdict in full
    assert not window.signed_path.banner.isVisible()   # signed, not approved: not locked
    assert not panel.not_this_plan.isVisible()         # the review describes the plan on screen
    typed(qtbot, window, PTV_MAX, DOSE, "57")
    assert window.plan.objectives[PTV_MAX].dose_gy == 57.0   # a signed, unapproved plan can be edited
    assert panel.not_this_plan.isVisible()             # and the Review tab says it no longer describes it


def test_trusting_the_signer_rechecks_the_imrt_plan_on_screen_at_once(signed_in_window, main):
    """Trust takes effect at once in an IMRT window too (as the main window does for a surface plan): the plan
    opened before its signer was trusted says so, and after Trust says it is signed and awaiting review. The
    expected words come from the verifier (planner.dicom.signed_plan) reading the same file."""
    s = signed_in_window
    assert main.output.open_signed(s["rt_plan"])
    window = imrt_window(main)
    status = window.signed_path.status_label
    untrusted = open_signed_plan(s["rt_plan"], ())
    assert not untrusted.treatable and "certificate not trusted" in untrusted.message
    assert status.toolTip() == f"Plan: {untrusted.message}"
    assert main.output.trust_certificate(s["cert"])
    trusted = open_signed_plan(s["rt_plan"], [s["doctor"].certificate])
    assert "certificate not trusted" not in trusted.message and "awaiting review" in trusted.message
    assert status.toolTip() == f"Plan: {trusted.message}"
    assert window.signed_path.opened.plan.plan == window.plan   # still the plan as shown


def approved_copy(s, folder):
    """The window-signed RT Plan with the physicist's approval written into a copy with pydicom
    (Approval Status APPROVED, reviewer, date, time) and signed by her (authorization): what
    planner.review.approval writes, done by hand because the review cannot approve an IMRT plan yet."""
    folder.mkdir()
    ds = dcmread(s["rt_plan"])
    ds.ApprovalStatus, ds.ReviewerName, ds.ReviewDate, ds.ReviewTime = "APPROVED", "Physicist^Jo", "20261203", "120000"
    unsigned = folder / "approved-unsigned.dcm"
    ds.save_as(unsigned)
    physicist, _, physicist_cert = signer(folder, "J. Physicist")
    approved = folder / "RTPLAN.dcm"
    sign_file(unsigned, approved, physicist, AUTHORIZATION)
    unsigned.unlink()
    return approved, physicist_cert


def test_an_approved_imrt_plan_opens_locked_until_a_revision_is_started(signed_in_window, main, qtbot, tmp_path):
    s = signed_in_window
    approved, physicist_cert = approved_copy(s, tmp_path / "approved")
    for cert in (s["cert"], physicist_cert):
        assert main.output.trust_certificate(cert)
    # what the lock reads: the RT Plan's Approval Status, covered by an authorization signature
    assert dcmread(approved).ApprovalStatus == "APPROVED"
    assert open_signed_plan(approved, [s["doctor"].certificate, dcmread_cert(physicist_cert)]).reviewed
    assert main.output.open_signed(approved)
    window = imrt_window(main)
    data = embedded_plan_json(approved)
    assert objectives_of(window.plan) == json_objectives(data)
    banner = window.signed_path.banner
    assert banner.isVisible() and "APPROVED by Physicist^Jo on 2026-12-03" in banner.text() and "Start Revision" in banner.text()
    assert "APPROVED and locked" in window.signed_path.status_label.text()

    # an objective typed into the table is refused, with one line saying why and how to revise
    typed(qtbot, window, PTV_MAX, DOSE, "60")
    assert window.last_problem == "This plan is APPROVED and locked: Plan ▸ Start Revision makes an editable " \
                                  "revision of it."
    assert objectives_of(window.plan) == json_objectives(data)
    assert window.objectives.table.item(PTV_MAX, DOSE).text() != "60"
    dismiss_problems(window)
    # so is Optimise
    window.last_problem = None
    click(window, window.optimise_action)
    assert "APPROVED and locked" in (window.last_problem or "") and not window.runner.busy and window.result is None
    dismiss_problems(window)

    # Plan ▸ Start Revision: editable, as a revision of that RT Plan
    plan_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Plan")
    revise = next(a for a in plan_menu.actions() if a.text() == "Start &Revision")
    assert revise.isEnabled()
    revise.trigger()
    assert window.signed_path.revision.predecessor_uid == str(dcmread(approved).SOPInstanceUID)
    typed(qtbot, window, PTV_MAX, DOSE, "60")
    assert window.plan.objectives[PTV_MAX].dose_gy == 60.0
    assert "new revision of the approved plan" in window.signed_path.status_label.text()
    assert "Revision of the approved RT Plan" in banner.text() and not revise.isEnabled()
    assert dcmread(approved).ApprovalStatus == "APPROVED"   # the approved file never changes


def test_a_revisions_export_references_the_approved_plan(signed_in_window, main, qtbot, tmp_path):
    s = signed_in_window
    approved, _ = approved_copy(s, tmp_path / "approved")
    assert main.output.open_signed(approved)
    window = imrt_window(main)
    window.revise_action.trigger()
    typed(qtbot, window, PTV_MAX, DOSE, "60")
    optimise(qtbot, window)
    window.ask_export_folder = lambda: str(tmp_path / "revision")
    click(window, window.export_action)
    idle(window)
    assert window.last_export is not None, window.last_problem
    revision = dcmread(window.last_export.rt_plan)
    assert predecessor_of(window.last_export.rt_plan) == str(dcmread(approved).SOPInstanceUID)
    [reference] = revision.ReferencedRTPlanSequence
    assert reference.RTPlanRelationship == "PREDECESSOR" and revision.ApprovalStatus == "UNAPPROVED"


def test_a_leaf_moved_after_signing_shows_the_broken_signature_in_the_review_tab(signed_in_window, main, tmp_path):
    s = signed_in_window
    assert main.output.trust_certificate(s["cert"])
    tampered = tmp_path / "RTPLAN.dcm"
    move_a_leaf_in_the_last_control_point(s["rt_plan"], tampered)
    ds_signed, ds_tampered = dcmread(s["rt_plan"]), dcmread(tampered)
    assert ds_signed.BeamSequence[0].ControlPointSequence[-1] != ds_tampered.BeamSequence[0].ControlPointSequence[-1]
    assert main.reviewing.review(tampered)
    wait_until(lambda: main.review_panel.review is not None, what="the review")
    window = imrt_window(main)
    panel = main.review_panel
    signatures = html.unescape(panel.signatures_label.text())
    assert "creator: Dr A. Oncologist" in signatures and "BROKEN" in signatures
    assert "altered after signing" in html.unescape(panel.reasons_label.text())
    assert "Not treatable" in html.unescape(panel.treatment_label.text())
    assert not panel.approve_button.isEnabled() and not panel.reject_button.isEnabled()
    assert window.signed_path.status_label.text().startswith("SIGNATURE BROKEN — not for treatment")


def dcmread_cert(path):
    from cryptography import x509

    return x509.load_pem_x509_certificate(path.read_bytes())


# --- the physicist approves in the Review tab, with the real independent check -----------------------
@pytest.fixture(scope="module")
def tg119_export(tmp_path_factory):
    """`planner imrt --tg119 --grid-mm 5 --out DIR` as stored (tests/tg119_recorded_plan.py): the plan whose
    ompMC check is recorded, so the window's review makes the real check in seconds."""
    return tg119_recorded_export(tmp_path_factory, "imrt-approve-in-window")


def test_the_physicist_approves_an_imrt_plan_in_the_review_tab_and_it_reopens_locked(tg119_export, qtbot, tmp_path):
    from planner.dicom.signatures import CREATOR, verify_file
    from planner.paths import data_dir
    from planner.review.imrt_second_check import default_cache_path
    from tests.review.test_imrt_second_check import RECORDED

    folder = tmp_path / "plan"
    shutil.copytree(tg119_export, folder)
    rt_plan = folder / "RTPLAN.dcm"
    doctor, _, doctor_cert = signer(tmp_path, "Dr A. Oncologist")
    _, physicist_key, physicist_cert = signer(tmp_path, "J. Physicist")
    signed = tmp_path / "signed.dcm"
    assert sign_file(rt_plan, signed, doctor, CREATOR).valid
    shutil.copy(signed, rt_plan)
    data_dir().mkdir(parents=True, exist_ok=True)
    shutil.copy(RECORDED, default_cache_path())   # the workstation's Monte Carlo answers: the recorded ones
    w = make_window(ANSWERS)
    qtbot.addWidget(w)
    with qtbot.waitExposed(w):
        w.show()
    try:
        assert w.output.trust_certificate(doctor_cert)
        assert w.reviewing.review(rt_plan)
        qtbot.waitUntil(lambda: w.review_panel.review is not None, timeout=300_000)
        review, panel = w.review_panel.review, w.review_panel
        assert review.can_approve, review.reasons
        assert review.second_check.verdict == "agree" and abs(review.second_check.difference_percent) < 3.0
        assert "Monte Carlo" in html.unescape(panel.check_label.text()) and panel.approve_button.isEnabled()

        qtbot.keyClicks(panel.reviewer_name, "Physicist^Jo")
        panel.approve_button.click()
        type_into_signing_dialog(w, "authorization", physicist_key, physicist_cert)
        qtbot.waitUntil(lambda: dcmread(rt_plan).get("ApprovalStatus") == "APPROVED", timeout=120_000)
        ds = dcmread(rt_plan)
        assert str(ds.ReviewerName) == "Physicist^Jo"
        checks = verify_file(rt_plan, [])
        assert [c.role for c in checks] == [CREATOR, AUTHORIZATION] and all(c.valid for c in checks)
        # the Review tab shows it approved, and the IMRT window reopened on it is locked
        qtbot.waitUntil(lambda: w.review_panel.review is not None
                        and w.review_panel.review.approval.status == "APPROVED", timeout=120_000)
        assert "APPROVED by Physicist^Jo" in w.review_panel.header.text()
        window = imrt_window(w)
        qtbot.waitUntil(lambda: window.signed_path.banner.isVisible(), timeout=30_000)
        assert "APPROVED by Physicist^Jo" in window.signed_path.banner.text()
        # with the dose the review recomputed from the signed segments: the figures signed at export
        from planner.dicom.inverse_payload import read_inverse_payload, recorded_dose_figures
        signed_figures = {f.name: f.dose_gy for f in recorded_dose_figures(read_inverse_payload(dcmread(rt_plan))[1])}
        assert window.signed_dose is not None and window.slice_view.dose_gy is window.signed_dose.dose_grid_gy
        assert window.signed_dose.metrics["PTV"].d95_gy == pytest.approx(signed_figures["PTV D95"], rel=1e-3)
        assert window.summary.dose_label.text() == "dose of the signed segments, recomputed by the review " \
                                                   "(approved, locked)"
        window.grab().save(str(tmp_path / "approved-imrt.png"))
    finally:
        close_all(w)
