"""Open Planner's window: ``python main.py [--demo] [--screenshot OUT.png] [FILE]``.

The same as ``python -m planner gui …``.
"""

import sys

from planner.__main__ import run

if __name__ == "__main__":
    sys.exit(run(["gui", *sys.argv[1:]]))
