"""The main window's way into IMRT: File ▸ New IMRT Plan on TG-119 Phantom and Open CT Series for
IMRT, each opening an ImrtWindow on the first inverse-planned technique. The launcher keeps the
windows it opened, so they are not garbage collected while shown, and lets go when one closes.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from planner.ui.imrt.window import ImrtWindow

# The dose grid's voxel size: coarse is fast (seconds), fine is slow (minutes at 2.5 mm).
VOXEL_CHOICES = (("10 mm (fast, coarse)", 10.0), ("5 mm (default)", 5.0), ("2.5 mm (fine, takes minutes)", 2.5))
DEFAULT_VOXEL_MM = 5.0


def ask_voxel_size(parent: QWidget | None, title: str) -> float | None:
    labels = [label for label, _ in VOXEL_CHOICES]
    default = next(i for i, (_, mm) in enumerate(VOXEL_CHOICES) if mm == DEFAULT_VOXEL_MM)
    label, ok = QInputDialog.getItem(parent, title, "Voxel size of the dose grid:", labels, default, False)
    return dict(VOXEL_CHOICES).get(label) if ok else None


class ImrtLauncher(QObject):
    def __init__(self, registry, parent: QWidget | None = None):
        super().__init__(parent)
        self.technique = registry.inverse_planned_techniques[0]
        self.windows: list[ImrtWindow] = []
        # How the launcher asks; tests replace these with scripted answers.
        self.ask_voxel_size = lambda title: ask_voxel_size(parent, title)
        self.ask_folder = lambda: QFileDialog.getExistingDirectory(parent, "Open a CT series (with its RT Structure "
                                                                           "Set) for IMRT") or None
        self.new_phantom_action = QAction("New IMRT Plan on TG-119 &Phantom…", self)
        self.new_phantom_action.setStatusTip("Plan IMRT on the AAPM TG-119 C-shape phantom")
        self.new_phantom_action.triggered.connect(lambda: self.open_phantom())
        self.open_ct_action = QAction("Open CT Series for &IMRT…", self)
        self.open_ct_action.setStatusTip("Plan IMRT on a DICOM CT series and its RT Structure Set")
        self.open_ct_action.triggered.connect(lambda: self.open_ct_series())

    def actions(self) -> tuple[QAction, ...]:
        return (self.new_phantom_action, self.open_ct_action)

    def open_phantom(self, spacing_mm: float | None = None) -> ImrtWindow | None:
        if spacing_mm is None:
            spacing_mm = self.ask_voxel_size("New IMRT plan on the TG-119 phantom")
            if spacing_mm is None:
                return None
        volume = self.technique.inverse_planner.tg119_phantom(spacing_mm)
        return self._show(ImrtWindow(self.technique, volume))

    def open_ct_series(self, folder: str | None = None, spacing_mm: float | None = None) -> ImrtWindow | None:
        folder = folder or self.ask_folder()
        if not folder:
            return None
        if spacing_mm is None:
            spacing_mm = self.ask_voxel_size("Open CT series for IMRT")
            if spacing_mm is None:
                return None
        window = self._show(ImrtWindow(self.technique))
        window.load_ct_series(folder, spacing_mm)
        return window

    def _show(self, window: ImrtWindow) -> ImrtWindow:
        self.windows.append(window)
        window.closed.connect(lambda w=window: self._forget(w))
        window.show()
        return window

    def _forget(self, window: ImrtWindow) -> None:
        if window in self.windows:
            self.windows.remove(window)
            window.deleteLater()
