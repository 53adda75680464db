"""Open Planner's window: ``python main.py [--demo] [--screenshot OUT.png] [FILE]``.

The same as ``python -m planner gui …``.
"""

import sys

from planner.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["gui", *sys.argv[1:]]))
