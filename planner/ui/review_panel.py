"""The physicist's review: signatures, the recomputed dose, the independent second check, the
consistency checks, and Approve / Reject with an authorization signature; the plan's audit trail.

The decision itself is the core's (planner.review): this panel shows what review_plan found,
never enables Approve when the core says the plan cannot be approved, and always shows why.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from planner.review.imrt_second_check import ImrtSecondCheck
from planner.review.plan_review import PlanReview

COLOURS = {"ok": "#40d080", "agree": "#40d080", "review": "#ffb040", "stop": "#ff6060"}
AUDIT_COLUMNS = ("When (UTC)", "Who", "Action", "Details")


class ReviewPanel(QWidget):
    approve_requested = Signal()
    reject_requested = Signal(str)   # the reason as typed

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.review: PlanReview | None = None
        self.header = QLabel("Open a signed plan to review it (File ▸ Review Plan…).")
        self.header.setWordWrap(True)
        # Shown while the plan on screen is not the reviewed one (edited since, or another plan opened).
        self.not_this_plan = QLabel()
        self.not_this_plan.setWordWrap(True)
        self.not_this_plan.setStyleSheet("color: white; background: #a01010; font-weight: bold; padding: 4px;")
        self.not_this_plan.setVisible(False)
        self._decision_allowed = (False, False)
        # Treatable or not, reviewed or not, and the clinic's policy: planner.dicom.signed_plan's verdict.
        self.treatment_label = QLabel()
        self.treatment_label.setWordWrap(True)
        self.signatures_label = QLabel()
        self.signatures_label.setWordWrap(True)
        self.check_label = QLabel()
        self.check_label.setWordWrap(True)
        self.findings_label = QLabel()
        self.findings_label.setWordWrap(True)
        self.reasons_label = QLabel()
        self.reasons_label.setWordWrap(True)
        self.reviewer_name = QLineEdit()
        self.reviewer_name.setPlaceholderText("reviewer's name as it goes into the plan")
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("what must change (required to reject)")
        self.approve_button = QPushButton("Approve and sign…")
        self.reject_button = QPushButton("Reject and sign…")
        self.audit_table = QTableWidget(0, len(AUDIT_COLUMNS))
        self.audit_table.setHorizontalHeaderLabels(AUDIT_COLUMNS)
        self.audit_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.audit_table.verticalHeader().setVisible(False)
        self.audit_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.audit_table.horizontalHeader().setStretchLastSection(True)

        checks = QGroupBox("What was checked")
        checks_layout = QVBoxLayout(checks)
        for label in (self.signatures_label, self.check_label, self.findings_label):
            checks_layout.addWidget(label)
        decision = QGroupBox("Decision")
        decision_layout = QVBoxLayout(decision)
        decision_layout.addWidget(self.reasons_label)
        name_row = QHBoxLayout()
        name_row.addWidget(QLabel("Reviewer"))
        name_row.addWidget(self.reviewer_name, 1)
        decision_layout.addLayout(name_row)
        reason_row = QHBoxLayout()
        reason_row.addWidget(QLabel("Reason"))
        reason_row.addWidget(self.reason, 1)
        decision_layout.addLayout(reason_row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.approve_button)
        buttons.addWidget(self.reject_button)
        decision_layout.addLayout(buttons)
        audit = QGroupBox("Audit trail of this plan")
        QVBoxLayout(audit).addWidget(self.audit_table)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.not_this_plan)
        layout.addWidget(self.header)
        layout.addWidget(self.treatment_label)
        layout.addWidget(checks)
        layout.addWidget(decision)
        layout.addWidget(audit, 1)
        self.approve_button.clicked.connect(self.approve_requested)
        self.reject_button.clicked.connect(lambda: self.reject_requested.emit(self.reason.text()))
        self.show_review(None)

    def show_busy(self, text: str) -> None:
        self.header.setText(text)
        self.approve_button.setEnabled(False)
        self.reject_button.setEnabled(False)

    def show_review(self, review: PlanReview | None, audit_entries: tuple = ()) -> None:
        self.review = review
        if review is None:
            for label in (self.treatment_label, self.signatures_label, self.check_label, self.findings_label,
                          self.reasons_label):
                label.setText("")
            self.approve_button.setEnabled(False)
            self.reject_button.setEnabled(False)
            self.not_this_plan.setVisible(False)
            self.audit_table.setRowCount(0)
            return
        plan = review.signed_plan.plan
        self.header.setText(f"<b>{html.escape(plan.label)}</b> — {html.escape(plan.patient_name)} "
                            f"({html.escape(plan.patient_id)}). Approval status: "
                            f"<b>{html.escape(review.approval.describe())}</b>")
        self.treatment_label.setText(_treatment_text(review.signed_plan))
        self.signatures_label.setText("<b>Signatures</b><br>" + ("<br>".join(
            _coloured(s.describe(), "ok" if s.status == "intact" and s.trusted else "stop") for s in review.signatures)
            or _coloured("none: the plan is an unsigned draft", "stop")))
        self.check_label.setText(_check_text(review))
        self.findings_label.setText("<b>Consistency</b><br>" + "<br>".join(
            _coloured(f"{f.severity}: {f.message}", f.severity) for f in review.findings))
        if review.can_approve:
            self.reasons_label.setText(_coloured("Nothing stands in the way of approval.", "ok"))
        else:
            self.reasons_label.setText("<b>Cannot be approved:</b><br>" + "<br>".join(
                _coloured(r, "stop") for r in review.reasons))
        decided = review.approval.status in ("APPROVED", "REJECTED")
        broken = any(s.status != "intact" for s in review.signatures) or not review.signatures
        self._decision_allowed = (review.can_approve, not decided and not broken)
        self.show_plan_on_screen(True)
        self.show_audit(audit_entries)

    def show_plan_on_screen(self, is_reviewed_plan: bool) -> None:
        """Whether the plan in the window is the one this review describes. When it is not, a red
        banner says so and nothing can be approved or rejected from here."""
        if self.review is None:
            self.not_this_plan.setVisible(False)
            return
        reviewed = self.review.signed_plan.plan
        self.not_this_plan.setText(
            f"The plan on screen is not the reviewed plan ({html.escape(reviewed.label)}, "
            f"{html.escape(reviewed.patient_id)}, {html.escape(self.review.approval.describe())}): it was edited "
            f"since or another plan was opened. This review does not describe it.")
        self.not_this_plan.setVisible(not is_reviewed_plan)
        approve, reject = self._decision_allowed
        self.approve_button.setEnabled(approve and is_reviewed_plan)
        self.reject_button.setEnabled(reject and is_reviewed_plan)

    def show_audit(self, entries: tuple) -> None:
        self.audit_table.setRowCount(len(entries))
        for row, e in enumerate(entries):
            values = (e.at_utc, e.who, e.action, ", ".join(f"{k}: {v}" for k, v in sorted(e.details.items())))
            for col, text in enumerate(values):
                self.audit_table.setItem(row, col, QTableWidgetItem(str(text)))


def _treatment_text(signed) -> str:
    """The verdict in a line, then the clinic's policy: an unreviewed plan is never shown as approved."""
    if signed.reviewed:
        verdict, severity = "Treatable: approved after the physics review.", "ok"
    elif signed.treatable:
        verdict, severity = f"Treatable, {signed.clinic.unreviewed_text}.", "review"
    else:
        verdict, severity = "Not treatable.", "stop"
    return (f"<b>{_coloured(verdict, severity)}</b> {html.escape(signed.clinic.review_policy_text)}<br>"
            + _coloured(signed.message, severity))


def _check_text(review: PlanReview) -> str:
    parts = ["<b>Dose recomputed and second check</b>"]
    if review.recomputation is not None:
        parts.append(_coloured(review.recomputation.message, "ok" if review.recomputation.reproduced else "stop"))
    check = review.second_check
    if check is None:
        parts.append(_coloured("no second check could be made (see the reasons)", "stop"))
    elif isinstance(check, ImrtSecondCheck):   # an IMRT plan's: the dose at a point, in its own words
        parts.append(_coloured(f"second check ({check.method}): {check.message} — {check.verdict}", check.verdict))
    else:
        parts.append(_coloured(f"second check ({check.method}): {check.time_name} "
                               f"{check.check_time_min:.3f} min independently vs {check.plan_time_min:.3f} min in "
                               f"the plan, difference {check.difference_percent:+.2f} % — {check.verdict} "
                               f"(review above {check.action_levels.review_percent:g} %, stop above "
                               f"{check.action_levels.stop_percent:g} %)", check.verdict))
    return "<br>".join(parts)


def _coloured(text: str, severity: str) -> str:
    return f'<span style="color:{COLOURS.get(severity, "#e0e0e0")}">{html.escape(text)}</span>'
