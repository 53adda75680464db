"""Where Planner's IMRT optimisation spends its time, and old against new, interleaved.

    .venv/bin/python benchmarks/optimiser_profile.py [--grid-mm 5] [--repeats 3] [--compare REV]

Planner's TG-119 phantom (plugins/imrt_photon/phantom.py) on the `--grid-mm` dose grid, its dose
influence with the engine's defaults, the structures read at their voxel centres and pyRadPlan's
shipped TG119.mat objectives with the stopping rule of benchmarks/tg119_vs_pyradplan.py (at most
500 iterations, relative objective tolerance 1e-5, L-BFGS-B maxcor 20): that benchmark's
optimisation, without pyRadPlan's data or environment. Each run starts with no cached products
(as the benchmark's one optimisation per process does).

Printed per case: the optimisation's median and p95 time over the repeats, iterations, function
evaluations, the forward (D x, of every row or of the rows that can matter) and transpose (D^T g)
products per evaluation and their median time, the rest of an evaluation (objective terms,
L-BFGS-B's own step, copies), the final objective, and the process's peak memory (VmHWM). The
load average is printed before and after every repeat; the machine may be shared, so say what
else ran.

`--compare REV` also runs optimise.py and sparse_products.py as they were at git revision REV
(e.g. the commit before a change), interleaved with the working tree's: old and new see the same
load. It reports the largest difference of the final objective and of the weights.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.conditions import load, p95, print_conditions  # noqa: E402
from planner.core.inverse_plan import Objective  # noqa: E402
from plugins.imrt_photon import optimise as new_optimise  # noqa: E402
from plugins.imrt_photon import sparse_products as new_products  # noqa: E402
from plugins.imrt_photon.pencil_beam import dose_influence  # noqa: E402
from plugins.imrt_photon.phantom import tg119_c_shape  # noqa: E402

# pyRadPlan's shipped TG119.mat objectives in Planner's terms, as benchmarks/tg119_vs_pyradplan.py
SHIPPED = (Objective("PTV", "min_dose", 50.0, 1000.0), Objective("PTV", "max_dose", 50.0, 1000.0),
           Objective("Core", "max_dose", 25.0, 300.0), Objective("Body", "max_dose", 30.0, 100.0))
PACKAGE = "plugins.imrt_photon"


def modules_at(revision: str, workdir: Path):
    """optimise and sparse_products as they were at `revision`, imported under their own names."""
    loaded = {}
    for name in ("sparse_products", "optimise"):
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:plugins/imrt_photon/{name}.py"],
                              check=True, capture_output=True, text=True).stdout
        text = text.replace(f"from {PACKAGE}.sparse_products import", "from old_sparse_products import")
        path = workdir / f"old_{name}.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(f"old_{name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"old_{name}"] = module
        spec.loader.exec_module(module)
        loaded[name] = module
    return loaded["optimise"], loaded["sparse_products"]


def peak_memory_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def timed_pair(products_module):
    """Count and time the pair's two products (wrapped on the class, so the optimiser's own pair)."""
    pair_class = products_module.ForwardAndTranspose
    stats = {"dose": [], "gradient": []}
    # the forward product of every row, or (since rows are skipped) of some rows only
    methods = {"dose": "dose", "gradient": "gradient", "dose_in_runs": "dose"}
    originals = {name: getattr(pair_class, name) for name in methods if hasattr(pair_class, name)}

    def wrap(name):
        original, series = originals[name], stats[methods[name]]

        def timed(self, *args):
            t = time.perf_counter()
            out = original(self, *args)
            series.append(time.perf_counter() - t)
            return out
        return timed

    for name in originals:
        setattr(pair_class, name, wrap(name))
    return stats, lambda: [setattr(pair_class, n, f) for n, f in originals.items()]


def run(optimise_module, products_module, influence, rows, iterations, tolerance) -> dict:
    products_module._PAIRS.clear()  # no cached pair: as in a fresh process
    stats, restore = timed_pair(products_module)
    evaluations = [0]
    try:
        result = optimise_module.optimise_fluence(
            influence.dij, rows, SHIPPED,
            optimise_module.OptimisationSettings(max_iterations=iterations, relative_tolerance=tolerance),
            cancelled=lambda: evaluations.__setitem__(0, evaluations[0] + 1) or False)
    finally:
        restore()
    products_module._PAIRS.clear()
    n = max(evaluations[0], 1)
    product_s = sum(stats["dose"]) + sum(stats["gradient"])
    return {"seconds": result.seconds, "iterations": result.iterations, "evaluations": evaluations[0],
            "forward_per_eval": len(stats["dose"]) / n, "transpose_per_eval": len(stats["gradient"]) / n,
            "forward_ms": 1e3 * float(np.median(stats["dose"])) if stats["dose"] else float("nan"),
            "transpose_ms": 1e3 * float(np.median(stats["gradient"])) if stats["gradient"] else float("nan"),
            "rest_ms_per_eval": 1e3 * (result.seconds - product_s) / n,
            "objective": result.objective_history[-1], "weights": result.weights}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid-mm", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--tolerance", type=float, default=1e-5)
    ap.add_argument("--compare", metavar="REV", help="also run optimise.py and sparse_products.py of this git revision")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    print_conditions("start")
    phantom = tg119_c_shape(args.grid_mm)
    t = time.perf_counter()
    influence = dose_influence(phantom)
    print(f"TG-119 phantom {args.grid_mm:g} mm: dose influence {time.perf_counter() - t:.1f} s, "
          f"{influence.dij.shape[0]} rows x {influence.dij.shape[1]} bixels, {influence.dij.nnz / 1e6:.1f} M "
          f"non-zeros ({influence.dij.dtype}, {influence.dij.indices.dtype} indices); peak memory so far "
          f"(VmHWM) {peak_memory_mb():.0f} MB", flush=True)
    rows = {name: influence.rows_for(mask) for name, mask in phantom.masks.items()}
    cases = {"new": (new_optimise, new_products)}
    with tempfile.TemporaryDirectory() as workdir:
        if args.compare:
            cases = {f"old ({args.compare})": modules_at(args.compare, Path(workdir)), **cases}
        runs: dict[str, list[dict]] = {case: [] for case in cases}
        for repeat in range(1, args.repeats + 1):
            for case, (opt, prod) in cases.items():
                print(f"repeat {repeat}, {case}: load average before {load()}", flush=True)
                r = run(opt, prod, influence, rows, args.iterations, args.tolerance)
                runs[case].append(r)
                print(f"  {r['seconds']:.2f} s, {r['iterations']} iterations, objective {r['objective']:.4f}; "
                      f"peak memory so far {peak_memory_mb():.0f} MB", flush=True)
    print(f"\nafter: load average {load()}; peak memory (VmHWM) {peak_memory_mb():.0f} MB")
    for case, rs in runs.items():
        seconds = [r["seconds"] for r in rs]
        med = lambda key: float(np.median([r[key] for r in rs]))
        print(f"\n{case}: optimisation median {np.median(seconds):.2f} s, p95 {p95(seconds):.2f} s "
              f"({len(rs)} runs); {med('iterations'):.0f} iterations, {med('evaluations'):.0f} evaluations, "
              f"{1e3 * np.median(seconds) / max(med('iterations'), 1):.1f} ms per iteration")
        print(f"  per evaluation: {med('forward_per_eval'):.2f} forward products, of every row or of the rows "
              f"that can matter ({med('forward_ms'):.1f} ms), "
              f"{med('transpose_per_eval'):.2f} transpose products ({med('transpose_ms'):.1f} ms), "
              f"the rest {med('rest_ms_per_eval'):.1f} ms; final objective {med('objective'):.4f}")
    if len(runs) == 2:
        (_, old), (_, new) = runs.items()
        d_obj = max(abs(a["objective"] - b["objective"]) / abs(a["objective"]) for a, b in zip(old, new))
        d_w = max(float(np.abs(a["weights"] - b["weights"]).max() / np.abs(a["weights"]).max())
                  for a, b in zip(old, new))
        print(f"\nold against new: final objective differs by at most {d_obj:.2e} (relative), "
              f"weights by at most {d_w:.2e} of the largest weight")


if __name__ == "__main__":
    main()
