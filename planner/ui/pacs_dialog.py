"""Where the PACS or record-and-verify system is: host, port and the two AE titles.

The values are checked as a PacsNode (planner.dicom.pacs_settings) before the dialog accepts
them, so a typo is caught while the user is still typing, not as "association rejected" later.
"Test connection" sends a C-ECHO in the background and says what came back.
"""

from __future__ import annotations

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel, QLineEdit,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from planner.dicom.network import echo
from planner.dicom.pacs_settings import DEFAULT_CALLING_AE_TITLE, PacsNode

PROBLEM_STYLE = "color: #ff6060;"


class PacsDialog(QDialog):
    def __init__(self, node: PacsNode | None, runner, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("PACS / record-and-verify system")
        self.runner = runner
        self.node: PacsNode | None = node
        self.host = QLineEdit("" if node is None else node.host)
        self.host.setPlaceholderText("pacs.hospital.example or 192.0.2.10")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(104 if node is None else node.port)
        self.called = QLineEdit("" if node is None else node.called_ae_title)
        self.called.setPlaceholderText("the PACS's AE title")
        self.calling = QLineEdit(DEFAULT_CALLING_AE_TITLE if node is None else node.calling_ae_title)
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(1.0, 600.0)
        self.timeout.setSuffix(" s")
        self.timeout.setValue(30.0 if node is None else node.timeout_s)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.test_button = QPushButton("Test connection (C-ECHO)")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)

        form = QFormLayout()
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("PACS AE title (called)", self.called)
        form.addRow("Planner AE title (calling)", self.calling)
        form.addRow("Give up after", self.timeout)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.test_button)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)
        self.test_button.clicked.connect(self.test_connection)
        self.buttons.accepted.connect(self.accept_if_valid)
        self.buttons.rejected.connect(self.reject)

    def entered_node(self) -> PacsNode | None:
        """The node as typed, or None with the reason shown."""
        try:
            return PacsNode(self.host.text().strip(), self.port.value(), self.called.text().strip(),
                            self.calling.text().strip(), self.timeout.value())
        except ValueError as err:
            self._show(str(err), problem=True)
            return None

    def accept_if_valid(self) -> None:
        node = self.entered_node()
        if node is not None:
            self.node = node
            self.accept()

    def test_connection(self) -> None:
        node = self.entered_node()
        if node is None:
            return
        if self.runner.busy:
            self._show("Another task is running; try again when it ends.", problem=True)
            return
        self._show(f"Connecting to {node.called_ae_title} at {node.host}:{node.port}…")
        self.runner.start(f"C-ECHO {node.host}:{node.port}", lambda _p, _c: echo(node),
                          lambda seconds: self._show(f"{node.called_ae_title} at {node.host}:{node.port} answered "
                                                     f"the C-ECHO in {seconds * 1000:.0f} ms."),
                          lambda message: self._show(f"No answer: {message}", problem=True))

    def _show(self, text: str, problem: bool = False) -> None:
        self.status_label.setStyleSheet(PROBLEM_STYLE if problem else "")
        self.status_label.setText(text)


