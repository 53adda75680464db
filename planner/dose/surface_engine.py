"""The one compute sequence of the surface techniques (kV cones, eBx applicators), written once.

Why: both plan a fraction the same way — choose the unit, energy and applicator; read their
commissioning; refuse what cannot be treated; build the beam model at the commissioned SSD; scale
it to an absolute dose; put the dose on the image; give the time per fraction. That sequence is
``SurfaceDoseEngine.compute``; an engine fills in only its own steps (which units it serves and
how it checks them, how its beam data are made, how its absolute dose is obtained, what its time
is called). Qt-free, and imports no plugin.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from planner.core.plan import Plan
from planner.core.prescription import PrescriptionPoint
from planner.dose.beam_data import BeamData
from planner.dose.commissioning import Commissioning
from planner.dose.dose_plane import BeamModel, DoseCalculationError, validate_axes
from planner.dose.image_dose import (ImageDose, beam_axis_x_mm, geometry_refusal, lesion_coverage,
                                     time_unless_refused)
from planner.dose.plan_checks import REFUSE, Finding, SafetyLimits, check_doses, check_prescription_depth
from planner.dose.result import TREATMENT_TIME, DoseResult, dose_result
from planner.core.treatment_unit import Applicator, Energy, Machine

INTERACTIVE_PHOTONS = 300_000   # histories per beam on every edit (≈ 2–3 s per beam, then disk-cached)
SEED = 1

DOSE_PLANE_TEXT = "dose plane: PDD × off-axis ratio × inverse square, depth along the vertical below the skin"


def commissioning_text(commissioning: Commissioning | None) -> str:
    """The model line's last part: which commissioning the numbers rest on."""
    if commissioning is None:
        return "no commissioning"
    if commissioning.is_demo:
        return "demo commissioning (illustrative, not for clinical use)"
    return commissioning.describe()


class SurfaceDoseEngine(ABC):
    """Beam data and models (kept in memory per beam), and ``compute``: one fraction of a plan.

    ``time_name`` is what the beam-on time is called in this technique (planner.dose.result).
    ``beam_source`` replaces the Monte Carlo (tests, fixtures); its arguments are the engine's.
    """

    time_name: str = TREATMENT_TIME

    def __init__(self, *, n_photons: int = INTERACTIVE_PHOTONS, cache_folder=None,
                 limits: SafetyLimits = SafetyLimits(), beam_source=None):
        self.n_photons = int(n_photons)
        self.cache_folder = cache_folder
        self.limits = limits
        self._beam_source = beam_source
        self._beams: dict[tuple, BeamData] = {}
        self._models: dict[tuple, BeamModel] = {}
        self._image_dose = ImageDose()

    # ----------------------------------------------------------------------------- beam data
    @abstractmethod
    def _beam_key(self, energy: Energy, applicator: Applicator, ssd_cm: float) -> tuple:
        """What tells one beam from another in this technique (the history count is added)."""

    @abstractmethod
    def _new_beam_data(self, energy: Energy, applicator: Applicator, ssd_cm: float, progress,
                       is_cancelled) -> BeamData:
        """Beam data not yet in memory: Monte Carlo (disk-cached), the beam source or measured data."""

    def beam_data(self, energy: Energy, applicator: Applicator, ssd_cm: float, progress=None,
                  is_cancelled=None) -> BeamData:
        key = (*self._beam_key(energy, applicator, float(ssd_cm)), self.n_photons)
        beam = self._beams.get(key)
        if beam is None:
            beam = self._new_beam_data(energy, applicator, float(ssd_cm), progress, is_cancelled)
            self._beams[key] = beam
        return beam

    def beam_model(self, energy: Energy, applicator: Applicator, ssd_cm: float, progress=None,
                   is_cancelled=None) -> BeamModel:
        key = (*self._beam_key(energy, applicator, float(ssd_cm)), self.n_photons)
        model = self._models.get(key)
        if model is None:
            model = BeamModel(self.beam_data(energy, applicator, ssd_cm, progress, is_cancelled))
            self._models[key] = model
        return model

    # ----------------------------------------------------------------------------- the steps that differ
    @abstractmethod
    def _setup(self, plan: Plan, findings: list[Finding]) -> tuple[Machine, Energy, Applicator] | None:
        """The plan's unit, energy and applicator, with their findings; None once refused."""

    def _commissioning_of(self, machine: Machine, commissioning: Commissioning | None) -> Commissioning | None:
        """The commissioning that applies to ``machine`` (all of it, unless the technique says otherwise)."""
        return commissioning

    @abstractmethod
    def _commissioning_findings(self, entry, commissioning: Commissioning | None) -> list[Finding]:
        """What is missing or only illustrative in this applicator's commissioning ``entry``."""

    @abstractmethod
    def _absolute_dose(self, plan: Plan, point: PrescriptionPoint, energy: Energy, applicator: Applicator,
                       beam: BeamData, entry, commissioning: Commissioning | None, findings: list[Finding]):
        """Surface dose, dose rate and time of one fraction; raises DoseCalculationError when it cannot."""

    def _dose_findings(self, dose) -> list[Finding]:
        """The technique's own checks of the absolute dose, after the prescription-depth check."""
        return []

    @abstractmethod
    def _data_sources(self, beam: BeamData) -> dict[str, str]:
        """Where each beam quantity came from, as the result reports it."""

    @abstractmethod
    def _monte_carlo_text(self, beam: BeamData) -> str:
        """What the Monte Carlo modelled, after 'Monte Carlo in water (…)'."""

    def _model_notes(self, beam: BeamData, dose) -> list[str]:
        """The model line's technique parts, between the beam data and the dose plane."""
        return []

    # ----------------------------------------------------------------------------- plan
    def compute(self, plan: Plan, image_axes, commissioning: Commissioning | None, *,
                prescription_point: PrescriptionPoint | None = None, cone_axis_x_mm: float | None = None,
                progress=None, is_cancelled=None) -> DoseResult:
        """Dose grid, per-fraction numbers, time, metrics and findings of ``plan`` on ``image_axes`` = (x_mm, y_mm).

        Prescription point: the plan's (``plan.prescription.point``) unless one is given. Cone axis:
        the one given, else the plan's, else the lesion's lateral centre.
        """
        x_mm, y_mm = validate_axes(*image_axes)
        point = prescription_point or plan.prescription.point
        rx = plan.prescription.dose_per_fraction_gy
        findings: list[Finding] = []

        def result(**known) -> DoseResult:
            return dose_result(x_mm, y_mm, point, rx, findings, time_name=self.time_name, **known)

        chosen = self._setup(plan, findings)
        if chosen is None:
            return result()
        machine, energy, applicator = chosen
        commissioning = self._commissioning_of(machine, commissioning)
        entry = None if commissioning is None else commissioning.entry(energy.id, applicator.id)
        findings += self._commissioning_findings(entry, commissioning)
        if entry is None or entry.ssd_cm.value is None:
            return result()
        refusal, deepest = geometry_refusal(plan, point, cone_axis_x_mm)
        if refusal is not None:
            findings.append(refusal)
            return result()
        ssd = entry.ssd_cm.value
        model = self.beam_model(energy, applicator, ssd, progress, is_cancelled)
        beam = model.beam
        try:
            dose = self._absolute_dose(plan, point, energy, applicator, beam, entry, commissioning, findings)
        except DoseCalculationError as err:
            findings.append(Finding(REFUSE, str(err), "dose-calculation"))
            return result(model_description=self._describe(beam, None, commissioning), ssd_cm=ssd)
        findings += check_prescription_depth(beam.pdd, dose.prescription_depth_mm, self.limits)
        findings += self._dose_findings(dose)
        findings += check_doses(dose, self.limits)

        axis_x = beam_axis_x_mm(plan, cone_axis_x_mm)
        grid, metrics = self._image_dose.grid_and_metrics(model, x_mm, y_mm, plan.skin_surface, plan.outline,
                                                          axis_x, dose.surface_dose_gy, deepest)
        findings += ImageDose.metric_warnings(metrics)
        coverage, short = lesion_coverage(metrics, dose.surface_dose_gy, dose.normalisation_percent)
        findings += short

        time, reason = time_unless_refused(dose.treatment_time_min, dose.treatment_time_unavailable_reason, findings)
        return result(dose_grid_gy=grid, cone_axis_x_mm=axis_x, surface_dose_gy=dose.surface_dose_gy, ssd_cm=ssd,
                      prescription_depth_mm=dose.prescription_depth_mm,
                      dose_at_prescription_depth_gy=dose.dose_at_prescription_depth_gy,
                      surface_dose_rate_gy_per_min=dose.surface_dose_rate_gy_per_min, treatment_time_min=time,
                      treatment_time_reason=reason, absolute=dose, metrics=metrics, coverage=coverage,
                      prescription_isodose_percent=dose.normalisation_percent,
                      model_description=self._describe(beam, dose, commissioning),
                      data_sources=self._data_sources(beam))

    def _describe(self, beam: BeamData, dose, commissioning: Commissioning | None) -> str:
        """The model line: where the beam data came from, the technique's notes, the plane, the commissioning."""
        if beam.n_photons > 0:
            origin = (f"Monte Carlo in water (Planner kV engine {beam.engine_version}, {beam.n_photons} photons, "
                      f"seed {beam.seed}) {self._monte_carlo_text(beam)}")
        else:
            origin = f"measured beam data for {beam.kvp:g} kV, Ø {beam.field_diameter_mm:g} mm, SSD {beam.ssd_cm:g} cm"
        parts = [origin, *self._model_notes(beam, dose), DOSE_PLANE_TEXT, commissioning_text(commissioning)]
        return "; ".join(parts)
