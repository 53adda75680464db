"""Central-axis depth dose of a kV cone from ompMC, the independent Monte Carlo the tests compare Planner with.

Run ONLY with the reference environment's interpreter (.venv-reference/bin/python, made by scripts/setup.sh):
ompMC is GPL-3, so it never enters Planner's .venv and Planner's process never imports it; the tests start this
script as a subprocess and read its JSON. It imports nothing from Planner.

    .venv-reference/bin/python tests/reference/ompmc_pdd.py requests.json results.json

requests.json holds a list of beams; results.json gets one result per beam, in order. A beam is: energies_kev
(bin centres) and bin_width_kev of a histogram spectrum; ssd_cm; scoring_radius_cm; depth_edges_cm (slab
boundaries of the scoring cylinder, from 0); phantom_radius_cm, phantom_depth_cm; n_batches;
seeds [s1, s2]; n_split; and `sources`, a list of parts of the beam, each {weights (relative photons per bin, the
spectrum of that part), inner_radius_cm, outer_radius_cm, n_histories}. A part is a point source at SSD lighting
the disc of radius outer_radius_cm on the surface (ompMC's PencilBeamSource(ssd, field_radius)); inner_radius_cm
> 0 blocks the inner disc with an ApertureMask on the surface plane, so the part is an annulus. Several parts let
the caller give each annulus of a filtered field its own spectrum, and spend histories where the axis dose needs
them.

Result of a beam: per part, the mean energy deposited per history in each slab of the scoring cylinder (the
innermost ring, r <= scoring_radius_cm; ompMC's output_dose=False, MeV) divided by the slab's mass, i.e. dose per
history in MeV/g, with its relative k=1 uncertainty from ompMC's batches; the part's open_fraction (the share of
its source disc the annulus mask lets through, from the mask's cells); the physics used and ompMC's version.

Physics (ompMC 0.4.0, EGSnrc-derived, Doerner & Caprile, Med Phys 44:6672, 2017): coupled photon-electron
transport in water H2O521ICRU from the PEGS4 file 521icru shipped in the wheel, with global ECUT = 0.521 MeV total
energy (10 keV kinetic) and PCUT = 0.010 MeV, the lowest that data set allows (its AE and AP). Photons below PCUT,
including source photons, deposit their energy where they are: that is why callers trim the spectrum at 10 keV.
Compton scattering is free-electron Klein-Nishina (ompMC: "we do not consider bound compton scattering"),
Rayleigh scattering from XCOM form factors, photoelectric absorption from XCOM with the photoelectron's direction
sampled (Sauter); electrons by condensed history with multiple scattering and spin corrections. Range rejection
(ESAVE = 0.621 MeV total energy) ends an electron only where its residual CSDA range cannot take it out of its
ring x slab region, so electrons are still transported across every scoring boundary and the surface. Measured
(100 kV, disc r <= 2 mm, 300 000 histories, same seeds): 29.4 s without it, 7.3 s with it, and no slab dose from
the surface to 20 mm changed by more than 0.17 % (their statistics: 0.2-1 %). Photon splitting at the source
(n_split) as ompMC implements it.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import ompmc

PEGS_FILE = "521icru.pegs4dat"
MEDIUM = "H2O521ICRU"
ECUT_MEV = 0.521          # total energy: 10 keV kinetic, the AE of the 521icru data
PCUT_MEV = 0.010          # the AP of the 521icru data
ESAVE_MEV = 0.621         # range rejection below 100 keV kinetic: every electron of a <= 100 kV beam qualifies
MASK_CELL_CM = 0.005      # annulus mask cells: 0.05 mm, so the stair-step edge changes the area by < 0.1 %


def _annulus_mask(inner_cm: float, outer_cm: float) -> ompmc.ApertureMask:
    """Open (1) where the cell centre lies in inner <= r <= outer on the surface plane z = 0, shut elsewhere."""
    n = int(np.ceil(2 * outer_cm / MASK_CELL_CM)) + 2
    x0 = -0.5 * n * MASK_CELL_CM
    centres = x0 + (np.arange(n) + 0.5) * MASK_CELL_CM
    r = np.hypot(centres[:, None], centres[None, :])
    open_cells = ((r >= inner_cm) & (r <= outer_cm)).astype(float)
    return ompmc.ApertureMask(z=0.0, x0=x0, y0=x0, dx=MASK_CELL_CM, dy=MASK_CELL_CM, transmission=open_cells)


def _open_fraction(mask: ompmc.ApertureMask | None, outer_cm: float) -> float:
    """Share of the source disc (radius outer_cm) that the mask lets through: 1 minus its shut cells inside it."""
    if mask is None:
        return 1.0
    n = mask.transmission.shape[0]
    centres = mask.x0 + (np.arange(n) + 0.5) * mask.dx
    r = np.hypot(centres[:, None], centres[None, :])
    shut_inside = float(np.sum((mask.transmission == 0.0) & (r <= outer_cm))) * mask.dx * mask.dy
    return 1.0 - shut_inside / (np.pi * outer_cm ** 2)


def run(request: dict) -> dict:
    e_kev = np.asarray(request["energies_kev"], dtype=float)
    half = 0.5 * float(request["bin_width_kev"])
    upper_mev = (e_kev + half) / 1000.0
    e_min_mev = (e_kev[0] - half) / 1000.0
    z_edges = np.asarray(request["depth_edges_cm"], dtype=float)
    r_c = float(request["scoring_radius_cm"])
    depth_max = float(request["phantom_depth_cm"])
    z_all = np.concatenate([z_edges, [depth_max]]) if depth_max > z_edges[-1] else z_edges
    geometry = ompmc.CylinderGeometry(r_bounds=[0.0, r_c, float(request["phantom_radius_cm"])], z_bounds=z_all,
                                      material=MEDIUM, density=1.0)
    n_slabs = z_edges.size - 1
    slab_mass_g = np.pi * r_c ** 2 * np.diff(z_edges) * 1.0
    parts = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ompmc-out-") as out:
        root = ompmc.data_path()
        for k, part in enumerate(request["sources"]):
            seeds = (int(request["seeds"][0]) + k, int(request["seeds"][1]))
            physics = ompmc.Physics(pegs_file=root / "pegs4" / PEGS_FILE, global_ecut=ECUT_MEV,
                                    global_pcut=PCUT_MEV, esave=ESAVE_MEV, n_split=int(request["n_split"]), seeds=seeds,
                                    output_folder=out)
            spectrum = ompmc.Spectrum.from_histogram(upper_mev, np.asarray(part["weights"], dtype=float),
                                                     e_min=e_min_mev)
            source = ompmc.PencilBeamSource(ssd=float(request["ssd_cm"]), field_radius=float(part["outer_radius_cm"]))
            inner = float(part.get("inner_radius_cm", 0.0))
            mask = _annulus_mask(inner, float(part["outer_radius_cm"])) if inner > 0 else None
            energy, rel_unc, summary = ompmc.calc_radial(
                geometry, source, spectrum, physics, n_histories=int(part["n_histories"]),
                n_batches=int(request["n_batches"]), charge=0, output_dose=False, collimator=mask)
            parts.append({
                "open_fraction": _open_fraction(mask, float(part["outer_radius_cm"])),
                "mev_per_g_per_history": (energy[0, :n_slabs] / slab_mass_g).tolist(),
                "relative_uncertainty": rel_unc[0, :n_slabs].tolist(),
                "n_histories": summary.n_histories, "n_started": summary.n_started,
                "n_blocked": summary.n_blocked,
            })
    return {
        "ompmc_version": ompmc.__version__,
        "physics": {"pegs_file": PEGS_FILE, "medium": MEDIUM, "ecut_mev": ECUT_MEV, "pcut_mev": PCUT_MEV,
                    "esave_mev": ESAVE_MEV,
                    "n_split": int(request["n_split"]), "n_batches": int(request["n_batches"])},
        "depth_edges_cm": z_edges.tolist(),
        "parts": parts,
        "seconds": time.perf_counter() - t0,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: ompmc_pdd.py requests.json results.json", file=sys.stderr)
        return 2
    requests = json.loads(Path(argv[1]).read_text())
    Path(argv[2]).write_text(json.dumps([run(request) for request in requests]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
