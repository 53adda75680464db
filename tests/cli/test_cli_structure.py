"""How the command line is put together (issue 16, point 9): every subcommand names the function that
runs it, any PlannerError is one line and never a traceback, and no command module imports main."""

import argparse
import tomllib
from pathlib import Path

from planner.cli.main import COMMAND_MODULES, build_parser
from planner.core.errors import Cancelled, PlannerError
from tests.cli_runner import planner

ROOT = Path(__file__).resolve().parents[2]


class CoreTrouble(PlannerError):
    """Stands for a core error no command catches."""


def fail_with(monkeypatch, error: Exception) -> None:
    """`planner bed` calls planner.core.radiobiology.biological_doses: make it raise ``error``."""
    def raising(prescription):
        raise error

    monkeypatch.setattr("planner.core.radiobiology.biological_doses", raising)


def test_a_core_error_that_escapes_a_command_is_one_line_and_exit_1(monkeypatch):
    fail_with(monkeypatch, CoreTrouble("the model cannot answer\nthe details a developer reads"))
    result = planner("bed", "--dose-per-fraction-gy", "5", "--fractions", "8")
    assert result.returncode == 1
    assert result.stderr == "planner bed: the model cannot answer\n"


def test_a_cancel_exits_130_saying_cancelled(monkeypatch):
    fail_with(monkeypatch, Cancelled())
    result = planner("bed", "--dose-per-fraction-gy", "5", "--fractions", "8")
    assert (result.returncode, result.stderr) == (130, "planner bed: cancelled\n")


def subcommands(parser: argparse.ArgumentParser, prefix: str = ""):
    """(name, parser) of every command a user can run, `audit verify` included, not `audit` alone."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
                yield from subcommands(sub, f"{prefix}{name} ") if nested else [(f"{prefix}{name}", sub)]


def test_every_subcommand_names_the_function_that_runs_it():
    """main() dispatches by args.run alone: a command registered without it could not run."""
    found = dict(subcommands(build_parser()))
    assert {"gui", "bed", "plan", "sign", "audit verify", "imrt"} <= found.keys()
    assert [name for name, sub in found.items() if not callable(sub.get_default("run"))] == []


def test_a_contract_keeps_the_command_modules_from_importing_main():
    """The cycle main -> command module -> main stays gone (tests/test_layers.py runs the contract)."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    cli = [c for c in contracts if c.get("containers") == ["planner.cli"]]
    assert len(cli) == 1 and cli[0]["type"] == "layers" and cli[0].get("exhaustive") is True
    layers = [[name.strip() for name in layer.split("|")] for layer in cli[0]["layers"]]
    assert layers[0] == ["main"] and layers[-1] == ["shared"]
    assert {module.__name__.removeprefix("planner.cli.") for module in COMMAND_MODULES} == set(layers[1])


def test_an_error_names_the_subcommand_as_typed():
    """`planner course record-fraction: …`, not `planner course: …`: every command with subcommands
    keeps their name where main's one-line error finds it (SUBCOMMAND_DESTS)."""
    from planner.cli.main import SUBCOMMAND_DESTS

    top = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    nested = [a.dest for sub in top.choices.values() for a in sub._actions
              if isinstance(a, argparse._SubParsersAction)]
    assert sorted(nested) == sorted(SUBCOMMAND_DESTS)
    result = planner("audit", "verify", "--db", "/nonexistent/audit.db")
    assert result.stderr.startswith("planner audit verify: ") and result.stderr.count("\n") == 1
