"""Crash recovery: the open plan is written to a recovery file after every edit.

A clean close removes the file; finding it at start-up therefore means the last session ended
without closing (a crash, a kill, a power cut), and the user is offered the plan it holds.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from planner.core.plan import Plan
from planner.core.plan_file import PlanFileError, load_plan, save_plan


class RecoveryStore:
    def __init__(self, data_dir: str | os.PathLike):
        self.path = Path(data_dir) / "recovery" / "open-plan.json"

    def save(self, plan: Plan) -> None:
        save_plan(self.path, plan, readable=False)

    def pending(self) -> bool:
        return self.path.exists()

    def load(self) -> Plan:
        """The recovered plan; a damaged file is moved aside (kept, not deleted) and reported."""
        try:
            return load_plan(self.path)
        except PlanFileError:
            try:
                self.path.replace(self.path.with_suffix(".damaged.json"))
            except OSError:
                pass  # left where it is; the message still says it is damaged
            raise

    def set_aside(self) -> Path:
        """Move the recovery file out of the way while its plan is being reopened, so nothing
        that happens meanwhile (opening the demo, a clean close) can delete it."""
        aside = self.path.with_name("restoring-plan.json")
        self.path.replace(aside)
        return aside

    def keep(self, aside: Path) -> Path:
        """The reopening did not finish: keep the recovered plan as a plan file of its own (the
        session that goes on will autosave over the recovery file) and return where it is."""
        kept = self.path.with_name(f"unrestored-plan-{time.strftime('%Y%m%d-%H%M%S')}.plan.json")
        aside.replace(kept)
        return kept

    def discard(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
