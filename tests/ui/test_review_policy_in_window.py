"""The clinic's review policy in the window (issue 15, point 5): where the clinic treats before the
physics review, the Review tab, the status bar and the signed report say UNREVIEWED; otherwise the
same plan awaits review; a wrong clinic.toml is said, never replaced by the default."""

from tests.report.test_pdf_report import pdf_text
from tests.ui.test_review_in_window import idle, signed_by_physician


def test_the_review_tab_status_bar_and_report_follow_the_clinic_policy(demo_window, qtbot, tmp_path,
                                                                        private_user_folders):
    w = demo_window
    settings = private_user_folders[1] / "clinic.toml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("treat_before_review = true\n", encoding="utf-8")
    unreviewed = f"UNREVIEWED — treated before the physics review by clinic policy ({settings})"
    package, _certs = signed_by_physician(w, qtbot, tmp_path)
    rt_plan = package / "RTPLAN.dcm"
    # the report, redrawn at signing (a long path may wrap anywhere: compared without the spaces)
    assert unreviewed.replace(" ", "") in "".join(pdf_text(package / "report.pdf")).replace(" ", "")

    w.reviewing.review(rt_plan)
    idle(w, qtbot)
    qtbot.waitUntil(lambda: w.review_panel.review is not None and w.output.opened is not None, timeout=60000)
    label = w.review_panel.treatment_label.text()
    assert f"Treatable, {unreviewed}." in label and "This clinic treats before the physics review" in label
    assert w.output.opened.treatable and not w.output.opened.reviewed
    assert unreviewed in w.output.status_label.text()                  # the status bar says it too

    settings.write_text("treat_before_review = false\n", encoding="utf-8")
    first = w.review_panel.review
    w.reviewing.review(rt_plan, open_in_window=False)
    idle(w, qtbot)
    qtbot.waitUntil(lambda: w.review_panel.review is not first, timeout=60000)
    label = w.review_panel.treatment_label.text()
    assert "Not treatable." in label and "signed, awaiting review, not treatable" in label
    assert "A plan is treatable only after a physicist approved it." in label and "UNREVIEWED" not in label

    settings.write_text("treat_before_review = 1\n", encoding="utf-8")
    w.reviewing.review(rt_plan, open_in_window=False)
    idle(w, qtbot)
    assert w.review_panel.header.text().startswith("Not reviewed: ")
    assert (f"whether it is treatable cannot be said: the clinic settings {settings}: treat_before_review must be a "
            f"true/false value, not 1") in w.review_panel.header.text()
