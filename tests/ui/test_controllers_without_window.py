"""The main window's controllers work for a document and a Dialogs, not for the window (issue 16,
point 10): driven here with scripted answers and no window, each says what went wrong in one
sentence and leaves the plan as it was."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from planner.core.recovery import RecoverySession
from planner.techniques import discover_techniques
from planner.techniques.new_plan import open_demo_case
from planner.ui.beam_data import BeamData
from planner.ui.beam_data_view import BeamDataView
from planner.ui.document import PlanDocument
from planner.ui.dose_controller import DoseController
from planner.ui.dose_panel import DosePanel
from planner.ui.editing_tools import EditingTools
from planner.ui.plan_files import PlanFiles
from planner.ui.recommendation import Recommendation
from planner.ui.settings import AppSettings
from planner.ui.tasks import TaskRunner


class Always:
    """A consent that holds whatever happens meanwhile."""

    def still_given(self) -> bool:
        return True


@dataclass
class ScriptedDialogs:
    """The Dialogs of a user who answers from a script and whose problems are written down."""
    answers: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    asked_to_replace: list[str] = field(default_factory=list)

    def report_problem(self, message: str) -> None:
        self.problems.append(message)

    def ask(self, title, question, choices):
        return self.answers.get(title, choices[-1])

    def ask_text(self, title, question):
        return self.answers.get(title)

    def choose_file_to_open(self, title, file_filter):
        return self.answers.get(title)

    def choose_file_to_save(self, title, suggested_name, file_filter):
        return self.answers.get(title)

    def show_status(self, message, timeout_ms):
        self.statuses.append(message)

    def consent_to_replace(self, what, ask=True):
        self.asked_to_replace.append(what)
        return Always()


@pytest.fixture
def registry():
    return discover_techniques()


@pytest.fixture
def document(qtbot, tmp_path):
    return PlanDocument(RecoverySession(tmp_path / "data").plan_store())


@pytest.fixture
def demo_document(document, registry):
    document.open(*open_demo_case(registry), saved=True)
    return document


def plan_files(document, registry, dialogs, tmp_path, runner=None) -> PlanFiles:
    return PlanFiles(document, registry, AppSettings(tmp_path / "settings.ini"), runner or TaskRunner(), dialogs,
                     entries_used=lambda: True, last_dose=lambda: None)


def test_a_plan_file_that_cannot_be_read_is_reported_in_one_line_and_nothing_is_opened(document, registry,
                                                                                        tmp_path):
    dialogs = ScriptedDialogs()
    broken = tmp_path / "broken.plan.json"
    broken.write_text("{ not json", encoding="utf-8")

    assert not plan_files(document, registry, dialogs, tmp_path).open_plan_file(str(broken))

    assert dialogs.asked_to_replace == ["Opening broken.plan.json"]   # asked first, as the window does
    assert len(dialogs.problems) == 1 and "\n" not in dialogs.problems[0]
    assert "Traceback" not in dialogs.problems[0]
    assert document.plan is None


def test_save_as_cancelled_writes_nothing_and_save_writes_where_the_user_chose(demo_document, registry, tmp_path):
    dialogs = ScriptedDialogs()
    files = plan_files(demo_document, registry, dialogs, tmp_path)
    assert not files.save_as()   # no file chosen
    target = tmp_path / "lesion.plan.json"
    dialogs.answers["Save plan"] = str(target)

    assert files.save()
    assert target.exists() and demo_document.file_path == str(target)
    assert files.recent_files() == [str(target.resolve())]
    assert dialogs.statuses == [f"Saved {target}"] and dialogs.problems == []


def test_a_recommendation_for_a_technique_without_dose_engine_is_reported(demo_document, qtbot):
    no_engine = SimpleNamespace(name="Hand-calculated kV", dose_engine=None)
    dialogs = ScriptedDialogs()
    recommendation = Recommendation(demo_document, SimpleNamespace(get=lambda _id: no_engine), TaskRunner(),
                                    DosePanel(), dialogs)

    recommendation.recommend()

    assert dialogs.problems == ["Hand-calculated kV offers no recommendation."]


def test_measured_data_without_an_open_plan_are_refused(document, registry, qtbot):
    dialogs = ScriptedDialogs()
    dose = DoseController(document, registry, TaskRunner())
    beam_data = BeamData(document, registry, dose, BeamDataView(), dialogs)

    assert not beam_data.import_measured_data("pdd.csv", "pdd")
    assert dialogs.problems == ["Measured data need an open plan whose technique computes dose and whose energy "
                                "and cone have a commissioned SSD."]


def test_an_editing_tool_with_nothing_to_act_on_says_so_and_makes_no_undo_step(demo_document, registry, qtbot):
    dialogs = ScriptedDialogs()
    demo_document.apply(demo_document.plan.with_outline(None), "Remove outline")
    steps = demo_document.undo_stack.count()
    tools = EditingTools(demo_document, view=None, dose=DoseController(demo_document, registry, TaskRunner()),
                         dialogs=dialogs, show_numbers=lambda _plan: None)

    tools.centre_cone_on_lesion()

    assert dialogs.problems == ["There is no lesion outline to centre the cone on."]
    assert demo_document.undo_stack.count() == steps
