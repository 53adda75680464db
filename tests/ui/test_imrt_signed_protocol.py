"""File ▸ Open Signed Plan… of a protocol plan comes back with its protocol, structure mapping and
earlier course (issue 18), made again on its CT by the same path as File ▸ Open IMRT Plan…
(protocol_edits.restore_context), with the same one line when a file changed since.

Driven as a user drives it on the thoracic-spine phantom at 5 mm (as tests/ui/
test_imrt_plan_file_protocol.py): a protocol chosen when the CT opens, optimised, Export Plan from the
toolbar, the RT Plan signed by the physician, then opened in another Planner through the main window's
Open Signed Plan path. The objectives expected are the RT Plan's embedded JSON read with pydicom and
json; the goals and the earlier course's lines are those the first window showed."""

import shutil
from pathlib import Path

import pytest

from planner.dicom.signatures import CREATOR, sign_file
from tests.dicom.signature_fixtures import signer
from tests.ui.gui_driver import make_window
from tests.ui.test_imrt_plan_file_protocol import UNCHANGED, sbrt_with_prior
from tests.ui.test_imrt_protocol import CONVENTIONAL, choose, exported_report_text, open_ct, optimise, title_of, \
    write_spine_case
from tests.ui.test_imrt_signed_path_in_window import embedded_plan_json, json_objectives, objectives_of

ITERATIONS = 3


@pytest.fixture(scope="module")
def spine(tmp_path_factory):
    return write_spine_case(tmp_path_factory.mktemp("spine"))


def exported_and_signed(qtbot, window, folder: Path) -> Path:
    """Export Plan from the toolbar into ``folder``/export; the RT Plan signed by the physician into
    ``folder``/signed (a separate file: the export stays as written)."""
    exported_report_text(qtbot, window, folder / "export")
    identity, _, _ = signer(folder, "Dr A. Oncologist")
    signed = folder / "signed" / "RTPLAN.dcm"
    signed.parent.mkdir()
    assert sign_file(window.last_export.rt_plan, signed, identity, CREATOR).valid
    return signed


def opened_signed(qtbot, path: Path):
    """Open Signed Plan… in another Planner; its IMRT window once the CT is read."""
    other = make_window({"Unsaved IMRT plan": "Discard"})
    qtbot.addWidget(other)
    assert other.output.open_signed(path)
    window = other.imrt.windows[-1]
    qtbot.waitUntil(lambda: window.volume is not None and not window.runner.busy, timeout=300_000)
    return other, window


def test_a_signed_protocol_plan_opens_with_its_protocol_and_derived_structures(qtbot, spine, tmp_path):
    main, window = open_ct(qtbot, spine.ct_folder)
    choose(qtbot, window, title_of(CONVENTIONAL))
    assert window.document.context.protocol is not None, window.last_problem
    optimise(qtbot, window, ITERATIONS)
    rows, label = window.goals.row_texts(), window.goals.protocol_label.text()
    signed = exported_and_signed(qtbot, window, tmp_path)
    assert window.close()
    assert embedded_plan_json(signed)["plan_context"]["protocol"]["shipped"] == CONVENTIONAL

    other, again = opened_signed(qtbot, signed)
    assert again.last_problem is None
    assert objectives_of(again.plan) == json_objectives(embedded_plan_json(signed))
    # the objectives on the derived cord PRV fit: the PRV is made again from the protocol
    assert "SpinalCord_PRV05" in again.volume.masks and any(o.structure == "SpinalCord_PRV05" for o in again.plan.objectives)
    assert again.document.context.protocol.protocol.id == CONVENTIONAL and again.goals.protocol_label.text() == label
    assert again.document.undo_stack.count() == 0 and not again.is_modified   # opening is not an edit
    optimise(qtbot, again, ITERATIONS)
    columns = (0, 1, 3, 5)   # goal, structure, limit, priority: the same goals on the same structures
    assert [tuple(r[c] for c in columns) for r in again.goals.row_texts()] == [tuple(r[c] for c in columns) for r in rows]
    again.close()


def test_a_signed_reirradiation_opens_with_its_earlier_course_or_says_it_changed(qtbot, spine, tmp_path):
    (tmp_path / "prior").mkdir()
    dose = Path(shutil.copy(spine.prior_dose, tmp_path / "prior" / "RTDOSE_prior.dcm"))   # to change it later
    main, window, _ = sbrt_with_prior(qtbot, spine, tmp_path, dose)
    lines = window.prior_panel.summary.text()
    optimise(qtbot, window, ITERATIONS)
    signed = exported_and_signed(qtbot, window, tmp_path)
    assert window.close()

    other, again = opened_signed(qtbot, signed)
    assert again.last_problem is None
    assert again.document.context.protocol.protocol.id == "clinic-spine-sbrt-5mm"
    assert again.document.context.prior is not None and again.prior_panel.summary.text() == lines
    assert objectives_of(again.plan) == json_objectives(embedded_plan_json(signed))
    again.close()

    dose.write_bytes(dose.read_bytes() + b"\0\0")   # the earlier course's RT Dose changed on disk since
    third, changed = opened_signed(qtbot, signed)
    assert changed.last_problem == (f"Earlier course not restored: {dose} changed since the plan was saved "
                                    f"(SHA-256 differs); the plan is open without it {UNCHANGED}")
    assert changed.document.context.protocol is not None and changed.document.context.prior is None
    assert changed.prior_panel.summary.text().startswith("No earlier course")
    changed.close()
