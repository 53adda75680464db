"""The beam data behind the dose: shown in the Beam data tab (depth dose, profiles, where each came
from) and replaceable by measured data (a CSV of PDD, profiles, backscatter or output factors for
the plan's energy and cone at its commissioned SSD), after which the dose is computed afresh.
"""

from __future__ import annotations

from pathlib import Path

from planner.core.errors import PlannerError
from planner.techniques import TechniqueRegistry
from planner.techniques.beam_lookup import beam_key
from planner.ui.beam_data_view import BeamDataView
from planner.ui.dialogs import Dialogs
from planner.ui.document import PlanDocument
from planner.ui.dose_controller import DoseController

MEASURED_KINDS = {"PDD": "pdd", "Profiles": "profiles", "Backscatter factor": "backscatter",
                  "Output factors": "output_factors"}
MEASURED_FILE_FILTER = "CSV files (*.csv);;All files (*)"


class BeamData:
    def __init__(self, document: PlanDocument, registry: TechniqueRegistry, dose: DoseController,
                 view: BeamDataView, dialogs: Dialogs):
        self.document = document
        self.registry = registry
        self.dose = dose
        self.view = view
        self.dialogs = dialogs
        self._shown_beam = None

    def show_for_plan(self) -> None:
        """The beam data the plan's dose was just computed from (drawn again only when they change)."""
        plan = self.document.plan
        technique = self.registry.get(plan.setup.technique_id)
        key = beam_key(technique, plan)
        if key is None:
            self.view.show_message("No beam data: the machine's SSD for this energy and cone is not commissioned.")
            return
        beam = technique.dose_engine.beam_data(*key)  # cached: the dose was just computed from it
        if beam is not self._shown_beam:
            self._shown_beam = beam
            sources = "; ".join(f"{k}: {v}" for k, v in beam.provenance.items())
            self.view.show_beam_data(beam, f"{key[0].label}, {key[1].label}, SSD {key[2]:g} cm. {sources}")

    def choose_measured_data(self) -> None:
        path = self.dialogs.choose_file_to_open("Import measured beam data", MEASURED_FILE_FILTER)
        if path:
            kind = self.dialogs.ask("Measured beam data", f"What does {Path(path).name} hold? It replaces the "
                                    "computed data for the plan's energy and cone at its commissioned SSD.",
                                    (*MEASURED_KINDS, "Cancel"))
            if kind in MEASURED_KINDS:
                self.import_measured_data(path, MEASURED_KINDS[kind])

    def import_measured_data(self, path: str, kind: str) -> bool:
        """Load a measured CSV into the technique's engine for the plan's energy, cone and SSD."""
        plan = self.document.plan
        technique = None if plan is None else self.registry.get(plan.setup.technique_id)
        engine = None if technique is None else technique.dose_engine
        key = None if technique is None else beam_key(technique, plan)
        if engine is None or key is None or not hasattr(engine, "load_measured"):
            self.dialogs.report_problem("Measured data need an open plan whose technique computes dose and whose "
                                        "energy and cone have a commissioned SSD.")
            return False
        energy, applicator, ssd_cm = key
        try:
            if kind == "output_factors":
                engine.load_output_factors(path, energy.id, ssd_cm)
            else:
                engine.load_measured(kind, path, energy.id, applicator.id, ssd_cm)
        except PlannerError as err:
            self.dialogs.report_problem(f"Measured data not used: {err}")
            return False
        self._shown_beam = None
        self.dose.forget_beam(energy, applicator, ssd_cm)
        self.dialogs.show_status(f"Measured {kind.replace('_', ' ')} from {Path(path).name} now replace the "
                                 f"computed data for {energy.label}, {applicator.label}", 10000)
        self.dose.update()
        return True
