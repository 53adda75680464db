"""The superficial kV dose engine: beam data (Monte Carlo or measured) → absolute dose, time, plane.

Used by the GUI (interactive, on every edit) and by the ``beam-data`` command. Monte Carlo beam data
are cached on disk (planner.dose.cache), so only the first use of an energy/cone/SSD costs time:
INTERACTIVE_PHOTONS = 300 000 histories take ≈ 2–3 s per beam on two cores and give B_w with a k=1
statistical uncertainty of ≈ 0.1 % and PDD points within ≈ 0.3 percentage points; the engine's
DEFAULT_PHOTONS (1 000 000) is for commissioning-grade reports. Measured CSV data loaded with
``load_measured`` replace the computed quantities for their energy/cone/SSD. The sequence from plan
to dose, time and metrics is the surface techniques' one (planner.dose.surface_engine).
"""

from __future__ import annotations

import math


from planner.core.plan import Plan
from planner.dose.beam_data import BeamData, compute_beam_data
from planner.dose.commissioning import Commissioning
from planner.dose.dose_plane import DoseCalculationError
from planner.dose.kv_dose import AbsoluteDose, absolute_dose, surface_dose_rate_gy_per_min
from planner.dose.measured_data import (MeasuredBeamSet, MeasuredDataError, MeasuredFile, MeasuredOutputFactors,
                                        apply_measured, data_sources, read_backscatter_csv, read_output_factors_csv,
                                        read_pdd_csv, read_profiles_csv)
from planner.dose.metrics import deepest_point
from planner.dose.plan_checks import (REFUSE, WARN, Finding, SafetyLimits, check_commissioning, check_cone,
                                      check_energy, refused)
from planner.dose.recommendation import (DEFAULT_DEPTH_MARGIN_MM, DEFAULT_LATERAL_MARGIN_MM, EnergyCandidate,
                                         Recommendation, recommend_energy_and_cone)
from planner.dose.surface_engine import INTERACTIVE_PHOTONS, SEED, SurfaceDoseEngine
from planner.dose.tg61 import tg61_backscatter_factor, tg61_mu_en_ratio_water_air
from planner.techniques.interface import Applicator, Energy, Machine


class SuperficialDoseEngine(SurfaceDoseEngine):
    """One kV unit: energies by kVp and HVL, cones; measured CSV data replace the computed ones."""

    def __init__(self, machine: Machine | None = None, *, n_photons: int = INTERACTIVE_PHOTONS,
                 cache_folder=None, limits: SafetyLimits = SafetyLimits(), beam_source=None):
        """``beam_source(energy, cone, ssd_cm) -> BeamData`` replaces the Monte Carlo (tests, fixtures)."""
        super().__init__(n_photons=n_photons, cache_folder=cache_folder, limits=limits, beam_source=beam_source)
        if machine is None:
            from plugins.superficial_kv.machine_data import SUPERFICIAL_UNIT
            machine = SUPERFICIAL_UNIT
        self.machine = machine
        self._measured: dict[tuple[str, str, float], MeasuredBeamSet] = {}
        self._output_factors: dict[tuple[str, float], MeasuredOutputFactors] = {}

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
    def beam_data(self, energy: Energy | str, applicator: Applicator | str, ssd_cm: float,
                  progress=None, is_cancelled=None) -> BeamData:
        """Monte Carlo beam data via the disk cache, with any loaded measured data substituted."""
        energy = self.machine.energy(energy) if isinstance(energy, str) else energy
        cone = self.machine.applicator(applicator) if isinstance(applicator, str) else applicator
        if energy.hvl_mm_al is None:
            raise DoseCalculationError(f"{energy.label}: HVL not commissioned; no beam data")
        return super().beam_data(energy, cone, ssd_cm, progress, is_cancelled)

    def _beam_key(self, energy: Energy, cone: Applicator, ssd_cm: float) -> tuple:
        return energy.id, cone.id, ssd_cm

    def _new_beam_data(self, energy: Energy, cone: Applicator, ssd_cm: float, progress, is_cancelled) -> BeamData:
        measured = self._measured.get((energy.id, cone.id, ssd_cm))
        if measured is not None and measured.complete:
            computed = None
        elif self._beam_source is not None:
            computed = self._beam_source(energy, cone, ssd_cm)
        else:
            computed = compute_beam_data(energy.kvp, energy.hvl_mm_al, cone.diameter_mm, ssd_cm,
                                         n_photons=self.n_photons, seed=SEED, cache_folder=self.cache_folder,
                                         progress=progress, is_cancelled=is_cancelled)
        if measured is None:
            return computed
        return apply_measured(computed, measured, kvp=energy.kvp, hvl_mm_al=energy.hvl_mm_al,
                              field_diameter_mm=cone.diameter_mm)

    # ----------------------------------------------------------------------------- plan steps
    def _setup(self, plan: Plan, findings: list[Finding]) -> tuple[Machine, Energy, Applicator] | None:
        if plan.setup.machine_id != self.machine.id:
            findings.append(Finding(REFUSE, f"this engine serves {self.machine.name} ({self.machine.id}), "
                                            f"not {plan.setup.machine_id!r}", "unknown-machine"))
            return None
        outline = plan.outline
        findings += check_energy(self.machine, plan.setup.energy_id)
        findings += check_cone(self.machine, plan.setup.applicator_id,
                               None if outline is None else outline.lateral_width_mm, self.limits)
        if refused(f for f in findings if f.code in ("unknown-energy", "unknown-cone", "hvl-not-commissioned")):
            return None
        return (self.machine, self.machine.energy(plan.setup.energy_id),
                self.machine.applicator(plan.setup.applicator_id))

    def _commissioning_findings(self, entry, commissioning: Commissioning | None) -> list[Finding]:
        return check_commissioning(entry, commissioning)

    def _absolute_dose(self, plan, point, energy, cone, beam, entry, commissioning, findings) -> AbsoluteDose:
        """TG-61 in-air dose; Ḋ_surface from measured output factors where they are loaded."""
        rate_override = self._output_factor_rate(energy, cone, entry.ssd_cm.value, entry, commissioning,
                                                  findings)
        return absolute_dose(plan.prescription, point, beam.pdd, hvl_mm_al=energy.hvl_mm_al,
                             backscatter_factor=beam.backscatter_factor,
                             backscatter_uncertainty=beam.backscatter_uncertainty, commissioning=entry,
                             surface_dose_rate_override=rate_override)

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

    def _data_sources(self, beam: BeamData) -> dict[str, str]:
        return data_sources(beam)

    def _monte_carlo_text(self, beam: BeamData) -> str:
        return (f"for {beam.kvp:g} kV, HVL {beam.hvl_mm_al:g} mm Al, Ø {beam.field_diameter_mm:g} mm, "
                f"SSD {beam.ssd_cm:g} cm")

    def _model_notes(self, beam: BeamData, dose: AbsoluteDose | None) -> list[str]:
        notes = [f"{q}: {text}" for q, text in data_sources(beam).items() if text.startswith("measured")]
        notes.append(f"TG-61 in-air method, B_w = {beam.backscatter_factor:.4f} ± "
                     f"{beam.backscatter_uncertainty:.4f} (k=1)")
        if dose is not None and dose.mu_en_ratio_water_air is not None:
            notes.append(f"[(μen/ρ)w/air]air = {dose.mu_en_ratio_water_air:.4f} (TG-61 Table IV)")
        return notes

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
