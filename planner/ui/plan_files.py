"""Opening and saving: an ultrasound image (a new plan on it), a plan file (the plan on its image),
the demo case, Save and Save As, and the recent files.

Images load off the GUI thread (the TaskRunner); the open plan is replaced only with the user's
consent (planner.ui.unsaved_edits), asked before loading and again if the plan was edited while
it loaded. The window's menus call these; what goes wrong is said through the Dialogs.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal

from planner import __version__
from planner.core.plan import Plan
from planner.core.plan_file import PlanFileError, load_plan, save_plan
from planner.imaging import ImageLoadError
from planner.imaging.planning_image import PlanningImage, complete_plan, load_planning_image
from planner.techniques import TechniqueRegistry
from planner.techniques.new_plan import open_demo_case, start_plan, technique_for_new_image
from planner.ui.dialogs import Dialogs
from planner.ui.document import PlanDocument
from planner.ui.settings import AppSettings
from planner.ui.tasks import STILL_BUSY, TaskRunner
from planner.ui.unsaved_edits import Consent

PLAN_FILE_FILTER = "Planner plans (*.plan.json *.json)"
IMAGE_FILE_FILTER = "Ultrasound images (*.dcm *.dicom *.png *.jpg *.jpeg *.tif *.tiff);;All files (*)"


class PlanFiles(QObject):
    recent_files_changed = Signal()

    def __init__(self, document: PlanDocument, registry: TechniqueRegistry, settings: AppSettings,
                 runner: TaskRunner, dialogs: Dialogs, *, entries_used: Callable[[], bool],
                 last_dose: Callable[[], object], may_open_here: Callable[[str], bool] = lambda _path: True,
                 parent: QObject | None = None):
        """``entries_used()``: the numbers typed into the plan's fields are in the plan (False: one
        must be corrected first); ``last_dose()``: the dose shown, recorded in a saved plan;
        ``may_open_here(path)``: False when another Planner has the file open and the user declines."""
        super().__init__(parent)
        self.document = document
        self.registry = registry
        self.settings = settings
        self.runner = runner
        self.dialogs = dialogs
        self.entries_used = entries_used
        self.last_dose = last_dose
        self.may_open_here = may_open_here

    # --- opening ---------------------------------------------------------------------------------
    def open_demo(self) -> None:
        if self.dialogs.consent_to_replace("Opening the demo case") is None:
            return
        try:
            planning_image, plan = open_demo_case(self.registry)
        except ImageLoadError as err:
            self.dialogs.report_problem(f"The demo case could not be opened: {err}")
            return
        self.document.open(planning_image, plan, saved=True)

    def choose_image_file(self) -> None:
        path = self.dialogs.choose_file_to_open("Open ultrasound image", IMAGE_FILE_FILTER)
        if path:
            self.open_image_file(path)

    def open_image_file(self, path: str, consent: Consent | None = None) -> bool:
        """Load an image off the GUI thread and start a new plan on it (``consent``: the user's yes
        to replacing the open plan, already asked, e.g. before browsing the PACS)."""
        consent = consent or self.dialogs.consent_to_replace(f"Opening {Path(path).name}")
        if consent is None:
            return False

        def opened(planning_image: PlanningImage) -> None:
            if not consent.still_given():   # edits made while it loaded are not thrown away unasked
                return
            technique = technique_for_new_image(self.registry, self.settings.last_technique_id())
            self.document.open(planning_image, start_plan(planning_image, technique), saved=True)
            self.remember(path)

        return self._load_image(path, opened)

    def choose_plan_file(self) -> None:
        path = self.dialogs.choose_file_to_open("Open plan", PLAN_FILE_FILTER)
        if path:
            self.open_plan_file(path)

    def open_plan_file(self, path: str, consent: Consent | None = None) -> bool:
        if not self.may_open_here(path):
            return False
        consent = consent or self.dialogs.consent_to_replace(f"Opening {Path(path).name}")
        if consent is None:
            return False
        try:
            plan = load_plan(path)
        except PlanFileError as err:
            self.dialogs.report_problem(str(err))
            return False
        return self.open_plan(plan, file_path=path, saved=True, consent=consent)

    def open_recent(self, path: str) -> None:
        if path.endswith(".json"):
            self.open_plan_file(path)
        else:
            self.open_image_file(path)

    def open_plan(self, plan: Plan, file_path: str | None, saved: bool, on_failure=None,
                  consent: Consent | None = None) -> bool:
        """Open ``plan`` on its image once loaded; ``consent`` is the user's yes to replacing the
        open plan (asked by the caller); without one, only a plan with no unsaved work is replaced."""
        try:
            self.registry.get(plan.setup.technique_id)
        except KeyError as err:
            self.dialogs.report_problem(f"This plan needs a technique that is not installed: {err}")
            return False
        if plan.image_path is None:
            self.dialogs.report_problem("This plan names no image, so there is nothing to plan on.")
            return False

        consent = consent or self.dialogs.consent_to_replace("Opening the plan", ask=False)

        def opened(planning_image: PlanningImage) -> None:
            if not consent.still_given():
                if on_failure is not None:
                    on_failure("the open plan was kept")
                return
            self.document.open(planning_image, complete_plan(plan, planning_image), file_path=file_path, saved=saved)
            if file_path is not None:
                self.remember(file_path)

        return self._load_image(plan.image_path, opened, on_failure)

    def _load_image(self, path: str, on_loaded, on_failure=None) -> bool:
        def failed(message: str) -> None:
            self.dialogs.report_problem(message)
            if on_failure is not None:
                on_failure(message)

        started = self.runner.start(f"Loading {Path(path).name}",
                                    lambda progress, cancelled: load_planning_image(path, progress, cancelled),
                                    on_loaded, failed)
        if not started:
            self.dialogs.report_problem(STILL_BUSY)
        return started

    # --- saving ----------------------------------------------------------------------------------
    def save(self) -> bool:
        if self.document.plan is None or not self.entries_used():
            return False
        if self.document.file_path is None:
            return self.save_as()
        return self.save_to(self.document.file_path)

    def save_as(self) -> bool:
        if self.document.plan is None or not self.entries_used():
            return False
        path = self.dialogs.choose_file_to_save("Save plan", "plan.plan.json", PLAN_FILE_FILTER)
        return bool(path) and self.save_to(path)

    def save_to(self, path: str) -> bool:
        try:
            save_plan(path, self.document.plan, self._calculation_record())
        except OSError as err:
            self.dialogs.report_problem(f"The plan could not be saved to {path}: {err.strerror or err}. "
                                        "It is still open and autosaved for recovery.")
            return False
        self.document.mark_saved(path)
        self.remember(path)
        self.dialogs.show_status(f"Saved {path}", 5000)
        return True

    def _calculation_record(self) -> dict | None:
        result = self.last_dose()
        if result is None:
            return None
        return {
            "note": "what produced the dose shown when this plan was saved; recomputed, never read back",
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "planner_version": __version__,
            "model": result.model_description,
            "data_sources": dict(result.data_sources),
            "treatment_time_min": result.treatment_time_min,
            "findings": [f"{f.severity}: {f.message}" for f in result.findings],
        }

    # --- recent files ----------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        return self.settings.recent_files()

    def remember(self, path: str) -> None:
        self.settings.add_recent_file(str(Path(path).resolve()))
        self.recent_files_changed.emit()
