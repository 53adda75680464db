"""Crash recovery: the open plan is written to a recovery file after every edit.

A clean close removes the file; finding it at start-up therefore means the last session ended
without closing (a crash, a kill, a power cut), and the user is offered the plan it holds.
"""

from __future__ import annotations

import os
from pathlib import Path

from planner.core.plan import Plan
from planner.core.plan_file import PlanFileError, load_plan, save_plan


class RecoveryStore:
    def __init__(self, data_dir: str | os.PathLike):
        self.path = Path(data_dir) / "recovery" / "open-plan.json"

    def save(self, plan: Plan) -> None:
        save_plan(self.path, plan)

    def pending(self) -> bool:
        return self.path.exists()

    def load(self) -> Plan:
        """The recovered plan; a damaged file is moved aside (kept, not deleted) and reported."""
        try:
            return load_plan(self.path)
        except PlanFileError:
            self.path.replace(self.path.with_suffix(".damaged.json"))
            raise

    def discard(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
