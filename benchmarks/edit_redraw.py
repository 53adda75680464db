"""Time one outline edit in the real window: plan edit → dose recompute → isodoses and metrics
redrawn → the image view repainted. Issue 4's target: p95 ≤ 16 ms (one frame at 60 Hz).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/edit_redraw.py [--edits 200] [--repeats 3]

Each edit moves one outline vertex the way the end of a mouse drag does (the outline item takes
the new vertex and reports the edit: PlanDocument.apply → undo stack → recovery file →
DoseController → DoseOverlay, MetricsPanel, plan panel) and then forces a synchronous repaint of
the image viewport, so drawing is inside the measured time. Two vertices are timed:
an interior one and the outermost one (the lesion's width changes). The cone stays where the plan
puts it, so the dose plane is reused; a third case moves the cone itself (the plane is recomputed;
after that case the cone is put back, untimed). Printed beside it: the engine's recompute alone,
so the share of drawing is visible.

The cases are interleaved: for repeat 1..N every case runs once (`--edits` timed edits after 10
untimed warm-up edits), then the next repeat, so load drifts hit every case alike. Printed per
case: median, p95 (nearest rank) and max over all timed edits of all repeats, and the range of the
per-repeat medians; the date, nproc, Python and numpy versions, and the load average at the start,
after every repeat and at the end (benchmarks/conditions.py). `--repeats` below 3 is refused.
Exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6.QtCore import qInstallMessageHandler  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from benchmarks.conditions import add_repeats, print_conditions, run_interleaved, summary  # noqa: E402
from planner.core.recovery import PLAN_NAME, RecoveryStore  # noqa: E402
from planner.dose.grid_axes import dose_grid_axes  # noqa: E402
from planner.techniques import discover_techniques  # noqa: E402
from planner.ui.main_window import MainWindow  # noqa: E402
from planner.ui.settings import AppSettings  # noqa: E402


def quiet_offscreen(mode, context, message: str) -> None:
    """Qt's messages to stderr, but for the offscreen plugin's one line per window resize."""
    if message != "This plugin does not support propagateSizeHints()":
        print(message, file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=200, help="timed edits per case and repeat")
    add_repeats(parser)
    parser.add_argument("--profile", action="store_true", help="print where the time goes (cProfile)")
    args = parser.parse_args()
    print_conditions("start")

    qInstallMessageHandler(quiet_offscreen)
    app = QApplication.instance() or QApplication([])
    scratch = Path(tempfile.mkdtemp(prefix="planner-bench-"))
    # the recovery file as a Planner instance has it (RecoverySession.plan_store): written every edit
    recovery = RecoveryStore(scratch / PLAN_NAME)
    window = MainWindow(discover_techniques(), AppSettings(scratch / "planner.ini"), recovery)
    window.ask_user = lambda *a: "Discard"
    window.resize(1400, 860)
    window.show()
    window.open_demo()
    while window.runner.busy:  # beam data: Monte Carlo or the disk cache
        app.processEvents()
        window.runner.wait(0.05)
    app.processEvents()
    assert window.dose.last_result is not None, "no dose on the demo"

    plan0 = window.document.plan
    technique = window.registry.get(plan0.setup.technique_id)
    # A second engine for the "engine alone" column, so it never reuses the plane the window's
    # engine has just cached for the same plan.
    alone = type(technique.dose_engine)(technique.machine(plan0.setup.machine_id))
    axes = dose_grid_axes(window.displayed_image)
    xs = [x for x, _ in plan0.outline.vertices_mm]
    cases = {"interior vertex": len(xs) // 2 + 3, "outermost vertex": int(np.argmin(xs)), "cone moved": None}
    print(f"demo case, dose grid {len(axes[0])} × {len(axes[1])} points, {args.edits} edits per case "
          f"and repeat, {args.repeats} interleaved repeats")
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        outer = cases["outermost vertex"]
        x0, y0 = plan0.outline.vertices_mm[outer]
        profiler.enable()
        for i in range(50):
            window.view.outline.item.set_points(
                plan0.outline.moved_vertex(outer, (x0 + 0.05 * ((i % 7) - 3), y0)).vertices_mm)
            window.view.outline.report_edit()
            window.view.viewport().repaint()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)

    def run_case(name: str) -> dict[str, list[float]]:
        vertex = cases[name]
        window_ms, engine_ms = [], []
        for i in range(args.edits + 10):
            t = time.perf_counter()
            if vertex is None:  # the cone's axis line dragged sideways and released
                move_cone(plan0.cone_axis_x_mm + 0.05 * ((i % 7) - 3))
            else:
                x0, y0 = plan0.outline.vertices_mm[vertex]
                moved = plan0.outline.moved_vertex(vertex, (x0 + 0.05 * ((i % 7) - 3), y0 + 0.025 * (i % 5)))
                window.view.outline.item.set_points(moved.vertices_mm)  # where the drag left the vertex
                window.view.outline.report_edit()  # the drag's end
            window.view.viewport().repaint()
            elapsed = time.perf_counter() - t
            edited = window.document.plan
            t = time.perf_counter()
            alone.compute(edited, axes, technique.commissioning_for(edited.setup.machine_id))
            engine = time.perf_counter() - t
            if i >= 10:  # warm-up
                window_ms.append(elapsed * 1e3)
                engine_ms.append(engine * 1e3)
        if vertex is None:  # the cone back where the plan puts it, so every repeat starts alike
            move_cone(plan0.cone_axis_x_mm)
        return {"window": window_ms, "engine": engine_ms}

    def move_cone(x_mm: float) -> None:
        window.view.cone_axis.setValue(x_mm)
        window.view.cone_axis.sigPositionChangeFinished.emit(window.view.cone_axis)

    results = run_interleaved(list(cases), args.repeats, run_case)
    for name, series in results.items():
        window_ms, engine_ms = series["window"], series["engine"]
        share = np.median(np.concatenate(engine_ms)) / np.median(np.concatenate(window_ms))
        print(f"{name}")
        print(f"  edit → recompute → redraw → repaint   {summary(window_ms)}")
        print(f"  engine recompute alone                {summary(engine_ms)}")
        print(f"  share of the edit spent in the engine: {share:.0%} (median)")
    print_conditions("end")
    assert recovery.pending(), "the edits did not reach the recovery file"
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
