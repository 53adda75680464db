"""The protocol choice when a CT is opened for IMRT (issue 18, point 5): each shipped clinical
protocol by title and id, a clinic's protocol file, or no protocol (the target's objectives only,
with the warning that the organs then have no limits).

Why a dialog of its own, opened and not executed: the window carries on drawing the CT behind it,
and a test drives its list and buttons as a user does.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from planner.core.protocols.protocol import ProtocolError, load_protocol, shipped_protocols

FROM_FILE = "From file…"
NO_PROTOCOL = "No protocol (target only)"
# What a chosen line means: ("shipped", id), ("file", None) or ("none", None).
KIND = Qt.ItemDataRole.UserRole


def protocol_label(protocol) -> str:
    return f"{protocol.title} ({protocol.id}, version {protocol.version})"


class ProtocolChoiceDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Clinical protocol for this CT")
        self.setObjectName("ProtocolChoiceDialog")
        self.list = QListWidget()
        for protocol_id in shipped_protocols():
            try:
                item = QListWidgetItem(protocol_label(load_protocol(protocol_id)))
            except ProtocolError as err:   # listed, not hidden, with why it cannot be chosen
                item = QListWidgetItem(f"{protocol_id}: cannot be used ({err.user_message})")
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            item.setData(KIND, ("shipped", protocol_id))
            self.list.addItem(item)
        for text, kind in ((FROM_FILE, "file"), (NO_PROTOCOL, "none")):
            item = QListWidgetItem(text)
            item.setData(KIND, (kind, None))
            self.list.addItem(item)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        self.list.currentItemChanged.connect(lambda *_: self._refresh())
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("The protocol gives the prescription, the clinical goals (met or not) and the "
                                "optimiser's starting objectives; its structures are matched to the CT's."))
        layout.addWidget(self.list)
        layout.addWidget(self.buttons)
        self.resize(560, 280)
        self._refresh()

    def choice(self) -> tuple[str, str | None] | None:
        item = self.list.currentItem()
        return None if item is None else item.data(KIND)

    def item_text(self, text_start: str) -> QListWidgetItem:
        """The line whose text starts so (for a user's click in a test)."""
        return next(self.list.item(i) for i in range(self.list.count())
                    if self.list.item(i).text().startswith(text_start))

    def _refresh(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(self.choice() is not None)
