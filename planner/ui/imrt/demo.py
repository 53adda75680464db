"""``main.py --imrt-demo [--screenshot OUT.png]``: the TG-119 phantom in the IMRT window, optimised.

With a screenshot the optimisation runs to completion first, then the window is saved as a PNG
(the default 2.5 mm dose grid and plan) and the process ends; without, the window stays open.
"""

from __future__ import annotations

import sys

from planner.core.inverse_plan import DEFAULT_DOSE_GRID_MM
from planner.core.inverse_plan_file import VolumeSource
from planner.core.recovery import RecoverySession
from planner.paths import data_dir
from planner.ui.app import SCREENSHOT_SIZE_PX
from planner.ui.imrt.window import ImrtWindow

DEMO_VOXEL_MM = DEFAULT_DOSE_GRID_MM


def run_imrt_demo(app, registry, screenshot: str | None = None) -> int:
    if not registry.inverse_planned_techniques:
        print("planner: no inverse-planned (IMRT) technique is installed", file=sys.stderr)
        return 2
    technique = registry.inverse_planned_techniques[0]
    # a screenshot must not touch the user's recovery file
    session = None if screenshot else RecoverySession(data_dir())   # kept (and locked) while the window runs
    recovery = None if session is None else session.new_imrt_recovery()
    window = ImrtWindow(technique, technique.inverse_planner.tg119_phantom(DEMO_VOXEL_MM),
                        source=VolumeSource.tg119(DEMO_VOXEL_MM), recovery=recovery)
    if screenshot:
        window.resize(*SCREENSHOT_SIZE_PX)
    window.show()
    window.optimise()
    if not screenshot:
        code = app.exec()
        session.close()
        return code
    while window.runner.busy:
        app.processEvents()
        window.runner.wait(0.05)
    for _ in range(10):
        app.processEvents()
    if window.result is None:
        print(f"planner: the demo plan was not optimised: {window.last_problem or window.last_status}",
              file=sys.stderr)
        return 1
    if not window.grab().save(screenshot):
        print(f"planner: could not write the screenshot to {screenshot}", file=sys.stderr)
        return 1
    print(f"screenshot written to {screenshot}")
    window.close()
    return 0
