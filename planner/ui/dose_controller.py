"""Keeps the dose in step with the plan.

Beam data for a new energy, cone and SSD come from the Monte Carlo (seconds, off the GUI thread,
with progress and Cancel); after that every edit recomputes the dose plane from the cached beam
model at once. The controller only computes: the window draws what it reports.

While an entry of the plan panel holds a value the plan does not use (``set_entry_problem``),
nothing is reported as computed, not even a result that arrives late from the beam-data task:
the window says "not computed: <field>: <reason>" instead of a number for another prescription.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from planner.dose.grid_axes import dose_grid_axes
from planner.imaging.planning_image import calibrated_image
from planner.techniques import TechniqueRegistry
from planner.techniques.beam_lookup import beam_key, machine_commissioning
from planner.ui.document import PlanDocument
from planner.ui.tasks import TaskRunner


class DoseController(QObject):
    computed = Signal(object)  # DoseResult
    unavailable = Signal(str)  # why there is no dose to show

    def __init__(self, document: PlanDocument, registry: TechniqueRegistry, runner: TaskRunner,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.document = document
        self.registry = registry
        self.runner = runner
        self.last_result = None
        self.last_shown = None
        self._ready: set[tuple] = set()
        self._waiting = False
        self._entry_problem: str | None = None
        document.plan_changed.connect(self.update)
        runner.busy_changed.connect(self._on_runner_idle)

    def preview(self, plan) -> None:
        """Dose of a plan the user is still dragging into shape: shown, not stored, not undoable.
        Only when the beam data are ready, so a drag never waits for the Monte Carlo."""
        self.update(plan=plan, preview=True)

    def set_entry_problem(self, problem: str | None) -> None:
        """"<field>: <reason>" while an entry is not used by the plan (no dose is shown), None when
        every entry is used again (the dose is computed afresh)."""
        if problem == self._entry_problem:
            return
        self._entry_problem = problem
        self.update()

    def update(self, *_args, plan=None, preview: bool = False) -> None:
        plan = self.document.plan if plan is None else plan
        if plan is None or self.document.planning_image is None:
            return
        if self._entry_problem is not None:
            return self._unavailable(f"not computed: {self._entry_problem}")
        technique = self.registry.get(plan.setup.technique_id)
        engine = technique.dose_engine
        if engine is None:
            return self._unavailable(f"{technique.name} has no dose engine in this version of Planner.")
        image = calibrated_image(self.document.planning_image.image, plan)
        if image.calibration is None:
            return self._unavailable("No dose without a mm scale: calibrate the image first.")
        key = beam_key(technique, plan)
        if key is not None and _identity(key) not in self._ready:
            return None if preview else self._compute_beam_data(engine, key)
        result = engine.compute(plan, dose_grid_axes(image), machine_commissioning(technique, plan.setup.machine_id))
        if not preview:  # a preview is shown, never taken for the plan's dose (saved records)
            self.last_result = result
        self.last_shown = result
        self.computed.emit(result)

    def forget_beam(self, energy, applicator, ssd_cm) -> None:
        """Beam data for this key changed (measured data loaded): fetch them again before the next dose."""
        self._ready.discard(_identity((energy, applicator, ssd_cm)))

    def _compute_beam_data(self, engine, key) -> None:
        energy, applicator, ssd_cm = key
        if self.runner.busy:
            self._waiting = True  # computed when the running task ends
            return self._unavailable("Waiting for the running task before computing beam data…")
        self._unavailable(f"Computing beam data for {energy.label}, {applicator.label}, SSD {ssd_cm:g} cm…")

        def done(_model) -> None:
            self._ready.add(_identity(key))
            self.update()

        self.runner.start(f"Monte Carlo beam data: {energy.kvp:g} kV, {applicator.label}",
                          lambda progress, cancelled: engine.beam_model(energy, applicator, ssd_cm, progress, cancelled),
                          done, self._beam_data_failed, preemptible=True)

    def _beam_data_failed(self, message: str) -> None:
        if self._entry_problem is not None:  # the entry's reason stays until it is corrected
            return self._unavailable(f"not computed: {self._entry_problem}")
        self._unavailable(f"Beam data could not be computed: {message}")

    def _on_runner_idle(self, busy: bool) -> None:
        if not busy and self._waiting:
            self._waiting = False
            # After the current event: a task that pre-empted the runner takes it first.
            QTimer.singleShot(0, self.update)

    def _unavailable(self, reason: str) -> None:
        self.last_result = None
        self.unavailable.emit(reason)


def _identity(key) -> tuple:
    energy, applicator, ssd_cm = key
    return energy.id, applicator.id, float(ssd_cm)
