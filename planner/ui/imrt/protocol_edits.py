"""The IMRT window's clinical protocol and earlier course (issue 18, points 2, 4 and 5): the protocol
chosen when a CT opens (planner.ui.imrt.protocol_choice), its plan made by plugins.imrt_photon.
protocol_plan with the structure mapping asked for when a structure is not found (planner.ui.imrt.
structure_mapping), the earlier course of a re-irradiation loaded and placed on the CT, and the goals
table and re-irradiation limits of the dose shown.

Why apart from the window: every one of these is an edit of the plan together with its context
(planner.ui.imrt.document.PlanContext: the protocol's volume and mapping, the earlier course), made
through the window's one entry for such edits (ImrtWindow.apply_context_edit) so that one Ctrl+Z
undoes it; the window keeps the volume, the dose and the docks.

Each edit also keeps which files it read (the protocol's, the earlier course's, with their SHA-256:
planner.core.plan_context_file) for the plan file; reopening it makes the context again through the
same steps (restore_context), and says, in one line, any part whose file is missing or changed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog

from planner.core.plan_context_file import (EarlierCourseRecord, PlanContextRecord, ProtocolRecord,
                                            changed_since_saved)
from planner.ui.imrt.clinical_goals import clinical_rows, headroom_text, protocol_mapping_text, protocol_text
from planner.ui.imrt.document import PlanContext
from planner.ui.imrt.protocol_choice import ProtocolChoiceDialog
from planner.ui.imrt.structure_mapping import StructureMappingDialog

# A CT planned without a protocol (issue 18: a cord 2.5 mm from the PTV got 51.8 Gy in a 50 Gy plan
# with nothing said): the objectives are the target's alone.
NO_LIMITS_WARNING = ("No protocol: the organs at risk have no dose limits (objectives for the target only); "
                     "their doses are shown, not judged. Plan ▸ Choose Protocol… gives them their limits.")
UNCHANGED_UNTIL_SAVED = "(the plan file is not changed until you save)"


class ProtocolEdits(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.protocol_dialog: ProtocolChoiceDialog | None = None
        self.mapping_dialog: StructureMappingDialog | None = None
        self._clinical = None   # (result, protocol plan, rows, warnings, headroom text, re-irradiation, problem)
        # Where it asks for files; tests replace these with scripted answers.
        self.ask_protocol_file = lambda: QFileDialog.getOpenFileName(
            window, "A clinical protocol file", "", "Planner protocol (*.json)")[0] or None
        self.ask_prior_dose = lambda: QFileDialog.getOpenFileName(
            window, "The earlier course's RT Dose (the whole course, in Gy)", "", "DICOM (*.dcm);;All files (*)")[0] or None
        self.ask_prior_plan = lambda: QFileDialog.getOpenFileName(
            window, "Its RT Plan (for its fractions and date; Cancel to give the fractions)", "",
            "DICOM (*.dcm);;All files (*)")[0] or None
        self.ask_prior_fractions = lambda: (lambda n, ok: n if ok else None)(*QInputDialog.getInt(
            window, "Earlier course", "Fractions of the earlier course (no RT Plan: no date either):", 1, 1, 100))
        self.protocol_action = window._action("Choose &Protocol…", self.choose_protocol, None,
                                              "The clinical protocol of this CT's plan: prescription, goals and "
                                              "starting objectives (its structures matched to the CT's)")
        self.load_prior_action = window._action("Load Earlier Course &Dose…", self.load_prior, None,
                                                "A re-irradiation: the earlier course's RT Dose and RT Plan, on this "
                                                "CT's frame of reference, for the protocol's cumulative EQD2 limits")
        self.remove_prior_action = window._action("Remove Earlier Course", self.remove_prior)

    def refresh_actions(self) -> None:
        w = self.window
        chosen, locked = w.document.context.protocol, w.signed_path.locked
        self.protocol_action.setEnabled(w.base_volume is not None and w.source is not None
                                        and w.source.kind == "ct" and not locked)
        self.load_prior_action.setEnabled(chosen is not None and chosen.protocol.reirradiation is not None
                                          and not w.runner.busy and not locked)
        self.remove_prior_action.setEnabled(w.document.context.prior is not None and not locked)

    def forget_judged(self) -> None:
        """The plan's context changed: the goals are judged again."""
        self._clinical = None

    def choose_protocol(self) -> ProtocolChoiceDialog | None:
        """The protocol choice (planner.ui.imrt.protocol_choice), opened beside the CT; its answer is
        applied as one undoable edit."""
        if self.window.base_volume is None or self.window.signed_path.refused_because_locked():
            return None
        dialog = self.protocol_dialog = ProtocolChoiceDialog(self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._protocol_chosen(dialog.choice()))
        dialog.finished.connect(lambda _code: setattr(self, "protocol_dialog", None))
        dialog.open()
        return dialog

    def _protocol_chosen(self, choice) -> None:
        from planner.core.protocols.protocol import ProtocolError, load_protocol

        kind, protocol_id = choice or (None, None)
        if kind == "none":
            self.apply_no_protocol()
            return
        where = protocol_id if kind == "shipped" else self.ask_protocol_file()
        if not where:
            return
        try:
            protocol = load_protocol(where)
            record = ProtocolRecord.read_from(where)   # for the plan file: which file, as it was read
        except ProtocolError as err:
            self.window.report_problem(f"The protocol was not applied: {err.user_message}")
            return
        except OSError as err:
            self.window.report_problem(f"The protocol was not applied: cannot read {where}: {err.strerror or err}")
            return
        self.apply_protocol(protocol, record=record)

    def apply_no_protocol(self) -> None:
        """The technique's default plan (the target's objectives only), without a protocol: one edit."""
        if self.window.base_volume is None:
            return
        # the earlier course goes with the protocol: its limits are the protocol's
        self.window.apply_context_edit(self.window.planner.default_plan(self.window.base_volume), PlanContext(), "No protocol (target only)")

    def apply_protocol(self, protocol, explicit: dict[str, str] | None = None,
                       record: ProtocolRecord | None = None) -> bool:
        """The protocol's plan on the CT (plugins.imrt_photon.protocol_plan) as one undoable edit with
        its volume and mapping. A structure that is not found or is ambiguous opens the mapping
        dialog (unless ``explicit`` was the answer to it); any other reason is said in one line.
        ``record``: the file it was read from, for the plan file (None: the plan file cannot keep it)."""
        from planner.core.protocols.matching import StructureMatchError
        from planner.core.protocols.protocol import ProtocolError
        from planner.core.reirradiation import ReirradiationError
        from plugins.imrt_photon.protocol_plan import protocol_plan

        if self.window.base_volume is None or self.window.signed_path.refused_because_locked():
            return False
        if self.window.ct_types is None:
            self.window.report_problem(f"The protocol was not applied: {self.window.ct_types_problem or 'this volume is not a CT'}")
            return False
        try:
            # an earlier course loaded stays, placed for this protocol (or the protocol is refused, saying why)
            chosen = protocol_plan(self.window.base_volume, protocol, self.window.ct_types, explicit, prior=self.window.document.context.prior)
        except StructureMatchError as err:
            if explicit is not None:
                self.window.report_problem(f"The protocol was not applied: {err.user_message}")
                return False
            self.window.show_status(f"Map the structures: {err.user_message}")
            self._ask_mapping(protocol, record)
            return False
        except (ProtocolError, ReirradiationError) as err:
            self.window.report_problem(f"The protocol was not applied: {err.user_message}")
            return False
        self.window.apply_context_edit(replace(chosen.plan, max_iterations=self.window.plan.max_iterations),
                                replace(self.window.document.context, protocol=chosen, protocol_record=record),
                                f"Apply protocol {protocol.id}")
        self.window.show_status(f"Protocol {protocol.id} applied: {chosen.plan.prescription.describe()}")
        return True

    def _ask_mapping(self, protocol, record: ProtocolRecord | None) -> StructureMappingDialog:
        known = {name: kind for name, kind in self.window.ct_types.items() if name in self.window.base_volume.masks}
        dialog = self.mapping_dialog = StructureMappingDialog(protocol, known, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply_protocol(protocol, dialog.mapping(), record))
        dialog.finished.connect(lambda _code: setattr(self, "mapping_dialog", None))
        dialog.open()
        return dialog

    # --- the earlier course of a re-irradiation (issue 18, point 4) -------------------------------
    def load_prior(self, rtdose: str | None = None, rtplan: str | None = None, fractions: int | None = None) -> bool:
        """The earlier course's RT Dose and RT Plan (planner.dicom.prior_dose_read), read off the GUI
        thread and placed on this CT for the protocol's re-irradiation limits (protocol_plan.place_prior):
        one undoable edit. Another frame of reference, a dose that is not the whole course's, a
        protocol without re-irradiation limits: refused, the reason in one line."""
        chosen = self.window.document.context.protocol
        if chosen is None or self.window.signed_path.refused_because_locked():
            if chosen is None:
                self.window.report_problem("Choose a protocol first (Plan ▸ Choose Protocol…): the re-irradiation "
                                    "limits are the protocol's")
            return False
        if chosen.protocol.reirradiation is None:
            self.window.report_problem(f"The earlier course was not loaded: protocol {chosen.protocol.id} sets no "
                                f"re-irradiation limits (choose one that does, e.g. spine-sbrt-16gy-1fx)")
            return False
        rtdose = rtdose or self.ask_prior_dose()
        if not rtdose:
            return False
        if rtplan is None and fractions is None:
            rtplan = self.ask_prior_plan()
            if not rtplan:
                fractions = self.ask_prior_fractions()
                if fractions is None:
                    return False
        from planner.core.reirradiation import ReirradiationError
        from planner.dicom.prior_dose_read import read_prior_course
        from plugins.imrt_photon.protocol_plan import place_prior

        def work(progress, is_cancelled):
            progress(0.1, f"Reading the earlier course's RT Dose {rtdose}")
            try:   # for the plan file: which files, as they were read
                record = EarlierCourseRecord.read_from(rtdose, rtplan, fractions)
            except OSError as err:
                raise ReirradiationError(f"cannot read {err.filename}: {err.strerror or err}") from err
            prior = read_prior_course(rtdose, rtplan, fractions)
            progress(0.6, "Placing it on the CT (frame of reference, the limited structure's samples)")
            return prior, place_prior(chosen.volume, chosen.protocol, chosen.mapping, prior), record

        def loaded(outcome) -> None:
            prior, placed, record = outcome
            if self.window.document.context.protocol is not chosen:   # the protocol changed meanwhile
                self.window.report_problem("The earlier course was not loaded: the protocol changed while it was read; load it again")
                return
            self.window.prior_panel.show_problem("")
            self.window.apply_context_edit(self.window.plan, replace(self.window.document.context, protocol=replace(chosen, reirradiation=placed),
                                                       prior=prior, prior_record=record),
                                    f"Load earlier course {Path(rtdose).name}")
            self.window.show_status(f"Loaded the {prior.summary()}: press Optimise (its dose is background)")

        def refused(message: str) -> None:
            self.window.prior_panel.show_problem(message)
            self.window.report_problem(f"The earlier course was not loaded: {message}")

        if not self.window.runner.start("Loading the earlier course", work, loaded, refused):
            self.window.report_problem("Planner is still busy with the previous task; wait for it or cancel it first.")
            return False
        return True

    def remove_prior(self) -> None:
        """The plan without the earlier course (one undoable edit)."""
        context = self.window.document.context
        if context.prior is None or context.protocol is None:
            return
        self.window.apply_context_edit(self.window.plan, replace(context, protocol=replace(context.protocol, reirradiation=None),
                                                                 prior=None, prior_record=None),
                                "Remove the earlier course")


    def show_goals(self, result, stale: bool) -> None:
        """The protocol's goals of the dose shown (judged once per dose and protocol), else TG-119's;
        on a CT without a protocol, the warning that its organs have no limits."""
        chosen = self.window.document.context.protocol
        self.window.goals.show_protocol(*(("", "") if chosen is None else (protocol_text(chosen), protocol_mapping_text(chosen))))
        if chosen is None:
            target_only = self.window.plan is not None and all(o.structure == self.window.plan.prescription.target
                                                        for o in self.window.plan.objectives)
            ct = self.window.source is not None and self.window.source.kind == "ct"
            self.window.goals.show_warnings((NO_LIMITS_WARNING,) if ct and target_only and self.window.volume is not None else ())
            if result is not None:
                self.window.goals.show_result(self.window.planner.tg119_goals(result.metrics), result.metrics, stale)
            return
        if result is None:
            self.window.goals.show_warnings(())
            self.window.goals.show_clinical(None, {}, stale=False)
            self.window.prior_panel.show_limits(None, stale=False)
            return
        if self._clinical is None or self._clinical[:2] != (result, chosen):
            self._clinical = (result, chosen, *self._judged(chosen, result))
        rows, warnings, headroom, reirradiation, problem = self._clinical[2:]
        self.window.goals.show_warnings(warnings)
        self.window.goals.show_clinical(rows, result.metrics, stale, headroom)
        if chosen.reirradiation is not None:
            self.window.prior_panel.show_limits(reirradiation, stale, problem)

    def _judged(self, chosen, result) -> tuple:
        """(rows, warnings, headroom text, re-irradiation report or None, why it could not be made) of
        the protocol's goals on the result's honest DVH, as planner imrt --protocol judges them."""
        from planner.core.protocols.protocol import ProtocolError
        from planner.core.reirradiation import ReirradiationError
        from plugins.imrt_photon.protocol_goals import protocol_goals

        dvhs = self.window.structure_dvhs(result.dose_rows_gy)
        try:
            report, headroom = protocol_goals(chosen, dvhs)
        except (ProtocolError, ReirradiationError) as err:
            return [], (f"The goals cannot be judged: {err.user_message}",), "", None, err.user_message
        try:
            reirradiation = None if chosen.reirradiation is None else chosen.reirradiation.judge(dvhs)
        except ReirradiationError as err:
            return (clinical_rows(report, chosen.protocol), report.warnings, headroom_text(headroom), None,
                    err.user_message)
        return clinical_rows(report, chosen.protocol), report.warnings, headroom_text(headroom), reirradiation, ""


def restore_context(volume, ct_types: dict[str, str] | None, ct_types_problem: str,
                    record: PlanContextRecord | None) -> tuple[PlanContext, str]:
    """A plan file's context made again on its CT, just read (``volume``: as opened, on the dose grid),
    through the same steps as when it was applied (load_protocol and protocol_plan with the saved
    mapping; read_prior_course and place_prior), without an undo step or any Qt (it runs off the GUI
    thread). A part whose file is missing or changed since (SHA-256), or that fails, is left out:
    (the context, the one line saying what was not restored and why; "" when all was)."""
    from planner.core.protocols.matching import StructureMatchError
    from planner.core.protocols.protocol import ProtocolError, load_protocol
    from planner.core.reirradiation import ReirradiationError
    from planner.dicom.prior_dose_read import read_prior_course
    from plugins.imrt_photon.protocol_plan import place_prior, protocol_plan

    if record is None or record.protocol is None:
        return PlanContext(), ""
    saved, course = record.protocol, record.earlier_course
    why = changed_since_saved(saved.path, saved.sha256) or (
        None if ct_types is not None else ct_types_problem or "this volume is not a CT")
    if why is None:
        try:
            chosen = protocol_plan(volume, load_protocol(saved.load_name), ct_types, saved.mapping_dict())
        except (ProtocolError, StructureMatchError, ReirradiationError) as err:
            why = err.user_message
    if why is not None:
        without = "it" + (" and without its earlier course" if course is not None else "")
        return PlanContext(), f"Protocol not restored: {why}; the plan is open without {without} {UNCHANGED_UNTIL_SAVED}"
    context = PlanContext(chosen, None, saved)
    if course is None:
        return context, ""
    why = next(filter(None, (changed_since_saved(path, sha) for path, sha in course.files())), None)
    if why is None:
        try:
            prior = read_prior_course(course.rt_dose, course.rt_plan, course.fractions)
            placed = place_prior(chosen.volume, chosen.protocol, chosen.mapping, prior)
        except ReirradiationError as err:
            why = err.user_message
    if why is not None:
        return context, f"Earlier course not restored: {why}; the plan is open without it {UNCHANGED_UNTIL_SAVED}"
    return replace(context, protocol=replace(chosen, reirradiation=placed), prior=prior, prior_record=course), ""
