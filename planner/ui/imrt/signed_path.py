"""The IMRT window's part of the signed path (issue 16), as the main window's plan_output is the
surface plan's: Sign Plan… signs the exported RT Plan as the physician (creator), a signed plan
opened from its RT Plan is shown with its verdict, an APPROVED one is locked, and Start Revision
makes it editable as a revision of that RT Plan (planner.review.revision, one for both techniques).

What the status bar says is the RT Plan on disk for the plan as it is now: an edit after export
makes it "not exported" again, so a signature is never shown for a plan it does not cover.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

from planner.dicom.audit_anchor import sign_with_audit_anchor
from planner.dicom.keys import certificate_fingerprint_sha256
from planner.dicom.signed_plan import SignedPlan, open_signed_plan
from planner.review.revision import PlanRevision, RevisionError, is_locked, new_revision
from planner.ui.plan_output import STATUS_STYLES, audited, checked_again, opened_status_text
from planner.ui.signing_dialog import ask_for_signer, exported_before_signing, signed_words, signer_text

LOCKED_TEXT = "This plan is APPROVED and locked: Plan ▸ Start Revision makes an editable revision of it."
BANNER_STYLES = {"locked": "color: white; background: #1d6b3a; font-weight: bold; padding: 6px;",
                 "revision": "color: black; background: #ffb040; font-weight: bold; padding: 6px;"}


class ImrtSignedPath(QObject):
    lock_changed = Signal(bool)   # locked or not

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.opened: SignedPlan | None = None       # the signed plan this window was opened from
        self.revision: PlanRevision | None = None   # set once Start Revision is chosen on an approved plan
        self.locked = False
        self._signed_by: list[str] = []             # who signed the last export, as the status bar says it
        self._signed_export = None                  # the export those signatures are on
        self.trusted_certificates = lambda: ()      # the launcher gives the main window's trusted certificates
        self.status_label = QLabel()
        window.statusBar().addPermanentWidget(self.status_label)
        self.banner = QLabel()
        self.banner.setObjectName("ImrtApprovalBanner")
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        self.sign_action = window._action("Si&gn Plan…", self.choose_signer, None,
                                          "Sign the exported RT Plan with your key (DICOM digital signature)")
        self.revise_action = window._action("Start &Revision", self.start_revision, None,
                                            "Edit this approved plan as a new revision; its export references "
                                            "the approved RT Plan, which never changes")
        window.document.plan_changed.connect(lambda _plan: self.show_status())

    # --- the lock ---------------------------------------------------------------------------------
    def refused_because_locked(self) -> bool:
        """True (and said once, with how to revise) when the plan on screen is approved and locked."""
        if self.locked:
            self.window.report_problem(LOCKED_TEXT)
        return self.locked

    def show_signed(self, signed: SignedPlan) -> None:
        """The window now shows the plan embedded in ``signed``: locked if it is APPROVED."""
        self.opened, self.revision, self.locked = signed, None, is_locked(signed)
        self._signed_by, self._signed_export = [], None
        self.show_status()
        self.lock_changed.emit(self.locked)

    def recheck_trust(self) -> None:
        """The trusted certificates changed: check the RT Plan this window was opened from again, at once
        (as the main window does for a surface plan), so the status says trusted or not as it is now."""
        opened = self.opened
        if opened is None or opened.path is None:
            return
        again = checked_again(self.window, opened, self.trusted_certificates())
        if again is not None:
            self.opened = again
            self.show_status()

    def shows(self, signed: SignedPlan) -> bool:
        """Whether this window shows the plan ``signed`` embeds, as signed (not edited since)."""
        opened = self.opened
        return (opened is not None and opened.rt_plan_uid == signed.rt_plan_uid
                and self.window.plan == signed.plan.plan)

    def start_revision(self) -> bool:
        if not self.locked or self.opened is None:
            self.window.report_problem("Only an approved plan opened from its RT Plan is revised; this plan can be "
                                       "edited as it is.")
            return False
        try:
            self.revision = new_revision(self.opened)
        except RevisionError as err:
            self.window.report_problem(f"No revision started: {err.user_message}")
            return False
        self.locked = False
        self.show_status()
        self.lock_changed.emit(False)
        self.window.show_status(f"Revision started: its export will reference the approved RT Plan "
                                f"{self.revision.predecessor_uid}, which never changes")
        return True

    # --- signing ----------------------------------------------------------------------------------
    def exported_as_shown(self) -> bool:
        w = self.window
        return w.last_export is not None and w.plan is not None and w.last_exported_plan == w.plan

    def _ready_to_sign(self) -> bool:
        return exported_before_signing(self.window, self.exported_as_shown(), "Export Plan…")

    def choose_signer(self) -> None:
        if self._ready_to_sign():
            ask_for_signer(self.window, ("creator",), self.sign)

    def sign(self, identity, role: str = "creator") -> bool:
        """Sign the last export's RT Plan in place (with this signing's audit anchor)."""
        if identity is None or not self._ready_to_sign():
            return False
        w, export = self.window, self.window.last_export
        details = {"role": role, "folder": str(export.folder),
                   "certificate_sha256": certificate_fingerprint_sha256(identity.certificate)}

        def write(anchor):
            sign_with_audit_anchor(export.rt_plan, export.rt_plan, identity, role, anchor)
            return open_signed_plan(export.rt_plan, self.trusted_certificates())

        def signed(opened: SignedPlan) -> None:
            if self._signed_export is not export:
                self._signed_by, self._signed_export = [], export
            self._signed_by.append(signed_words(identity, role))
            self.show_status()
            w.show_status(f"Signed ({role}) by {signer_text(identity)}: {opened.message}")

        return w.runner.start("Signing the plan", lambda _p, _c: audited("sign", details, identity.certificate, write),
                              signed, lambda message: w.report_problem(f"Not signed: {message}"))

    # --- status -----------------------------------------------------------------------------------
    def show_status(self) -> None:
        w = self.window
        opened = self.opened
        on_screen = opened is not None and w.plan is not None and opened.plan.plan == w.plan
        banner, banner_style, tip = "", "", ""
        if w.plan is None:
            text, style = "", "none"
        elif self.exported_as_shown():
            signed = self._signed_by and self._signed_export is w.last_export
            text = (f"Plan: signed by {'; '.join(self._signed_by)}" if signed else "Plan: unsigned (draft)") + \
                f", exported to {w.last_export.folder.name}"
            style = "signed" if signed else "draft"
            if self.revision is not None:
                text += f" — revision of {self.revision.predecessor_uid[-12:]}"
        elif on_screen and self.revision is None:
            text, style = opened_status_text(opened)
            tip = text
            if style != "broken":   # who signed, in short: the verdict in full is the tooltip's
                text = "Plan: signed by " + "; ".join(f"{c.signer} ({c.role or c.purpose})" for c in opened.checks) \
                    if opened.checks else text
                text += "" if opened.treatable or self.locked else " — not treatable (see the tooltip)"
            if self.locked:
                text += " — APPROVED and locked"
                banner, banner_style = (f"{_approval(opened)} — locked: this plan is never edited in place. "
                                        f"Plan ▸ Start Revision makes an editable revision of it."), "locked"
        elif self.revision is not None:
            text, style = (f"Plan: new revision of the approved plan {self.revision.predecessor_uid[-12:]}, "
                           f"not exported (unapproved)"), "draft"
        else:
            text, style = "Plan: draft, not exported", "draft"
        if self.revision is not None:
            banner, banner_style = (f"Revision of the approved RT Plan {self.revision.predecessor_uid}: unapproved "
                                    f"until it is exported, signed and approved again."), "revision"
        self.status_label.setText(text)
        self.status_label.setToolTip(tip or text)
        self.status_label.setStyleSheet(STATUS_STYLES[style])
        self.banner.setText(banner)
        self.banner.setStyleSheet(BANNER_STYLES.get(banner_style, ""))
        self.banner.setVisible(bool(banner))
        self.revise_action.setEnabled(self.locked)


def _approval(signed: SignedPlan) -> str:
    """"APPROVED by the reviewer on 2026-12-03", as the RT Plan's Approval module says it."""
    from pydicom import dcmread

    from planner.review.plan_review import approval_state

    if signed.path is None:
        return "APPROVED"
    state = approval_state(dcmread(signed.path, stop_before_pixels=True))
    date = state.review_date
    when = f" on {date[:4]}-{date[4:6]}-{date[6:]}" if len(date) == 8 and date.isdigit() else ""
    return f"{state.status}" + (f" by {state.reviewer_name}" if state.reviewer_name else "") + when
