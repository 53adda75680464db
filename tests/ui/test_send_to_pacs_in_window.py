"""File ▸ Send to PACS… sends the planning image with the plan when the PACS lacks it, and says so
(issue 15, point 7); sent again, the image is not stored twice. A real Orthanc, empty at the start."""

from pydicom import dcmread

from planner.dicom.pacs_settings import PacsNode
from planner.imaging.demo import DEMO_IMAGE_NAME, demo_case_path
from tests.dicom.test_network import orthanc  # noqa: F401  (a real Orthanc on loopback, one for this module)
from tests.ui.test_ebx_in_window import wait_for_dose
from tests.ui.test_menu_actions import menu_action


def idle(window, qtbot):
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60000)


def test_send_to_pacs_from_the_menu_brings_the_planning_image_once(demo_window, qtbot, tmp_path, orthanc):  # noqa: F811
    w = demo_window
    wait_for_dose(w, qtbot)
    assert w.output.export_package(tmp_path / "package")
    idle(w, qtbot)
    w.settings.save_pacs_node(PacsNode(orthanc.host, orthanc.dicom_port, orthanc.ae_title,
                                       orthanc.client_ae_title, timeout_s=5))
    asked = []
    w.ask_user = lambda title, text, choices: asked.append(title) or "Send draft"
    send = menu_action(w, "File", "Send to PACS…")

    send.trigger()
    idle(w, qtbot)
    assert asked == ["Send an unsigned plan?"]
    message = w.statusBar().currentMessage()
    assert message.startswith("Sent: 4 of 4 stored on TESTPACS@") and message.endswith("; planning image: sent"), \
        (message, w.last_problem)
    image_uid = str(dcmread(demo_case_path() / DEMO_IMAGE_NAME, stop_before_pixels=True).SOPInstanceUID)
    stored = {orthanc.rest(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"] for i in orthanc.rest("/instances")}
    assert image_uid in stored and len(stored) == 4

    send.trigger()
    idle(w, qtbot)
    message = w.statusBar().currentMessage()
    assert message.startswith("Sent: 3 of 3 stored on TESTPACS@"), (message, w.last_problem)
    assert message.endswith("; planning image: already on the PACS")
    assert len(orthanc.rest("/instances")) == 4
