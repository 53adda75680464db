"""The main window's way into IMRT: File ▸ New IMRT Plan on TG-119 Phantom, Open CT Series for IMRT
and Open IMRT Plan, each opening an ImrtWindow on the first inverse-planned technique. The launcher
keeps the windows it opened, so they are not garbage collected while shown, and lets go when one
closes. Each IMRT window keeps its unsaved edits in a recovery file of its own, in this instance's
recovery folder (planner.core.recovery); the launcher offers back, one by one, the IMRT plans of
Planner sessions that stopped without closing. A plan file another running Planner has open is said
before it is opened here, as the main window says it (planner.ui.recovery_offer.may_open_here).
A CT series opened anew asks, once it is read, for the clinical protocol to plan it on
(planner.ui.imrt.protocol_edits); a saved or recovered plan comes back with the protocol and earlier
course it was saved with, made again on its CT (protocol_edits.restore_context), or with one line
saying which part was not and why.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from planner.core.inverse_plan import DEFAULT_DOSE_GRID_MM, DRAFT_DOSE_GRID_MM
from planner.core.inverse_plan_file import (ImrtRecovery, InversePlanFileError, VolumeSource,
                                            load_inverse_plan_and_context)
from planner.core.recovery import RecoverySession
from planner.paths import data_dir
from planner.ui.dialogs import ask_with_message_box
from planner.ui.imrt.window import PLAN_FILE_SUFFIX, ImrtWindow
from planner.ui.recovery_offer import may_open_here

# The dose grid's voxel size: 2.5 mm plans (about 2 minutes for TG-119); coarser is faster and labelled so.
VOXEL_CHOICES = ((f"{DEFAULT_DOSE_GRID_MM:g} mm (default; about 2 minutes)", DEFAULT_DOSE_GRID_MM),
                 (f"{DRAFT_DOSE_GRID_MM:g} mm (draft; under a minute)", DRAFT_DOSE_GRID_MM),
                 ("10 mm (quick look only; seconds)", 10.0))
DEFAULT_VOXEL_MM = DEFAULT_DOSE_GRID_MM


def ask_voxel_size(parent: QWidget | None, title: str) -> float | None:
    labels = [label for label, _ in VOXEL_CHOICES]
    default = next(i for i, (_, mm) in enumerate(VOXEL_CHOICES) if mm == DEFAULT_VOXEL_MM)
    label, ok = QInputDialog.getItem(parent, title, "Voxel size of the dose grid:", labels, default, False)
    return dict(VOXEL_CHOICES).get(label) if ok else None


class ImrtLauncher(QObject):
    plan_changed = Signal(object)   # the plan of one of its windows changed (that window)

    def __init__(self, registry, parent: QWidget | None = None, session: RecoverySession | None = None):
        super().__init__(parent)
        self.technique = registry.inverse_planned_techniques[0]
        self.windows: list[ImrtWindow] = []
        self.session = session or RecoverySession(data_dir())
        self.last_problem: str | None = None
        # How the launcher asks; tests replace these with scripted answers.
        # (the main window's own ask_user when it has one, looked up at asking time: tests script it)
        self.ask_user = lambda title, text, choices: (
            getattr(self.parent(), "ask_user", None)
            or (lambda *question: ask_with_message_box(parent, *question)))(title, text, choices)
        self.ask_plan_file = lambda: QFileDialog.getOpenFileName(
            parent, "Open an IMRT plan", "", f"IMRT plan (*{PLAN_FILE_SUFFIX})")[0] or None
        self.ask_voxel_size = lambda title: ask_voxel_size(parent, title)
        self.ask_folder = lambda: QFileDialog.getExistingDirectory(parent, "Open a CT series (with its RT Structure "
                                                                           "Set) for IMRT") or None
        self.new_phantom_action = QAction("New IMRT Plan on TG-119 &Phantom…", self)
        self.new_phantom_action.setStatusTip("Plan IMRT on the AAPM TG-119 C-shape phantom")
        self.new_phantom_action.triggered.connect(lambda: self.open_phantom())
        self.open_ct_action = QAction("Open CT Series for &IMRT…", self)
        self.open_ct_action.setStatusTip("Plan IMRT on a DICOM CT series and its RT Structure Set")
        self.open_ct_action.triggered.connect(lambda: self.open_ct_series())
        self.open_plan_action = QAction("Open IMRT P&lan…", self)
        self.open_plan_action.setStatusTip("Open a saved IMRT plan (its objectives, and the volume it was made on)")
        self.open_plan_action.triggered.connect(lambda: self.open_plan_file())

    def actions(self) -> tuple[QAction, ...]:
        return (self.new_phantom_action, self.open_ct_action, self.open_plan_action)

    def open_phantom(self, spacing_mm: float | None = None) -> ImrtWindow | None:
        if self.offer_recovery():
            return self.windows[-1]
        if spacing_mm is None:
            spacing_mm = self.ask_voxel_size("New IMRT plan on the TG-119 phantom")
            if spacing_mm is None:
                return None
        return self._open(VolumeSource.tg119(spacing_mm))

    def open_plan_file(self, path: str | None = None) -> ImrtWindow | None:
        """A saved plan on the volume it names (the phantom made again, or the CT read again), with the
        protocol and earlier course it was saved with made again."""
        path = path or self.ask_plan_file()
        if not path or not may_open_here(self.session, path, self.ask_user):
            return None
        try:
            plan, source, context = load_inverse_plan_and_context(path)
        except InversePlanFileError as err:
            self._problem(f"The IMRT plan was not opened: {err}")
            return None
        return self._open(source, plan, saved_path=path, context=context)

    def open_signed(self, signed, signed_dose=None) -> ImrtWindow | None:
        """The IMRT plan a signed RT Plan embeds (planner.dicom.signed_plan.SignedPlan whose ``plan``
        is an EmbeddedInversePlan) in a window of its own, on the volume it names (the phantom made
        again, or the CT read again) with its objectives, beams and prescription, and the protocol and
        earlier course it embeds made again as File ▸ Open makes a plan file's; locked when APPROVED.
        ``signed_dose``: the dose the review recomputed from its signed segments, shown with it."""
        embedded = signed.plan
        return self._open(embedded.volume_source, embedded.plan, signed=signed, signed_dose=signed_dose,
                          context=embedded.context)

    def offer_recovery(self) -> bool:
        """Offer each IMRT plan whose edits were not saved when its Planner session stopped (never
        one of a session still running); True if at least one was reopened."""
        reopened = False
        for orphan in self.session.orphans():
            for path in orphan.imrt_paths():
                reopened = self._offer_one(ImrtRecovery(path.parent, path.name)) or reopened
            self.session.forget(orphan)
        return reopened

    def _offer_one(self, recovery: ImrtRecovery) -> bool:
        found = recovery.load_with_context()
        if found is None:
            aside = recovery.damaged_path
            self._problem(f"The IMRT recovery file was damaged and has been set aside ({aside}); nothing to restore.")
            return False
        plan, source, saved_at, context = found
        answer = self.ask_user("Unsaved IMRT plan found",
                               f"An IMRT plan on the {source.describe()} has edits from "
                               f"{saved_at:%Y-%m-%d %H:%M} that were never saved. Restore it?",
                               ("Restore", "Discard", "Not now"))
        if answer == "Discard":
            recovery.clear()
            return False
        if answer != "Restore":
            return False
        # once shown, its edits are in the new window's own file and the old one goes
        return self._open(source, plan, restored_from=recovery, context=context) is not None

    def _open(self, source: VolumeSource, plan=None, saved_path: str | None = None,
              restored_from: ImrtRecovery | None = None, signed=None, signed_dose=None,
              choose_protocol: bool = False, context=None) -> ImrtWindow | None:
        """``context``: the plan file's PlanContextRecord, made again on the CT (ImrtWindow.load_ct_series)."""
        window = ImrtWindow(self.technique, None, source=source, recovery=self.session.new_imrt_recovery())
        key = window.recovery.path.stem   # the session tells other instances which plan file is open here
        window.plan_file_changed.connect(lambda path: self.session.note_open(key, path and str(path)))
        output = getattr(self.parent(), "output", None)   # the main window's trusted certificates, read at each use
        if output is not None:
            window.signed_path.trusted_certificates = output.trusted_certificates
            output.signers.changed.connect(window.signed_path.recheck_trust)   # trust takes effect at once

        def finish(not_restored: str = "") -> None:
            if signed is not None:
                window.show_signed_plan(signed)
            if signed_dose is not None:
                window.show_signed_dose(signed_dose)
            if saved_path:
                window.set_saved_path(saved_path)
            if restored_from is not None:
                window.mark_restored()
                restored_from.clear()
            problems = window.plan.problems(tuple(window.volume.masks)) if window.plan is not None else []
            if not_restored:   # one line: what was not restored, and what that leaves of the plan
                window.report_problem(not_restored + ("" if not problems else
                                      "; without it the plan does not fit this volume: " + "; ".join(problems)
                                      + " (Plan ▸ Choose Protocol… again, or edit the objectives)"))
            elif problems:
                window.report_problem("The plan does not fit this volume yet: " + "; ".join(problems) + ".")
            elif choose_protocol:
                window.protocols.choose_protocol()

        if source.kind == "tg119":
            window.set_volume(self.technique.inverse_planner.tg119_phantom(source.spacing_mm), plan)
            finish()
        else:
            window.load_ct_series(source.folder, source.spacing_mm, plan, source.rtstruct, then=finish, context=context)
        return self._show(window)

    def _problem(self, message: str) -> None:
        self.last_problem = message
        report = getattr(self.parent(), "report_problem", None)
        if report is not None:
            report(message)

    def open_ct_series(self, folder: str | None = None, spacing_mm: float | None = None) -> ImrtWindow | None:
        if self.offer_recovery():
            return self.windows[-1]
        folder = folder or self.ask_folder()
        if not folder:
            return None
        if spacing_mm is None:
            spacing_mm = self.ask_voxel_size("Open CT series for IMRT")
            if spacing_mm is None:
                return None
        return self._open(VolumeSource.ct(folder, spacing_mm), choose_protocol=True)

    def _show(self, window: ImrtWindow) -> ImrtWindow:
        window.ask_user = self.ask_user  # one way of asking for the main window and its IMRT windows
        self.windows.append(window)
        window.closed.connect(lambda w=window: self._forget(w))
        window.document.plan_changed.connect(lambda _plan, w=window: self.plan_changed.emit(w))
        window.show()
        return window

    def _forget(self, window: ImrtWindow) -> None:
        if window in self.windows:
            self.windows.remove(window)
            window.deleteLater()
