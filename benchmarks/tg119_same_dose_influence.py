"""Planner's optimiser on pyRadPlan's own dose-influence matrix: is a plan-quality gap the optimiser or the dose model?

    bash benchmarks/pyradplan_env.sh      # once: pyRadPlan 0.5.0 in its own venv
    .venv/bin/python benchmarks/tg119_same_dose_influence.py [--grid-mm 2.5] [--tolerance 1e-5]

benchmarks/tg119_vs_pyradplan.py compares each engine's plan on its own dose model. At 2.5 mm Planner's
optimiser stops at a higher value of pyRadPlan's shipped objective than pyRadPlan does (866 against 639), and
with a tighter tolerance or pyRadPlan's start (x = 0) it still ends near 865: that is the optimum of the
objective on Planner's dose model. This script takes the dose model out of the comparison: pyRadPlan (in its
own environment, a subprocess) computes its TG119.mat dose-influence matrix on the `--grid-mm` dose grid and
the voxel sets its optimiser uses (overlap priorities), and saves them; Planner's optimiser
(plugins/imrt_photon/optimise.py, scipy L-BFGS-B, the benchmark's objectives and stopping rule: max 500
iterations, relative tolerance 1e-5) then minimises the same objective on that same matrix, from its own start
(PTV mean dose = 50 Gy) and from pyRadPlan's (x = 0). Printed: iterations, final objective and stop message of
each, beside pyRadPlan's final objective on its matrix (from `--pyradplan-objective`, as tg119_vs_pyradplan.py
printed it, or measured here when not given).

Memory: pyRadPlan's 2.5 mm matrix holds ~300 M non-zeros (float32 + int32 indices ~2.4 GB) and Planner keeps
its transpose too: ~6 GB peak. Time on 2 cores: ~4 min for pyRadPlan's matrix, 5-15 min per optimisation.
Times here are not benchmark figures (one run, not interleaved): tg119_vs_pyradplan.py measures speed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
PYRADPLAN_PYTHON = HERE / ".venv-pyradplan" / "bin" / "python"

WORKER = r'''
import json, sys, time
import numpy as np, scipy.sparse as sp, SimpleITK as sitk
from pyRadPlan import PhotonPlan, calc_dose_influence, fluence_optimization, generate_stf, load_tg119
out, grid_mm, optimise = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "optimise"
ct, cst = load_tg119()
pln = PhotonPlan(machine="Generic")
pln.prop_stf = {"gantry_angles": list(range(0, 360, 40)), "couch_angles": [0.0] * 9, "bixel_width": 5.0}
pln.prop_dose_calc = {"dose_grid": {"resolution": {"x": grid_mm, "y": grid_mm, "z": grid_mm}}}
stf = generate_stf(ct, cst, pln)
dij = calc_dose_influence(ct, cst, stf, pln)
matrix = sp.csr_matrix(dij.physical_dose.flat[0])
# the row order: compute_result_dose_grid reshapes the dose vector to [z, y, x] (x fastest)
w = np.linspace(0.5, 1.5, matrix.shape[1])
grid = sitk.GetArrayFromImage(dij.compute_result_dose_grid(w)["physical_dose"]).ravel()
assert np.allclose(grid, matrix @ w, rtol=1e-5, atol=1e-9), "dij rows are not the dose grid's C order"
opt_cst = cst.apply_overlap_priorities().resample_on_new_ct(ct.resample_to_grid(dij.dose_grid))
masks = {v.name: sitk.GetArrayFromImage(v.mask).ravel() > 0 for v in opt_cst.vois}
assert all(m.size == matrix.shape[0] for m in masks.values()), "optimiser masks off the dose grid"
sp.save_npz(out + "_dij.npz", matrix, compressed=False)
np.savez(out + "_masks.npz", **masks)
objective = None
if optimise:
    info = {}
    fluence_optimization(ct, cst, stf, dij, pln, opt_info=info)
    objective = float(info["obj_history"][-1])
print(json.dumps({"rows": matrix.shape[0], "bixels": matrix.shape[1], "nnz": int(matrix.nnz),
                  "objective": objective}))
'''


def planner_on(matrix: sp.csr_matrix, masks: dict[str, np.ndarray], tolerance: float, start_at_zero: bool) -> dict:
    """Planner's optimiser with pyRadPlan's shipped TG119 objectives on the given matrix and voxel sets."""
    from plugins.imrt_photon.optimise import Objective, OptimisationSettings, optimise_fluence

    shipped = (Objective("PTV", "min_dose", 50.0, 1000.0), Objective("PTV", "max_dose", 50.0, 1000.0),
               Objective("Core", "max_dose", 25.0, 300.0), Objective("Body", "max_dose", 30.0, 100.0))
    rows = {"PTV": np.flatnonzero(masks["OuterTarget"]), "Core": np.flatnonzero(masks["Core"]),
            "Body": np.flatnonzero(masks["BODY"])}
    result = optimise_fluence(matrix, rows, shipped,
                              OptimisationSettings(max_iterations=500, relative_tolerance=tolerance),
                              initial_weights=np.zeros(matrix.shape[1]) if start_at_zero else None)
    return {"start": "x = 0" if start_at_zero else "PTV mean dose = 50 Gy", "iterations": result.iterations,
            "objective": result.objective_history[-1], "message": result.message, "seconds": result.seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid-mm", type=float, default=2.5)
    ap.add_argument("--tolerance", type=float, default=1e-5, help="relative objective tolerance (scipy ftol)")
    ap.add_argument("--pyradplan-objective", type=float, default=None,
                    help="pyRadPlan's final objective on this grid, as tg119_vs_pyradplan.py printed it "
                         "(default: run pyRadPlan's optimiser here too, ~9 min at 2.5 mm)")
    args = ap.parse_args()
    if not PYRADPLAN_PYTHON.is_file():
        sys.exit("pyRadPlan's environment is missing: bash benchmarks/pyradplan_env.sh")
    print(f"nproc {os.cpu_count()}, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="tg119_same_dij_") as work:
        script = Path(work) / "worker.py"
        script.write_text(WORKER)
        stem = str(Path(work) / "prp")
        done = subprocess.run([str(PYRADPLAN_PYTHON), str(script), stem, str(args.grid_mm),
                               "skip" if args.pyradplan_objective is not None else "optimise"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"pyRadPlan failed:\n{done.stderr[-3000:]}")
        info = json.loads(done.stdout.strip().splitlines()[-1])
        matrix = sp.load_npz(stem + "_dij.npz").tocsr().astype(np.float32)
        masks = dict(np.load(stem + "_masks.npz"))
    target = args.pyradplan_objective if args.pyradplan_objective is not None else info["objective"]
    print(f"pyRadPlan's TG119.mat dose influence, {args.grid_mm:g} mm grid: {info['rows']:,} voxels x "
          f"{info['bixels']:,} bixels, {info['nnz']:,} non-zeros; pyRadPlan's final objective on it: {target:.1f}")
    for zero in (False, True):
        r = planner_on(matrix, masks, args.tolerance, zero)
        print(f"Planner's optimiser on it, from {r['start']}: {r['iterations']} iterations, objective "
              f"{r['objective']:.2f} ({100 * (r['objective'] / target - 1):+.2f} % against pyRadPlan's), "
              f"{r['message']!r}, {r['seconds']:.0f} s")
    print(f"load average after {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
