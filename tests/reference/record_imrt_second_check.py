"""Run the Monte Carlo of every request of tests/review/test_imrt_second_check.py and record its answers.

    OMP_NUM_THREADS=2 .venv/bin/python -m tests.reference.record_imrt_second_check [--remake-tg119-plan]

Writes tests/reference/imrt_second_check_recorded.json: ompMC's answer to each request (the calibration
field, the open square fields of the output commissioning, the open field on water, the TG-119 plan) under the digest of the request and of the worker script
(planner/review/mc_point_dose_worker.py). The tests use a recorded answer only when today's request has
the same digest, and run the Monte Carlo otherwise; so run this after changing the worker, the histories,
the beamlet cells, the scoring region or the test's packages, and commit the file with the change.
Measured on two cores: about 30 minutes from nothing (the 10 x 10 output-factor field, 12 M histories, about 6
of them). The TG-119 plan is the stored export the tests read (tests/tg119_recorded_plan.py); with
--remake-tg119-plan it is first made again with today's code (`planner imrt --tg119 --grid-mm 5`) and replaces it.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from planner.review import imrt_second_check as isc
from tests.cli_runner import planner
from tests.review.test_imrt_second_check import RECORDED, WATER_HISTORIES, WATER_POINT_MM, water_phantom_package
from tests.tg119_recorded_plan import TG119_EXPORT, TG119_GRID_MM


def main(argv: list[str]) -> int:
    t0 = time.perf_counter()
    used: set[str] = set()
    digest = isc._digest

    def remember(arrays):  # the file keeps only the answers today's requests use
        used.add(key := digest(arrays))
        return key

    isc._digest = remember
    calibration = isc.mc_calibration(RECORDED)
    print(f"calibration: d_max {calibration.dmax_mm:.1f} mm, PDD(10) {calibration.pdd10_percent:.2f} %, "
          f"dose per unit weight at d_max {calibration.dose_per_unit_weight_at_dmax_gy:.5e} Gy "
          f"(± {calibration.uncertainty_percent:.2f} %), {calibration.seconds:.0f} s")
    commissioning = isc.output_commissioning(RECORDED)
    print(f"output commissioning at {commissioning.depth_cm:g} cm ({commissioning.source}):")
    for row in zip(commissioning.side_cm, commissioning.measured, commissioning.mc,
                   commissioning.mc_uncertainty_percent, commissioning.k):
        print("  side {:4g} cm: measured {:.3f}, Monte Carlo {:.4f} (± {:.2f} % k=1), k {:.4f}".format(*row))
    with tempfile.TemporaryDirectory(prefix="imrt-check-record-") as tmp:
        water = isc.imrt_second_check(water_phantom_package(Path(tmp) / "water"), point_mm=WATER_POINT_MM,
                                      cache_path=RECORDED, n_histories=WATER_HISTORIES)
        print(f"open field: {water.message}; {water.seconds:.0f} s")
        if "--remake-tg119-plan" in argv:
            out = Path(tmp) / "tg119"
            ran = planner("imrt", "--tg119", "--grid-mm", f"{TG119_GRID_MM:g}", "--out", out)
            if ran.returncode != 0:
                print(ran.stderr, file=sys.stderr)
                return 1
            shutil.rmtree(TG119_EXPORT, ignore_errors=True)
            shutil.copytree(out, TG119_EXPORT)
            print(f"remade {TG119_EXPORT}: commit it with the answers")
        tg119 = isc.imrt_second_check(TG119_EXPORT, cache_path=RECORDED)
        print(f"TG-119 at {tg119.point_mm} mm ({tg119.point_choice}): {tg119.message}; {tg119.seconds:.0f} s")
        print(f"  its MU-weighted mean k {tg119.output_correction.mu_weighted_k:.4f}, "
              f"{100 * tg119.output_correction.outside_fraction:.1f} % of the MU outside the commissioned sides")
    store = json.loads(RECORDED.read_text())
    store["results"] = {k: v for k, v in store["results"].items() if k in used}
    RECORDED.write_text(json.dumps(store, indent=1) + "\n")
    print(f"wrote {RECORDED} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
