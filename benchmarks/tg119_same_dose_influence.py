"""Planner's optimiser on pyRadPlan's own dose-influence matrix: is a plan-quality gap the optimiser or the dose model?

    bash benchmarks/pyradplan_env.sh      # once: pyRadPlan 0.5.0 in its own venv
    .venv/bin/python benchmarks/tg119_same_dose_influence.py [--grid-mm 2.5] [--tolerance 1e-5]

benchmarks/tg119_vs_pyradplan.py compares each engine's plan on its own dose model. This script takes the dose
model out of the comparison: pyRadPlan (in its own environment, a subprocess) computes its TG119.mat
dose-influence matrix on the `--grid-mm` dose grid, optimises on it with its shipped objectives and default
solver (scipy L-BFGS-B from x = 0, max_iter 500, tol 1e-5), and saves the matrix, its weights, the voxel sets
its optimiser used (overlap priorities) and the geometry the honest DVH needs. Planner's optimiser
(plugins/imrt_photon/optimise.py, scipy L-BFGS-B, the benchmark's stopping rule: max 500 iterations, relative
tolerance `--tolerance`) then minimises the same objective on that same matrix, from its own start (PTV mean
dose = 50 Gy) and from pyRadPlan's (x = 0).

Every plan's dose is the same matrix times its weights, so the plans differ only by the optimiser. Printed for
each: iterations, stop message, the shipped objective (tg119_vs_pyradplan.shipped_objective, the same masks)
and the honest DVH points the main benchmark reports (tg119_vs_pyradplan.honest_points: pyRadPlan's TG119.mat
masks on its CT grid sampled below the dose voxel, dose interpolated trilinearly): PTV D95, D10, D2, Core D10
and Body D0.03cc, as optimised and normalised to honest PTV D95 = 50 Gy.

Cost (measured 2026-12-04 with OMP_NUM_THREADS=1 taskset -c 1, load average ~5): at 2.5 mm pyRadPlan's matrix
holds 299 M non-zeros, the whole run took 15.5 min and 10.1 GB peak resident memory (GNU time); at 5 mm 2-4 min and
1.6 GB. Times here are not benchmark figures (one run, not interleaved): tg119_vs_pyradplan.py measures speed.
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
import json, sys
import numpy as np, scipy.sparse as sp, SimpleITK as sitk
from pyRadPlan import PhotonPlan, calc_dose_influence, fluence_optimization, generate_stf, load_tg119
out, grid_mm = sys.argv[1], float(sys.argv[2])
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
info = {}
weights = np.asarray(fluence_optimization(ct, cst, stf, dij, pln, opt_info=info), float).ravel()
dose = dij.compute_result_dose_grid(weights)["physical_dose"]
# the geometry tg119_vs_pyradplan.honest_points reads, exported as that benchmark's worker does: the
# structures as masks on the CT grid (3 x 3 x 2.5 mm), the dose grid's origin, spacing and shape
hu = sitk.GetArrayFromImage(sitk.Resample(ct.cube_hu, dose, sitk.Transform(), sitk.sitkLinear, 0.0))
ct_masks = {"ctmask_" + v.name: sitk.GetArrayFromImage(v.mask) > 0 for v in cst.vois}
np.savez(out + "_geometry.npz", hu=hu, origin=np.asarray(dose.GetOrigin()),
         spacing=np.asarray(dose.GetSpacing()), direction=np.asarray(dose.GetDirection()),
         ct_origin=np.asarray(ct.cube_hu.GetOrigin()), ct_spacing=np.asarray(ct.cube_hu.GetSpacing()),
         ct_direction=np.asarray(ct.cube_hu.GetDirection()), **ct_masks)
np.save(out + "_weights.npy", weights)
np.save(out + "_dose.npy", sitk.GetArrayFromImage(dose))  # [z, y, x], pyRadPlan's own product
res = info.get("result_info", {})
print(json.dumps({"rows": matrix.shape[0], "bixels": matrix.shape[1], "nnz": int(matrix.nnz),
                  "dtype": str(matrix.dtype), "objective": float(info["obj_history"][-1]),
                  "iterations": int(info.get("num_iter", -1)),
                  "message": str(res.get("message", "")) if hasattr(res, "get") else ""}))
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
            "objective": result.objective_history[-1], "message": result.message, "seconds": result.seconds,
            "weights": result.weights}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid-mm", type=float, default=2.5)
    ap.add_argument("--tolerance", type=float, default=1e-5, help="relative objective tolerance (scipy ftol)")
    args = ap.parse_args()
    if not PYRADPLAN_PYTHON.is_file():
        sys.exit("pyRadPlan's environment is missing: bash benchmarks/pyradplan_env.sh")
    print(f"nproc {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tg119_same_dij_") as work:
        script = Path(work) / "worker.py"
        script.write_text(WORKER)
        stem = str(Path(work) / "prp")
        done = subprocess.run([str(PYRADPLAN_PYTHON), str(script), stem, str(args.grid_mm)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"pyRadPlan failed:\n{done.stderr[-3000:]}")
        info = json.loads(done.stdout.strip().splitlines()[-1])
        compare(stem, info, args)
    print(f"load average after {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


def compare(stem: str, info: dict, args) -> None:
    """Planner's optimiser on pyRadPlan's saved matrix, and every plan's objective and honest DVH."""
    from tg119_vs_pyradplan import honest_points, shipped_objective

    matrix = sp.load_npz(stem + "_dij.npz").tocsr().astype(np.float32)
    masks = dict(np.load(stem + "_masks.npz"))
    geometry = np.load(stem + "_geometry.npz")  # honest_points reads it as the benchmark's export
    prp_weights = np.load(stem + "_weights.npy")
    prp_own_dose = np.load(stem + "_dose.npy")
    shape = prp_own_dose.shape  # [z, y, x]; the matrix rows are its C order (checked in the worker)
    print(f"pyRadPlan's TG119.mat dose influence, {args.grid_mm:g} mm grid: {info['rows']:,} voxels x "
          f"{info['bixels']:,} bixels, {info['nnz']:,} non-zeros ({info['dtype']}; Planner uses it as float32)")
    print(f"pyRadPlan's optimiser on it, from x = 0: {info['iterations']} iterations, objective "
          f"{info['objective']:.2f}, {info['message']!r}", flush=True)
    plans = {"pyRadPlan": prp_weights}
    runs = {}
    for zero in (False, True):
        r = planner_on(matrix, masks, args.tolerance, zero)
        name = f"Planner from {'x = 0' if zero else 'PTV mean'}"
        plans[name], runs[name] = r.pop("weights"), r
        print(f"Planner's optimiser on it, from {r['start']}: {r['iterations']} iterations, objective "
              f"{r['objective']:.2f} ({100 * (r['objective'] / info['objective'] - 1):+.2f} % against "
              f"pyRadPlan's), {r['message']!r}, {r['seconds']:.0f} s", flush=True)
    # every plan's dose: the same float32 matrix times its weights
    doses = {k: (matrix @ w.astype(np.float32)).reshape(shape).astype(np.float64) for k, w in plans.items()}
    gap = float(np.max(np.abs(doses["pyRadPlan"] - prp_own_dose)))
    print(f"pyRadPlan's weights: this float32 product against pyRadPlan's own dose, max |difference| "
          f"{gap:.2e} Gy (of max {prp_own_dose.max():.2f} Gy)")
    opt = {k: m.reshape(shape) for k, m in masks.items()}
    honest, described = honest_points(geometry, doses)
    names = list(plans)
    print(f"\nplans on pyRadPlan's own {args.grid_mm:g} mm matrix (dose = that matrix x each plan's weights)")
    print(f"{'':32s}" + "".join(f"{n:>26s}" for n in names))
    print(f"{'shipped objective, same masks':32s}" + "".join(f"{shipped_objective(doses[n], opt):26.2f}"
                                                          for n in names))
    print(f"{'  as the optimiser reported it':32s}{info['objective']:26.2f}"
          + "".join(f"{runs[n]['objective']:26.2f}" for n in names[1:]))
    print(f"{'iterations':32s}{info['iterations']:26d}" + "".join(f"{runs[n]['iterations']:26d}"
                                                                 for n in names[1:]))
    print(f"honest DVH (tg119_vs_pyradplan.honest_points: {described})")
    for title, key in (("  as optimised [Gy]", "raw"), ("  normalised honest PTV D95 = 50 Gy [Gy]", "normalised")):
        print(title)
        for label in honest["pyRadPlan"][key]:
            print(f"    {label:28s}" + "".join(f"{honest[n][key][label]:26.2f}" for n in names))
    hp = honest["pyRadPlan"]["normalised"]
    for n in names[1:]:
        hs = honest[n]["normalised"]
        verdict = [f"{k} {hs[k] - hp[k]:+.2f} Gy {'(equal or better)' if hs[k] <= hp[k] + 0.05 else '(WORSE)'}"
                   for k in ("PTV D10", "Core D10", "PTV D2", "Body D0.03cc")]
        print(f"  {n} minus pyRadPlan, honest, normalised (equal = within 0.05 Gy): " + ", ".join(verdict))


if __name__ == "__main__":
    raise SystemExit(main())
