"""The PACS settings dialog: typed values are checked before they are kept; Test connection
says what a real Orthanc answered, and names the address when nothing listens."""

from planner.ui.pacs_dialog import PacsDialog
from planner.ui.settings import AppSettings
from planner.ui.tasks import TaskRunner
from tests.dicom.orthanc_server import free_port
from tests.dicom.test_network import orthanc  # noqa: F401  (a real Orthanc on loopback)


def make_dialog(qtbot, node=None):
    runner = TaskRunner()
    dialog = PacsDialog(node, runner)
    qtbot.addWidget(dialog)
    return dialog, runner


def type_node(qtbot, dialog, host, port, called, calling="PLANNER"):
    for edit, text in ((dialog.host, host), (dialog.called, called), (dialog.calling, calling)):
        edit.clear()
        qtbot.keyClicks(edit, text)
    dialog.port.setValue(port)


def test_test_connection_reports_the_echo_of_a_real_pacs(qtbot, orthanc):  # noqa: F811
    dialog, runner = make_dialog(qtbot)
    type_node(qtbot, dialog, orthanc.host, orthanc.dicom_port, orthanc.ae_title, orthanc.client_ae_title)
    dialog.test_button.click()
    qtbot.waitUntil(lambda: not runner.busy and "answered" in dialog.status_label.text(), timeout=15000)
    assert orthanc.ae_title in dialog.status_label.text()


def test_a_pacs_that_is_down_is_named_and_bad_values_are_refused(qtbot, tmp_path):
    dialog, runner = make_dialog(qtbot)
    port = free_port()
    type_node(qtbot, dialog, "127.0.0.1", port, "NOBODY")
    dialog.timeout.setValue(2.0)
    dialog.test_button.click()
    qtbot.waitUntil(lambda: not runner.busy and "No answer" in dialog.status_label.text(), timeout=15000)
    assert f"127.0.0.1:{port}" in dialog.status_label.text()

    type_node(qtbot, dialog, "127.0.0.1", 104, "A-TITLE-MUCH-TOO-LONG")
    dialog.accept_if_valid()
    assert dialog.result() != dialog.DialogCode.Accepted
    assert "longer than 16 characters" in dialog.status_label.text()

    type_node(qtbot, dialog, "pacs.example", 11112, "ORTHANC")
    dialog.accept_if_valid()
    assert dialog.node.host == "pacs.example" and dialog.node.port == 11112

    settings = AppSettings(tmp_path / "planner.ini")
    assert settings.pacs_node() is None
    settings.save_pacs_node(dialog.node)
    assert AppSettings(tmp_path / "planner.ini").pacs_node() == dialog.node
