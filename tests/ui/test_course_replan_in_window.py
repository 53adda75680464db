"""Issue 17, done when: a deepening lesion mid-course leads through Re-plan, in the main window, to a signed
revision whose course dose adds up.

The demo at 70 kV, Ø 20 mm, 5 × 7 Gy is exported and signed in the window; its course is started and two
fractions recorded on the Course tab; an image after fraction 2 with a lesion 2.4 mm deep (an outline file, below
the 70 kV prescription isodose) is added through Add Course Image…; Course ▸ Re-plan Remaining Fractions… at
100 kV makes the revision, which is exported, signed, reviewed and approved in the window (Review tab, as the
physicist), and fractions 3 to 5 are recorded on it. Judged from outside: the RT Plan files read with pydicom
(PREDECESSOR, fractions, Beam Meterset), the course's dose and BED added up by hand from the recorded times, and
`planner course record-fraction` on the old package refusing a fraction.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta

import pytest
from pydicom import dcmread

from planner.dicom.keys import create_test_certificate, load_signing_identity
from planner.ui.course_replan_dialog import NO_RT_PLAN
from planner.ui.signing_dialog import SigningDialog
from planner.ui.trusted_signers import TRUST_QUESTION
from tests.cli_runner import planner
from tests.ui.gui_driver import choose_in_combo
from tests.ui.test_course_full_in_window import add_session
from tests.ui.test_course_in_window import set_date
from tests.ui.test_ebx_in_window import wait_for_dose

PASSPHRASE = b"replan test"
START = date.today() - timedelta(days=20)
DAYS = tuple(START + timedelta(days=2 * k) for k in range(5))
LESION_DEPTH_MM, LESION_WIDTH_MM = 2.4, 8.0


def idle(w, qtbot):
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=180000)


def seconds_per_fraction(rt_plan) -> float:
    """The kV RT Plan's time per fraction: Beam Meterset (min) × 60, to 0.1 s as a timer shows it."""
    return round(float(rt_plan.FractionGroupSequence[0].ReferencedBeamSequence[0].BeamMeterset) * 60.0, 1)


def record(w, qtbot, day: date, seconds: float) -> None:
    panel = w.course_panel
    set_date(panel.date_edit, day)
    panel.time_edit.clear()
    qtbot.keyClicks(panel.time_edit, f"{seconds:.1f}")
    if not panel.delivered_by.text():
        qtbot.keyClicks(panel.delivered_by, "RTT A. Smith")
    assert panel.record_fraction(), panel.problem_label.text()


def certificates(w, tmp_path):
    ask = w.ask_user
    w.ask_user = lambda title, text, choices: "Trust" if title == TRUST_QUESTION else ask(title, text, choices)
    certs = {}
    for who in ("oncologist", "physicist"):
        key, cert = tmp_path / f"{who}.key.pem", tmp_path / f"{who}.cert.pem"
        create_test_certificate(key, cert, f"Dr {who.title()}", "Demo Clinic", PASSPHRASE)
        certs[who] = (key, cert)
        assert w.output.trust_certificate(cert)
    return certs


def export_and_sign(w, qtbot, folder, certs) -> None:
    assert w.output.export_package(folder)
    idle(w, qtbot)
    assert (folder / "RTPLAN.dcm").is_file(), w.last_problem
    assert w.output.sign(load_signing_identity(*certs["oncologist"], PASSPHRASE))
    idle(w, qtbot)
    assert w.output.status_label.text().startswith("Plan: signed"), (w.output.status_label.text(), w.last_problem)


def replanned_and_signed(w, qtbot, tmp_path):
    """The chain of the module doc up to the signed revision, each step checked; returns what the tests judge."""
    wait_for_dose(w, qtbot)
    choose_in_combo(w.plan_panel.preset_combo, "35 Gy / 5 × 7 Gy")
    choose_in_combo(w.plan_panel.energy_combo, "70 kV (HVL 1.15 mm Al)")
    choose_in_combo(w.plan_panel.applicator_combo, "Ø 20 mm")
    qtbot.waitUntil(lambda: not w.runner.busy and w.dose.last_result is not None
                    and w.dose.last_result.treatment_time_min is not None, timeout=180000)
    panel = w.course_panel
    certs = certificates(w, tmp_path)
    first = tmp_path / "first"
    export_and_sign(w, qtbot, first, certs)
    old_rt_plan = dcmread(first / "RTPLAN.dcm")
    t1 = seconds_per_fraction(old_rt_plan)

    # The course: started, fractions 1 and 2 at 95 % and 102 % of the planned time.
    panel.start_button.click()
    assert w.document.plan.course.planned_dwell_time_s == pytest.approx(t1, abs=1e-9)
    delivered = (round(0.95 * t1, 1), round(1.02 * t1, 1))
    for day, seconds in zip(DAYS[:2], delivered):
        record(w, qtbot, day, seconds)
    assert not panel.replan_button.isEnabled()          # no image after fraction 2 yet
    add_session(w, qtbot, tmp_path, 21, "after fraction", 2, DAYS[1], LESION_DEPTH_MM, LESION_WIDTH_MM)
    assert panel.replan_button.isEnabled()
    # The finding, judged in the background, says re-plan with its numbers.
    qtbot.waitUntil(lambda: panel.replan_label.text() != "", timeout=180000)
    finding = panel.replan_label.text()
    assert panel.replan_label.isVisible() and finding.endswith(": re-plan")
    match = re.fullmatch(rf"lesion 2\.40 mm deep \(after fraction 2, {DAYS[1].isoformat()}\) but the (\d+) % isodose "
                         r"\(\1 % of Dmax\) of the plan \(70 kV, Ø 20 mm\) reaches (\d+\.\d\d) mm: re-plan", finding)
    assert match is not None, finding
    assert float(match.group(2)) < LESION_DEPTH_MM

    # The re-plan revises the RT Plan the plan on screen was exported as: a plan changed since has none.
    [menu] = [a.menu() for a in w.menuBar().actions() if a.text() == "&Course"]
    [action] = [a for a in menu.actions() if a.text() == "&Re-plan Remaining Fractions…"]
    w.document.apply(w.document.plan.with_notes("changed after export"), "Edit notes")
    action.trigger()
    assert w.last_problem == NO_RT_PLAN and panel.replan.dialog is None
    w.undo_action.trigger()

    # Course ▸ Re-plan Remaining Fractions…: the latest image, 100 kV, the finding shown.
    before = w.document.plan
    action.trigger()
    dialog = panel.replan.dialog
    qtbot.waitExposed(dialog)
    assert dialog.session.when.label == "after fraction 2" and dialog.findings_label.text() == finding
    assert dialog.energy_combo.currentText() == "70 kV (HVL 1.15 mm Al)"
    choose_in_combo(dialog.energy_combo, "100 kV (HVL 2.20 mm Al)")
    if os.environ.get("REPLAN_SCREENSHOT"):   # the dialog, to be looked at
        dialog.grab().save(os.environ["REPLAN_SCREENSHOT"].replace(".png", "-dialog.png"))
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    idle(w, qtbot)
    revised = w.document.plan
    session = before.course.sessions[-1]
    assert revised.image_path == session.image_path and revised.outline == session.outline
    assert (revised.setup.energy_id, revised.setup.applicator_id) == ("100kV", "cone-20mm")
    assert (revised.prescription.fractions, revised.prescription.dose_per_fraction_gy) == (3, 7.0)
    assert [p.first_fraction for p in revised.course.phases] == [1, 3]
    assert revised.course.phases[1].reason == finding
    qtbot.waitUntil(lambda: w.dose.last_result is not None and not w.runner.busy, timeout=180000)
    assert "new revision" in w.output.status_label.text()

    # One undoable step: back to the plan on its own image, and forward again.
    assert w.undo_action.text() == "&Undo Re-plan on after fraction 2"
    w.undo_action.trigger()
    assert w.document.plan == before and w.document.planning_image.image.source_path == before.image_path
    w.redo_action.trigger()
    assert w.document.plan == revised
    idle(w, qtbot)

    # Export: never into the predecessor's folder; into another, as the revision, then signed.
    ask = w.ask_user   # the user says Replace to the package there: the revision is refused all the same
    w.ask_user = lambda title, text, choices: "Replace" if title == "Replace the plan package?" else \
        ask(title, text, choices)
    old_bytes = (first / "RTPLAN.dcm").read_bytes()
    assert w.output.export_package(first)
    idle(w, qtbot)
    w.ask_user = ask
    assert "holds the plan being revised" in w.last_problem and (first / "RTPLAN.dcm").read_bytes() == old_bytes
    second = tmp_path / "second"
    export_and_sign(w, qtbot, second, certs)
    new_rt_plan = dcmread(second / "RTPLAN.dcm")
    [reference] = new_rt_plan.ReferencedRTPlanSequence
    assert (reference.ReferencedSOPInstanceUID, reference.RTPlanRelationship) == \
        (old_rt_plan.SOPInstanceUID, "PREDECESSOR")
    assert int(new_rt_plan.FractionGroupSequence[0].NumberOfFractionsPlanned) == 3
    t2 = seconds_per_fraction(new_rt_plan)
    assert revised.course.phases[1].planned_time_s == pytest.approx(t2, abs=1e-9)
    # The old package's plan file is marked superseded: it refuses fraction 3.
    refused = planner("course", "record-fraction", first / "plan.json", "--date", DAYS[2].isoformat(),
                      "--time-min", "1", "--operator", "Lee^Ann", "--at", "10:00")
    assert refused.returncode != 0 and new_rt_plan.SOPInstanceUID in refused.stderr, refused.stderr

    return certs, second, (t1, delivered), t2


def test_a_deeper_lesion_is_replanned_in_the_window_to_a_signed_revision_whose_course_adds_up(
        demo_window, qtbot, tmp_path):
    w = demo_window
    panel = w.course_panel
    _, _, (t1, delivered), t2 = replanned_and_signed(w, qtbot, tmp_path)
    if os.environ.get("REPLAN_SCREENSHOT"):   # the window after the re-plan, to be looked at
        w.resize(1280, 800)
        qtbot.wait(200)
        w.grab().save(os.environ["REPLAN_SCREENSHOT"])

    # Fractions 3 to 5 on the revision, on the Course tab: the form offers the revision's own time.
    assert panel.time_edit.text() == f"{t2:.1f}" and panel.record_button.text() == "Record fraction 3 of 5"
    later = (round(1.0 * t2, 1), round(0.98 * t2, 1), round(1.01 * t2, 1))
    for day, seconds in zip(DAYS[2:], later):
        record(w, qtbot, day, seconds)
    course = w.document.plan.course
    assert course.complete and course.delivered_fractions == 5
    # By hand: D_i = 7 Gy × t_i / t_phase, with each phase's own planned time from its RT Plan.
    doses = [7.0 * t / t1 for t in delivered] + [7.0 * t / t2 for t in later]
    total = sum(doses)
    bed10 = sum(d * (1 + d / 10.0) for d in doses)
    eqd2_10 = bed10 / (1 + 2 / 10.0)
    text = panel.course_dose_label.text()
    assert text.startswith(f"Course dose {total:.2f} Gy (delivered {total:.2f} + remaining 0.00); "
                           f"BED10 {bed10:.2f} Gy, EQD2(10) {eqd2_10:.2f} Gy;"), text
    assert course.course_dose_gy == pytest.approx(total, rel=1e-12)
    assert course.course_bed_gy(10.0) == pytest.approx(bed10, rel=1e-12)
    assert "then 3 × 7 Gy" in panel.summary_label.text()

    # Undone after its export, the re-plan leaves its files and says so.
    for _ in range(3):
        w.undo_action.trigger()
    assert w.undo_action.text() == "&Undo Re-plan on after fraction 2"
    w.undo_action.trigger()
    assert w.document.plan.setup.energy_id == "70kV" and w.document.plan.course.later_phases == ()
    second = tmp_path / "second"
    assert w.last_problem == (f"The re-plan is undone in the window only: the revision written to {second} and the "
                              f"superseded mark in {tmp_path / 'first' / 'plan.json'} stay on disk (nothing is "
                              f"deleted).")
    assert (second / "RTPLAN.dcm").is_file() and "superseded_by" in (tmp_path / "first" / "plan.json").read_text()


def test_the_signed_revision_is_approved_on_the_review_tab(demo_window, qtbot, tmp_path):
    w = demo_window
    certs, second, _, _ = replanned_and_signed(w, qtbot, tmp_path)
    # The physicist reviews and approves the revision on the Review tab.
    w.reviewing.review(second / "RTPLAN.dcm", consent=w.consent_to_replace("Reviewing", ask=False))
    idle(w, qtbot)
    qtbot.waitUntil(lambda: w.review_panel.review is not None, timeout=120000)
    assert w.review_panel.review.can_approve, w.review_panel.review.reasons
    qtbot.keyClicks(w.review_panel.reviewer_name, "Physicist^Ann")
    w.review_panel.approve_button.click()
    signing = [d for d in w.findChildren(SigningDialog) if d.isVisible()][0]
    key, cert = certs["physicist"]
    qtbot.keyClicks(signing.key_path, str(key))
    qtbot.keyClicks(signing.cert_path, str(cert))
    qtbot.keyClicks(signing.passphrase, PASSPHRASE.decode())
    signing.sign_button.click()
    idle(w, qtbot)
    assert dcmread(second / "RTPLAN.dcm").ApprovalStatus == "APPROVED", w.last_problem
    qtbot.waitUntil(lambda: w.output.opened is not None, timeout=60000)

