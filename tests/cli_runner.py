"""`planner ARGS` for the tests, written once: in this process, or as the real program.

`planner(...)` calls planner.cli.main.main(argv) in the test process with its own stdout, stderr,
environment and working folder, and answers like subprocess.run: returncode, stdout, stderr. An
exception main() lets out is printed as Python would (traceback on stderr, exit status 1), so a
test that says "one line, no traceback" still sees one. It saves the 2–3 s each `python -m planner`
spends importing (112 runs in the suite).

`planner_process(...)` runs `python -m planner` as a child process, the way a user types it: the
tests of the entry point itself (tests/cli/test_cli.py) and of a window (`gui --screenshot`) use it.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Ran:
    """What a run of `planner` left: its exit status and everything it printed."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def planner(*args, cwd: Path = ROOT, env: Mapping[str, str] | None = None) -> Ran:
    """`planner ARGS` in this process; `env` adds to (or replaces in) the environment for the run."""
    from planner.cli.main import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with _environment(env or {}), _working_folder(cwd), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse: --help, --version, a usage error
            code = _exit_status(stop, err)
        except Exception:  # noqa: BLE001 — what the interpreter would print, and its status
            traceback.print_exc(file=err)
            code = 1
    return Ran(tuple(argv), int(code), out.getvalue(), err.getvalue())


def planner_process(*args, cwd: Path = ROOT, env: Mapping[str, str] | None = None,
                    timeout_s: float = 180) -> subprocess.CompletedProcess:
    """`python -m planner ARGS` as a child process."""
    return subprocess.run([sys.executable, "-m", "planner", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=timeout_s)


def _exit_status(stop: SystemExit, err: io.StringIO) -> int:
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code
    print(stop.code, file=err)
    return 1


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update({name: str(value) for name, value in env.items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _working_folder(folder: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)
