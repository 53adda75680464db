"""The TG-119 plan whose independent Monte Carlo check is recorded, as files: made once, read by four test files.

What: `planner imrt --tg119 --grid-mm 5 --out DIR` (CT slices, RT Structure Set, RT Plan, RT Dose, report)
kept in tests/data/tg119-5mm-export. Its ompMC answer is in tests/reference/imrt_second_check_recorded.json
under the digest of the plan's request, so the tests that check this plan against the Monte Carlo read the
answer in a second instead of running ompMC for minutes.

Why files and not a plan made in the test: the optimiser's path changes with any change to it (or to BLAS
threading), so a plan made in the test stops matching its recorded answer, and the check then ran the Monte
Carlo live in each of the four files (about a minute each on two cores). The engine is not frozen by this:
tests/review/test_imrt_review.py recomputes the stored plan's dose from its segments with today's engine
and compares it with the stored RT Dose.

Remade only on purpose, together with its Monte Carlo answer:
    OMP_NUM_THREADS=2 .venv/bin/python -m tests.reference.record_imrt_second_check --remake-tg119-plan
Made on 2026-12-03 at 08d4d2a.
"""

from __future__ import annotations

import shutil
from pathlib import Path

TG119_EXPORT = Path(__file__).resolve().parent / "data" / "tg119-5mm-export"
TG119_GRID_MM = 5.0   # the draft grid: 2.5 mm would take minutes to make and its check the same


def tg119_recorded_export(tmp_path_factory, label: str) -> Path:
    """A private copy of the stored export (a test may sign it or scale its MU without touching another's)."""
    return Path(shutil.copytree(TG119_EXPORT, tmp_path_factory.mktemp(label) / "plan"))
