"""Time the dose recompute after an outline edit on the demo case (dose grid + metrics, no drawing).

    .venv/bin/python benchmarks/recompute_per_edit.py [--edits 200] [--repeats 3] [--photons N]

Warm-up: the beam data for the demo plan's energy/cone come from the Monte Carlo disk cache (the
first run computes them, ≈ 2–3 s), then 10 untimed recomputes of the plan. Each edit moves one
outline vertex and calls SuperficialDoseEngine.compute; two cases are timed:
  * an interior vertex (the lesion's lateral centre, hence the cone axis, is unchanged: the dose
    plane is reused, only metrics and per-fraction numbers are recomputed);
  * an extreme-left vertex moved sideways with the cone axis moved by the same amount (the cone
    is placed by the plan, so an outline edit alone no longer moves it; moving it is the full
    recompute of the 640 × 480 plane).
The cases are interleaved: for repeat 1..N each case runs once (10 untimed warm-up edits, so the
other case's last plane does not count, then `--edits` timed edits), then the next repeat, so load
drifts hit both cases alike. Prints per case the median, p95 (nearest rank) and max in ms over all
timed edits of all repeats and the range of the per-repeat medians; the date, nproc, Python and
numpy versions, and the load average at the start, after every repeat and at the end
(benchmarks/conditions.py). `--repeats` below 3 is refused. Exits 0.
Target: recompute ≤ 5 ms (p95 ≤ 16 ms with the redraw).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.conditions import add_repeats, print_conditions, run_interleaved, summary  # noqa: E402
from planner.dose.commissioning import load_demo_commissioning  # noqa: E402
from planner.dose.dose_plane import image_axes  # noqa: E402
from planner.techniques import discover_techniques  # noqa: E402
from planner.techniques.new_plan import open_demo_case  # noqa: E402
from plugins.superficial_kv.dose_engine import INTERACTIVE_PHOTONS, SuperficialDoseEngine  # noqa: E402

WARM_UP = 10


def run(engine, plan, axes, commissioning, vertex: int, edits: int) -> list[float]:
    """Timed recomputes in ms, after WARM_UP untimed edits of the same vertex."""
    outline = plan.outline
    x0, y0 = outline.vertices_mm[vertex]
    times = []
    for i in range(WARM_UP + edits):
        extreme = vertex_is_extreme(outline, vertex)
        dx = 0.05 * ((i % 7) - 3) if extreme else 0.0
        moved = plan.with_outline(outline.moved_vertex(vertex, (x0 + dx, y0 + 0.025 * ((i % 5) - 2))))
        if extreme:  # the cone follows, so the plane is recomputed
            moved = moved.with_cone_axis(plan.cone_axis_x_mm + dx)
        t = time.perf_counter()
        result = engine.compute(moved, axes, commissioning)
        elapsed = time.perf_counter() - t
        assert result.dose_grid_gy is not None and result.metrics is not None
        if i >= WARM_UP:
            times.append(elapsed * 1e3)
    return times


def vertex_is_extreme(outline, vertex: int) -> bool:
    xs = [x for x, _ in outline.vertices_mm]
    return outline.vertices_mm[vertex][0] in (min(xs), max(xs))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=200, help="timed edits per case and repeat")
    add_repeats(parser)
    parser.add_argument("--photons", type=int, default=INTERACTIVE_PHOTONS)
    args = parser.parse_args(argv)
    print_conditions("start")
    planning_image, plan = open_demo_case(discover_techniques())
    image = planning_image.image
    axes = image_axes(image.calibration, image.rows, image.cols)
    engine = SuperficialDoseEngine(n_photons=args.photons)
    commissioning = load_demo_commissioning(engine.machine)
    t = time.perf_counter()
    first = engine.compute(plan, axes, commissioning)
    print(f"warm-up (beam data from cache or Monte Carlo, {args.photons} photons): {time.perf_counter() - t:.2f} s")
    print(f"grid {first.dose_grid_gy.shape[1]} × {first.dose_grid_gy.shape[0]}; {first.model_description}")
    print(f"{args.edits} edits per case and repeat, {args.repeats} interleaved repeats")
    for _ in range(10):
        engine.compute(plan, axes, commissioning)
    assert plan.cone_axis_x_mm is not None, "the demo plan places its cone"
    xs = [x for x, _ in plan.outline.vertices_mm]
    interior = max(range(len(xs)), key=lambda k: plan.outline.vertices_mm[k][1])     # the deepest vertex
    extreme = xs.index(min(xs))
    cases = {"interior vertex (plane reused)": interior, "extreme vertex (plane recomputed)": extreme}
    results = run_interleaved(
        list(cases), args.repeats,
        lambda label: {"recompute": run(engine, plan, axes, commissioning, cases[label], args.edits)})
    for label, series in results.items():
        print(f"{label}: {summary(series['recompute'])}")
    print_conditions("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
