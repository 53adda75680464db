"""Beam model of each eBx surface applicator for the shared kV Monte Carlo (planner.dose).

Geometry: the engine's point source at a short source-to-surface distance (SSD), a circular field of the
applicator's nominal diameter at the skin, and a flattening filter (planner.dose.monte_carlo.RadialFilter)
designed here so that the *primary* water kerma on the design plane (default: the skin surface) is
uniform across the field.

Filter design (derived from the engine's own primary-kerma formula, so it is exact for that formula).
A ray leaving the point source at polar angle θ enters the skin at radius ρ = SSD·tan θ. On the plane at
depth z its primary water kerma per emitted photon is

    K(ρ, z) ∝ cos²θ / (SSD + z)² · Σ_E φ(E)·E·(μen/ρ)_w(E) · exp(−μ_f(E)·t(ρ)/cos θ) · exp(−μ_w(E)·z/cos θ)

(inverse square along the slant distance (SSD + z)/cos θ; slant path t/cos θ through a filter of
perpendicular thickness t(ρ), which is how RadialFilter applies it; slant path z/cos θ in water). The
edge ray (ρ = R, the field radius) is left unfiltered, t(R) = 0, and for every ρ < R we solve
K(ρ, z_design) = K(R, z_design) for t(ρ) ≥ 0 by Brent's method over the whole spectrum — no effective
attenuation coefficient, so beam hardening in the filter is included. K(ρ, t = 0) falls monotonically
with ρ and K falls monotonically with t, so the root exists and is unique. On the surface (z = 0) this
cancels the inverse-square fall-off (cos²θ); at depth it also cancels the extra oblique water path.
Phantom scatter is not compensated (it makes the centre slightly hotter than the edge region); the
validation measures the resulting total-dose flatness with the full Monte Carlo.

Spectrum and HVL. The published HVL (Esteya 1.85 mm Al) is taken to be that of the beam on the central
axis *after* the flattening filter (the only beam a user can measure with the applicator fitted). The
engine fits SpekPy's added aluminium A to that HVL; the filter's central thickness t(0) is part of it, so
the beam *before* the filter has A − t(0) mm Al, and the Monte Carlo is given the HVL of that pre-filter
beam (`pre_filter_hvl_mm_al`). t(0) depends on the spectrum and the spectrum on t(0): a fixed-point
iteration (converges in 2–3 steps, t(0) ≪ A) settles both, and the last design pass uses exactly the
spectrum the Monte Carlo will fit. The central-axis HVL of the result is checked in the tests.

Modelling assumptions (labelled in every ApplicatorModel and in the BeamData provenance):
- SSDs are NOT published for either unit (physics-data.md §3); the defaults below are assumptions for the
  model, not machine data: Esteya class 6.0 cm for every applicator (a few cm, as for a hand-held
  surface applicator; chosen before any comparison with the published figures and never adjusted to them);
  Xoft class SSD = the applicator diameter, not below 2.0 cm (the source says only that the SSD differs
  per applicator). A commissioned SSD is passed as `ssd_cm` and replaces the assumption.
- The Xoft source's HVL is NOT FOUND; the model uses 0.52 mm Al, the measured 50 kV HVL of a different
  unit (SRT-100, Sheu et al., JACMP 16(2), 2015) as a stand-in. A commissioned HVL replaces it.
- Filter material: aluminium, 2.699 g/cm³ (the real filters' material is not published); no scatter from
  the filter, applicator wall or end cap (the engine does not model them); point focal spot, so the model
  penumbra is geometric-sharp (see the validation for what this does to the published 1 mm penumbra).
- Tungsten anode, 12° (the engine's default; the eBx anode geometry is not published).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import os
from dataclasses import dataclass

import numpy as np

from planner.core.errors import PlannerError
from planner.dose.beam_data import BeamData, compute_beam_data
from planner.dose.monte_carlo import CancelCheck, ProgressCallback, RadialFilter, SourceGeometry
from planner.dose.spectrum import DEFAULT_ANODE_ANGLE_DEG, DEFAULT_BIN_WIDTH_KEV, fitted_spectrum
from planner.techniques.interface import Machine, by_id
from plugins.ebx_surface.machine_data import ESTEYA_MACHINE_ID, ESTEYA_UNIT, XOFT_MACHINE_ID, XOFT_UNIT

FILTER_FORMULA = "Al"
FILTER_DENSITY_G_CM3 = 2.699          # aluminium (NIST); the real filter material is not published
FILTER_RADII = 41                     # thickness tabulated at 41 radii from the axis to the field edge

ESTEYA_ASSUMED_SSD_CM = 6.0
XOFT_MIN_ASSUMED_SSD_CM = 2.0
XOFT_STAND_IN_HVL_MM_AL = 0.52
XOFT_STAND_IN_HVL_SOURCE = ("stand-in: measured 50 kV HVL of a different unit (SRT-100; Sheu et al., "
                            "J Appl Clin Med Phys 16(2), 2015); the Xoft HVL is NOT FOUND")


MODELLED_MACHINES = (ESTEYA_UNIT, XOFT_UNIT)


def _machine(machine_id: str) -> Machine:
    return by_id(MODELLED_MACHINES, machine_id, "machine with an eBx applicator beam model")


class ApplicatorModelError(PlannerError, ValueError):
    """The applicator cannot be modelled as asked; the message says which number and why."""


@dataclass(frozen=True)
class ApplicatorModel:
    machine_id: str
    applicator_id: str
    kvp: float
    central_axis_hvl_mm_al: float       # the (published or commissioned) HVL, after the filter
    field_diameter_mm: float
    ssd_cm: float
    design_depth_mm: float
    flattening_filter: RadialFilter
    pre_filter_hvl_mm_al: float         # HVL of the beam before the filter: what the Monte Carlo is given
    central_filter_thickness_mm: float
    fitted_filtration_mm_al: float      # SpekPy added Al that gives the central-axis HVL (includes the filter)
    anode_angle_deg: float
    assumptions: tuple[str, ...]

    @property
    def geometry(self) -> SourceGeometry:
        return SourceGeometry(self.ssd_cm, self.field_diameter_mm / 10.0, self.flattening_filter)

    def description(self) -> str:
        lines = [
            f"{self.machine_id} / {self.applicator_id}: {self.kvp:g} kV, central-axis HVL "
            f"{self.central_axis_hvl_mm_al:g} mm Al, field Ø {self.field_diameter_mm:g} mm at SSD {self.ssd_cm:g} cm",
            f"flattening filter: {FILTER_FORMULA} ({FILTER_DENSITY_G_CM3} g/cm³), {self.central_filter_thickness_mm:.4f} mm "
            f"on the axis to 0 at the field edge, designed for uniform primary kerma at "
            f"{self.design_depth_mm:g} mm depth; pre-filter HVL {self.pre_filter_hvl_mm_al:.4f} mm Al",
        ]
        lines += [f"assumption: {a}" for a in self.assumptions]
        return "\n".join(lines)


def _spek_base(kvp: float, anode_angle_deg: float):
    import spekpy

    return spekpy.Spek(kvp=kvp, th=anode_angle_deg, dk=DEFAULT_BIN_WIDTH_KEV, targ="W")


def _spek_filtered(base, al_mm: float):
    s = copy.deepcopy(base)
    if al_mm > 0:
        s.filter("Al", al_mm)
    return s


def _spek_arrays(spek) -> tuple[np.ndarray, np.ndarray]:
    e, phi = spek.get_spectrum()
    e, phi = np.asarray(e, dtype=float), np.clip(np.asarray(phi, dtype=float), 0.0, None)
    keep = phi > 0
    return e[keep], phi[keep] / phi[keep].sum()


@functools.lru_cache(maxsize=8)
def _mu_per_cm(formula: str, density: float, energies: tuple[float, ...]) -> np.ndarray:
    import xraylib

    return np.array([xraylib.CS_Total_CP(formula, float(e)) for e in energies]) * density


def design_filter(energies_kev: np.ndarray, fluence: np.ndarray, ssd_cm: float, field_radius_cm: float,
                  design_depth_cm: float = 0.0, n_radii: int = FILTER_RADII) -> RadialFilter:
    """Aluminium thickness t(ρ) that makes the primary water kerma uniform on the design plane (module doc)."""
    from scipy.optimize import brentq

    from planner.dose.attenuation import interaction_data

    if not (ssd_cm > 0 and field_radius_cm > 0 and design_depth_cm >= 0):
        raise ApplicatorModelError(f"filter design needs SSD > 0, field radius > 0 and depth ≥ 0 "
                                   f"(got {ssd_cm!r} cm, {field_radius_cm!r} cm, {design_depth_cm!r} cm)")
    water = interaction_data("water")
    e = np.asarray(energies_kev, dtype=float)
    k_e = np.asarray(fluence, dtype=float) * e * water.at("energy_absorption_cm2_g", e)
    mu_w = water.at("total_cm2_g", e) * water.material.density_g_cm3
    mu_f = _mu_per_cm(FILTER_FORMULA, FILTER_DENSITY_G_CM3, tuple(np.round(e, 4)))
    z = design_depth_cm

    def kerma(rho: float, t: float) -> float:
        cos_t = ssd_cm / math.hypot(ssd_cm, rho)
        return cos_t ** 2 * float(np.sum(k_e * np.exp(-(mu_f * t + mu_w * z) / cos_t)))

    target = kerma(field_radius_cm, 0.0)
    radii = np.linspace(0.0, field_radius_cm, n_radii)
    thickness = []
    for rho in radii[:-1]:
        t_hi = 0.01
        while kerma(rho, t_hi) > target:
            t_hi *= 2.0
            if t_hi > 10.0:
                raise ApplicatorModelError(f"no filter thickness below 10 cm flattens radius {rho:g} cm")
        thickness.append(brentq(lambda t: kerma(rho, t) - target, 0.0, t_hi, xtol=1e-9, rtol=1e-12))
    thickness.append(0.0)
    return RadialFilter(FILTER_FORMULA, FILTER_DENSITY_G_CM3, tuple(round(float(r), 8) for r in radii),
                        tuple(round(float(t), 9) for t in thickness))


def _defaults(machine_id: str, applicator_id: str) -> tuple[float, float, float, list[str]]:
    """(kVp, central-axis HVL, SSD, assumptions) for an applicator, from machine data plus labelled assumptions."""
    machine = _machine(machine_id)
    applicator = machine.applicator(applicator_id)
    energy = machine.energies[0]
    assumptions: list[str] = []
    if machine_id == ESTEYA_MACHINE_ID:
        ssd = ESTEYA_ASSUMED_SSD_CM
        ssd_note = (f"SSD {ssd:g} cm is a modelling assumption (not published; a few cm, as for a hand-held "
                    f"surface applicator) — the clinic's measured SSD replaces it")
    elif machine_id == XOFT_MACHINE_ID:
        ssd = max(XOFT_MIN_ASSUMED_SSD_CM, applicator.diameter_mm / 10.0)
        ssd_note = (f"SSD {ssd:g} cm is a modelling assumption (not published; SSD = applicator diameter, "
                    f"at least {XOFT_MIN_ASSUMED_SSD_CM:g} cm) — the clinic's measured SSD replaces it")
    else:  # a machine added to the technique without a beam model
        raise ApplicatorModelError(f"no beam model for machine {machine_id!r}")
    hvl = energy.hvl_mm_al
    if hvl is None:
        hvl = XOFT_STAND_IN_HVL_MM_AL
        assumptions.append(f"HVL {hvl:g} mm Al is a {XOFT_STAND_IN_HVL_SOURCE}")
    assumptions.append(ssd_note)
    return energy.kvp, hvl, ssd, assumptions


def applicator_model(machine_id: str, applicator_id: str, *, ssd_cm: float | None = None,
                     hvl_mm_al: float | None = None, design_depth_mm: float = 0.0,
                     anode_angle_deg: float = DEFAULT_ANODE_ANGLE_DEG,
                     cache_folder: str | os.PathLike | None = None) -> ApplicatorModel:
    """The beam model of one applicator; `ssd_cm` / `hvl_mm_al` are commissioned values replacing assumptions."""
    kvp, hvl, ssd, assumptions = _defaults(machine_id, applicator_id)
    diameter_mm = _machine(machine_id).applicator(applicator_id).diameter_mm
    for name, value in (("SSD", ssd_cm), ("HVL", hvl_mm_al)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value <= 0):
            raise ApplicatorModelError(f"commissioned {name} must be a positive number, got {value!r}")
    if not (isinstance(design_depth_mm, (int, float)) and math.isfinite(design_depth_mm)
            and 0 <= design_depth_mm <= 10):
        raise ApplicatorModelError(f"filter design depth must be 0–10 mm, got {design_depth_mm!r}")
    if ssd_cm is not None:
        ssd = float(ssd_cm)
        assumptions = [a for a in assumptions if not a.startswith("SSD")]
    if hvl_mm_al is not None:
        hvl = float(hvl_mm_al)
        assumptions = [a for a in assumptions if not a.startswith("HVL")]
    assumptions += [
        f"flattening filter material {FILTER_FORMULA} {FILTER_DENSITY_G_CM3} g/cm³ (not published), "
        f"no filter/applicator/end-cap scatter, point focal spot",
        "published HVL taken as that of the central-axis beam after the flattening filter",
        f"tungsten anode, {anode_angle_deg:g}° (eBx anode geometry not published)",
    ]

    radius_cm = diameter_mm / 20.0
    z_cm = design_depth_mm / 10.0
    central = fitted_spectrum(float(kvp), float(hvl), float(anode_angle_deg), cache_folder=cache_folder)
    total_al = central.added_filtration_mm_al
    base = _spek_base(float(kvp), float(anode_angle_deg))
    t0_mm = 0.0
    for _ in range(10):
        e, phi = _spek_arrays(_spek_filtered(base, total_al - t0_mm))
        flt = design_filter(e, phi, ssd, radius_cm, z_cm)
        t_new = flt.thickness_cm[0] * 10.0
        if t_new > total_al:
            raise ApplicatorModelError(
                f"the flattening filter needs {t_new:.3f} mm Al on the axis, more than the {total_al:.3f} mm Al "
                f"that gives HVL {hvl:g} mm Al at {kvp:g} kV: this SSD ({ssd:g} cm) and field "
                f"(Ø {diameter_mm:g} mm) cannot be flattened with an aluminium filter at this beam quality")
        converged = abs(t_new - t0_mm) < 1e-5
        t0_mm = t_new
        if converged:
            break
    pre_hvl = round(float(_spek_filtered(base, total_al - t0_mm).get_hvl1()), 5)
    # Last pass with exactly the spectrum the Monte Carlo will fit to the pre-filter HVL.
    pre = fitted_spectrum(float(kvp), pre_hvl, float(anode_angle_deg), cache_folder=cache_folder)
    flt = design_filter(pre.energies_kev, pre.fluence, ssd, radius_cm, z_cm)
    return ApplicatorModel(
        machine_id=machine_id, applicator_id=applicator_id, kvp=float(kvp), central_axis_hvl_mm_al=float(hvl),
        field_diameter_mm=float(diameter_mm), ssd_cm=float(ssd), design_depth_mm=float(design_depth_mm),
        flattening_filter=flt, pre_filter_hvl_mm_al=pre_hvl, central_filter_thickness_mm=flt.thickness_cm[0] * 10.0,
        fitted_filtration_mm_al=total_al, anode_angle_deg=float(anode_angle_deg), assumptions=tuple(assumptions))


def central_axis_hvl_mm_al(model: ApplicatorModel) -> float:
    """SpekPy first HVL of the beam the model delivers on the central axis (pre-filter fit + filter centre)."""
    pre = fitted_spectrum(model.kvp, model.pre_filter_hvl_mm_al, model.anode_angle_deg)
    base = _spek_base(model.kvp, model.anode_angle_deg)
    return float(_spek_filtered(base, pre.added_filtration_mm_al + model.central_filter_thickness_mm).get_hvl1())


def applicator_beam_data(machine_id: str, applicator_id: str, n_photons: int = 1_000_000, seed: int = 1, *,
                         ssd_cm: float | None = None, hvl_mm_al: float | None = None,
                         design_depth_mm: float = 0.0, cache_folder: str | os.PathLike | None = None,
                         use_cache: bool = True, progress: ProgressCallback | None = None,
                         is_cancelled: CancelCheck | None = None) -> BeamData:
    """PDD, profiles (0, 2, 5 mm) and B_w of one applicator from the shared Monte Carlo.

    The returned BeamData carries the applicator model (filter, pre-filter HVL, every assumption) in its
    provenance under "applicator_model". Its `hvl_mm_al` is the pre-filter HVL the engine was given; the
    central-axis (published/commissioned) HVL is in that provenance entry.
    """
    model = applicator_model(machine_id, applicator_id, ssd_cm=ssd_cm, hvl_mm_al=hvl_mm_al,
                             design_depth_mm=design_depth_mm, cache_folder=cache_folder)
    beam = compute_beam_data(model.kvp, model.pre_filter_hvl_mm_al, model.field_diameter_mm, model.ssd_cm,
                             n_photons=n_photons, seed=seed, anode_angle_deg=model.anode_angle_deg,
                             flattening_filter=model.flattening_filter, cache_folder=cache_folder,
                             use_cache=use_cache, progress=progress, is_cancelled=is_cancelled)
    return dataclasses.replace(beam, provenance={**beam.provenance, "applicator_model": model.description()})
