"""Trusted signers in the window: File ▸ Trust Certificate… and File ▸ Trusted Certificates….

A certificate is trusted by its SHA-256 fingerprint (planner.dicom.trust): Trust Certificate… reads
the file once, shows each certificate's name, validity and fingerprint and asks to confirm; from
then on the file is never read again, so replacing it with a look-alike changes nothing. The
store is read at every check, and ``changed`` is emitted after every change, so the plan on screen
and the review are checked again at once (issue 15, point 4).

Settings from before fingerprints kept the certificates' file paths. They are migrated once: each
file is read as it is now, its fingerprint shown and the user asked whether to trust that
certificate; the paths are then forgotten, whatever the answer.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

from planner.dicom.keys import describe_certificate
from planner.dicom.trust import (TrustedCertificate, TrustStoreError, certificates_of, distrust, load_trust_store,
                                 read_certificates, store_path, trust)

TRUST_QUESTION = "Trust this certificate?"
DISTRUST_QUESTION = "Stop trusting this certificate?"
MIGRATION_QUESTION = "Trust a certificate remembered by its file?"
TRUST, DONT_TRUST = "Trust", "Do not trust"
COLUMNS = ("Signer", "SHA-256 fingerprint", "Valid", "Trusted on")


class TrustedSigners(QObject):
    changed = Signal()

    def __init__(self, window):
        super().__init__(window)
        self.window = window

    # --- reading ---------------------------------------------------------------------------------
    def entries(self) -> tuple[TrustedCertificate, ...]:
        """The trusted certificates as the store holds them now; a store that cannot be used is
        said, and nothing is trusted."""
        self._migrate_paths()
        try:
            return load_trust_store()
        except TrustStoreError as err:
            self.window.report_problem(f"No certificate is trusted: {err}")
            return ()

    def certificates(self) -> tuple[x509.Certificate, ...]:
        return certificates_of(self.entries())

    # --- changing --------------------------------------------------------------------------------
    def trust_file(self, path: str | Path) -> bool:
        """Read the certificate(s) in ``path`` once, show their fingerprints, ask, and pin them."""
        try:
            certificates = read_certificates(path)
        except TrustStoreError as err:
            self.window.report_problem(f"Not trusted: {err}")
            return False
        return self._ask_and_trust(certificates, TRUST_QUESTION,
                                   f"{Path(path).name} holds:\n\n" + _certificate_lines(certificates)
                                   + "\n\nCompare the fingerprint with the one its owner gives you (on paper or by "
                                   "phone) before trusting it. Signatures made with another certificate, even one "
                                   "with the same name, stay untrusted.")

    def distrust(self, entry: TrustedCertificate) -> bool:
        if self.window.ask_user(DISTRUST_QUESTION, f"{entry.describe()}\n\nSignatures made with it are no longer "
                                "trusted, from now on.", ("Stop trusting", "Cancel")) != "Stop trusting":
            return False
        try:
            removed = distrust(entry.fingerprint_sha256)
        except TrustStoreError as err:
            self.window.report_problem(f"Still trusted: {err}")
            return False
        if removed:
            self.window.statusBar().showMessage(f"No longer trusted: {entry.describe()}", 15000)
            self.changed.emit()
        return removed

    def _ask_and_trust(self, certificates, title: str, text: str) -> bool:
        if self.window.ask_user(title, text, (TRUST, DONT_TRUST)) != TRUST:
            return False
        try:
            entries = trust(certificates)
        except TrustStoreError as err:
            self.window.report_problem(f"Not trusted: {err}")
            return False
        self.window.statusBar().showMessage("Trusted: " + "; ".join(e.describe() for e in entries), 15000)
        self.changed.emit()
        return True

    def _migrate_paths(self) -> None:
        """Certificates trusted by file path (before fingerprints): asked about once, then forgotten."""
        settings = self.window.settings
        paths = settings.trusted_certificate_paths()
        if not paths:
            return
        settings.forget_trusted_certificate_paths()   # first: a question is never asked twice
        for path in paths:
            try:
                certificates = read_certificates(path)
            except TrustStoreError as err:
                self.window.report_problem(f"A certificate trusted by its file path is no longer trusted: {err}")
                continue
            self._ask_and_trust(certificates, MIGRATION_QUESTION,
                                f"Planner used to trust the certificate in {path} by its file path: whatever "
                                f"that file held when a plan was checked. It now holds:\n\n"
                                + _certificate_lines(certificates)
                                + "\n\nTrust exactly this certificate (by its fingerprint) only if the fingerprint "
                                  "is the one its owner gives you. Otherwise nothing from this file is trusted.")

    # --- the list ----------------------------------------------------------------------------------
    def show_list(self) -> "TrustedCertificatesDialog":
        dialog = TrustedCertificatesDialog(self, self.window)
        dialog.open()
        return dialog


class TrustedCertificatesDialog(QDialog):
    """The trusted certificates with their fingerprints; Trust…, Stop trusting."""

    def __init__(self, signers: TrustedSigners, parent=None):
        super().__init__(parent)
        self.signers = signers
        self.setWindowTitle("Trusted certificates")
        self.resize(900, 300)
        self.where = QLabel(f"Kept in {store_path()}, by SHA-256 fingerprint: a certificate file replaced later "
                            "changes nothing.")
        self.where.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.remove_button = QPushButton("Stop trusting…")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.remove_button)
        row.addStretch(1)
        row.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self.where)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        self.remove_button.clicked.connect(self._remove_selected)
        signers.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self.entries = self.signers.entries()
        self.table.setRowCount(len(self.entries))
        for r, e in enumerate(self.entries):
            values = (e.name, e.fingerprint_sha256, f"{e.not_before:%Y-%m-%d} to {e.not_after:%Y-%m-%d}",
                      e.trusted_at[:10])
            for c, text in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.remove_button.setEnabled(bool(self.entries))

    def _remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        if rows:
            self.signers.distrust(self.entries[rows[0]])


def _certificate_lines(certificates) -> str:
    lines = []
    for certificate in certificates:
        d = describe_certificate(certificate)
        test = "  [TEST certificate — not for clinical use]" if d.is_test else ""
        issuer = "self-signed" if d.is_self_signed else f"issued by {d.issuer}"
        lines.append(f"{d.signer()}{test}\n{issuer}, valid {d.valid_from:%Y-%m-%d} to {d.valid_until:%Y-%m-%d}\n"
                     f"SHA-256 fingerprint:\n{d.fingerprint_sha256}")
    return "\n\n".join(lines)
