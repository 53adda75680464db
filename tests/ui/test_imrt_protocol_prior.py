"""The earlier course of a re-irradiation in the IMRT window (issue 18, points 4 and 5): File ▸ Load
Earlier Course Dose… on the thoracic-spine phantom planned with spine-sbrt-16gy-1fx (2.5 mm grid: its
2 mm cord PRV), the panel with what was loaded, the refusal of a dose on another frame of reference,
undo, and the cumulative EQD2 limits after Optimise (check_the_cumulative_eqd2_limits_after_optimise, run
on the optimised window of tests/ui/test_imrt_cumulative_eqd2.py), checked by hand: the earlier plan is dated
2024-03-04 and the CT 2024-09-02 (182 days = 5.98 months of 365.25 / 12 days), and this single
fraction's EQD2 at α/β 2 Gy is D (D + 2) / 4 of the cord's own near-maximum dose."""

import re

import pytest

from planner.ui.imrt.prior_panel import NONE_TEXT
from tests.ui.test_imrt_protocol import (SBRT, choose, exported_report_text, open_ct, optimise, title_of, undo,
                                         write_spine_case)


@pytest.fixture(scope="module")
def spine(tmp_path_factory):
    return write_spine_case(tmp_path_factory.mktemp("spine"))


def sbrt_window(qtbot, spine):
    main, window = open_ct(qtbot, spine.ct_folder, voxel_mm=2.5)
    choose(qtbot, window, title_of(SBRT))
    assert window.document.context.protocol is not None, window.last_problem
    return main, window


def load(qtbot, window, dose, plan) -> None:
    """File ▸ Load Earlier Course Dose…, the RT Dose then its RT Plan chosen."""
    window.protocols.ask_prior_dose = lambda: str(dose)
    window.protocols.ask_prior_plan = lambda: str(plan)
    assert window.load_prior_action.isEnabled()
    window.load_prior_action.trigger()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=300_000)


def test_the_earlier_course_is_shown_refused_on_another_frame_and_undone(qtbot, spine):
    main, window = sbrt_window(qtbot, spine)
    panel = window.prior_panel
    assert panel.summary.text() == NONE_TEXT and not window.remove_prior_action.isEnabled()
    steps = window.document.undo_stack.count()
    # another scan's frame of reference: refused with the reason, in one line; nothing changes
    load(qtbot, window, spine.other_frame_dose, spine.other_frame_plan)
    assert window.last_problem.startswith("The earlier course was not loaded: the earlier course's dose is on frame "
                                          "of reference ")
    assert "it cannot be placed without a registration" in window.last_problem
    assert "\n" not in window.last_problem and panel.problem.isVisibleTo(panel)
    assert window.document.context.prior is None and window.document.undo_stack.count() == steps
    # the CT's own frame: loaded as one undoable edit
    load(qtbot, window, spine.prior_dose, spine.prior_plan)
    assert window.document.context.prior is not None, window.last_problem
    assert window.document.undo_stack.count() == steps + 1 and not panel.problem.isVisibleTo(panel)
    lines = panel.summary.text().splitlines()
    assert lines[0] == "Earlier course: RT Dose RTDOSE_prior.dcm, RT Plan RTPLAN_prior.dcm"
    # 30 Gy in 10 fractions, as the phantom's script wrote it (scripts/make_spine_phantom.py)
    assert re.fullmatch(r"Total: 30 Gy prescribed, dose maximum \d+\.\d\d Gy, in 10 fractions "
                        r"\(RT Plan Number of Fractions Planned\)", lines[1]), lines[1]
    assert lines[2] == "Date: planned 2024-03-04; 6.0 months before this CT"   # 182 / 30.4375 = 5.98
    assert lines[3] == "Frame of reference: the CT's own (checked): placed without a registration"
    assert lines[4] == "SpinalCord: EQD2 at α/β 2 Gy point by point, both courses summed"
    assert window.remove_prior_action.isEnabled()
    # Ctrl+Z: no earlier course again; redo brings it back; Remove is an undoable edit too
    undo(qtbot, window)
    assert window.document.context.prior is None and panel.summary.text() == NONE_TEXT
    window.redo_action.trigger()
    assert window.document.context.prior is not None and panel.summary.text().splitlines()[0] == lines[0]
    window.remove_prior_action.trigger()
    assert window.document.context.prior is None and window.document.context.protocol.reirradiation is None
    undo(qtbot, window)
    assert window.document.context.prior is not None
    window.close()


def test_a_protocol_without_re_irradiation_limits_offers_no_earlier_course(qtbot, spine):
    main, window = open_ct(qtbot, spine.ct_folder, voxel_mm=2.5)
    choose(qtbot, window, title_of("spine-imrt-50gy-25fx"))
    assert window.document.context.protocol is not None, window.last_problem
    assert not window.load_prior_action.isEnabled()
    window.protocols.ask_prior_dose = lambda: pytest.fail("no file is asked for")
    assert window.protocols.load_prior() is False and window.document.context.prior is None
    assert window.last_problem == ("The earlier course was not loaded: protocol spine-imrt-50gy-25fx sets no "
                                   "re-irradiation limits (choose one that does, e.g. spine-sbrt-16gy-1fx)")
    window.close()


def check_the_cumulative_eqd2_limits_after_optimise(qtbot, window, tmp_path) -> None:
    """The Earlier course panel's four limits after Optimise, by hand, and the exported report's section.
    Called by tests/ui/test_imrt_cumulative_eqd2.py on its optimised window: one 2.5 mm dose influence
    and optimisation serve both (each takes about a minute)."""
    rows = {r[0]: r for r in window.prior_panel.limit_texts()}
    assert list(rows) == ["cumulative EQD2 D0.03cc ≤ 70 Gy", "this course's EQD2 D0.03cc ≤ 25 Gy",
                          "this course's share of the cumulative EQD2 D0.03cc ≤ 50 %",
                          "time since the earlier course ≥ 5 months"]
    value = {k: float(r[1].split()[0]) for k, r in rows.items()}
    # by hand: one fraction at α/β 2 Gy, EQD2 = D (D + 2) / 4 of the cord's D0.03cc in the goals table
    cord = float(next(r for r in window.goals.row_texts() if r[:2] == ("D0.03cc", "SpinalCord"))[2].split()[0])
    # (the cord's dose is shown to 0.005 Gy: its EQD2 to 0.005 × (2D + 2) / 4, then to 0.005 Gy itself)
    assert value["this course's EQD2 D0.03cc ≤ 25 Gy"] == pytest.approx(cord * (cord + 2) / 4,
                                                                       abs=0.005 * (2 * cord + 2) / 4 + 0.005)
    # the share is this course's near-maximum over the cumulative one (Sahgal 2012's ratio)
    share = 100 * value["this course's EQD2 D0.03cc ≤ 25 Gy"] / value["cumulative EQD2 D0.03cc ≤ 70 Gy"]
    assert value["this course's share of the cumulative EQD2 D0.03cc ≤ 50 %"] == pytest.approx(share, abs=0.15)
    assert rows["time since the earlier course ≥ 5 months"][1:3] == ("6.0 months", "✓ met")
    # the cumulative EQD2 is above this course's own, by the earlier course's (30 Gy in 10 fractions)
    assert value["cumulative EQD2 D0.03cc ≤ 70 Gy"] > value["this course's EQD2 D0.03cc ≤ 25 Gy"]
    assert all(r[2] in ("✓ met", "✗ NOT MET") for r in rows.values())
    assert all(source.startswith("Source: Sahgal et al.") for source in window.prior_panel.source_texts())
    # the curves the limits were read on: the cord's DVH of the cumulative EQD2 lies right of its own EQD2's,
    # and both fall from 100 % to 0 % near the values above
    for key, limit in (("cumulative", "cumulative EQD2 D0.03cc ≤ 70 Gy"), ("course", "this course's EQD2 D0.03cc ≤ 25 Gy")):
        dose, volume = window.prior_panel.curve_data(key)
        assert volume[0] == pytest.approx(100.0) and volume[-1] == 0.0
        assert value[limit] - 1.0 < dose[volume > 0].max() < value[limit] + 1.0   # D0.03cc of a ~1 cc cord: near its top
    course, cumulative = window.prior_panel.curve_data("course"), window.prior_panel.curve_data("cumulative")
    assert (cumulative[1] >= course[1] - 1e-9).all()   # same bins: at every EQD2, at least as much volume
    # the export's report carries the cumulative EQD2 of the deliverable dose, as planner imrt's does
    text = exported_report_text(qtbot, window, tmp_path / "plan")
    if text is not None:
        assert "Re-irradiation: cumulative EQD2 with the earlier course (deliverable dose)" in text
