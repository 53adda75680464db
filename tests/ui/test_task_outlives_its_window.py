"""A window closed while its background work runs: the work is cancelled and the worker tells no one.

Seen in a full test run: a window was deleted while its Monte Carlo beam data were computing, and the
worker's next progress report raised "Signal source has been deleted" in the thread (twice: once more
when it tried to report that failure).
"""

import threading

import shiboken6

from planner.ui.tasks import TaskRunner


def test_deleting_the_runner_cancels_its_work_and_raises_nothing_in_the_worker(qtbot, monkeypatch):
    thread_errors = []
    monkeypatch.setattr(threading, "excepthook", lambda args: thread_errors.append(args.exc_value))
    started, steps = threading.Event(), []

    def long_work(progress, cancelled):
        started.set()
        while not cancelled():
            progress(0.5, "working")
            steps.append(1)
            threading.Event().wait(0.005)
        return "stopped"

    runner = TaskRunner()
    runner.start("Monte Carlo beam data (test)", long_work, lambda _result: None)
    worker = runner._thread
    assert started.wait(5)
    shiboken6.delete(runner)          # what closing its window does to it
    worker.join(5)

    assert not worker.is_alive(), "the work did not see that its window is gone"
    assert thread_errors == []
    assert steps, "the work ran and reported progress before the window closed"
