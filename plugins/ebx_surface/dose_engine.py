"""The eBx surface-applicator dose engine: applicator beam data → dose, dwell time, dose plane.

Beam data per applicator come from the shared kV Monte Carlo with the applicator model (point
source at the commissioned SSD, flattening filter; plugins/ebx_surface/applicator_model.py), disk-
cached like the kV beams. The absolute dose uses the applicator's commissioned reference dose
rate (plugins/ebx_surface/applicator_dose.py); the sequence from plan to dose, dwell time and
metrics is the surface techniques' one (planner.dose.surface_engine). One engine serves every
machine of the technique.
"""

from __future__ import annotations

from planner.core.plan import Plan
from planner.dose.beam_data import BeamData
from planner.dose.commissioning import Commissioning
from planner.dose.plan_checks import REFUSE, WARN, Finding, SafetyLimits, check_cone, refused
from planner.dose.recommendation import DEFAULT_LATERAL_MARGIN_MM, Recommendation, recommend_cone
from planner.dose.result import DWELL_TIME
from planner.dose.surface_engine import INTERACTIVE_PHOTONS, SEED, SurfaceDoseEngine
from planner.techniques.interface import Applicator, Energy, Machine, UnknownChoice, by_id
from plugins.ebx_surface.applicator_dose import ApplicatorDose, applicator_dose
from plugins.ebx_surface.applicator_model import applicator_beam_data
from plugins.ebx_surface.commissioning import ApplicatorCommissioning
from plugins.ebx_surface.machine_data import (GARCIA_MARTINEZ_2014, TYPICAL_PRESCRIPTION_DEPTH_MM,
                                              XOFT_MACHINE_ID, XOFT_TREATABLE_DIAMETER_MM)


class EbxDoseEngine(SurfaceDoseEngine):
    """Every eBx unit of the technique: one beam quality each, applicators at their commissioned SSD."""

    time_name = DWELL_TIME

    def __init__(self, machines: tuple[Machine, ...], *, n_photons: int = INTERACTIVE_PHOTONS, cache_folder=None,
                 limits: SafetyLimits = SafetyLimits(), beam_source=None):
        """``beam_source(machine, applicator, ssd_cm) -> BeamData`` replaces the Monte Carlo (tests)."""
        super().__init__(n_photons=n_photons, cache_folder=cache_folder, limits=limits, beam_source=beam_source)
        self.machines = tuple(machines)

    def _machine_of(self, applicator: Applicator) -> Machine:
        for machine in self.machines:
            if applicator in machine.applicators:
                return machine
        raise UnknownChoice(f"applicator {applicator.id!r} belongs to no machine of this engine")

    # ----------------------------------------------------------------------------- beam data
    def _beam_key(self, energy: Energy, applicator: Applicator, ssd_cm: float) -> tuple:
        return self._machine_of(applicator).id, applicator.id, ssd_cm

    def _new_beam_data(self, energy: Energy, applicator: Applicator, ssd_cm: float, progress,
                       is_cancelled) -> BeamData:
        """Monte Carlo beam data of one applicator at its commissioned SSD (disk-cached)."""
        machine = self._machine_of(applicator)
        if self._beam_source is not None:
            return self._beam_source(machine, applicator, ssd_cm)
        return applicator_beam_data(machine.id, applicator.id, self.n_photons, SEED, ssd_cm=ssd_cm,
                                    cache_folder=self.cache_folder, progress=progress, is_cancelled=is_cancelled)

    # ----------------------------------------------------------------------------- plan steps
    def _setup(self, plan: Plan, findings: list[Finding]) -> tuple[Machine, Energy, Applicator] | None:
        try:
            machine = by_id(self.machines, plan.setup.machine_id, "eBx machine")
            energy = machine.energy(plan.setup.energy_id)
        except UnknownChoice as err:
            findings.append(Finding(REFUSE, str(err), "unknown-machine"))
            return None
        width_mm = None if plan.outline is None else plan.outline.lateral_width_mm
        findings += check_cone(machine, plan.setup.applicator_id, width_mm, self.limits, "applicator")
        if refused(findings):
            return None
        applicator = machine.applicator(plan.setup.applicator_id)
        findings += _check_applicator_field(machine, applicator, width_mm)
        if energy.hvl_mm_al is None:
            findings.append(Finding(WARN, f"{energy.label}: the beam model uses a stand-in HVL (see the model "
                                          f"line); the clinic's measured HVL should replace it", "hvl-stand-in"))
        return machine, energy, applicator

    def _commissioning_of(self, machine: Machine, commissioning: Commissioning | None) -> Commissioning | None:
        """Another unit's commissioning does not apply."""
        return None if commissioning is None or commissioning.machine_id != machine.id else commissioning

    def _commissioning_findings(self, entry, commissioning: Commissioning | None) -> list[Finding]:
        return _check_commissioning(entry, commissioning)

    def _absolute_dose(self, plan, point, energy, applicator, beam, entry, commissioning, findings) -> ApplicatorDose:
        return applicator_dose(plan.prescription, point, beam.pdd, entry)

    def _dose_findings(self, dose: ApplicatorDose) -> list[Finding]:
        return _check_depth_range(dose.prescription_depth_mm)

    def _data_sources(self, beam: BeamData) -> dict[str, str]:
        return dict(beam.provenance)

    def _monte_carlo_text(self, beam: BeamData) -> str:
        return (f"with the eBx applicator model (flattening filter designed for a flat surface dose) for "
                f"{beam.kvp:g} kV, Ø {beam.field_diameter_mm:g} mm, SSD {beam.ssd_cm:g} cm")

    def _model_notes(self, beam: BeamData, dose: ApplicatorDose | None) -> list[str]:
        if dose is None or dose.reference_dose_rate_gy_per_min is None:
            return []
        return [f"absolute dose from the commissioned dose rate {dose.reference_dose_rate_gy_per_min:g} Gy/min "
                f"at {dose.reference_depth_mm:g} mm depth (Ḋ_surface = Ḋ_ref·100/PDD(z_ref))"]

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
