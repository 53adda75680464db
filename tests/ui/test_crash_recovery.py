"""Kill Planner in the middle of a session; the next start offers the plan with every edit."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from planner.core.plan_file import plan_to_dict
from tests.ui.gui_driver import make_window

ROOT = Path(__file__).resolve().parents[2]


def run_and_kill_session(*notes: str) -> dict | list[dict]:
    """Start one Planner session per ``notes`` (typed into its plan's notes), each running at once
    with the others; kill them all once each has made its edits; the plan each held, in order."""
    expected, victims = [], []
    try:
        for text in notes or ("Killed while typing",):   # one after the other: the first started first
            victim = subprocess.Popen([sys.executable, "-m", "tests.ui.crash_victim", text], cwd=ROOT,
                                      env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            victims.append(victim)
            line = victim.stdout.readline()
            assert line, f"the session printed nothing; stderr:\n{victim.stderr.read()}"
            expected.append(json.loads(line))
        for victim in victims:
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)
    finally:
        for victim in victims:
            if victim.poll() is None:
                victim.kill()
    assert all(victim.returncode == -signal.SIGKILL for victim in victims)
    return expected if notes else expected[0]


def test_a_killed_session_is_restored_with_its_edits(qtbot):
    expected = run_and_kill_session()
    assert expected["setup"]["energy"] == "70kV" and expected["notes"] == "Killed while typing"

    window = make_window({"Restore unsaved plan?": "Restore", "Unsaved plan": "Discard"})
    qtbot.addWidget(window)
    window.show()
    assert window.offer_recovery()
    qtbot.waitUntil(lambda: window.document.plan is not None, timeout=10000)
    assert plan_to_dict(window.document.plan) == expected
    assert window.isWindowModified()  # restored work is not yet in any plan file
    assert window.plan_panel.notes.toPlainText() == "Killed while typing"
    np.testing.assert_allclose(window.view.outline_vertices_mm(), expected["lesion_outline_mm"], atol=1e-9)


def test_declining_the_restore_discards_the_recovery_file(qtbot):
    run_and_kill_session()
    window = make_window({"Restore unsaved plan?": "Discard"})
    qtbot.addWidget(window)
    root = window.document.recovery.session.root
    assert len(list(root.glob("*/plan.json"))) == 1  # the killed session's, in its own folder
    assert not window.offer_recovery()
    assert not list(root.glob("*/plan.json"))
    assert window.document.plan is None


def test_after_two_sessions_are_killed_each_ones_work_is_offered(qtbot):
    first, second = run_and_kill_session("Edited in the first Planner", "Edited in the second Planner")

    asked = []
    window = make_window()
    window.ask_user = lambda title, text, choices: asked.append(title) or (
        "Restore" if title == "Restore unsaved plan?" else "Later")
    qtbot.addWidget(window)
    window.show()
    assert window.offer_recovery()
    assert asked == ["Restore unsaved plan?", "Keep unsaved plan?"]  # each session's plan, oldest first
    qtbot.waitUntil(lambda: window.document.plan is not None, timeout=10000)
    assert plan_to_dict(window.document.plan) == first
    assert window.isWindowModified()

    # the second session's work was left for later: another Planner started now is offered it
    other = make_window({"Restore unsaved plan?": "Restore"})
    qtbot.addWidget(other)
    other.show()
    assert other.offer_recovery()
    qtbot.waitUntil(lambda: other.document.plan is not None, timeout=10000)
    assert plan_to_dict(other.document.plan) == second
    # and nothing is offered twice: both are now the running windows' own work
    third = make_window({"Restore unsaved plan?": "Restore"})
    qtbot.addWidget(third)
    assert not third.offer_recovery()
