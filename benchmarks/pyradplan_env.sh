#!/usr/bin/env bash
# A separate environment for pyRadPlan, used only by benchmarks/tg119_vs_pyradplan.py.
# pyRadPlan stays out of Planner's dependencies: it needs pydantic < 2.14 (issue 8).
# Usage: bash benchmarks/pyradplan_env.sh   (creates benchmarks/.venv-pyradplan)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-pyradplan"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
# Pins that worked together for the benchmark (pyRadPlan 0.5.0 fails to import with pydantic 2.14).
"$venv/bin/python" -m pip install --quiet "pyradplan==0.5.0" "pydantic>=2.10,<2.14"
"$venv/bin/python" -c "import pyRadPlan, pydantic; print('pyRadPlan env ready, pydantic', pydantic.VERSION)"
