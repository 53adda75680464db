"""The superficial kV dose engine: beam data (Monte Carlo or measured) → absolute dose, time, plane.

Used by the GUI (interactive, on every edit) and by the ``beam-data`` command. Monte Carlo beam data
are cached on disk (planner.dose.cache), so only the first use of an energy/cone/SSD costs time:
INTERACTIVE_PHOTONS = 300 000 histories take ≈ 2–3 s per beam on two cores and give B_w with a k=1
statistical uncertainty of ≈ 0.1 % and PDD points within ≈ 0.3 percentage points; the engine's
DEFAULT_PHOTONS (1 000 000) is for commissioning-grade reports. Measured CSV data loaded with
``load_measured`` replace the computed quantities for their energy/cone/SSD.
"""

from __future__ import annotations

import math


from planner.core.plan import Plan
from planner.dose.beam_data import BeamData, compute_beam_data
from planner.dose.commissioning import Commissioning
from planner.dose.dose_plane import BeamModel, validate_axes
from planner.dose.image_dose import (ImageDose, beam_axis_x_mm, geometry_refusal, lesion_coverage,
                                     time_unless_refused)
from planner.dose.kv_dose import (AbsoluteDose, DoseCalculationError, PrescriptionPoint, absolute_dose,
                                  surface_dose_rate_gy_per_min)
from planner.dose.measured_data import (MeasuredBeamSet, MeasuredDataError, MeasuredFile, MeasuredOutputFactors,
                                        apply_measured, data_sources, read_backscatter_csv, read_output_factors_csv,
                                        read_pdd_csv, read_profiles_csv)
from planner.dose.metrics import deepest_point
from planner.dose.result import DoseResult, dose_result
from planner.dose.plan_checks import (REFUSE, WARN, Finding, SafetyLimits, check_commissioning, check_cone,
                                      check_doses, check_energy, check_prescription_depth,
                                      refused)
from planner.dose.recommendation import (DEFAULT_DEPTH_MARGIN_MM, DEFAULT_LATERAL_MARGIN_MM, EnergyCandidate,
                                         Recommendation, recommend_energy_and_cone)
from planner.dose.tg61 import tg61_backscatter_factor, tg61_mu_en_ratio_water_air
from planner.techniques.interface import Applicator, Energy, Machine

INTERACTIVE_PHOTONS = 300_000
SEED = 1


class SuperficialDoseEngine:
    def __init__(self, machine: Machine | None = None, *, n_photons: int = INTERACTIVE_PHOTONS,
                 cache_folder=None, limits: SafetyLimits = SafetyLimits(), beam_source=None):
        """``beam_source(energy, cone, ssd_cm) -> BeamData`` replaces the Monte Carlo (tests, fixtures)."""
        if machine is None:
            from plugins.superficial_kv.machine_data import SUPERFICIAL_UNIT
            machine = SUPERFICIAL_UNIT
        self.machine = machine
        self.n_photons = int(n_photons)
        self.cache_folder = cache_folder
        self.limits = limits
        self._beam_source = beam_source
        self._measured: dict[tuple[str, str, float], MeasuredBeamSet] = {}
        self._output_factors: dict[tuple[str, float], MeasuredOutputFactors] = {}
        self._beams: dict[tuple, BeamData] = {}
        self._models: dict[tuple, BeamModel] = {}
        self._image_dose = ImageDose()

    # ----------------------------------------------------------------------------- measured data
    def load_measured(self, kind: str, path, energy_id: str, applicator_id: str, ssd_cm: float) -> MeasuredFile:
        """Load a measured 'pdd', 'profiles' or 'backscatter' CSV for one energy/cone/SSD (replaces the computed)."""
        self.machine.energy(energy_id)
        self.machine.applicator(applicator_id)
        if not (isinstance(ssd_cm, (int, float)) and math.isfinite(ssd_cm) and ssd_cm > 0):
            raise MeasuredDataError(f"SSD must be a positive number of cm, got {ssd_cm!r}")
        readers = {"pdd": read_pdd_csv, "profiles": read_profiles_csv, "backscatter": read_backscatter_csv}
        if kind not in readers:
            raise MeasuredDataError(f"kind must be one of {', '.join(readers)}, got {kind!r}")
        item = readers[kind](path)
        key = (energy_id, applicator_id, float(ssd_cm))
        current = self._measured.get(key, MeasuredBeamSet(energy_id, applicator_id, float(ssd_cm)))
        self._measured[key] = MeasuredBeamSet(**{**current.__dict__, kind: item})
        self._forget(energy_id, applicator_id, float(ssd_cm))
        return item.file

    def load_output_factors(self, path, energy_id: str, ssd_cm: float) -> MeasuredFile:
        self.machine.energy(energy_id)
        of = read_output_factors_csv(path)
        diameters = {a.diameter_mm for a in self.machine.applicators}
        if not any(abs(of.reference_cone_mm - d) < 1e-6 for d in diameters):
            raise MeasuredDataError(f"{of.file.name}: the reference cone {of.reference_cone_mm:g} mm is not a cone "
                                    f"of {self.machine.name}")
        self._output_factors[(energy_id, float(ssd_cm))] = of
        return of.file

    def clear_measured(self) -> None:
        self._measured.clear()
        self._output_factors.clear()
        self._beams.clear()
        self._models.clear()

    def _forget(self, energy_id, applicator_id, ssd_cm) -> None:
        for store in (self._beams, self._models):
            for k in [k for k in store if k[:3] == (energy_id, applicator_id, ssd_cm)]:
                del store[k]

    # ----------------------------------------------------------------------------- beam data
    def beam_data(self, energy: Energy | str, cone: Applicator | str, ssd_cm: float,
                  progress=None, is_cancelled=None) -> BeamData:
        """Monte Carlo beam data via the disk cache, with any loaded measured data substituted."""
        energy = self.machine.energy(energy) if isinstance(energy, str) else energy
        cone = self.machine.applicator(cone) if isinstance(cone, str) else cone
        if energy.hvl_mm_al is None:
            raise DoseCalculationError(f"{energy.label}: HVL not commissioned; no beam data")
        key = (energy.id, cone.id, float(ssd_cm), self.n_photons)
        hit = self._beams.get(key)
        if hit is not None:
            return hit
        measured = self._measured.get((energy.id, cone.id, float(ssd_cm)))
        if measured is not None and measured.complete:
            beam = apply_measured(None, measured, kvp=energy.kvp, hvl_mm_al=energy.hvl_mm_al,
                                  field_diameter_mm=cone.diameter_mm)
        elif self._beam_source is not None:
            beam = self._beam_source(energy, cone, float(ssd_cm))
            if measured is not None:
                beam = apply_measured(beam, measured, kvp=energy.kvp, hvl_mm_al=energy.hvl_mm_al,
                                      field_diameter_mm=cone.diameter_mm)
        else:
            beam = compute_beam_data(energy.kvp, energy.hvl_mm_al, cone.diameter_mm, float(ssd_cm),
                                     n_photons=self.n_photons, seed=SEED, cache_folder=self.cache_folder,
                                     progress=progress, is_cancelled=is_cancelled)
            if measured is not None:
                beam = apply_measured(beam, measured, kvp=energy.kvp, hvl_mm_al=energy.hvl_mm_al,
                                      field_diameter_mm=cone.diameter_mm)
        self._beams[key] = beam
        return beam

    def beam_model(self, energy: Energy, cone: Applicator, ssd_cm: float, progress=None,
                   is_cancelled=None) -> BeamModel:
        key = (energy.id, cone.id, float(ssd_cm), self.n_photons)
        model = self._models.get(key)
        if model is None:
            model = BeamModel(self.beam_data(energy, cone, ssd_cm, progress, is_cancelled))
            self._models[key] = model
        return model

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
            return dose_result(x_mm, y_mm, point, rx, findings, **known)

        if plan.setup.machine_id != self.machine.id:
            findings.append(Finding(REFUSE, f"this engine serves {self.machine.name} ({self.machine.id}), "
                                            f"not {plan.setup.machine_id!r}", "unknown-machine"))
            return result()
        outline, skin = plan.outline, plan.skin_surface
        findings += check_energy(self.machine, plan.setup.energy_id)
        findings += check_cone(self.machine, plan.setup.applicator_id,
                               None if outline is None else outline.lateral_width_mm, self.limits)
        if refused(f for f in findings if f.code in ("unknown-energy", "unknown-cone", "hvl-not-commissioned")):
            return result()
        energy = self.machine.energy(plan.setup.energy_id)
        cone = self.machine.applicator(plan.setup.applicator_id)
        entry = None if commissioning is None else commissioning.entry(energy.id, cone.id)
        findings += check_commissioning(entry, commissioning)
        if entry is None or entry.ssd_cm.value is None:
            return result()
        refusal, deepest = geometry_refusal(plan, point, cone_axis_x_mm)
        if refusal is not None:
            findings.append(refusal)
            return result()
        ssd = entry.ssd_cm.value
        model = self.beam_model(energy, cone, ssd, progress, is_cancelled)
        beam = model.beam

        rate_override = self._output_factor_rate(energy, cone, ssd, entry, commissioning, findings)
        try:
            dose = absolute_dose(plan.prescription, point, beam.pdd, hvl_mm_al=energy.hvl_mm_al,
                                 backscatter_factor=beam.backscatter_factor,
                                 backscatter_uncertainty=beam.backscatter_uncertainty, commissioning=entry,
                                 surface_dose_rate_override=rate_override)
        except DoseCalculationError as err:
            findings.append(Finding(REFUSE, str(err), "dose-calculation"))
            return result(model_description=self._describe(beam, None, commissioning))
        findings += check_prescription_depth(beam.pdd, dose.prescription_depth_mm, self.limits)
        findings += check_doses(dose, self.limits)

        axis_x = beam_axis_x_mm(plan, cone_axis_x_mm)
        grid, metrics = self._image_dose.grid_and_metrics(model, x_mm, y_mm, skin, outline, axis_x,
                                                          dose.surface_dose_gy, deepest)
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
                      data_sources=data_sources(beam))

    def _output_factor_rate(self, energy, cone, ssd, entry, commissioning, findings):
        """Ḋ_surface from measured output factors: Ḋ_surface(reference cone) × OF(cone), or None."""
        of = self._output_factors.get((energy.id, float(ssd)))
        if of is None:
            return None
        factor = of.factor(cone.diameter_mm)
        if factor is None:
            findings.append(Finding(WARN, f"{of.file.name} has no output factor for the {cone.label} cone; the "
                                          f"commissioned air-kerma rate of this cone is used", "no-output-factor"))
            return None
        ref = next(a for a in self.machine.applicators if abs(a.diameter_mm - of.reference_cone_mm) < 1e-6)
        ref_entry = commissioning.entry(energy.id, ref.id)
        if ref_entry is None or ref_entry.air_kerma_rate_gy_per_min.value is None:
            findings.append(Finding(REFUSE, f"output factors need the reference cone's ({ref.label}) air-kerma rate, "
                                            f"which is not commissioned", "output-not-commissioned"))
            return None
        ref_beam = self.beam_data(energy, ref, ssd)
        rate_ref, _ = surface_dose_rate_gy_per_min(ref_entry.air_kerma_rate_gy_per_min.value,
                                                   ref_beam.backscatter_factor, energy.hvl_mm_al)
        return rate_ref * factor, f"{of.file.describe()}: Ḋ_surface({ref.label}) × {factor:.4f}"

    def _describe(self, beam: BeamData, dose: AbsoluteDose | None, commissioning: Commissioning | None) -> str:
        if beam.n_photons > 0:
            parts = [f"Monte Carlo in water (Planner kV engine {beam.engine_version}, {beam.n_photons} photons, "
                     f"seed {beam.seed}) for {beam.kvp:g} kV, HVL {beam.hvl_mm_al:g} mm Al, "
                     f"Ø {beam.field_diameter_mm:g} mm, SSD {beam.ssd_cm:g} cm"]
        else:
            parts = [f"measured beam data for {beam.kvp:g} kV, Ø {beam.field_diameter_mm:g} mm, SSD {beam.ssd_cm:g} cm"]
        for q, text in data_sources(beam).items():
            if text.startswith("measured"):
                parts.append(f"{q}: {text}")
        parts.append(f"TG-61 in-air method, B_w = {beam.backscatter_factor:.4f} ± {beam.backscatter_uncertainty:.4f} (k=1)")
        if dose is not None and dose.mu_en_ratio_water_air is not None:
            parts.append(f"[(μen/ρ)w/air]air = {dose.mu_en_ratio_water_air:.4f} (TG-61 Table IV)")
        parts.append("dose plane: PDD × off-axis ratio × inverse square, depth along the vertical below the skin")
        parts.append("no commissioning" if commissioning is None else
                     ("demo commissioning (illustrative, not for clinical use)" if commissioning.is_demo
                      else commissioning.describe()))
        return "; ".join(parts)

    # ----------------------------------------------------------------------------- decision support
    def recommend(self, plan: Plan, commissioning: Commissioning | None, *, isodose_percent: float = 90.0,
                  depth_margin_mm: float = DEFAULT_DEPTH_MARGIN_MM,
                  lateral_margin_mm: float = DEFAULT_LATERAL_MARGIN_MM,
                  progress=None, is_cancelled=None) -> tuple[Recommendation | None, Recommendation | None, str]:
        """(energy recommendation, cone recommendation, note). Never changes the plan.

        The energy is judged with the recommended cone's PDDs (the plan's cone if none suffices).
        """
        if plan.outline is None or plan.skin_surface is None:
            return None, None, "draw the lesion outline and the skin surface first"
        if not plan.skin_surface.confirmed:
            return None, None, f"confirm or draw the skin line first ({plan.skin_surface.doubts[0]})"
        _, _, depth = deepest_point(plan.outline, plan.skin_surface)
        if depth < 0:
            return None, None, "the lesion lies above the skin surface; correct the outline or skin line"

        def candidates_for_cone(cone_id: str) -> list[EnergyCandidate]:
            cone = self.machine.applicator(cone_id)
            found = []
            for energy in self.machine.energies:
                entry = None if commissioning is None else commissioning.entry(energy.id, cone.id)
                if entry is None or entry.ssd_cm.value is None or energy.hvl_mm_al is None:
                    continue
                beam = self.beam_data(energy, cone, entry.ssd_cm.value, progress, is_cancelled)
                found.append(EnergyCandidate(energy.id, energy.kvp, beam.pdd))
            return found

        cone_rec, energy_rec = recommend_energy_and_cone(
            self.machine, plan.outline.lateral_width_mm, depth, candidates_for_cone, isodose_percent=isodose_percent,
            depth_margin_mm=depth_margin_mm, lateral_margin_mm=lateral_margin_mm)
        if energy_rec is None:
            return None, cone_rec, "no cone covers the lesion; energies not judged"
        if energy_rec.achieved_mm is None:
            return None, cone_rec, "no energy has a commissioned SSD for the recommended cone"
        cone = self.machine.applicator(cone_rec.choice_id)
        return energy_rec, cone_rec, f"energies judged with the PDDs of the {cone.label} cone"


def beam_data_report(kvp: float, hvl_mm_al: float, cone_mm: float, ssd_cm: float, *,
                     n_photons: int = INTERACTIVE_PHOTONS, progress=None, is_cancelled=None,
                     cache_folder=None) -> dict:
    """What the ``beam-data`` command prints: B_w, PDD, profiles, with provenance per quantity."""
    for name, v in (("kVp", kvp), ("HVL (mm Al)", hvl_mm_al), ("cone diameter (mm)", cone_mm), ("SSD (cm)", ssd_cm)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number, got {v!r}")
    beam = compute_beam_data(kvp, hvl_mm_al, cone_mm, ssd_cm, n_photons=n_photons, seed=SEED,
                             cache_folder=cache_folder, progress=progress, is_cancelled=is_cancelled)
    try:
        ratio = tg61_mu_en_ratio_water_air(hvl_mm_al, "mm Al")
        ratio_note = "TG-61 Table IV (Ma et al. 2001), linear in HVL"
    except ValueError as err:
        ratio, ratio_note = None, str(err)
    try:
        table_bw = tg61_backscatter_factor(hvl_mm_al, cone_mm / 10.0, ssd_cm)
        table_note = "TG-61 Table V, for comparison only (not used by the engine)"
    except ValueError as err:
        table_bw, table_note = None, str(err)
    provenance = dict(beam.provenance)
    provenance["mu_en_ratio_water_air"] = ratio_note
    provenance["tg61_backscatter_factor"] = table_note
    return {
        "kvp": beam.kvp, "hvl_mm_al": beam.hvl_mm_al, "cone_mm": beam.field_diameter_mm, "ssd_cm": beam.ssd_cm,
        "n_photons": beam.n_photons, "seed": beam.seed, "engine_version": beam.engine_version,
        "backscatter_factor": beam.backscatter_factor, "backscatter_uncertainty": beam.backscatter_uncertainty,
        "tg61_backscatter_factor": table_bw, "mu_en_ratio_water_air": ratio,
        "pdd": [[z, p] for z, p in beam.pdd], "pdd_uncertainty": [[z, s] for z, s in beam.pdd_uncertainty],
        "profiles": [{"depth_mm": p.depth_mm, "points": [[r, v] for r, v in p.points]} for p in beam.profiles],
        "fitted_filtration_mm_al": beam.fitted_filtration_mm_al, "mean_energy_kev": beam.mean_energy_kev,
        "seconds": beam.seconds, "provenance": provenance,
    }
