"""Qt widgets are destroyed in the GUI thread only: cyclic garbage is collected there on a timer,
never by a worker thread that happens to cross the collector's threshold (that deadlocked Qt)."""

import gc
import threading
import weakref

from PySide6.QtWidgets import QDialog

from planner.ui.tasks import TaskRunner


def test_cyclic_widget_garbage_is_collected_in_the_gui_thread_not_in_a_worker(qtbot):
    runner = TaskRunner()
    assert not gc.isenabled()      # automatic (any-thread) collection is off once a runner exists

    collected_in = []
    dialog = QDialog()
    dialog.cycle = dialog          # a reference cycle, as a lambda connected to the dialog makes
    dialog.destroyed.connect(lambda: collected_in.append(threading.current_thread().name))
    alive = weakref.ref(dialog)
    del dialog

    def churn(_progress, _cancelled):
        junk = []
        for i in range(200_000):   # far past gen-0's threshold: would trigger a collection here
            item = [i]
            item.append(item)
            junk.append(item)
        return len(junk)

    runner.start("churn", churn, lambda _n: None)
    qtbot.waitUntil(lambda: not runner.busy, timeout=30000)
    qtbot.waitUntil(lambda: alive() is None, timeout=5000)   # the GUI thread's timer collects it
    assert collected_in in ([], ["MainThread"])
