"""The energy and cone recommended for the lesion: the technique's engine weighs every energy and
cone against the depth and lateral margins the user asked for (off the GUI thread: it needs the beam
data of each energy); the user applies a recommendation as one undo step.

A recommendation belongs to the plan it was computed for: one that arrives after the plan changed
is discarded, not shown.
"""

from __future__ import annotations

from planner.techniques import TechniqueRegistry
from planner.techniques.beam_lookup import machine_commissioning
from planner.ui.dialogs import Dialogs
from planner.ui.document import PlanDocument
from planner.ui.dose_panel import DosePanel
from planner.ui.tasks import STILL_BUSY, TaskRunner


class Recommendation:
    def __init__(self, document: PlanDocument, registry: TechniqueRegistry, runner: TaskRunner, panel: DosePanel,
                 dialogs: Dialogs):
        self.document = document
        self.registry = registry
        self.runner = runner
        self.panel = panel
        self.dialogs = dialogs

    def recommend(self) -> None:
        plan = self.document.plan
        if plan is None:
            return
        technique = self.registry.get(plan.setup.technique_id)
        engine = technique.dose_engine
        if engine is None:
            self.dialogs.report_problem(f"{technique.name} offers no recommendation.")
            return
        commissioning = machine_commissioning(technique, plan.setup.machine_id)
        try:
            depth_margin, lateral_margin = self.panel.margins_mm()
        except ValueError as err:
            self.dialogs.report_problem(f"No recommendation: {err}.")
            return

        def shown(answer) -> None:
            if self.document.plan is not plan:
                self.dialogs.show_status("Recommendation discarded: the plan changed while it was computed; "
                                         "ask again.", 10000)
                return
            energy, cone, note = answer
            self.panel.show_recommendations(tuple(r for r in (energy, cone) if r is not None), note)

        if not self.runner.start("Recommending energy and cone (beam data of each energy)",
                                 lambda progress, cancelled: engine.recommend(
                                     plan, commissioning, depth_margin_mm=depth_margin,
                                     lateral_margin_mm=lateral_margin, progress=progress, is_cancelled=cancelled),
                                 shown, self.dialogs.report_problem):
            self.dialogs.report_problem(STILL_BUSY)

    def apply(self, field: str, choice_id: str | None) -> None:
        """Use the recommended energy (``field`` "energy_id") or cone ("applicator_id")."""
        plan = self.document.plan
        if plan is None or choice_id is None:
            return
        self.document.apply(plan.with_setup(**{field: choice_id}), "Use recommended " + field.split("_")[0])

    def apply_energy_and_cone(self, energy_id: str, applicator_id: str) -> None:
        plan = self.document.plan
        if plan is None or not energy_id or not applicator_id:
            return
        self.document.apply(plan.with_setup(energy_id=energy_id, applicator_id=applicator_id),
                            "Use recommended energy and cone")
