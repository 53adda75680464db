"""A saved IMRT plan keeps its clinical protocol, structure mapping and earlier course (issue 18), driven
as a user drives it on the thoracic-spine phantom at 5 mm: a protocol chosen when the CT opens, the
earlier course loaded, File ▸ Save, the window closed, File ▸ Open IMRT Plan… in another Planner, or
the recovery offer after a Planner that stopped without saving.

At 5 mm: the shipped spine-imrt-50gy-25fx (its 5 mm cord PRV can be made there) for the derived
structures; for the earlier course a clinic's copy of spine-sbrt-16gy-1fx without its 2 mm PRV
(as tests/cli/test_imrt_reirradiation.py: below half a 5 mm voxel), opened From file….

What is compared comes from outside the code under test: the objectives from the plan file read with
json, the files' SHA-256 with hashlib, the panel's lines and the goals table as the first window
showed them."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from planner.core.inverse_plan import Objective
from tests.cli.test_imrt_reirradiation import clinic_copy
from tests.ui.gui_driver import choose_in_combo, make_window
from tests.ui.test_imrt_protocol import (CONVENTIONAL, choose, open_ct, optimise, renamed_cord_ct,  # noqa: F401 (a fixture)
                                         title_of, write_spine_case)
from tests.ui.test_imrt_protocol_prior import load

UNCHANGED = "(the plan file is not changed until you save)"


@pytest.fixture(scope="module")
def spine(tmp_path_factory):
    return write_spine_case(tmp_path_factory.mktemp("spine"))


def objectives_on_disk(path: Path) -> tuple[Objective, ...]:
    """The plan file's objectives as json reads them."""
    return tuple(Objective(o["structure"], o["kind"], o["dose_gy"], o["weight"], o.get("volume_fraction", 0.0))
                 for o in json.loads(path.read_text(encoding="utf-8"))["objectives"])


def edited(window):
    """The plan with its first organ objective's weight doubled: a user's edit after the protocol."""
    plan = window.plan
    i = next(i for i, o in enumerate(plan.objectives) if o.structure != plan.prescription.target)
    o = plan.objectives[i]
    objectives = plan.objectives[:i] + (Objective(o.structure, o.kind, o.dose_gy, o.weight * 2, o.volume_fraction),) \
        + plan.objectives[i + 1:]
    window.apply_edit(__import__("dataclasses").replace(plan, objectives=objectives), "weight")
    assert window.plan.objectives == objectives
    return window.plan


def save(window, path: Path) -> Path:
    window.ask_save_path = lambda: str(path)
    window.save_action.trigger()
    assert window.saved_path is not None, window.last_problem
    return window.saved_path


def reopened(qtbot, path: Path):
    """File ▸ Open IMRT Plan… in another Planner; the window once its CT is read."""
    other = make_window({"Unsaved IMRT plan": "Discard"})
    qtbot.addWidget(other)
    other.imrt.ask_plan_file = lambda: str(path)
    other.imrt.open_plan_action.trigger()
    window = other.imrt.windows[-1]
    qtbot.waitUntil(lambda: window.volume is not None and not window.runner.busy, timeout=300_000)
    return other, window


def sbrt_with_prior(qtbot, spine, folder: Path, dose: Path):
    """The clinic's SBRT protocol From file…, then the earlier course (RT Dose ``dose``, its RT Plan)."""
    protocol = clinic_copy(folder)
    main, window = open_ct(qtbot, spine.ct_folder)
    window.protocols.ask_protocol_file = lambda: str(protocol)
    choose(qtbot, window, "From file…")
    assert window.document.context.protocol is not None, window.last_problem
    load(qtbot, window, dose, spine.prior_plan)
    assert window.document.context.prior is not None, window.last_problem
    return main, window, protocol


def test_the_protocol_and_its_derived_structures_come_back_with_the_edited_objectives(qtbot, spine, tmp_path):
    main, window = open_ct(qtbot, spine.ct_folder)
    choose(qtbot, window, title_of(CONVENTIONAL))
    assert window.document.context.protocol is not None, window.last_problem
    plan = edited(window)
    optimise(qtbot, window, 3)
    rows, label = window.goals.row_texts(), window.goals.protocol_label.text()
    mapping_text = window.goals.protocol_label.toolTip()
    path = save(window, tmp_path / "spine")
    assert window.last_status == f"Saved the IMRT plan to {path} with protocol {CONVENTIONAL}"
    section = json.loads(path.read_text(encoding="utf-8"))["plan_context"]
    shipped = Path(__file__).resolve().parents[2] / "resources" / "protocols" / f"{CONVENTIONAL}.json"
    assert section["protocol"]["shipped"] == CONVENTIONAL
    assert section["protocol"]["sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    # the protocol's own structures as matched on this CT; the PRV is derived again, not stored
    assert section["protocol"]["mapping"]["SpinalCord"] == "SpinalCord" and "SpinalCord_PRV05" not in section["protocol"]["mapping"]
    assert "earlier_course" not in section
    assert window.close()

    other, again = reopened(qtbot, path)
    assert again.last_problem is None
    assert again.plan.objectives == objectives_on_disk(path) == plan.objectives   # as saved, not the protocol's own
    assert "SpinalCord_PRV05" in again.volume.masks and any(o.structure == "SpinalCord_PRV05" for o in again.plan.objectives)
    assert again.document.context.protocol.protocol.id == CONVENTIONAL
    assert again.goals.protocol_label.text() == label and again.goals.protocol_label.toolTip() == mapping_text
    # reopening is not an edit: nothing to undo, nothing unsaved
    assert again.document.undo_stack.count() == 0 and not again.is_modified and not again.undo_action.isEnabled()
    optimise(qtbot, again, 3)
    columns = (0, 1, 3, 5)   # goal, structure, limit, priority: the same goals on the same structures
    assert [tuple(r[c] for c in columns) for r in again.goals.row_texts()] == [tuple(r[c] for c in columns) for r in rows]
    again.close()


def test_the_earlier_course_comes_back_from_the_file_and_from_the_recovery_offer(qtbot, spine, tmp_path):
    main, window, protocol = sbrt_with_prior(qtbot, spine, tmp_path, spine.prior_dose)
    lines = window.prior_panel.summary.text()
    path = save(window, tmp_path / "reirradiation")
    assert window.last_status == (f"Saved the IMRT plan to {path} with protocol clinic-spine-sbrt-5mm and the "
                                  f"earlier course")
    course = json.loads(path.read_text(encoding="utf-8"))["plan_context"]["earlier_course"]
    assert course == {"rt_dose": str(spine.prior_dose), "rt_plan": str(spine.prior_plan), "fractions": None,
                      "rt_dose_sha256": hashlib.sha256(spine.prior_dose.read_bytes()).hexdigest(),
                      "rt_plan_sha256": hashlib.sha256(spine.prior_plan.read_bytes()).hexdigest()}
    assert json.loads(path.read_text(encoding="utf-8"))["plan_context"]["protocol"]["file"] == str(protocol)
    assert window.close()

    other, again = reopened(qtbot, path)
    assert again.last_problem is None
    assert again.plan.objectives == objectives_on_disk(path)
    assert again.document.context.prior is not None and again.prior_panel.summary.text() == lines
    assert "in 10 fractions (RT Plan Number of Fractions Planned)" in lines
    assert again.document.undo_stack.count() == 0 and again.remove_prior_action.isEnabled()

    # an edit, then this Planner stops without saving (as in a crash): the next one offers the plan back
    plan = edited(again)
    crashed = again.recovery.path
    assert json.loads(crashed.read_text(encoding="utf-8"))["plan_context"]["earlier_course"] == course
    again.document.undo_stack.setClean()
    again.recovery = None
    other.imrt.session.abandon()
    third = make_window({"Unsaved IMRT plan found": "Restore", "Unsaved IMRT plan": "Discard"})
    qtbot.addWidget(third)
    restored = third.imrt.open_phantom(10.0)
    qtbot.waitUntil(lambda: restored.volume is not None and not restored.runner.busy, timeout=300_000)
    assert restored.last_problem is None and restored.plan == plan
    assert restored.document.context.prior is not None and restored.prior_panel.summary.text() == lines
    assert restored.document.context.protocol.protocol.id == "clinic-spine-sbrt-5mm"
    assert restored.is_modified and restored.document.undo_stack.count() == 0   # unsaved work, nothing to undo
    assert not crashed.exists()
    restored.close()


def test_a_changed_earlier_course_file_is_said_and_the_plan_opens_without_it(qtbot, spine, tmp_path):
    dose = tmp_path / "prior" / "RTDOSE_prior.dcm"
    dose.parent.mkdir()
    shutil.copy(spine.prior_dose, dose)
    main, window, _ = sbrt_with_prior(qtbot, spine, tmp_path, dose)
    path = save(window, tmp_path / "reirradiation")
    assert window.close()
    dose.write_bytes(dose.read_bytes() + b"\0\0")   # changed on disk since the plan was saved
    saved = path.read_bytes()

    other, again = reopened(qtbot, path)
    assert again.last_problem == (f"Earlier course not restored: {dose} changed since the plan was saved "
                                  f"(SHA-256 differs); the plan is open without it {UNCHANGED}")
    assert again.document.context.protocol is not None and again.document.context.prior is None
    assert again.plan.objectives == objectives_on_disk(path)
    assert again.prior_panel.summary.text().startswith("No earlier course")
    assert not again.is_modified and path.read_bytes() == saved   # nothing written until the user saves
    again.close()
    assert path.read_bytes() == saved


def test_a_changed_protocol_file_is_said_with_what_the_plan_then_lacks(qtbot, spine, tmp_path):
    """A clinic's copy of the conventional protocol (with its PRV), changed after the save: the plan
    opens without it, its objectives on the PRV do not fit the CT, and the one line says both."""
    protocol = tmp_path / "clinic-spine-imrt.json"
    shutil.copy(Path(__file__).resolve().parents[2] / "resources" / "protocols" / f"{CONVENTIONAL}.json", protocol)
    main, window = open_ct(qtbot, spine.ct_folder)
    window.protocols.ask_protocol_file = lambda: str(protocol)
    choose(qtbot, window, "From file…")
    assert "SpinalCord_PRV05" in window.volume.masks, window.last_problem
    path = save(window, tmp_path / "conventional")
    assert window.close()
    protocol.write_text(protocol.read_text(encoding="utf-8") + "\n", encoding="utf-8")

    other, again = reopened(qtbot, path)
    problem = again.last_problem
    assert problem.startswith(f"Protocol not restored: {protocol} changed since the plan was saved (SHA-256 differs); "
                              f"the plan is open without it {UNCHANGED}; without it the plan does not fit this volume: ")
    assert "SpinalCord_PRV05" in problem and "\n" not in problem
    assert problem.endswith("(Plan ▸ Choose Protocol… again, or edit the objectives)")
    assert again.document.context.protocol is None and "SpinalCord_PRV05" not in again.volume.masks
    assert again.plan.objectives == objectives_on_disk(path)   # kept as saved, shown, not optimised
    assert not again.optimise() and again.last_problem.startswith("The plan cannot be optimised: ")
    assert not again.is_modified
    again.close()


def test_the_mapping_given_in_the_dialog_comes_back_without_asking(qtbot, renamed_cord_ct, tmp_path):
    main, window = open_ct(qtbot, renamed_cord_ct)
    choose(qtbot, window, title_of(CONVENTIONAL))
    qtbot.waitUntil(lambda: window.protocols.mapping_dialog is not None and window.protocols.mapping_dialog.isVisible())
    dialog = window.protocols.mapping_dialog
    choose_in_combo(dialog.combos["SpinalCord"], "Cord_T8 (ORGAN)")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert window.document.context.protocol.mapping["SpinalCord"] == "Cord_T8", window.last_problem
    path = save(window, tmp_path / "mapped")
    assert window.close()

    other, again = reopened(qtbot, path)
    assert again.last_problem is None and again.protocols.mapping_dialog is None   # nothing asked again
    chosen = again.document.context.protocol
    assert chosen.mapping["SpinalCord"] == "Cord_T8" and "SpinalCord_PRV05" in again.volume.masks
    assert again.plan.objectives == objectives_on_disk(path)
    assert "SpinalCord = Cord_T8" in again.goals.protocol_label.text()
    again.close()
