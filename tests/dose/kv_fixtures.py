"""Synthetic beam data for fast tests of the dose formula, plane, metrics and checks (no Monte Carlo).

PDD(z) = 100·exp(−μz) sampled every 0.5 mm to 30 mm; profiles at 0, 2, 5 mm: flat out to the
geometric field edge R·(SSD+z)/SSD, then falling linearly to 0 over 1 mm, sampled at annulus
centres 0.25, 0.75, … mm (as the Monte Carlo does), in % of the surface central-axis dose.
"""

import math

import numpy as np

from planner.dose.beam_data import BeamData, Profile

MU_PER_MM = {"50kV": 0.10, "70kV": 0.05, "100kV": 0.03}


def pdd_value(z_mm: float, mu: float) -> float:
    return 100.0 * math.exp(-mu * z_mm)


def synthetic_beam(mu_per_mm: float = 0.1, diameter_mm: float = 15.0, ssd_cm: float = 15.0, kvp: float = 50.0,
                   hvl_mm_al: float = 0.52, backscatter: float = 1.06) -> BeamData:
    z = [round(0.5 * k, 6) for k in range(61)]
    pdd = tuple((zz, pdd_value(zz, mu_per_mm)) for zz in z)
    ssd_mm = ssd_cm * 10
    radii = [0.25 + 0.5 * k for k in range(int((diameter_mm / 2 + 10) / 0.5))]
    profiles = []
    for depth in (0.0, 2.0, 5.0):
        edge = diameter_mm / 2 * (ssd_mm + depth) / ssd_mm
        cax = pdd_value(depth, mu_per_mm)
        pts = tuple((r, cax * float(np.clip(1.0 - (r - edge), 0.0, 1.0)) if r > edge else cax) for r in radii)
        profiles.append(Profile(depth, pts, tuple((r, 0.0) for r in radii)))
    return BeamData(kvp=kvp, hvl_mm_al=hvl_mm_al, field_diameter_mm=diameter_mm, ssd_cm=ssd_cm, n_photons=1, seed=0,
                    pdd=pdd, pdd_uncertainty=tuple((zz, 0.0) for zz in z), pdd_scoring_radius_mm=2.0,
                    profiles=tuple(profiles), backscatter_factor=backscatter, backscatter_uncertainty=0.001,
                    fitted_filtration_mm_al=0.5, achieved_hvl_mm_al=hvl_mm_al, mean_energy_kev=30.0,
                    anode_angle_deg=12.0, spectrum_provenance=("synthetic test fixture",),
                    engine_version="fixture", software_version="test", cross_section_source="none",
                    filter_description=None, seconds=0.0,
                    provenance={"pdd": "synthetic fixture", "profiles": "synthetic fixture",
                                "backscatter_factor": "synthetic fixture", "spectrum": "none"})


def fixture_source(energy, cone, ssd_cm):
    """beam_source for SuperficialDoseEngine: a synthetic beam per energy (μ by energy id)."""
    return synthetic_beam(MU_PER_MM[energy.id], cone.diameter_mm, ssd_cm, energy.kvp, energy.hvl_mm_al)
