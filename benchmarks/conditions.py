"""What the per-edit benchmarks share: `--repeats` (at least 3), the machine's conditions (date,
CPUs, load average, Python and numpy versions), interleaved repeats and the median/p95 report.

    from benchmarks.conditions import add_repeats, print_conditions, run_interleaved, summary

p95 is the nearest-rank 95th percentile, as in benchmarks/tg119_vs_pyradplan.py.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
from collections.abc import Callable, Sequence

import numpy as np

MIN_REPEATS = 3


def add_repeats(parser: argparse.ArgumentParser) -> None:
    """`--repeats N`, default 3; fewer than 3 is refused by argparse with a one-line message."""

    def at_least_three(text: str) -> int:
        n = int(text)
        if n < MIN_REPEATS:
            raise argparse.ArgumentTypeError(
                f"{n} is too few: at least {MIN_REPEATS} interleaved repeats (the benchmark standard)")
        return n

    parser.add_argument("--repeats", type=at_least_three, default=MIN_REPEATS,
                        help="interleaved repeats: repeat 1 of every case, then repeat 2, ... "
                             f"(default and minimum {MIN_REPEATS})")


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def print_conditions(when: str) -> None:
    """One line: the time, the CPUs and the load average (1, 5, 15 min); at the start also the
    Python and numpy versions."""
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    print(f"{when}: {now}, nproc {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), "
          f"load average (1, 5, 15 min) {load()}", flush=True)
    if when == "start":
        print(f"Python {platform.python_version()}, numpy {np.__version__}", flush=True)


def p95(values) -> float:
    """Nearest-rank 95th percentile."""
    return float(np.percentile(values, 95, method="inverted_cdf"))


def summary(per_repeat: Sequence[Sequence[float]]) -> str:
    """Median, p95 and max in ms over all timed edits of all repeats, and the spread of the
    per-repeat medians, so one sees whether the repeats agree."""
    everything = np.concatenate([np.asarray(r, dtype=float) for r in per_repeat])
    medians = [float(np.median(r)) for r in per_repeat]
    return (f"median {np.median(everything):6.2f} ms   p95 {p95(everything):6.2f} ms   "
            f"max {everything.max():6.2f} ms   ({len(everything)} edits; per-repeat medians "
            f"{min(medians):.2f}–{max(medians):.2f} ms)")


def run_interleaved(cases: Sequence[str], repeats: int,
                    run_case: Callable[[str], dict[str, list[float]]]) -> dict[str, dict[str, list[list[float]]]]:
    """For repeat 1..repeats, run every case once (so load drifts hit every case alike).

    run_case(case) returns {series: timings in ms}; the result is {case: {series: [per repeat]}}.
    The load average is printed after every repeat.
    """
    results: dict[str, dict[str, list[list[float]]]] = {case: {} for case in cases}
    for r in range(1, repeats + 1):
        for case in cases:
            for series, ms in run_case(case).items():
                results[case].setdefault(series, []).append(ms)
        print(f"repeat {r} of {repeats} done, load average (1, 5, 15 min) {load()}", flush=True)
    return results
