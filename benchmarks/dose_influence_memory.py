"""Peak memory and time of the TG-119 dose-influence build alone, as `planner imrt --tg119` builds
it (issue 14, point 8: Planner's peak at 2.5 mm was above pyRadPlan's).

    .venv/bin/python benchmarks/dose_influence_memory.py [--grid-mm 2.5] [--repeats 3]

Every repeat runs in its own subprocess, so each peak RSS (ru_maxrss: the whole process, imports and
phantom included) belongs to one build. Printed per repeat: peak RSS, the RSS before the build, the
build's time (wall clock, and CPU time of all threads, less sensitive to a shared machine's load),
the non-zeros, where the RSS peaked (sampled every 10 ms: seconds into the build and how many beams
were done) and SHA-256 digests of the CSR arrays (data, indices, indptr), so two versions of the
engine can be checked to give the same matrix bit for bit at full size; then the medians, and the
load average before, after every repeat and after. Nothing is asserted on time.

Measured at 2.5 mm (174 M non-zeros, 1.33 GB as CSR; 2 cores shared, load 3-5, 3 runs interleaved
with the old build, medians): peak RSS 4,695 MB with the COO join (c7fb2a5), 2,328 MB with the row-
block join (c8e9308), the same digests; build 40.8 -> 39.1 s wall, 40.1 -> 39.5 s CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_MB


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def worker(grid_mm: float) -> dict:
    """Build the matrix once in this process and describe it."""
    sys.path.insert(0, str(ROOT))  # the tree this script lies in, also when run from a copy
    import numpy as np
    from plugins.imrt_photon.planning import compute_dose_influence, default_plan, tg119_phantom

    volume = tg119_phantom(grid_mm)
    plan = default_plan(volume)
    before = rss_mb()
    beams_done: list[float] = []
    peak = {"mb": before, "s": 0.0}
    stop = threading.Event()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()

    def sample() -> None:
        while not stop.wait(0.01):
            now = rss_mb()
            if now > peak["mb"]:
                peak.update(mb=now, s=time.perf_counter() - t0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    influence = compute_dose_influence(volume, plan,
                                       progress=lambda f, m: beams_done.append(time.perf_counter() - t0))
    seconds = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    stop.set()
    sampler.join()
    dij = influence.dij
    return {"engine": sys.modules[type(influence).__module__].__file__,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_before_build_mb": before, "build_s": seconds,
            "build_cpu_s": cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, "nnz": int(dij.nnz),
            "shape": list(dij.shape), "sampled_peak_mb": peak["mb"], "sampled_peak_s": peak["s"],
            "beams_done_at_peak": sum(t <= peak["s"] for t in beams_done), "beams": len(beams_done),
            "last_beam_s": max(beams_done, default=0.0),
            "dtypes": [str(dij.data.dtype), str(dij.indices.dtype), str(dij.indptr.dtype)],
            "sha256": {name: hashlib.sha256(np.ascontiguousarray(getattr(dij, name))).hexdigest()[:16]
                       for name in ("data", "indices", "indptr")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid-mm", type=float, default=2.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.grid_mm)))
        return
    print(f"TG-119 dose influence at {args.grid_mm} mm, {args.repeats} runs, nproc {os.cpu_count()}, "
          f"load average (1, 5, 15 min) {load()}", flush=True)
    runs = []
    for r in range(1, args.repeats + 1):
        done = subprocess.run([sys.executable, __file__, "--worker", "--grid-mm", str(args.grid_mm)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"run {r} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
        run = json.loads(done.stdout.strip().splitlines()[-1])
        runs.append(run)
        print(f"run {r}: peak RSS {run['peak_rss_mb']:7.0f} MB (before the build {run['rss_before_build_mb']:.0f} MB), "
              f"build {run['build_s']:6.1f} s ({run['build_cpu_s']:.1f} s CPU, all threads), {run['nnz']:,} non-zeros {run['dtypes']}; RSS peaked "
              f"{run['sampled_peak_mb']:.0f} MB at {run['sampled_peak_s']:.1f} s with {run['beams_done_at_peak']} "
              f"of {run['beams']} beams done (last beam at {run['last_beam_s']:.1f} s); sha256 {run['sha256']}; "
              f"load average {load()}", flush=True)
        if r == 1:
            print(f"engine: {run['engine']}", flush=True)
    med = lambda key: statistics.median(run[key] for run in runs)
    same = len({json.dumps(run["sha256"]) for run in runs}) == 1
    print(f"median of {len(runs)}: peak RSS {med('peak_rss_mb'):.0f} MB, build {med('build_s'):.1f} s ({med('build_cpu_s'):.1f} s CPU); "
          f"every run the same matrix: {'yes' if same else 'NO'}; load average after {load()}")


if __name__ == "__main__":
    main()
