"""``python -m planner`` and the ``planner`` script: the same core functions the GUI calls.

Every failure a user can cause (a bad file, an impossible number) ends with one line on stderr
and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from planner import __version__
from planner.cli import (audit_command, commands, course_commands, imrt_command, plan_command, review_commands,
                         send_command, signing_commands)
from planner.cli.shared import EXIT_CANCELLED, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, InputError
from planner.core.errors import Cancelled, PlannerError

# Each module's register(commands) adds its subcommands, each with set_defaults(run=...);
# `planner --help` lists them in this order.
COMMAND_MODULES = (commands, plan_command, signing_commands, send_command, audit_command, review_commands,
                   imrt_command, course_commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="planner",
        description="Planner: treatment planning for image-guided superficial radiotherapy (IGSRT), "
                    "surface electronic brachytherapy and IMRT.")
    parser.add_argument("--version", action="version", version=f"planner {__version__}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subcommands)
    return parser


def main(argv: list[str] | None = None, open_window=None) -> int:
    """Run one command. ``open_window(demo=, screenshot=, file=, imrt_demo=) -> int`` opens the window
    for ``planner gui``; the program's entry point (planner/__main__.py) gives it."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.open_window = open_window
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    command = command_name(args)
    try:
        return args.run(args)
    except InputError as err:
        return _failed(command, err.user_message, EXIT_USAGE)
    except PlannerError as err:  # CommandError, or a core error a command let through: still the user's message
        return _failed(command, err.user_message, EXIT_FAILURE)
    except Cancelled:
        return _failed(command, "cancelled", EXIT_CANCELLED)
    except KeyboardInterrupt:
        return _failed(command, "interrupted", EXIT_CANCELLED)
    except BrokenPipeError:  # the reader (`| head`) stopped reading: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


# The commands with subcommands, and where argparse keeps the subcommand's name (their add_subparsers dest).
SUBCOMMAND_DESTS = ("course_command", "audit_action")


def command_name(args) -> str:
    """The command as typed, its subcommand included ("course fetch"), for the one-line error."""
    sub = next((getattr(args, d) for d in SUBCOMMAND_DESTS if getattr(args, d, None)), None)
    return f"{args.command} {sub}" if sub else args.command


def _failed(command: str, message: str, status: int) -> int:
    print(f"planner {command}: {message}", file=sys.stderr)
    return status
