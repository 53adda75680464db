"""The README's two commands are what a newcomer runs; CI must run the same test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    return re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_starts_with_the_setup_and_run_command_then_the_test_command():
    commands = readme_commands()
    assert commands[0] == "bash scripts/setup.sh && .venv/bin/python main.py --demo"
    assert commands[1] == "bash scripts/setup.sh && .venv/bin/python -m pytest -n 3 --dist loadfile"


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert ci_lines[-1] == readme_commands()[1]


def test_the_readme_screenshot_exists():
    assert (ROOT / "docs" / "screenshot.png").is_file()
