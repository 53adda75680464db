"""TG-119 C-shape with Planner and with pyRadPlan in the same run, on the same voxels (issue 8).

    bash benchmarks/pyradplan_env.sh            # once: pyRadPlan in its own venv
    .venv/bin/python benchmarks/tg119_vs_pyradplan.py [--repeats 3] [--grid-mm 5]

pyRadPlan (matRad in Python) runs in benchmarks/.venv-pyradplan as a subprocess: it loads its
shipped TG119.mat (3 x 3 x 2.5 mm CT), plans 9 beams at 0, 40, ... 320 deg, 5 mm bixels, on a 5 mm
dose grid with its shipped objectives, and writes the dose grid, the CT density and structure masks
resampled to that grid, its isocentre and timings. Planner then plans on exactly those voxels
(same grid, isocentre, beams, bixel size), in its own subprocess so that both peak memories
(ru_maxrss, whole process including imports) are measured alike. Both plans are evaluated on the
same masks, raw and normalised to PTV D95 = 50 Gy as TG-119 plans are.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYRADPLAN_PYTHON = HERE / ".venv-pyradplan" / "bin" / "python"

PYRADPLAN_WORKER = r'''
import json, resource, sys, time
import numpy as np
import SimpleITK as sitk
t_import = time.perf_counter()
from pyRadPlan import (PhotonPlan, calc_dose_influence, fluence_optimization, generate_stf,
                       load_tg119)
t_import = time.perf_counter() - t_import
out, grid_mm = sys.argv[1], float(sys.argv[2])
ct, cst = load_tg119()
pln = PhotonPlan(machine="Generic")
pln.prop_stf = {"gantry_angles": list(range(0, 360, 40)), "couch_angles": [0.0] * 9,
                "bixel_width": 5.0}
pln.prop_dose_calc = {"dose_grid": {"resolution": {"x": grid_mm, "y": grid_mm, "z": grid_mm}}}
stf = generate_stf(ct, cst, pln)
t0 = time.perf_counter()
dij = calc_dose_influence(ct, cst, stf, pln)
t_dij = time.perf_counter() - t0
t0 = time.perf_counter()
w = fluence_optimization(ct, cst, stf, dij, pln)
t_opt = time.perf_counter() - t0
dose = dij.compute_result_dose_grid(w)["physical_dose"]
dose_arr = sitk.GetArrayFromImage(dose)  # [z, y, x]
g = dij.dose_grid
# structure masks and density on the dose grid (nearest neighbour from the CT grid)
def to_dose_grid(img, interp):
    return sitk.GetArrayFromImage(sitk.Resample(img, dose, sitk.Transform(), interp, 0.0))
hu = to_dose_grid(ct.cube_hu, sitk.sitkLinear)
masks = {v.name: to_dose_grid(sitk.Cast(v.mask, sitk.sitkFloat32), sitk.sitkNearestNeighbor) > 0.5
         for v in cst.vois}
iso = np.asarray(stf.beams[0].iso_center, dtype=float)
np.savez_compressed(out, dose_gy=dose_arr, hu=hu, origin=np.asarray(dose.GetOrigin()),
                    spacing=np.asarray(dose.GetSpacing()), iso=iso,
                    **{"mask_" + k: m for k, m in masks.items()})
print(json.dumps({"dij_s": t_dij, "opt_s": t_opt, "import_s": t_import,
                  "bixels": int(dij.total_num_of_bixels),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''

PLANNER_WORKER = r'''
import json, resource, sys, time
sys.path.insert(0, sys.argv[3])
import numpy as np
from planner.core.volume import PlanningVolume, VoxelGrid
from plugins.imrt_photon.pencil_beam import dose_influence, BeamSettings
from plugins.imrt_photon.optimise import optimise_fluence, OptimisationSettings
from plugins.imrt_photon.optimise import Objective
from plugins.imrt_photon.plans import TG119_OBJECTIVES
# pyRadPlan's shipped TG119.mat objectives, in Planner's terms (squared deviation = min + max)
SHIPPED = (Objective("PTV", "min_dose", 50.0, 1000.0), Objective("PTV", "max_dose", 50.0, 1000.0),
           Objective("Core", "max_dose", 25.0, 300.0), Objective("Body", "max_dose", 30.0, 100.0))
objectives = SHIPPED if sys.argv[5] == "pyradplan" else TG119_OBJECTIVES
d = np.load(sys.argv[1])
masks_zyx = {k[5:]: d[k] for k in d.files if k.startswith("mask_")}
to_xyz = lambda a: np.ascontiguousarray(np.transpose(a, (2, 1, 0)))
shape = to_xyz(d["hu"]).shape
axes = [d["origin"][i] + d["spacing"][i] * np.arange(shape[i]) for i in range(3)]
# relative electron density from HU (water 0 HU = 1); air outside the body = 0
density = np.clip(1.0 + to_xyz(d["hu"]) / 1000.0, 0.0, None).astype(np.float32)
masks = {"PTV": to_xyz(masks_zyx["OuterTarget"]), "Core": to_xyz(masks_zyx["Core"]),
         "Body": to_xyz(masks_zyx["BODY"])}
density[~masks["Body"]] = 0.0
phantom = PlanningVolume(VoxelGrid(*axes), density, masks, tuple(float(v) for v in d["iso"]))
t0 = time.perf_counter()
inf = dose_influence(phantom, settings=BeamSettings(bixel_width_mm=5.0))
t_dij = time.perf_counter() - t0
rows = {n: inf.rows_for(m) for n, m in masks.items()}
res = optimise_fluence(inf.dij, rows, objectives,
                       OptimisationSettings(max_iterations=int(sys.argv[4])))
dose = inf.dose_grid_gy(res.weights, shape)
np.save(sys.argv[2], np.transpose(dose, (2, 1, 0)))
print(json.dumps({"dij_s": t_dij, "opt_s": res.seconds, "bixels": len(inf.bixels),
                  "nnz": int(inf.dij.nnz), "iterations": res.iterations,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def run_json(cmd: list[str]) -> dict:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def metrics(dose_zyx: np.ndarray, masks: dict[str, np.ndarray], scale: float = 1.0) -> dict:
    q = lambda name, v: float(np.quantile(dose_zyx[masks[name]] * scale, 1.0 - v))
    return {"PTV D95": q("OuterTarget", 0.95), "PTV D10": q("OuterTarget", 0.10),
            "Core D10": q("Core", 0.10)}


def normalised(dose_zyx, masks):
    return metrics(dose_zyx, masks, 50.0 / np.quantile(dose_zyx[masks["OuterTarget"]], 0.05))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="Planner repeats (median reported)")
    ap.add_argument("--pyradplan-repeats", type=int, default=1)
    ap.add_argument("--grid-mm", type=float, default=5.0)
    ap.add_argument("--iterations", type=int, default=100, help="Planner's L-BFGS-B iterations")
    args = ap.parse_args()
    if not PYRADPLAN_PYTHON.exists():
        sys.exit("run: bash benchmarks/pyradplan_env.sh")
    work = Path(tempfile.mkdtemp(prefix="tg119_bench_"))
    with open(work / "prp.py", "w") as f:
        f.write(PYRADPLAN_WORKER)
    with open(work / "planner.py", "w") as f:
        f.write(PLANNER_WORKER)
    prp_runs = []
    for i in range(args.pyradplan_repeats):
        print(f"pyRadPlan run {i + 1} ...", flush=True)
        prp_runs.append(run_json([str(PYRADPLAN_PYTHON), str(work / "prp.py"),
                                  str(work / "prp.npz"), str(args.grid_mm)]))
    data = np.load(work / "prp.npz")
    masks = {k[5:]: data[k] for k in data.files if k.startswith("mask_")}
    prp_dose = data["dose_gy"]
    pl_runs = []
    for i in range(args.repeats):
        print(f"Planner run {i + 1} ...", flush=True)
        pl_runs.append(run_json([sys.executable, str(work / "planner.py"), str(work / "prp.npz"),
                                 str(work / "planner_dose.npy"), str(ROOT), str(args.iterations),
                                 "planner"]))
    pl_dose = np.load(work / "planner_dose.npy")
    print("Planner with pyRadPlan's shipped objectives ...", flush=True)
    shipped = run_json([sys.executable, str(work / "planner.py"), str(work / "prp.npz"),
                        str(work / "planner_shipped.npy"), str(ROOT), str(args.iterations),
                        "pyradplan"])
    shipped_dose = np.load(work / "planner_shipped.npy")

    med = lambda runs, k: float(np.median([r[k] for r in runs]))
    rows = [("dose influence [s]", "dij_s"), ("optimisation [s]", "opt_s"),
            ("peak memory [MB]", "peak_rss_mb")]
    print(f"\nTG-119 C-shape, 9 beams, 5 mm bixels, {args.grid_mm:g} mm dose grid, same voxels "
          f"(pyRadPlan's TG119.mat); medians of {args.pyradplan_repeats} pyRadPlan and "
          f"{args.repeats} Planner runs")
    print(f"bixels: pyRadPlan {prp_runs[0]['bixels']}, Planner {pl_runs[0]['bixels']} "
          f"(dij nnz {pl_runs[0]['nnz']:,}, {pl_runs[0]['iterations']} iterations)")
    print(f"{'':28s}{'pyRadPlan':>12s}{'Planner':>12s}{'ratio':>10s}")
    for label, key in rows:
        a, b = med(prp_runs, key), med(pl_runs, key)
        print(f"{label:28s}{a:12.2f}{b:12.2f}{a / b:9.1f}x")
    a = med(prp_runs, "dij_s") + med(prp_runs, "opt_s")
    b = med(pl_runs, "dij_s") + med(pl_runs, "opt_s")
    print(f"{'dose influence + optimisation':28s}{a:12.2f}{b:12.2f}{a / b:9.1f}x")
    print(f"Planner with pyRadPlan's shipped objectives: {shipped['dij_s']:.2f} s + "
          f"{shipped['opt_s']:.2f} s (last column below)")
    print(f"{'':28s}{'pyRadPlan':>12s}{'Planner':>12s}{'Pl.shipped':>12s}")
    for title, fn in (("as optimised", metrics), ("normalised PTV D95 = 50 Gy", normalised)):
        mp, ml, ms = fn(prp_dose, masks), fn(pl_dose, masks), fn(shipped_dose, masks)
        print(f"{title} [Gy]:")
        for k in mp:
            print(f"  {k:26s}{mp[k]:12.1f}{ml[k]:12.1f}{ms[k]:12.1f}")
    print("TG-119 goals: PTV D95 >= 50, PTV D10 <= 55, Core D10 <= 25 (harder: 10) Gy")


if __name__ == "__main__":
    main()
