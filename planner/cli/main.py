"""``python -m planner`` and the ``planner`` script: the same core functions the GUI calls.

Every failure a user can cause (a bad file, an impossible number) ends with one line on stderr
and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from planner import __version__

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class InputError(Exception):
    """An input the user must change (a value not offered, a missing file, a wrong passphrase):
    printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="planner",
        description="Planner: treatment planning for image-guided superficial radiotherapy (IGSRT), "
                    "surface electronic brachytherapy and IMRT.")
    parser.add_argument("--version", action="version", version=f"planner {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = commands.add_parser("gui", help="open the planning window")
    gui.add_argument("file", nargs="?", help="an ultrasound image or a plan file (.json) to open")
    gui.add_argument("--demo", action="store_true", help="open the bundled demo case")
    gui.add_argument("--screenshot", metavar="OUT.png",
                     help="render the window to a PNG and exit (works with QT_QPA_PLATFORM=offscreen)")
    gui.add_argument("--imrt-demo", action="store_true",
                     help="open the IMRT window on the TG-119 phantom (5 mm voxels) and optimise it")

    info = commands.add_parser("info", help="describe an ultrasound image: size, frames, mm calibration, problems")
    info.add_argument("image")
    info.add_argument("--json", action="store_true", help="print JSON")

    techniques = commands.add_parser("techniques", help="list the installed treatment techniques and their machines")
    techniques.add_argument("--json", action="store_true", help="print JSON")

    beam = commands.add_parser(
        "beam-data", help="compute kV beam data (PDD, profiles, backscatter factor) with the Monte Carlo engine")
    beam.add_argument("--kvp", "--kv", dest="kvp", type=float, required=True, help="tube potential (kV)")
    beam.add_argument("--hvl-mm-al", type=float, required=True, help="measured first half-value layer (mm Al)")
    beam.add_argument("--cone-mm", type=float, required=True, help="cone (field) diameter at the surface (mm)")
    beam.add_argument("--ssd-cm", type=float, required=True, help="source-to-surface distance (cm)")
    beam.add_argument("--photons", type=int, default=None, help="Monte Carlo histories (default: the interactive count)")
    beam.add_argument("--json", action="store_true", help="print JSON")

    bed = commands.add_parser("bed", help="BED and EQD2 of a prescription (linear-quadratic, no time factor)")
    bed.add_argument("--dose-per-fraction-gy", type=float, required=True)
    bed.add_argument("--fractions", type=int, required=True)
    bed.add_argument("--json", action="store_true", help="print JSON")

    from planner.cli import plan_command, send_command, signing_commands  # each registers its own subcommands

    plan_command.add_parser(commands)
    signing_commands.add_parsers(commands)
    send_command.add_parser(commands)

    from planner.cli import audit_command  # `audit verify`, `audit show` (planner/review/audit.py)

    audit_command.add_parser(commands)

    from planner.cli import review_commands  # `review`, `approve`, `reject` (planner/review/plan_review.py)

    review_commands.add_parsers(commands)

    from planner.cli import imrt_command  # `imrt` (plugins' inverse planner, planner/ui/imrt's steps)

    imrt_command.add_parser(commands)
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
    from planner.cli import commands

    handler = getattr(args, "run", None) or getattr(commands, "run_" + args.command.replace("-", "_"))
    try:
        return handler(args)
    except InputError as err:
        print(f"planner {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except commands.CommandError as err:
        print(f"planner {args.command}: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"planner {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader (`| head`) stopped reading: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def print_json(data) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))
