"""Menu actions call their slots as a user's click does (issue 15, point 7): Qt's triggered(checked)
must never land in a slot's optional parameter. It once did: File ▸ Open Image from PACS… searched
for "False" studies instead of ultrasound ones."""

from planner.dicom.pacs_settings import PacsNode
from planner.ui.pacs_browser import PacsBrowser


def menu_action(window, menu_title: str, text: str):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == menu_title)
    return next(a for a in menu.actions() if a.text().replace("&", "") == text)


def test_pacs_browsers_opened_from_the_file_menu_look_for_their_modality(window, qtbot):
    w = window
    # a PACS that is not there: the browser opens, and is told nothing about checked states
    w.settings.save_pacs_node(PacsNode("127.0.0.1", 9, "NOWHERE", "PLANNER", timeout_s=1))
    for text, modality in (("Open Image from PACS…", "US"), ("Review Plan from PACS…", "RTPLAN")):
        before = set(w.findChildren(PacsBrowser))
        menu_action(w, "File", text).trigger()
        opened = [b for b in w.findChildren(PacsBrowser) if b not in before]
        assert len(opened) == 1 and opened[0].modality == modality
        opened[0].close()


def test_checkable_actions_still_receive_their_state(demo_window):
    w = demo_window
    w.wash_action.trigger()
    assert w.wash_action.isChecked() and w.view.dose_overlay.wash_enabled
    w.wash_action.trigger()
    assert not w.wash_action.isChecked() and not w.view.dose_overlay.wash_enabled
