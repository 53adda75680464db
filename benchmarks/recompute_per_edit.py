"""Time the dose recompute after an outline edit on the demo case (dose grid + metrics, no drawing).

    .venv/bin/python benchmarks/recompute_per_edit.py [--photons N]

Warm-up: the beam data for the demo plan's energy/cone come from the Monte Carlo disk cache (the
first run computes them, ≈ 2–3 s). Then 200 edits, each moving one outline vertex and calling
SuperficialDoseEngine.compute; two cases are timed:
  * an interior vertex (the lesion's lateral centre, hence the cone axis, is unchanged: the dose
    plane is reused, only metrics and per-fraction numbers are recomputed);
  * an extreme-left vertex (the cone axis moves: the full 640 × 480 plane is recomputed).
Prints median, p95 and max in ms; exits 0. Target: recompute ≤ 5 ms (p95 ≤ 16 ms with the redraw).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.dose.commissioning import load_demo_commissioning  # noqa: E402
from planner.dose.dose_plane import image_axes  # noqa: E402
from planner.techniques import discover_techniques  # noqa: E402
from planner.workflow import open_demo_case  # noqa: E402
from plugins.superficial_kv.dose_engine import INTERACTIVE_PHOTONS, SuperficialDoseEngine  # noqa: E402

REPETITIONS = 200


def run(engine, plan, axes, commissioning, vertex: int) -> np.ndarray:
    outline = plan.outline
    x0, y0 = outline.vertices_mm[vertex]
    times = []
    for i in range(REPETITIONS):
        dx = 0.05 * ((i % 7) - 3) if vertex_is_extreme(outline, vertex) else 0.0
        moved = plan.with_outline(outline.moved_vertex(vertex, (x0 + dx, y0 + 0.025 * ((i % 5) - 2))))
        t = time.perf_counter()
        result = engine.compute(moved, axes, commissioning)
        times.append(time.perf_counter() - t)
        assert result.dose_grid_gy is not None and result.metrics is not None
    return np.array(times) * 1e3


def vertex_is_extreme(outline, vertex: int) -> bool:
    xs = [x for x, _ in outline.vertices_mm]
    return outline.vertices_mm[vertex][0] in (min(xs), max(xs))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photons", type=int, default=INTERACTIVE_PHOTONS)
    args = parser.parse_args(argv)
    planning_image, plan = open_demo_case(discover_techniques())
    image = planning_image.image
    axes = image_axes(image.calibration, image.rows, image.cols)
    engine = SuperficialDoseEngine(n_photons=args.photons)
    commissioning = load_demo_commissioning(engine.machine)
    t = time.perf_counter()
    first = engine.compute(plan, axes, commissioning)
    print(f"warm-up (beam data from cache or Monte Carlo, {args.photons} photons): {time.perf_counter() - t:.2f} s")
    print(f"grid {first.dose_grid_gy.shape[1]} × {first.dose_grid_gy.shape[0]}; {first.model_description}")
    for _ in range(10):
        engine.compute(plan, axes, commissioning)
    xs = [x for x, _ in plan.outline.vertices_mm]
    interior = max(range(len(xs)), key=lambda k: plan.outline.vertices_mm[k][1])     # the deepest vertex
    extreme = xs.index(min(xs))
    for label, vertex in (("interior vertex (plane reused)", interior), ("extreme vertex (plane recomputed)", extreme)):
        ms = run(engine, plan, axes, commissioning, vertex)
        print(f"{label}: {REPETITIONS} edits, median {np.median(ms):.2f} ms, p95 {np.percentile(ms, 95):.2f} ms, "
              f"max {ms.max():.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
