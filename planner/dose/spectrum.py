"""Tungsten-anode X-ray spectra matched to a measured first half-value layer (HVL).

Why fitted filtration: a clinic knows its beam by kVp and measured first HVL (e.g. Sheu et al., JACMP
16(2), 2015: SRT-100 at 50/70/100 kV has 0.52/1.15/2.20 mm Al), not by the exact inherent and added
filtration. We therefore model the spectrum with SpekPy (Poludniowski G et al., "SpekPy v2.0 — a
software toolkit for modeling x-ray tube spectra", Med Phys 48(7):3630–3637, 2021) and solve for the
aluminium thickness that makes SpekPy's own first HVL (air-kerma HVL in Al) equal the measured one.
The fitted thickness is an *effective* filtration: it absorbs air, the tube window and anything else
between target and measurement point; it is not the physical filter of the unit.

The spectrum is photon fluence per energy bin, normalised to sum 1 (a probability per bin), bin centres
in keV with constant width `bin_width_kev`.
"""

from __future__ import annotations

import copy
import functools
import importlib.metadata
import os
from dataclasses import dataclass, field

import numpy as np

from planner.core.errors import PlannerError
from planner.dose import cache

HVL_RELATIVE_TOLERANCE = 1e-3   # the fitted spectrum's HVL must match the measured one within 0.1 %
DEFAULT_ANODE_ANGLE_DEG = 12.0  # SpekPy's customary default; the SRT-100 anode angle is not published
DEFAULT_BIN_WIDTH_KEV = 0.5
_MAX_FILTER_MM_AL = 30.0


class SpectrumFitError(PlannerError, ValueError):
    """The measured HVL cannot be reached with added aluminium at this kVp."""


@dataclass(frozen=True)
class Spectrum:
    kvp: float
    target_hvl_mm_al: float
    energies_kev: np.ndarray = field(repr=False)      # bin centres
    fluence: np.ndarray = field(repr=False)           # normalised: sums to 1
    bin_width_kev: float
    added_filtration_mm_al: float                     # fitted effective Al filtration
    achieved_hvl_mm_al: float                         # SpekPy's first HVL of the fitted spectrum
    mean_energy_kev: float
    anode_angle_deg: float
    provenance: tuple[str, ...]

    @property
    def hvl_relative_error(self) -> float:
        return self.achieved_hvl_mm_al / self.target_hvl_mm_al - 1.0


def spekpy_version() -> str:
    return importlib.metadata.version("spekpy")


def _frozen(a) -> np.ndarray:
    out = np.array(a, dtype=float)
    out.setflags(write=False)
    return out


def _base_spek(kvp: float, anode_angle_deg: float, bin_width_kev: float):
    import spekpy  # imported lazily: ~1.5 s, and only needed when a spectrum is not cached

    return spekpy.Spek(kvp=kvp, th=anode_angle_deg, dk=bin_width_kev, targ="W")


def _hvl_with(base, al_mm: float) -> float:
    s = copy.deepcopy(base)
    if al_mm > 0:
        s.filter("Al", al_mm)
    return float(s.get_hvl1())


def _fit(kvp: float, hvl_mm_al: float, anode_angle_deg: float, bin_width_kev: float) -> dict:
    from scipy.optimize import brentq

    base = _base_spek(kvp, anode_angle_deg, bin_width_kev)
    lo, hi = 0.0, _MAX_FILTER_MM_AL
    f_lo = _hvl_with(base, lo) - hvl_mm_al
    f_hi = _hvl_with(base, hi) - hvl_mm_al
    if f_lo > 0 or f_hi < 0:
        raise SpectrumFitError(
            f"HVL {hvl_mm_al:g} mm Al is outside what {kvp:g} kVp reaches with 0–{_MAX_FILTER_MM_AL:g} mm added Al "
            f"({f_lo + hvl_mm_al:.3f}–{f_hi + hvl_mm_al:.3f} mm Al)")
    # xtol in mm Al: HVL changes ~1 mm per mm Al here, so 1e-5 mm is far inside the 0.1 % target.
    al_mm = brentq(lambda t: _hvl_with(base, t) - hvl_mm_al, lo, hi, xtol=1e-5, rtol=1e-10)
    s = copy.deepcopy(base)
    if al_mm > 0:
        s.filter("Al", al_mm)
    achieved = float(s.get_hvl1())
    e, phi = s.get_spectrum()
    phi = np.clip(np.asarray(phi, dtype=float), 0.0, None)
    keep = phi > 0
    e, phi = np.asarray(e, dtype=float)[keep], phi[keep]
    return {
        "energies_kev": e.tolist(),
        "fluence": (phi / phi.sum()).tolist(),
        "added_filtration_mm_al": float(al_mm),
        "achieved_hvl_mm_al": achieved,
        "physics": str(s.state.model_parameters.physics),
        "mu_data_source": str(s.state.model_parameters.mu_data_source),
    }


@functools.lru_cache(maxsize=64)
def fitted_spectrum(kvp: float, hvl_mm_al: float, anode_angle_deg: float = DEFAULT_ANODE_ANGLE_DEG,
                    bin_width_kev: float = DEFAULT_BIN_WIDTH_KEV,
                    cache_folder: str | os.PathLike | None = None) -> Spectrum:
    """Spectrum for (kVp, measured first HVL in mm Al), tungsten anode, added Al fitted to the HVL.

    Results are cached in memory and on disk (JSON keyed by all inputs and the SpekPy version), because
    a fit takes a few seconds of SpekPy evaluations.
    """
    if kvp <= 0 or hvl_mm_al <= 0:
        raise ValueError("kVp and HVL must be positive")
    version = spekpy_version()
    inputs = {"kind": "spectrum-v1", "kvp": float(kvp), "hvl_mm_al": float(hvl_mm_al),
              "anode_angle_deg": float(anode_angle_deg), "bin_width_kev": float(bin_width_kev),
              "target": "W", "spekpy": version}
    folder = cache.cache_dir(cache_folder)
    key = cache.cache_key(inputs)
    data = cache.load_json(folder, "spectra", key)
    if data is None or data.get("inputs") != inputs:
        data = _fit(kvp, hvl_mm_al, anode_angle_deg, bin_width_kev) | {"inputs": inputs}
        try:
            cache.store_json(folder, "spectra", key, data)
        except OSError:
            pass  # a read-only cache folder only costs time
    e = _frozen(data["energies_kev"])
    phi = _frozen(data["fluence"])
    achieved = float(data["achieved_hvl_mm_al"])
    if abs(achieved / hvl_mm_al - 1.0) > HVL_RELATIVE_TOLERANCE:
        raise SpectrumFitError(f"fitted HVL {achieved:.4f} mm Al misses {hvl_mm_al:g} mm Al by more than 0.1 %")
    provenance = (
        f"SpekPy {version} (Poludniowski et al., Med Phys 48:3630, 2021), physics model {data['physics']}, "
        f"attenuation data '{data['mu_data_source']}'",
        f"tungsten target, anode angle {anode_angle_deg:g} deg, {bin_width_kev:g} keV bins",
        f"added Al fitted by Brent root-finding to first HVL {hvl_mm_al:g} mm Al: "
        f"{data['added_filtration_mm_al']:.4f} mm Al gives HVL {achieved:.4f} mm Al",
    )
    return Spectrum(
        kvp=float(kvp), target_hvl_mm_al=float(hvl_mm_al), energies_kev=e, fluence=phi,
        bin_width_kev=float(bin_width_kev), added_filtration_mm_al=float(data["added_filtration_mm_al"]),
        achieved_hvl_mm_al=achieved, mean_energy_kev=float(np.sum(e * phi)),
        anode_angle_deg=float(anode_angle_deg), provenance=provenance)



def monoenergetic(energy_kev: float) -> Spectrum:
    """A single-energy 'spectrum' for verification runs (narrow-beam attenuation, mono-energetic B_w)."""
    return Spectrum(
        kvp=float(energy_kev), target_hvl_mm_al=float("nan"), energies_kev=_frozen([energy_kev]),
        fluence=_frozen([1.0]), bin_width_kev=0.0, added_filtration_mm_al=0.0,
        achieved_hvl_mm_al=float("nan"), mean_energy_kev=float(energy_kev), anode_angle_deg=float("nan"),
        provenance=(f"monoenergetic {energy_kev:g} keV test beam (no tube model)",))
