"""The IMRT window's clinical protocol and earlier course (issue 18, points 2, 4 and 5): the protocol
chosen when a CT opens (planner.ui.imrt.protocol_choice), its plan made by plugins.imrt_photon.
protocol_plan with the structure mapping asked for when a structure is not found (planner.ui.imrt.
structure_mapping), the earlier course of a re-irradiation loaded and placed on the CT, and the goals
table and re-irradiation limits of the dose shown.

Why apart from the window: every one of these is an edit of the plan together with its context
(planner.ui.imrt.document.PlanContext: the protocol's volume and mapping, the earlier course), made
through the window's one entry for such edits (ImrtWindow.apply_context_edit) so that one Ctrl+Z
undoes it; the window keeps the volume, the dose and the docks.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog

from planner.ui.imrt.clinical_goals import clinical_rows, headroom_text, protocol_mapping_text, protocol_text
from planner.ui.imrt.document import PlanContext
from planner.ui.imrt.protocol_choice import ProtocolChoiceDialog
from planner.ui.imrt.structure_mapping import StructureMappingDialog

# A CT planned without a protocol (issue 18: a cord 2.5 mm from the PTV got 51.8 Gy in a 50 Gy plan
# with nothing said): the objectives are the target's alone.
NO_LIMITS_WARNING = ("No protocol: the organs at risk have no dose limits (objectives for the target only); "
                     "their doses are shown, not judged. Plan ▸ Choose Protocol… gives them their limits.")


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
        except ProtocolError as err:
            self.window.report_problem(f"The protocol was not applied: {err.user_message}")
            return
        self.apply_protocol(protocol)

    def apply_no_protocol(self) -> None:
        """The technique's default plan (the target's objectives only), without a protocol: one edit."""
        if self.window.base_volume is None:
            return
        # the earlier course goes with the protocol: its limits are the protocol's
        self.window.apply_context_edit(self.window.planner.default_plan(self.window.base_volume), PlanContext(), "No protocol (target only)")

    def apply_protocol(self, protocol, explicit: dict[str, str] | None = None) -> bool:
        """The protocol's plan on the CT (plugins.imrt_photon.protocol_plan) as one undoable edit with
        its volume and mapping. A structure that is not found or is ambiguous opens the mapping
        dialog (unless ``explicit`` was the answer to it); any other reason is said in one line."""
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
            self._ask_mapping(protocol)
            return False
        except (ProtocolError, ReirradiationError) as err:
            self.window.report_problem(f"The protocol was not applied: {err.user_message}")
            return False
        self.window.apply_context_edit(replace(chosen.plan, max_iterations=self.window.plan.max_iterations),
                                replace(self.window.document.context, protocol=chosen), f"Apply protocol {protocol.id}")
        self.window.show_status(f"Protocol {protocol.id} applied: {chosen.plan.prescription.describe()}")
        return True

    def _ask_mapping(self, protocol) -> StructureMappingDialog:
        known = {name: kind for name, kind in self.window.ct_types.items() if name in self.window.base_volume.masks}
        dialog = self.mapping_dialog = StructureMappingDialog(protocol, known, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply_protocol(protocol, dialog.mapping()))
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
        from planner.dicom.prior_dose_read import read_prior_course
        from plugins.imrt_photon.protocol_plan import place_prior

        def work(progress, is_cancelled):
            progress(0.1, f"Reading the earlier course's RT Dose {rtdose}")
            prior = read_prior_course(rtdose, rtplan, fractions)
            progress(0.6, "Placing it on the CT (frame of reference, the limited structure's samples)")
            return prior, place_prior(chosen.volume, chosen.protocol, chosen.mapping, prior)

        def loaded(outcome) -> None:
            prior, placed = outcome
            if self.window.document.context.protocol is not chosen:   # the protocol changed meanwhile
                self.window.report_problem("The earlier course was not loaded: the protocol changed while it was read; load it again")
                return
            self.window.prior_panel.show_problem("")
            self.window.apply_context_edit(self.window.plan, replace(self.window.document.context, protocol=replace(chosen, reirradiation=placed),
                                                       prior=prior),
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
        self.window.apply_context_edit(self.window.plan, PlanContext(replace(context.protocol, reirradiation=None), None),
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
