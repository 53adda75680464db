"""Time one outline edit in the real window: plan edit → dose recompute → isodoses and metrics
redrawn → the image view repainted. Issue 4's target: p95 ≤ 16 ms (one frame at 60 Hz).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/edit_redraw.py [--edits 200]

Each edit moves one outline vertex the way the end of a mouse drag does (the outline item takes
the new vertex and reports the edit: PlanDocument.apply → undo stack → recovery file →
DoseController → DoseOverlay, MetricsPanel, plan panel) and then forces a synchronous repaint of
the image viewport, so drawing is inside the measured time. Two vertices are timed:
an interior one and the outermost one (the lesion's width changes). The cone stays where the plan
puts it, so the dose plane is reused; a third case moves the cone itself (the plane is recomputed). Printed beside it: the engine's
recompute alone, so the share of drawing is visible. Exits 0.
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
from PySide6.QtWidgets import QApplication  # noqa: E402

from planner.core.recovery import RecoveryStore  # noqa: E402
from planner.techniques import discover_techniques  # noqa: E402
from planner.ui.main_window import MainWindow  # noqa: E402
from planner.ui.settings import AppSettings  # noqa: E402
from planner.workflow import dose_grid_axes  # noqa: E402


def stats(ms: np.ndarray) -> str:
    return f"median {np.median(ms):6.2f} ms   p95 {np.percentile(ms, 95):6.2f} ms   max {ms.max():6.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="print where the time goes (cProfile)")
    args = parser.parse_args()

    app = QApplication.instance() or QApplication([])
    scratch = Path(tempfile.mkdtemp(prefix="planner-bench-"))
    window = MainWindow(discover_techniques(), AppSettings(scratch / "planner.ini"), RecoveryStore(scratch))
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
    print(f"demo case, dose grid {len(axes[0])} × {len(axes[1])} points, {args.edits} edits per case")
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
    for name, vertex in cases.items():
        window_ms, engine_ms = [], []
        for i in range(args.edits + 10):
            t = time.perf_counter()
            if vertex is None:  # the cone's axis line dragged sideways and released
                window.view.cone_axis.setValue(plan0.cone_axis_x_mm + 0.05 * ((i % 7) - 3))
                window.view.cone_axis.sigPositionChangeFinished.emit(window.view.cone_axis)
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
        window_ms, engine_ms = np.array(window_ms), np.array(engine_ms)
        print(f"{name}")
        print(f"  edit → recompute → redraw → repaint   {stats(window_ms)}")
        print(f"  engine recompute alone                {stats(engine_ms)}")
        print(f"  share of the edit spent in the engine: {np.median(engine_ms) / np.median(window_ms):.0%} (median)")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
