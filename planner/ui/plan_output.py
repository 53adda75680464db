"""What leaves the planner: the plan package (DICOM RT + report + plan file), the physician's
signature, sending to a PACS, and opening a signed plan with its signatures checked.

The window's menus call these; the work is the core's (planner.dicom.package, signed_plan,
network) and long steps run in the background with progress. The plan status shown in the status
bar is that of the package on disk for the plan as it is now: any edit after export or signing
makes it "not exported" again, so a signature is never shown for a plan it does not cover.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QLabel

from planner.dicom.inverse_payload import EmbeddedInversePlan
from planner.dicom.keys import certificate_fingerprint_sha256
from planner.dicom.package import PlanPackage, sign_plan_package, write_plan_package
from planner.dicom.package_send import send_plan_package
from planner.dicom.planning_image import locate_planning_image
from planner.dicom.signatures import SignatureStatus
from planner.dicom.signed_plan import SignedPlan, SignedPlanError, open_signed_plan
from planner.review.actor import actor
from planner.review.audit import AuditError, open_audit_log
from planner.review.revision import PlanRevision, is_locked, new_revision, write_revision
from planner.techniques.beam_lookup import beam_key
from planner.ui.pacs_browser import PacsBrowser
from planner.ui.pacs_dialog import PacsDialog
from planner.ui.signing_dialog import ask_for_signer, exported_before_signing, signed_words, signer_text
from planner.ui.tamper_banner import TamperBanner
from planner.ui.unsaved_edits import Consent, ask_before_replacing
from planner.ui.trusted_signers import TrustedSigners

STATUS_STYLES = {"draft": "color: #ffb040;", "signed": "color: #40d080; font-weight: bold;",
                 "broken": "color: white; background: #a01010; font-weight: bold;", "none": ""}


class PlanOutput(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.package: PlanPackage | None = None
        self._signed_by: list[str] = []      # who signed the current package, as the status bar says it
        self.revision: PlanRevision | None = None   # set while an approved (locked) plan is open
        self._package_plan = None          # the plan (value) the package on disk was made from
        self.opened: SignedPlan | None = None
        self.status_label = QLabel()
        window.statusBar().addPermanentWidget(self.status_label)
        # Over the image: a signed plan on screen that was changed after signing (issue 15, point 8).
        self.tamper_banner = TamperBanner()
        window.centralWidget().layout().insertWidget(0, self.tamper_banner)
        self.export_action = window._action("&Export Plan Package…", self.choose_export_folder, "Ctrl+Shift+E",
                                            "Write RT Plan, RT Structure Set, RT Dose, the PDF report and the plan "
                                            "file into a folder")
        self.sign_action = window._action("Si&gn Plan…", self.choose_signer, None,
                                          "Sign the exported RT Plan with your key (DICOM digital signature)")
        self.send_action = window._action("Send to &PACS…", self.send_to_pacs, None,
                                          "Send the exported plan package to the PACS or record-and-verify system")
        self.pacs_settings_action = window._action("PACS &Settings…", self.edit_pacs_settings)
        self.open_from_pacs_action = window._action("Open Image from P&ACS…", self.browse_pacs, None,
                                                    "Find a patient's ultrasound studies on the PACS and plan on one")
        self.open_signed_action = window._action("Open &Signed Plan…", self.choose_signed_plan, None,
                                                 "Open an exported RTPLAN.dcm and check its signatures")
        self.signers = TrustedSigners(window)
        self.trust_action = window._action("&Trust Certificate…", self.choose_trusted_certificate, None,
                                           "Trust a signer's certificate (PEM) by its SHA-256 fingerprint")
        self.trusted_list_action = window._action("Trusted Certi&ficates…", self.signers.show_list, None,
                                                  "The trusted certificates and their fingerprints; stop trusting one")
        self.signers.changed.connect(self.recheck_opened)
        window.document.plan_changed.connect(self._on_plan_changed)
        window.document.image_changed.connect(self._on_document_replaced)
        self._show_status()

    def actions(self) -> tuple[QAction, ...]:
        return (self.open_from_pacs_action, self.open_signed_action, self.export_action, self.sign_action,
                self.send_action, self.pacs_settings_action, self.trust_action, self.trusted_list_action)

    # --- status ----------------------------------------------------------------------------------
    def package_is_current(self) -> bool:
        return self.package is not None and self._package_plan == self.window.document.plan

    def _on_plan_changed(self, _plan) -> None:
        self._show_status()

    def _on_document_replaced(self, _planning_image) -> None:
        """Anything opened (image, plan file, demo, signed plan) starts without the previous plan's
        package, signatures, approval, lock or predecessor: a signed plan sets its own again once shown."""
        self.package, self.opened, self.revision, self._package_plan = None, None, None, None
        self.tamper_banner.show_evidence(None)
        self._signed_by = []

    def _show_status(self) -> None:
        on_screen = self.opened is not None and self.opened.plan == self.window.document.plan
        self.tamper_banner.show_evidence(self.opened.evidence if on_screen else None)
        if self.window.document.plan is None:
            text, style = "", "none"
        elif self.opened is not None and self.opened.plan == self.window.document.plan:
            text, style = opened_status_text(self.opened)
            if self.revision is not None:
                text += " — APPROVED and locked: an edit becomes a new revision"
        elif self.revision is not None and not self.package_is_current():
            text, style = (f"Plan: new revision of the approved plan {self.revision.predecessor_uid[-12:]}, "
                           f"not exported (unapproved)"), "draft"
        elif self.package_is_current():
            signed = self.package.status == SignatureStatus.SIGNED
            who = f" by {'; '.join(self._signed_by)}" if signed and self._signed_by else ""
            text = f"Plan: {self.package.status.value}{who}, exported to {self.package.folder.name}"
            style = "signed" if signed else ("broken" if self.package.status == SignatureStatus.BROKEN else "draft")
        else:
            text, style = "Plan: draft, not exported", "draft"
        self.status_label.setText(text)
        self.status_label.setStyleSheet(STATUS_STYLES[style])

    # --- export ----------------------------------------------------------------------------------
    def choose_export_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Export the plan package into a folder")
        if folder:
            self.export_package(folder)

    def export_package(self, folder: str | Path, overwrite: bool | None = None) -> bool:
        """Write the package for the plan as shown; asks before replacing an existing package."""
        w = self.window
        plan, result = w.document.plan, w.dose.last_result
        if plan is None or result is None:
            w.report_problem("Nothing to export: open a plan and let its dose be computed first.")
            return False
        if not w._commit_pending_entry():
            return False
        technique = w.registry.get(plan.setup.technique_id)
        key = beam_key(technique, plan)
        beam = None if key is None else technique.dose_engine.beam_data(*key)
        if overwrite is None:
            overwrite = False
            if any((Path(folder) / name).exists() for name in ("RTPLAN.dcm", "report.pdf", "plan.json")):
                if w.ask_user("Replace the plan package?", f"{folder} already holds a plan package. Replace it "
                              "(its signatures are lost)?", ("Replace", "Cancel")) != "Replace":
                    return False
                overwrite = True
        image = w.document.planning_image

        def written(package: PlanPackage) -> None:
            self.package, self._package_plan, self.opened, self._signed_by = package, plan, None, []
            self._show_status()
            w.statusBar().showMessage(f"Plan package written to {package.folder}", 10000)

        revision = self.revision if self.revision is not None and plan != self.revision.plan else None

        details = {"folder": str(folder), **({} if revision is None else {"predecessor_uid": revision.predecessor_uid})}

        def work(_p, _c):   # the package carries its audit entry's hash; the entry is stored once it is written
            def write(anchor):
                if revision is not None:
                    return write_revision(folder, revision, plan, result, image, technique, beam_data=beam,
                                          audit_anchor=anchor)
                return write_plan_package(folder, plan, result, image, technique, overwrite=overwrite,
                                          beam_data=beam, audit_anchor=anchor)
            return audited("revision" if revision is not None else "export", details, None, write)

        return w.runner.start("Writing the plan package", work, written,
                              lambda message: w.report_problem(f"Not exported: {message}"))

    # --- signing ---------------------------------------------------------------------------------
    def choose_signer(self) -> None:
        if self._ready_to_sign():
            ask_for_signer(self.window, ("creator",), self.sign)

    def _ready_to_sign(self) -> bool:
        return exported_before_signing(self.window, self.package_is_current(), "Export Plan Package…")

    def sign(self, identity, role: str = "creator") -> bool:
        """Sign the current package's RT Plan and redraw its report with the signature."""
        if identity is None or not self._ready_to_sign():
            return False
        w = self.window
        plan, result = self._package_plan, w.dose.last_result
        technique = w.registry.get(plan.setup.technique_id)
        key = beam_key(technique, plan)
        beam = None if key is None else technique.dose_engine.beam_data(*key)
        folder = self.package.folder

        def signed(package: PlanPackage) -> None:
            self.package = package
            self._signed_by.append(signed_words(identity, role))
            self._show_status()
            w.statusBar().showMessage(f"Signed ({role}) by {signer_text(identity)}", 15000)

        image = w.document.planning_image
        details = {"role": role, "folder": str(folder),
                   "certificate_sha256": certificate_fingerprint_sha256(identity.certificate)}

        def write(anchor):
            return sign_plan_package(folder, identity, role, plan=plan, dose_result=result, planning_image=image,
                                     technique=technique, beam_data=beam, audit_anchor=anchor)

        return w.runner.start("Signing the plan",
                              lambda _p, _c: audited("sign", details, identity.certificate, write),
                              signed, lambda message: w.report_problem(f"Not signed: {message}"))

    # --- opening a signed plan -------------------------------------------------------------------
    def choose_signed_plan(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open a signed plan", "",
                                              "RT Plan (RTPLAN.dcm *.dcm);;All files (*)")
        if path:
            self.open_signed(path)

    def trusted_certificates(self) -> tuple:
        """The certificates trusted now, by fingerprint (planner.dicom.trust; read at every check)."""
        return self.signers.certificates()

    def open_signed(self, path: str | Path, report: bool = True, consent: Consent | None = None,
                    signed_dose=None) -> bool:
        """Check every signature, then open the plan that was signed (never a repaired one);
        asks first (planner.ui.unsaved_edits) unless ``consent`` was given already.

        An approved plan is locked: it opens for viewing, and what is exported after an edit is a
        new revision that references it (planner.review.revision); the approved file never changes.
        """
        w = self.window
        try:
            signed = open_signed_plan(path, self.trusted_certificates())
        except SignedPlanError as err:
            w.report_problem(f"Not opened: {err}")
            return False
        if isinstance(signed.plan, EmbeddedInversePlan):
            return self._open_imrt(signed, report, signed_dose)
        consent = consent or ask_before_replacing(w, f"Opening {Path(path).name}")
        if consent is None:
            return False
        if report and not signed.treatable:
            w.report_problem(f"{Path(path).name}: {signed.message}")
        image_path, how = locate_planning_image(signed)   # its recorded path, or the referenced US beside it
        if image_path is None:
            w.report_problem(f"Not opened: {how}.")
            return False
        if image_path != signed.plan.image_path:
            w.statusBar().showMessage(how, 15000)
            signed = dataclasses.replace(signed, plan=dataclasses.replace(signed.plan, image_path=image_path))

        def shown(_plan) -> None:
            w.document.plan_changed.disconnect(shown)
            self.opened, self.package = signed, None
            self.revision = new_revision(signed) if is_locked(signed) else None
            self._audit("open", signed.rt_plan_uid, {"file": str(signed.path), "status": signed.status.value})
            self._show_status()

        w.document.plan_changed.connect(shown)
        if not w.files.open_plan(signed.plan, file_path=None, saved=True, consent=consent):
            w.document.plan_changed.disconnect(shown)
            return False
        return True

    def _open_imrt(self, signed: SignedPlan, report: bool, signed_dose=None) -> bool:
        """An IMRT RT Plan opens in an IMRT window of its own (the plan here is not replaced), with the
        dose its review recomputed from the signed segments when there is one."""
        w = self.window
        if w.imrt is None:
            w.report_problem(f"Not opened: {Path(signed.path).name} is an IMRT plan and no IMRT technique is "
                             f"installed.")
            return False
        if report and not signed.treatable:
            w.report_problem(f"{Path(signed.path).name}: {signed.message}")
        if w.imrt.open_signed(signed, signed_dose) is None:
            return False
        self._audit("open", signed.rt_plan_uid, {"file": str(signed.path), "status": signed.status.value})
        return True

    def choose_trusted_certificate(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Trust a signer's certificate", "",
                                              "Certificates (*.pem *.crt *.cer);;All files (*)")
        if path:
            self.trust_certificate(path)

    def trust_certificate(self, path: str | Path) -> bool:
        """Show the certificate's fingerprint, ask, and trust it by that fingerprint (never by the file)."""
        return self.signers.trust_file(path)

    def recheck_opened(self) -> None:
        """The trusted certificates changed: check the signed plan on screen again, at once."""
        opened = self.opened
        if opened is None or opened.path is None or self.window.document.plan != opened.plan:
            return
        again = checked_again(self.window, opened, self.trusted_certificates())
        if again is not None:
            self.opened = again
            self._show_status()

    # --- audit ------------------------------------------------------------------------------------
    def _audit(self, action: str, plan_uid: str, details: dict, certificate=None) -> None:
        """Log what left or entered the planner; a log that cannot be written is said, never hidden."""
        who = actor(certificate)
        try:
            with open_audit_log() as audit:
                audit.record(action, who.who, plan_uid or "unknown", details, os_user=who.os_user)
        except AuditError as err:
            self.window.report_problem(f"The audit log could not record '{action}': {err}")

    # --- PACS ------------------------------------------------------------------------------------
    def edit_pacs_settings(self) -> None:
        dialog = PacsDialog(self.window.settings.pacs_node(), self.window.runner, self.window)
        dialog.accepted.connect(lambda: self.window.settings.save_pacs_node(dialog.node))
        dialog.open()

    def browse_pacs(self, modality: str = "US", on_retrieved=None,
                    what: str = "Opening an image from the PACS") -> PacsBrowser | None:
        """Find and fetch a study: an ultrasound image to plan on (default), or e.g. an RT Plan for
        ``on_retrieved(path, consent)``; what is fetched replaces the open plan, so that is asked first."""
        node = self.window.settings.pacs_node()
        if node is None:
            self.window.report_problem("No PACS is set up: File ▸ PACS Settings…")
            return None
        consent = ask_before_replacing(self.window, what)
        if consent is None:
            return None
        retrieved = on_retrieved or self.window.open_image_file
        browser = PacsBrowser(node, self.window.runner, self.window, modality)
        browser.file_retrieved.connect(lambda path: retrieved(path, consent))
        browser.open()
        return browser

    def send_to_pacs(self) -> bool:
        """Send the current package with its planning image unless the PACS holds it already
        (planner.dicom.package_send); a broken signature is refused, an unsigned draft is asked about."""
        w = self.window
        if not self.package_is_current():
            w.report_problem("Export the plan as it is now before sending it (File ▸ Export Plan Package…).")
            return False
        # Whether it may be sent at all is send_plan_package's rule (a broken plan never, a draft only
        # when asked); the window only asks the question the rule leaves to the user.
        send_draft = False
        if self.package.status == SignatureStatus.UNSIGNED:
            if w.ask_user("Send an unsigned plan?", "The plan is a draft: nobody has signed it. Send it anyway?",
                          ("Send draft", "Cancel")) != "Send draft":
                return False
            send_draft = True
        node = w.settings.pacs_node()
        if node is None:
            w.report_problem("No PACS is set up: File ▸ PACS Settings…")
            return False
        folder = self.package.folder

        def sent(report) -> None:
            files = report.files
            self._audit("send", self.package.rt_plan_uid, {"to": files.node, "stored": len(files.stored),
                                                           "files": len(files.outcomes),
                                                           "planning_image": report.planning_image})
            if report.all_stored:
                w.statusBar().showMessage(f"Sent: {report.summary()}", 15000)
            else:
                problems = "".join(f" {o.path.name}: {o.meaning}." for o in files.not_stored)
                w.report_problem(f"Not everything was stored: {report.summary()}.{problems}")

        def send(progress, cancelled):
            return send_plan_package(node, folder, progress, cancelled, send_draft=send_draft)

        return w.runner.start(f"Sending to {node.called_ae_title}", send, sent,
                              lambda message: w.report_problem(f"Not sent: {message}"))


def audited(action: str, details: dict, certificate, write):
    """In the worker thread: ``write(anchor)`` with the audit entry reserved (its hash goes into the
    plan, planner.dicom.audit_anchor), stored once the plan is written; AuditError: not reported done."""
    who = actor(certificate)
    with open_audit_log() as log, log.reserve() as reservation:
        return write(lambda uid: reservation.entry(action, who.who, uid, details, os_user=who.os_user))


def checked_again(window, opened: SignedPlan, trusted) -> SignedPlan | None:
    """The signed plan on screen verified again with the certificates trusted now, keeping the plan as shown
    (its image or volume found on this workstation); None, said to the user, when its file cannot be read or
    now holds another RT Plan. The main window and the IMRT windows re-check with this when trust changes."""
    try:
        again = open_signed_plan(opened.path, trusted)
    except SignedPlanError as err:
        window.report_problem(f"The plan on screen cannot be checked again: {err}")
        return None
    if again.rt_plan_uid != opened.rt_plan_uid:
        window.report_problem(f"{opened.path} now holds another RT Plan; the plan on screen was not checked again")
        return None
    return dataclasses.replace(again, plan=opened.plan)


def opened_status_text(signed: SignedPlan) -> tuple[str, str]:
    if signed.status == SignatureStatus.BROKEN:
        return f"SIGNATURE BROKEN — not for treatment: {signed.message}", "broken"
    if signed.status == SignatureStatus.UNSIGNED:
        return "Plan: draft (unsigned)", "draft"
    return f"Plan: {signed.message}", "signed" if signed.treatable else "draft"

