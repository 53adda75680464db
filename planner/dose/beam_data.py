"""Beam data of one kV surface beam (PDD, profiles, backscatter factor) computed by this engine's Monte Carlo.

Why this layer: the dose formula and the GUI need a small, serialisable, provenance-carrying record, not a
simulation object. Results are cached on disk (JSON) keyed by a SHA-256 of every input and the engine,
SpekPy and xraylib versions, because a clinical-quality run takes tens of seconds; a changed input or
engine version is a cache miss, never a stale hit.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
from dataclasses import dataclass

from planner.dose import cache
from planner.dose.attenuation import xraylib_version
from planner.dose.monte_carlo import (ENGINE_VERSION, CalculationCancelled, CancelCheck, ProgressCallback,
                                      RadialFilter, SourceGeometry, simulate)
from planner.dose.spectrum import DEFAULT_ANODE_ANGLE_DEG, fitted_spectrum, spekpy_version

__all__ = ["BeamData", "Profile", "CalculationCancelled", "compute_beam_data"]

DEFAULT_PHOTONS = 1_000_000


@dataclass(frozen=True)
class Profile:
    depth_mm: float
    points: tuple[tuple[float, float], ...]        # (off-axis distance mm, % of surface central-axis dose)
    uncertainty: tuple[tuple[float, float], ...]   # (off-axis distance mm, k=1 σ in percentage points)


@dataclass(frozen=True)
class BeamData:
    kvp: float
    hvl_mm_al: float
    field_diameter_mm: float
    ssd_cm: float
    n_photons: int
    seed: int
    pdd: tuple[tuple[float, float], ...]               # (depth mm, % of surface dose), central axis
    pdd_uncertainty: tuple[tuple[float, float], ...]   # (depth mm, k=1 σ in percentage points)
    pdd_scoring_radius_mm: float
    profiles: tuple[Profile, ...]
    backscatter_factor: float
    backscatter_uncertainty: float                     # k = 1, absolute
    fitted_filtration_mm_al: float
    achieved_hvl_mm_al: float
    mean_energy_kev: float
    anode_angle_deg: float
    spectrum_provenance: tuple[str, ...]
    engine_version: str
    software_version: str
    cross_section_source: str
    filter_description: str | None
    seconds: float
    provenance: dict[str, str]

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict) -> "BeamData":
        d = dict(data)
        d["pdd"] = tuple(tuple(p) for p in d["pdd"])
        d["pdd_uncertainty"] = tuple(tuple(p) for p in d["pdd_uncertainty"])
        d["profiles"] = tuple(Profile(p["depth_mm"], tuple(tuple(x) for x in p["points"]),
                                      tuple(tuple(x) for x in p["uncertainty"])) for p in d["profiles"])
        d["spectrum_provenance"] = tuple(d["spectrum_provenance"])
        return BeamData(**d)


def _software_version() -> str:
    try:
        return importlib.metadata.version("planner")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def compute_beam_data(kvp: float, hvl_mm_al: float, field_diameter_mm: float, ssd_cm: float,
                      n_photons: int = DEFAULT_PHOTONS, seed: int = 1, *,
                      anode_angle_deg: float = DEFAULT_ANODE_ANGLE_DEG,
                      flattening_filter: RadialFilter | None = None,
                      cache_folder: str | os.PathLike | None = None, use_cache: bool = True,
                      progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None,
                      ) -> BeamData:
    """PDD, profiles (0, 2, 5 mm) and B_w for a circular cone: spectrum fitted to (kVp, HVL), then Monte Carlo.

    `progress(fraction, message)` is called after the spectrum fit and after every Monte Carlo batch;
    `is_cancelled()` is checked before each batch and raises CalculationCancelled.
    """
    inputs = {"kind": "beam-data-v1", "kvp": float(kvp), "hvl_mm_al": float(hvl_mm_al),
              "field_diameter_mm": float(field_diameter_mm), "ssd_cm": float(ssd_cm),
              "n_photons": int(n_photons), "seed": int(seed), "anode_angle_deg": float(anode_angle_deg),
              "filter": None if flattening_filter is None else flattening_filter.cache_payload(),
              "engine": ENGINE_VERSION, "spekpy": spekpy_version(), "xraylib": xraylib_version()}
    folder = cache.cache_dir(cache_folder)
    key = cache.cache_key(inputs)
    if use_cache:
        hit = cache.load_json(folder, "beam_data", key)
        if hit is not None and hit.get("inputs") == inputs:
            if progress is not None:
                progress(1.0, "Beam data from cache")
            return BeamData.from_json(hit["beam_data"])

    if is_cancelled is not None and is_cancelled():
        raise CalculationCancelled("cancelled before the spectrum fit")
    if progress is not None:
        progress(0.0, f"Fitting the {kvp:g} kV spectrum to HVL {hvl_mm_al:g} mm Al")
    spectrum = fitted_spectrum(float(kvp), float(hvl_mm_al), float(anode_angle_deg), cache_folder=cache_folder)
    geometry = SourceGeometry(ssd_cm=float(ssd_cm), field_diameter_cm=float(field_diameter_mm) / 10.0,
                              flattening_filter=flattening_filter)

    def mc_progress(fraction: float, message: str) -> None:
        if progress is not None:
            progress(0.05 + 0.95 * fraction, message)

    result = simulate(spectrum, geometry, n_photons=int(n_photons), seed=int(seed),
                      progress=mc_progress, is_cancelled=is_cancelled)

    def mm(cm):
        return round(float(cm) * 10.0, 6)

    pdd = tuple((mm(z), float(p)) for z, p in zip(result.pdd_depths_cm, result.pdd_percent))
    pdd_sigma = tuple((mm(z), float(s)) for z, s in zip(result.pdd_depths_cm, result.pdd_sigma_percent))
    profiles = tuple(
        Profile(mm(z), tuple((mm(r), float(p)) for r, p in zip(result.profile_radii_cm, result.profile_percent[k])),
                tuple((mm(r), float(s)) for r, s in zip(result.profile_radii_cm, result.profile_sigma_percent[k])))
        for k, z in enumerate(result.profile_depths_cm))
    mc = (f"Monte Carlo (this engine, {ENGINE_VERSION}), {n_photons} photons in {result.n_batches} batches, "
          f"seed {seed}, water phantom {result.phantom.radius_cm:g} cm radius × {result.phantom.depth_cm:g} cm; "
          f"cross-sections: {result.cross_sections}; spectrum: {spectrum.provenance[0]}")
    bw = result.backscatter_factor
    provenance = {
        "spectrum": "; ".join(spectrum.provenance),
        "pdd": f"{mc}; primary exact, scatter by track length within r = {mm(result.pdd_radius_cm):g} mm; "
               f"normalised to the surface dose (primary × B_w); k=1 batch uncertainties",
        "profiles": f"{mc}; primary exact (annulus average), scatter by track length in "
                    f"{mm(result.scoring.profile_bin_cm):g} mm annuli; % of surface central-axis dose",
        "backscatter_factor": f"{mc}; next-event estimator at the surface point on the central axis, water "
                              f"kerma with phantom / without (free in air); B_w = {bw.value:.4f} ± {bw.sigma:.4f} "
                              f"(k=1); disk cross-check {result.backscatter_factor_disk.value:.4f} ± "
                              f"{result.backscatter_factor_disk.sigma:.4f}",
        "validation": "B_w compared with TG-61 Table V (Ma et al., Med Phys 28:868, 2001) by "
                      "scripts/validate_backscatter.py; Table V is not an input",
    }
    beam = BeamData(
        kvp=float(kvp), hvl_mm_al=float(hvl_mm_al), field_diameter_mm=float(field_diameter_mm),
        ssd_cm=float(ssd_cm), n_photons=int(n_photons), seed=int(seed), pdd=pdd, pdd_uncertainty=pdd_sigma,
        pdd_scoring_radius_mm=mm(result.pdd_radius_cm), profiles=profiles,
        backscatter_factor=float(bw.value), backscatter_uncertainty=float(bw.sigma),
        fitted_filtration_mm_al=spectrum.added_filtration_mm_al, achieved_hvl_mm_al=spectrum.achieved_hvl_mm_al,
        mean_energy_kev=spectrum.mean_energy_kev, anode_angle_deg=spectrum.anode_angle_deg,
        spectrum_provenance=spectrum.provenance, engine_version=ENGINE_VERSION,
        software_version=_software_version(), cross_section_source=result.cross_sections,
        filter_description=None if flattening_filter is None else repr(flattening_filter.cache_payload()),
        seconds=result.seconds, provenance=provenance)
    if use_cache:
        try:
            cache.store_json(folder, "beam_data", key, {"inputs": inputs, "beam_data": beam.to_json()})
        except OSError:
            pass
    return beam
