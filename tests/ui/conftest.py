import pytest

from tests.ui.gui_driver import make_window


@pytest.fixture
def window(qtbot):
    w = make_window({"Unsaved plan": "Discard"})
    qtbot.addWidget(w)
    with qtbot.waitExposed(w):
        w.show()
    yield w
    w.runner.cancel()
    w.runner.wait(5.0)


@pytest.fixture
def demo_window(window, qtbot):
    window.open_demo()
    assert window.document.plan is not None, window.last_problem
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60000)  # the demo beam's Monte Carlo
    qtbot.wait(20)  # let the view settle on its final transform before mouse work
    return window
