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


def run_and_kill_session() -> dict:
    victim = subprocess.Popen([sys.executable, "-m", "tests.ui.crash_victim"], cwd=ROOT, env=dict(os.environ),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = victim.stdout.readline()
        assert line, f"the session printed nothing; stderr:\n{victim.stderr.read()}"
        expected = json.loads(line)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert victim.returncode == -signal.SIGKILL
    return expected


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
