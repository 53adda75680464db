"""Runs the technique's planning steps through the TaskRunner: the dose influence (when missing or
when the beams changed), then the fluence optimisation, with progress, Cancel and live doses.

After the optimisation the worker leaf-sequences the plan (quick beside it), so the window shows
the segments and MU per fraction delivering it would take (``deliverable``), beside the DVH.

The worker thread only emits signals (Qt queues them to the GUI thread): the influence when it is
ready, so a cancelled optimisation does not lose it, and a copy of the dose after every iteration.
A cancelled or failed run leaves ``result`` as it was.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from planner.dose.dvh import dose_at_volume_gy
from planner.ui.tasks import TaskRunner

INFLUENCE_SHARE = 0.6  # of the progress bar, when the influence is computed in the same run


class Optimisation(QObject):
    rows_changed = Signal(object)        # {structure: StructureReadout} of a new influence matrix
    iterated = Signal(int, float, object)  # (iteration, objective, dose rows in Gy scaled to the prescription)
    finished = Signal(object)            # the planner's result (ImrtResult)
    stopped = Signal(str, bool)          # (why, cancelled): the previous result is kept

    _influence_from_worker = Signal(int, object)
    _iteration_from_worker = Signal(int, int, float, object)

    def __init__(self, planner, runner: TaskRunner, parent: QObject | None = None):
        super().__init__(parent)
        self.planner = planner
        self.runner = runner
        self.volume = None
        self.influence = None
        self.rows: dict = {}   # structure -> where the optimiser reads its dose (a StructureReadout)
        self.result = None
        self.deliverable = None  # the result leaf-sequenced (the planner's DeliverablePlan)
        self.delivery_problem: str | None = None  # why the result could not be sequenced
        self.influence_seconds: float | None = None  # of the influence computed by the last run, if it did
        self._run = 0
        self._plan = None
        self._cancelled = False
        self._influence_from_worker.connect(self._on_influence)
        self._iteration_from_worker.connect(self._on_iteration)
        runner.cancelled.connect(self._on_cancelled)

    def set_volume(self, volume) -> None:
        if self.runner.busy:
            self.runner.abandon()
            self.runner.wait(10.0)
        self._run += 1
        self.volume = volume
        self.influence = None
        self.rows = {}
        self.result = self.deliverable = self.delivery_problem = None

    def needs_influence(self, plan) -> bool:
        return self.influence is None or not self.planner.influence_matches(self.influence, plan)

    def start(self, plan, background=None, normalisation=None) -> bool:
        """Start optimising ``plan``; False when another task is running. ``background``: an earlier
        course's dose the optimiser caps the new one against (protocol_plan.Reirradiation), or None;
        ``normalisation``: the protocol's own scaling (protocol_plan.ProtocolPlan.normalisation) or None."""
        planner, volume = self.planner, self.volume
        influence = None if self.needs_influence(plan) else self.influence
        self._run += 1
        run = self._run
        self._plan = plan
        self._cancelled = False
        self.influence_seconds = None

        def work(progress, is_cancelled):
            known = influence
            start = 0.0
            if known is None:
                known = planner.compute_dose_influence(
                    volume, plan, lambda f, m: progress(INFLUENCE_SHARE * f, m), is_cancelled)
                self._influence_from_worker.emit(run, known)
                start = INFLUENCE_SHARE
            result = planner.optimise_plan(
                volume, known, plan, lambda f, m: progress(start + (1.0 - start) * f, m), is_cancelled,
                lambda i, value, rows: self._iteration_from_worker.emit(run, i, float(value), np.array(rows, copy=True)),
                background=background, normalisation=normalisation)
            progress(1.0, "leaf sequencing: segments and MU per fraction")
            try:
                return result, planner.deliverable_plan(volume, known, result, normalisation=normalisation), None
            except ValueError as err:  # e.g. bixels off the MLC's leaf pairs: the dose stays, said why
                return result, None, str(err)

        description = ("Computing the dose influence, then optimising" if influence is None
                       else "Optimising the fluence")
        return self.runner.start(description, work, lambda result: self._on_success(run, result),
                                 lambda message: self._on_failure(run, message))

    # --- back on the GUI thread -------------------------------------------------------------------
    def _on_influence(self, run: int, influence) -> None:
        if run != self._run:
            return
        self.influence = influence
        self.influence_seconds = influence.seconds
        self.rows = self.planner.optimiser_readouts(self.volume, influence)
        self.rows_changed.emit(self.rows)

    def _on_iteration(self, run: int, iteration: int, value: float, dose_rows) -> None:
        if run != self._run or not self.rows:
            return
        self.iterated.emit(iteration, value, self.scaled_to_prescription(dose_rows, self._plan))

    def scaled_to_prescription(self, dose_rows: np.ndarray, plan) -> np.ndarray:
        """An intermediate dose scaled as the result will be (target D95 = the prescribed dose),
        so the live DVH does not jump when the normalised result arrives."""
        rx = plan.prescription
        target = self.rows.get(rx.target)
        if target is None or target.size == 0:
            return dose_rows
        d = dose_at_volume_gy(target.dose(dose_rows), rx.coverage_volume_fraction)
        return dose_rows * (rx.total_dose_gy / d) if d > 0 else dose_rows

    def _on_cancelled(self) -> None:
        self._cancelled = True

    def _on_success(self, run: int, outcome) -> None:
        if run != self._run:
            return
        self.result, self.deliverable, self.delivery_problem = outcome
        self.finished.emit(self.result)

    def _on_failure(self, run: int, message: str) -> None:
        if run != self._run:
            return
        cancelled, self._cancelled = self._cancelled, False
        self.stopped.emit(message, cancelled)
