"""Run ompMC on every request of tests/dose/test_independent_depth_dose.py and record its answers.

    .venv/bin/python -m tests.reference.record_ompmc

Writes tests/reference/ompmc_recorded.json: each beam's result exactly as ompMC returned it, under the
digest of its request, of tests/reference/ompmc_pdd.py and of the reference environment's pins. The test
uses a recorded result only when today's request has the same digest, and runs ompMC otherwise; so run this
after changing a spectrum, an SSD, a filter, the scoring or the ompMC script, and commit the file with the
change (about 2 minutes on two cores). Planner's side is computed as in the test; its numbers are not recorded.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from tests.dose.test_independent_depth_dose import OMPMC_RECORDED, compare_all, request_digest


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ompmc-record-") as cache:
        comparisons, answered = compare_all(Path(cache), rerun_ompmc=True)
    results = {request_digest(request): {"beam": comparisons[beam].label, "result": result}
               for beam, (request, result) in answered.items()}
    OMPMC_RECORDED.write_text(json.dumps({
        "about": "ompMC's answers to tests/dose/test_independent_depth_dose.py's requests, written by "
                 "tests/reference/record_ompmc.py; never hand-edited",
        "results": results}, indent=1) + "\n")
    for beam, c in comparisons.items():
        print(f"{c.label}: ompMC {c.seconds_ompmc:.0f} s; Planner/ompMC - 1 per window: "
              + " ".join(f"{100 * r:+.2f}%" for r in c.residual))
    print(f"wrote {OMPMC_RECORDED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
