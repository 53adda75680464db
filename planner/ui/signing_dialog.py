"""Choose the signer's key and certificate and type the passphrase: the physician's signature.

The passphrase lives only in the password field and in the one call that opens the key; the
field is cleared after every attempt, and nothing of it is stored, logged or shown. A key that
cannot be used (wrong passphrase, expired or non-RSA certificate, …) is named in the dialog,
which stays open with the paths as typed.
"""

from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QVBoxLayout, QWidget)

from planner.dicom.keys import (SigningIdentity, SigningKeyError, describe_certificate, is_test_certificate,
                                load_signing_identity)

PROBLEM_STYLE = "color: #ff6060;"
ROLES = (("Creator: the physician signs the plan", "creator"),
         ("Authorization: the physicist approves it", "authorization"))


class SigningDialog(QDialog):
    def __init__(self, roles: tuple[str, ...] = ("creator",), parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Sign the plan")
        self.identity: SigningIdentity | None = None
        self.key_path = QLineEdit()
        self.key_path.setPlaceholderText("PKCS#12 (.p12/.pfx) or PEM private key")
        self.cert_path = QLineEdit()
        self.cert_path.setPlaceholderText("PEM certificate (not needed for PKCS#12)")
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.role = QComboBox()
        for text, role in ROLES:
            if role in roles:
                self.role.addItem(text, role)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.sign_button = self.buttons.addButton("Sign", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)

        form = QFormLayout()
        form.addRow("Key", _with_browse(self.key_path, self, "Signing key",
                                        "Keys (*.p12 *.pfx *.pem *.key);;All files (*)"))
        form.addRow("Certificate", _with_browse(self.cert_path, self, "Signer's certificate",
                                                "Certificates (*.pem *.crt *.cer);;All files (*)"))
        form.addRow("Passphrase", self.passphrase)
        form.addRow("Role", self.role)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("The signature (DICOM PS3.15, RSA with SHA-256) covers the whole plan except the "
                                "approval fields, which the physicist fills in later."))
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.try_sign)
        self.buttons.rejected.connect(self.reject)

    @property
    def chosen_role(self) -> str:
        return self.role.currentData()

    def try_sign(self) -> None:
        """Open the key with the typed passphrase; accept only when it can sign."""
        secret = self.passphrase.text().encode("utf-8") or None
        self.passphrase.clear()
        key, cert = self.key_path.text().strip(), self.cert_path.text().strip() or None
        if not key:
            self._problem("Choose the signing key file.")
            return
        try:
            identity = load_signing_identity(key, cert, secret)
        except SigningKeyError as err:
            self._problem(str(err))
            return
        finally:
            del secret
        self.identity = identity
        self.accept()

    def _problem(self, text: str) -> None:
        self.message.setStyleSheet(PROBLEM_STYLE)
        self.message.setText(text)


def ask_for_signer(parent: QWidget, roles: tuple[str, ...], sign) -> SigningDialog:
    """Open the signing dialog (window-modal); once a key opens, ``sign(identity, role)`` is called."""
    dialog = SigningDialog(roles, parent)
    dialog.accepted.connect(lambda: sign(dialog.identity, dialog.chosen_role))
    dialog.open()
    return dialog


def exported_before_signing(window, exported: bool, export_item: str) -> bool:
    """Whether the plan as it is now was exported (``exported``); if not, the window says once that it
    must be (File ▸ ``export_item``) first: a signature covers the exported RT Plan, never the screen."""
    if not exported:
        window.report_problem(f"Export the plan as it is now before signing it (File ▸ {export_item}): a signature "
                              f"covers the exported RT Plan.")
    return exported


def signed_words(identity: SigningIdentity, role: str) -> str:
    """Who signed and as what, as a window's status bar lists the signatures: "Dr A (creator)"."""
    return f"{signer_text(identity)} ({role})"


def signer_text(identity: SigningIdentity) -> str:
    """Who signs, as the window and the report say it; a TEST certificate says so."""
    text = describe_certificate(identity.certificate).signer()
    return text + (" — TEST certificate, not for clinical use" if is_test_certificate(identity.certificate) else "")


def _with_browse(edit: QLineEdit, parent: QWidget, title: str, filter_: str) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QPushButton("Browse…")
    layout.addWidget(button)

    def browse() -> None:
        path, _ = QFileDialog.getOpenFileName(parent, title, edit.text(), filter_)
        if path:
            edit.setText(path)
    button.clicked.connect(browse)
    return row
