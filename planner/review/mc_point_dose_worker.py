"""Monte Carlo dose of weighted photon beamlets in a voxel phantom: the worker of the IMRT second check.

Run ONLY with the reference environment's interpreter (.venv-reference/bin/python, made by
scripts/setup.sh): ompMC is GPL-3, so it never enters Planner's .venv and Planner's process never
imports it. This script imports numpy and ompmc, nothing of Planner; planner.review.imrt_second_check
writes the request, starts it as a subprocess and reads its JSON.

    .venv-reference/bin/python mc_point_dose_worker.py request.npz result.json

request.npz (lengths in cm, ompMC's axis order: the first axis varies fastest, so the cube is written
Fortran-ordered here): x_bounds, y_bounds, z_bounds; density (g/cm3, nx x ny x nz, every voxel water
H2O521ICRU at that density); source (n_beams x 3), i_beam, corner, side1, side2 (beamlet rectangles
at the isocentre plane, ompmc.BeamletSource); weights (per beamlet, any scale: the dose comes back
per unit total weight); score (m x 3 voxel indices whose dose is returned); n_histories, n_batches,
seeds (2).

result.json: dose_per_unit_weight_gy and relative_uncertainty (k=1, from ompMC's batches) of each
scored voxel, the physics, ompMC's version, the histories run and the seconds. Progress goes to
stderr as lines "progress <fraction>".

Physics (ompMC 0.4.0, EGSnrc-derived: Doerner & Caprile, Med Phys 44:6672, 2017): photons from
spectra/mohan6.spectrum (Mohan, Chui, Lidofsky, Med Phys 12:595, 1985, 6 MV) leaving a point source
(the beam's source position) towards a uniformly sampled point of a beamlet's rectangle; coupled
photon-electron transport in water with ompMC's default cuts ECUT = 0.700 MeV total energy (189 keV
kinetic) and PCUT = 0.010 MeV from the PEGS4 data 521icru; no photon splitting and no range
rejection (measured on a 10 x 10 cm2 field, 1.8 cm3 scoring voxel: n_split 20 gave no more
precision per second than none, and ESAVE 2 MeV less).
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
SPECTRUM_FILE = "mohan6.spectrum"
ECUT_MEV = 0.700          # ompMC's default global ECUT (total energy)
PCUT_MEV = 0.010          # ompMC's default global PCUT
N_SPLIT = 1


def run(request: dict, progress=None) -> dict:
    density = np.asfortranarray(request["density"], dtype=np.float64)
    material = np.asfortranarray(np.ones(density.shape, dtype=np.int32))
    geometry = ompmc.Geometry(request["x_bounds"], request["y_bounds"], request["z_bounds"], [MEDIUM],
                              density, material)
    source = ompmc.BeamletSource(request["i_beam"], request["source"], request["corner"], request["side1"],
                                 request["side2"])
    weights = np.asarray(request["weights"], dtype=np.float64)
    total_weight = float(weights.sum())
    root = ompmc.data_path()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ompmc-out-") as out:
        seeds = tuple(int(s) for s in request["seeds"])
        physics = ompmc.Physics(pegs_file=root / "pegs4" / PEGS_FILE, global_ecut=ECUT_MEV, global_pcut=PCUT_MEV,
                                n_split=N_SPLIT, seeds=seeds, output_folder=out)
        spectrum = ompmc.Spectrum.from_file(root / "spectra" / SPECTRUM_FILE)
        dose, rel_unc = ompmc.calc_forward(geometry, source, weights, spectrum, physics,
                                           n_histories=int(request["n_histories"]),
                                           n_batches=int(request["n_batches"]), output_dose=True,
                                           progress=progress)
    i, j, k = np.asarray(request["score"], dtype=int).T
    return {
        "ompmc_version": ompmc.__version__,
        "physics": {"pegs_file": PEGS_FILE, "medium": MEDIUM, "spectrum": SPECTRUM_FILE, "ecut_mev": ECUT_MEV,
                    "pcut_mev": PCUT_MEV, "n_split": N_SPLIT},
        "dose_per_unit_weight_gy": (dose[i, j, k] / total_weight).tolist(),
        "relative_uncertainty": rel_unc[i, j, k].tolist(),
        "n_histories": int(request["n_histories"]),
        "seconds": time.perf_counter() - t0,
    }


def _report(fraction: float) -> None:
    print(f"progress {float(fraction):.4f}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: mc_point_dose_worker.py request.npz result.json", file=sys.stderr)
        return 2
    with np.load(argv[1]) as data:
        request = {key: data[key] for key in data.files}
    Path(argv[2]).write_text(json.dumps(run(request, progress=_report)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
