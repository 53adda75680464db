"""Window layout, recent files, the PACS address and the last technique used, kept between runs
in an INI file (QSettings).

A settings file that cannot be read is moved aside and Planner starts with defaults; the user is
told where the old file went. Settings are a convenience: losing them must never stop the work.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from planner.dicom.pacs_settings import DEFAULT_CALLING_AE_TITLE, PacsNode

MAX_RECENT_FILES = 8


class AppSettings:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.problem: str | None = None
        reason = _unreadable_reason(self.path)
        if reason is None:
            self.qsettings = QSettings(str(self.path), QSettings.Format.IniFormat)
            if self.qsettings.status() != QSettings.Status.NoError:
                reason = "it is not a valid settings file" if self.qsettings.status() == QSettings.Status.FormatError \
                    else "it cannot be read"
        if reason is not None:
            self.problem = self._set_aside(reason)
            self.qsettings = QSettings(str(self.path), QSettings.Format.IniFormat)

    def _set_aside(self, reason: str) -> str:
        damaged = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(self.path, damaged)
        except OSError as err:
            return (f"The settings file {self.path} could not be used ({reason}) and could not be moved aside "
                    f"({err.strerror or err}). Planner runs with default settings; delete or fix that file to keep "
                    f"your window layout and recent files again.")
        return (f"The settings file {self.path} could not be used ({reason}). It was moved to {damaged} and "
                f"Planner started with default settings (window layout, recent files).")

    # --- recent files -------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.qsettings.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    def add_recent_file(self, path: str) -> None:
        files = [path] + [p for p in self.recent_files() if p != path]
        self.qsettings.setValue("recent_files", files[:MAX_RECENT_FILES])
        self.qsettings.sync()

    # --- PACS -------------------------------------------------------------------------------
    def pacs_node(self) -> PacsNode | None:
        """The PACS last set up, or None (never set, or a stored value no longer valid)."""
        q = self.qsettings
        try:
            return PacsNode(str(q.value("pacs/host", "")), int(q.value("pacs/port", 0)),
                            str(q.value("pacs/called_ae_title", "")),
                            str(q.value("pacs/calling_ae_title", DEFAULT_CALLING_AE_TITLE)),
                            float(q.value("pacs/timeout_s", 30.0)))
        except (TypeError, ValueError):
            return None

    def save_pacs_node(self, node: PacsNode) -> None:
        for key in ("host", "port", "called_ae_title", "calling_ae_title", "timeout_s"):
            self.qsettings.setValue(f"pacs/{key}", getattr(node, key))
        self.qsettings.sync()

    # --- trusted signers --------------------------------------------------------------------
    # Trusted certificates are pinned by fingerprint in planner.dicom.trust's store. Older settings
    # kept their file paths: read once to ask about them (planner.ui.trusted_signers), then forgotten.
    def trusted_certificate_paths(self) -> list[str]:
        value = self.qsettings.value("signatures/trusted_certificates", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    def forget_trusted_certificate_paths(self) -> None:
        self.qsettings.remove("signatures/trusted_certificates")
        self.qsettings.sync()

    # --- the technique a new image starts with -----------------------------------------------
    def last_technique_id(self) -> str | None:
        """The technique of the plan last open (None the first time): a new image starts with it."""
        value = self.qsettings.value("plan/last_technique", "")
        return value if isinstance(value, str) and value else None

    def save_last_technique(self, technique_id: str) -> None:
        if technique_id != self.last_technique_id():
            self.qsettings.setValue("plan/last_technique", technique_id)
            self.qsettings.sync()

    # --- window layout ------------------------------------------------------------------
    def window_layout(self) -> tuple[QByteArray | None, QByteArray | None]:
        geometry = self.qsettings.value("window/geometry")
        state = self.qsettings.value("window/state")
        return (geometry if isinstance(geometry, QByteArray) else None,
                state if isinstance(state, QByteArray) else None)

    def save_window_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qsettings.setValue("window/geometry", geometry)
        self.qsettings.setValue("window/state", state)
        self.qsettings.sync()


def _unreadable_reason(path: Path) -> str | None:
    if not path.exists():
        return None
    if path.is_dir():
        return "it is a folder, not a file"
    try:
        path.read_bytes().decode("utf-8")
    except OSError as err:
        return f"it cannot be read: {err.strerror or err}"
    except UnicodeDecodeError:
        return "it is not a text settings file"
    return None
