"""The eBx surface-applicator dose engine: applicator beam data → dose, dwell time, dose plane.

Beam data per applicator come from the shared kV Monte Carlo with the applicator model (point
source at the commissioned SSD, flattening filter; plugins/ebx_surface/applicator_model.py), disk-
cached like the kV beams. The absolute dose uses the applicator's commissioned reference dose
rate (plugins/ebx_surface/applicator_dose.py); the dose on the image and the lesion metrics are the
shared planner.dose.image_dose step. One engine serves every machine of the technique.
"""

from __future__ import annotations

from planner.core.plan import Plan
from planner.dose.beam_data import BeamData
from planner.dose.commissioning import Commissioning
from planner.dose.dose_plane import BeamModel, validate_axes
from planner.dose.image_dose import (ImageDose, beam_axis_x_mm, geometry_refusal, lesion_coverage,
                                     time_unless_refused)
from planner.dose.kv_dose import DoseCalculationError, PrescriptionPoint
from planner.dose.plan_checks import (REFUSE, WARN, Finding, SafetyLimits, check_cone, check_doses,
                                      check_prescription_depth, refused)
from planner.dose.recommendation import DEFAULT_LATERAL_MARGIN_MM, Recommendation, recommend_cone
from planner.dose.result import DWELL_TIME, DoseResult, dose_result
from planner.techniques.interface import Applicator, Energy, Machine, UnknownChoice, by_id
from plugins.ebx_surface.applicator_dose import ApplicatorDose, applicator_dose
from plugins.ebx_surface.applicator_model import applicator_beam_data
from plugins.ebx_surface.commissioning import ApplicatorCommissioning
from plugins.ebx_surface.machine_data import (GARCIA_MARTINEZ_2014, TYPICAL_PRESCRIPTION_DEPTH_MM,
                                              XOFT_MACHINE_ID, XOFT_TREATABLE_DIAMETER_MM)

INTERACTIVE_PHOTONS = 300_000
SEED = 1


class EbxDoseEngine:
    def __init__(self, machines: tuple[Machine, ...], *, n_photons: int = INTERACTIVE_PHOTONS, cache_folder=None,
                 limits: SafetyLimits = SafetyLimits(), beam_source=None):
        """``beam_source(machine, applicator, ssd_cm) -> BeamData`` replaces the Monte Carlo (tests)."""
        self.machines = tuple(machines)
        self.n_photons = int(n_photons)
        self.cache_folder = cache_folder
        self.limits = limits
        self._beam_source = beam_source
        self._beams: dict[tuple, BeamData] = {}
        self._models: dict[tuple, BeamModel] = {}
        self._image_dose = ImageDose()

    def _machine_of(self, applicator: Applicator) -> Machine:
        for machine in self.machines:
            if applicator in machine.applicators:
                return machine
        raise UnknownChoice(f"applicator {applicator.id!r} belongs to no machine of this engine")

    # ----------------------------------------------------------------------------- beam data
    def beam_data(self, energy: Energy, applicator: Applicator, ssd_cm: float, progress=None,
                  is_cancelled=None) -> BeamData:
        """Monte Carlo beam data of one applicator at its commissioned SSD (memory, then disk cache)."""
        machine = self._machine_of(applicator)
        key = (machine.id, applicator.id, float(ssd_cm), self.n_photons)
        beam = self._beams.get(key)
        if beam is None:
            if self._beam_source is not None:
                beam = self._beam_source(machine, applicator, float(ssd_cm))
            else:
                beam = applicator_beam_data(machine.id, applicator.id, self.n_photons, SEED, ssd_cm=float(ssd_cm),
                                            cache_folder=self.cache_folder, progress=progress,
                                            is_cancelled=is_cancelled)
            self._beams[key] = beam
        return beam

    def beam_model(self, energy: Energy, applicator: Applicator, ssd_cm: float, progress=None,
                   is_cancelled=None) -> BeamModel:
        key = (self._machine_of(applicator).id, applicator.id, float(ssd_cm), self.n_photons)
        model = self._models.get(key)
        if model is None:
            model = BeamModel(self.beam_data(energy, applicator, ssd_cm, progress, is_cancelled))
            self._models[key] = model
        return model

    # ----------------------------------------------------------------------------- plan
    def compute(self, plan: Plan, image_axes, commissioning: Commissioning | None, *,
                prescription_point: PrescriptionPoint | None = None, cone_axis_x_mm: float | None = None,
                progress=None, is_cancelled=None) -> DoseResult:
        """Dose grid, per-fraction numbers, dwell time, metrics and findings of ``plan`` on ``image_axes``."""
        x_mm, y_mm = validate_axes(*image_axes)
        point = prescription_point or plan.prescription.point
        rx = plan.prescription.dose_per_fraction_gy
        findings: list[Finding] = []

        def result(**known) -> DoseResult:
            return dose_result(x_mm, y_mm, point, rx, findings, time_name=DWELL_TIME, **known)

        try:
            machine = by_id(self.machines, plan.setup.machine_id, "eBx machine")
            energy = machine.energy(plan.setup.energy_id)
        except UnknownChoice as err:
            findings.append(Finding(REFUSE, str(err), "unknown-machine"))
            return result()
        outline, skin = plan.outline, plan.skin_surface
        findings += check_cone(machine, plan.setup.applicator_id,
                               None if outline is None else outline.lateral_width_mm, self.limits, "applicator")
        if refused(findings):
            return result()
        applicator = machine.applicator(plan.setup.applicator_id)
        findings += _check_applicator_field(machine, applicator, None if outline is None else outline.lateral_width_mm)
        if energy.hvl_mm_al is None:
            findings.append(Finding(WARN, f"{energy.label}: the beam model uses a stand-in HVL (see the model "
                                          f"line); the clinic's measured HVL should replace it", "hvl-stand-in"))
        if commissioning is not None and commissioning.machine_id != machine.id:
            commissioning = None
        entry = None if commissioning is None else commissioning.entry(energy.id, applicator.id)
        findings += _check_commissioning(entry, commissioning)
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
            dose = applicator_dose(plan.prescription, point, beam.pdd, entry)
        except DoseCalculationError as err:
            findings.append(Finding(REFUSE, str(err), "dose-calculation"))
            return result(model_description=self._describe(beam, None, commissioning), ssd_cm=ssd)
        findings += check_prescription_depth(beam.pdd, dose.prescription_depth_mm, self.limits)
        findings += _check_depth_range(dose.prescription_depth_mm)
        findings += check_doses(dose, self.limits)

        axis_x = beam_axis_x_mm(plan, cone_axis_x_mm)
        grid, metrics = self._image_dose.grid_and_metrics(model, x_mm, y_mm, skin, outline, axis_x,
                                                          dose.surface_dose_gy, deepest)
        findings += ImageDose.metric_warnings(metrics)
        coverage, short = lesion_coverage(metrics, dose.surface_dose_gy, dose.normalisation_percent)
        findings += short
        time, reason = time_unless_refused(dose.treatment_time_min, dose.treatment_time_unavailable_reason, findings)
        return result(dose_grid_gy=grid, cone_axis_x_mm=axis_x, surface_dose_gy=dose.surface_dose_gy,
                      prescription_depth_mm=dose.prescription_depth_mm,
                      dose_at_prescription_depth_gy=dose.dose_at_prescription_depth_gy,
                      surface_dose_rate_gy_per_min=dose.surface_dose_rate_gy_per_min, treatment_time_min=time,
                      treatment_time_reason=reason, absolute=dose, metrics=metrics, ssd_cm=ssd, coverage=coverage,
                      prescription_isodose_percent=dose.normalisation_percent,
                      model_description=self._describe(beam, dose, commissioning),
                      data_sources=dict(beam.provenance))

    def _describe(self, beam: BeamData, dose: ApplicatorDose | None, commissioning: Commissioning | None) -> str:
        if beam.n_photons > 0:
            parts = [f"Monte Carlo in water (Planner kV engine {beam.engine_version}, {beam.n_photons} photons, "
                     f"seed {beam.seed}) with the eBx applicator model (flattening filter designed for a flat "
                     f"surface dose) for {beam.kvp:g} kV, Ø {beam.field_diameter_mm:g} mm, SSD {beam.ssd_cm:g} cm"]
        else:
            parts = [f"measured beam data for {beam.kvp:g} kV, Ø {beam.field_diameter_mm:g} mm, SSD {beam.ssd_cm:g} cm"]
        if dose is not None and dose.reference_dose_rate_gy_per_min is not None:
            parts.append(f"absolute dose from the commissioned dose rate {dose.reference_dose_rate_gy_per_min:g} Gy/min "
                         f"at {dose.reference_depth_mm:g} mm depth (Ḋ_surface = Ḋ_ref·100/PDD(z_ref))")
        parts.append("dose plane: PDD × off-axis ratio × inverse square, depth along the vertical below the skin")
        parts.append("no commissioning" if commissioning is None else
                     ("demo commissioning (illustrative, not for clinical use)" if commissioning.is_demo
                      else commissioning.describe()))
        return "; ".join(parts)

    # ----------------------------------------------------------------------------- decision support
    def recommend(self, plan: Plan, commissioning: Commissioning | None, *, isodose_percent: float = 90.0,
                  depth_margin_mm: float = 0.0, lateral_margin_mm: float = DEFAULT_LATERAL_MARGIN_MM,
                  progress=None, is_cancelled=None) -> tuple[Recommendation | None, Recommendation | None, str]:
        """(None, applicator recommendation, note): an eBx unit has one beam quality, so only the
        applicator is recommended (the smallest covering the lesion and its margin)."""
        if plan.outline is None:
            return None, None, "draw the lesion outline first"
        try:
            machine = by_id(self.machines, plan.setup.machine_id, "eBx machine")
        except UnknownChoice as err:
            return None, None, str(err)
        rec = recommend_cone(machine, plan.outline.lateral_width_mm, lateral_margin_mm)
        return None, rec, f"{machine.name} has one beam quality; only the applicator is recommended"


def _check_commissioning(entry: ApplicatorCommissioning | None, commissioning: Commissioning | None) -> list[Finding]:
    if commissioning is None or entry is None:
        return [Finding(REFUSE, "no commissioning data for this applicator: SSD and dose rate not commissioned",
                        "not-commissioned")]
    out = []
    if entry.ssd_cm.value is None:
        out.append(Finding(REFUSE, "SSD not commissioned for this applicator: no beam data can be computed",
                           "ssd-not-commissioned"))
    for value, what in ((entry.reference_dose_rate_gy_per_min, "reference dose rate"),
                        (entry.reference_depth_mm, "reference depth"),
                        (entry.timer_end_effect_min, "timer end effect")):
        if value.value is None:
            out.append(Finding(REFUSE, f"{what} not commissioned for this applicator: no dwell time",
                               "output-not-commissioned"))
    if commissioning.is_demo:
        out.append(Finding(WARN, "DEMO commissioning: SSD and dose rate are illustrative values, not measured, "
                                 "not for clinical use", "demo-commissioning"))
    return out


def _check_applicator_field(machine: Machine, applicator: Applicator, lesion_width_mm: float | None) -> list[Finding]:
    """The 50 kV applicators treat a smaller diameter than their nominal one (published edge allowance)."""
    if machine.id != XOFT_MACHINE_ID or lesion_width_mm is None:
        return []
    treatable = XOFT_TREATABLE_DIAMETER_MM.get(int(round(applicator.diameter_mm)))
    if treatable is not None and lesion_width_mm > treatable:
        return [Finding(WARN, f"the lesion ({lesion_width_mm:.2f} mm) is wider than the {applicator.label} "
                              f"applicator's treatable diameter {treatable:g} mm (field-edge allowance)",
                        "applicator-treatable-diameter")]
    return []


def _check_depth_range(depth_mm: float) -> list[Finding]:
    low, high = TYPICAL_PRESCRIPTION_DEPTH_MM
    if depth_mm > high:
        return [Finding(WARN, f"prescription depth {depth_mm:.2f} mm is beyond the {low:g}–{high:g} mm for which "
                              f"surface eBx is published ({GARCIA_MARTINEZ_2014}: lesions up to {high:g} mm)",
                        "depth-beyond-published")]
    return []
