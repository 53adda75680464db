"""Long work (loading an image, later dose calculation) runs off the GUI thread.

The work is a plain function ``work(progress, is_cancelled)`` from the core; this module only
moves it to a thread and reports back on the GUI thread. A progress bar and a Cancel button in
the status bar show it. One task runs at a time.

How work ends (planner.core.errors): a ``PlannerError`` is a failure whose one-line message the
user reads; a ``Cancelled`` (or any end after Cancel) is a cancel; anything else is a defect in
Planner, logged with its traceback and reported as such.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from PySide6.QtCore import QCoreApplication, QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from planner.core.errors import Cancelled, PlannerError

log = logging.getLogger(__name__)

Work = Callable[[Callable[[float, str], None], Callable[[], bool]], object]

# What the user reads when a task is asked for while another one runs (one task at a time).
STILL_BUSY = "Planner is still busy with the previous task; wait for it or cancel it first."

_gui_thread_collector = None


def collect_garbage_in_gui_thread() -> None:
    """Python's cyclic garbage collector runs in whichever thread allocates when a threshold is
    crossed; if that is a worker and the garbage holds a Qt widget, the widget is destroyed off the
    GUI thread and Qt deadlocks (seen: a signing dialog collected while the report was drawn in the
    background, hanging the window). So automatic collection is switched off and the same
    generational collection runs on a timer in the GUI thread (pyqtgraph's GarbageCollector)."""
    global _gui_thread_collector
    if _gui_thread_collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _gui_thread_collector = GarbageCollector(interval=0.5)


class TaskRunner(QObject):
    """Runs one ``Work`` at a time in a worker thread."""

    progressed = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        collect_garbage_in_gui_thread()   # before any worker thread exists
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._callbacks: tuple = (None, None)
        self._description = ""
        self._preemptible = False
        self._voice: _WorkerVoice | None = None
        # Set when Qt deletes this runner (its window closed before the work ended): the work is
        # then cancelled, and what it still says goes nowhere (see _WorkerVoice).
        self._gone = gone = threading.Event()
        self.destroyed.connect(lambda *_: gone.set())

    @property
    def busy(self) -> bool:
        return self._thread is not None

    @property
    def preemptible(self) -> bool:
        return self.busy and self._preemptible

    def start(self, description: str, work: Work, on_success: Callable[[object], None],
              on_failure: Callable[[str], None] | None = None, preemptible: bool = False) -> bool:
        """Start ``work`` unless another task runs. A ``preemptible`` task (derived data that can
        be computed again, such as beam data) is cancelled to make way for the user's next one."""
        if self.busy and self._preemptible:
            self.cancel()
            self.wait()
            QCoreApplication.sendPostedEvents(self)  # deliver its end now, so the runner is free
        if self.busy:
            return False
        self._preemptible = preemptible
        self._cancel = threading.Event()
        self._callbacks = (on_success, on_failure)
        self._description = description
        voice = self._voice = _WorkerVoice()
        voice.progressed.connect(self.progressed)
        voice.finished.connect(self._on_finish)
        self._thread = threading.Thread(
            target=_work_in_thread, name=description, daemon=True,
            args=(work, self._cancel, self._gone, voice, description))
        self.busy_changed.emit(True)
        self.progressed.emit(0.0, description)
        self._thread.start()
        return True

    def cancel(self) -> None:
        self._cancel.set()

    def abandon(self) -> None:
        """Cancel and forget: whatever the work returns later is delivered to no one."""
        self._callbacks = (None, None)
        self.cancel()

    def wait(self, timeout_s: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _on_finish(self, outcome: str, payload: object) -> None:
        if self._thread is not None:
            self._thread.join()
        self._thread = None
        self._voice = None
        on_success, on_failure = self._callbacks
        self._callbacks = (None, None)
        self.busy_changed.emit(False)
        if outcome == "succeeded":
            self.succeeded.emit(payload)
            if on_success is not None:
                on_success(payload)
        elif outcome == "failed":
            self.failed.emit(payload)
            if on_failure is not None:
                on_failure(payload)
        else:
            self.cancelled.emit()
            if on_failure is not None:  # the caller learns its work did not happen
                on_failure(f"{self._description} was cancelled")


class _WorkerVoice(QObject):
    """What a worker says, emitted on an object of its own rather than on the runner.

    The runner belongs to a window, and the window may be deleted while the work still runs (it
    waits a few seconds on close, and a Monte Carlo batch can take longer). Emitting on a deleted
    QObject raises in the worker, or crashes when the deletion happens during the emit. This object
    has no parent, so nothing deletes it while the worker holds it; Qt drops the queued connections
    to a runner that is gone.
    """

    progressed = Signal(float, str)
    finished = Signal(str, object)   # (outcome, payload)


_voices_of_closed_windows: list[_WorkerVoice] = []   # kept, so none is deleted off the GUI thread


def _work_in_thread(work: Work, cancel: threading.Event, gone: threading.Event, voice: _WorkerVoice,
                    description: str) -> None:
    """The worker thread's whole life: run the work, then say how it ended. Never touches the runner."""
    def stopped() -> bool:
        return cancel.is_set() or gone.is_set()

    try:
        result = work(lambda fraction, message: voice.progressed.emit(float(fraction), message), stopped)
        outcome, payload = ("cancelled" if stopped() else "succeeded"), result
    except BaseException as err:  # reported, never raised into the GUI
        if stopped() or isinstance(err, Cancelled):
            outcome, payload = "cancelled", None
        elif isinstance(err, PlannerError):
            outcome, payload = "failed", err.user_message
        else:
            log.exception("%s failed", description)
            outcome, payload = "failed", (f"{description} failed unexpectedly: "
                                          f"{type(err).__name__}: {err} (details in the log)")
    voice.finished.emit(outcome, payload)
    if gone.is_set():
        _voices_of_closed_windows.append(voice)


class TaskProgressWidget(QWidget):
    """Progress bar with a message and a Cancel button; visible only while a task runs."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.message = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(180)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.message)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(runner.cancel)
        runner.progressed.connect(self._on_progress)
        runner.busy_changed.connect(self.setVisible)
        self.setVisible(False)

    def _on_progress(self, fraction: float, message: str) -> None:
        self.bar.setValue(int(round(max(0.0, min(1.0, fraction)) * 1000)))
        self.message.setText(message)
