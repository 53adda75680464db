"""Review mode in the window: File ▸ Review Plan… opens a signed RT Plan, runs the physicist's
review in the background (signatures, dose recomputed, second check, consistency) and shows it in
the Review tab; Approve / Reject sign the decision with the physicist's key and log it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QDockWidget, QFileDialog
from pydicom import dcmread

from planner.dicom.export import RT_PLAN_FILE
from planner.dicom.inverse_payload import INVERSE_CREATOR, EmbeddedInversePlan
from planner.dicom.plan_payload import embedded_kind
from planner.review.approval import approve_plan, reject_plan
from planner.review.audit import AuditError, open_audit_log
from planner.review.plan_review import review_plan
from planner.ui.review_panel import ReviewPanel
from planner.ui.signing_dialog import ask_for_signer
from planner.ui.unsaved_edits import Consent, ask_before_replacing


class ReviewController(QObject):
    def __init__(self, window, panel: ReviewPanel):
        super().__init__(window)
        self.window = window
        self.panel = panel
        self.path: Path | None = None
        self.review_action = window._action("&Review Plan…", self.choose_plan, "Ctrl+R",
                                            "Open a signed RT Plan for the physicist's review and approval")
        self.review_from_pacs_action = window._action("Review Plan from PAC&S…", self.browse_pacs, None,
                                                      "Fetch a patient's RT Plan from the PACS and review it")
        window.document.plan_changed.connect(lambda _plan: self.show_whether_on_screen())
        window.output.signers.changed.connect(self._on_trust_changed)
        panel.approve_requested.connect(lambda: self.choose_signer("approve"))
        panel.reject_requested.connect(lambda reason: self.choose_signer("reject", reason))

    def show_whether_on_screen(self) -> None:
        """The Review tab always says whether it describes the plan on screen (issue 15, point 3): the
        main window's for a surface plan, an IMRT window's (opened from this RT Plan) for an IMRT plan."""
        review = self.panel.review
        if review is None:
            return
        if isinstance(review.signed_plan.plan, EmbeddedInversePlan):
            imrt = self.window.imrt
            shown = imrt is not None and any(w.signed_path.shows(review.signed_plan) for w in imrt.windows)
        else:
            shown = _same_plan(review.signed_plan.plan, self.window.document.plan)
        self.panel.show_plan_on_screen(shown)

    def _on_trust_changed(self) -> None:
        """Trust takes effect at once: the review on show is made again with the certificates trusted now."""
        if self.panel.review is not None and self.path is not None:
            self.review(self.path, open_in_window=False)

    def choose_plan(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Review a signed plan", "",
                                              "RT Plan (RTPLAN.dcm *.dcm);;All files (*)")
        if path:
            self.review(path)

    def browse_pacs(self):
        return self.window.output.browse_pacs("RTPLAN", lambda path, consent: self.review(path, consent=consent),
                                              "Reviewing a plan from the PACS")

    def review(self, path: str | Path, open_in_window: bool = True, consent: Consent | None = None) -> bool:
        """Review the plan at ``path``; the plan is shown in the window once the review is done, so
        replacing the open plan is asked first (unless ``consent`` was given already)."""
        w = self.window
        if open_in_window and not embeds_imrt_plan(path):   # an IMRT plan opens in a window of its own
            consent = consent or ask_before_replacing(w, f"Reviewing {Path(path).name}")
            if consent is None:
                return False
        self.path = Path(path)
        self.panel.show_busy(f"Reviewing {self.path.name}: recomputing the dose and checking it…")
        w.findChild(QDockWidget, "ReviewDock").raise_()
        trusted = w.output.trusted_certificates()

        def reviewed(review) -> None:
            self.panel.show_review(review, _audit_entries(w, review.rt_plan_uid))
            if open_in_window:
                w.output.open_signed(self.path, report=False, consent=consent, signed_dose=review.imrt_dose)
            self.show_whether_on_screen()   # opening may have been declined

        return w.runner.start(f"Reviewing {self.path.name}",
                              # an IMRT plan's Monte Carlo check takes minutes: it shows its progress and can be cancelled
                              lambda progress, cancelled: review_plan(self.path, trusted, registry=w.registry,
                                                                      progress=progress, is_cancelled=cancelled),
                              reviewed,
                              lambda message: self.panel.show_busy(f"Not reviewed: {message}"))

    def choose_signer(self, decision: str, reason: str = "") -> None:
        if decision == "reject" and not reason.strip():
            self.window.report_problem("Type the reason for the rejection first: what must change.")
            return
        if not self.panel.reviewer_name.text().strip():
            self.window.report_problem("Type the reviewer's name first: it goes into the plan's approval.")
            return
        dialog = ask_for_signer(self.window, ("authorization",),
                                lambda identity, _role: self.decide(decision, identity, reason))
        dialog.setWindowTitle("Approve the plan" if decision == "approve" else "Reject the plan")

    def decide(self, decision: str, identity, reason: str = "") -> bool:
        """Approve or reject with the physicist's ``identity``; the review is shown again afterwards."""
        w = self.window
        if self.path is None or identity is None:
            return False
        name = self.panel.reviewer_name.text().strip()
        trusted = w.output.trusted_certificates()
        path = self.path

        def work(_p, _c):
            with open_audit_log() as audit:
                if decision == "approve":
                    return approve_plan(path, identity, name, trusted_certificates=trusted, audit=audit,
                                        registry=w.registry)
                return reject_plan(path, identity, name, reason, trusted_certificates=trusted, audit=audit,
                                   registry=w.registry)

        def done(result) -> None:
            w.statusBar().showMessage(f"Plan {result.status.lower()} by {result.reviewer_name}", 15000)
            self.review(path)

        return w.runner.start("Approving the plan" if decision == "approve" else "Rejecting the plan", work, done,
                              lambda message: w.report_problem(f"Not {decision}d: {message}"))


def embeds_imrt_plan(path: str | Path) -> bool:
    """Whether the RT Plan at ``path`` (or in that package folder) embeds an IMRT plan, which opens in
    an IMRT window and replaces nothing here; False when it cannot be read (the review says why)."""
    file = Path(path) / RT_PLAN_FILE if Path(path).is_dir() else Path(path)
    try:
        return embedded_kind(dcmread(file, stop_before_pixels=True)) == INVERSE_CREATOR
    except Exception:  # noqa: BLE001 - unreadable or not DICOM: the review itself names the problem
        return False


def _same_plan(reviewed, on_screen) -> bool:
    """The plan as signed, the plan on screen: equal but for where its image was found on this machine."""
    return on_screen is not None and dataclasses.replace(reviewed, image_path=on_screen.image_path) == on_screen


def _audit_entries(window, plan_uid: str) -> tuple:
    try:
        with open_audit_log() as audit:
            return audit.entries(plan_uid)
    except AuditError as err:
        window.report_problem(f"The audit log cannot be read: {err}")
        return ()

