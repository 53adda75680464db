"""Find a patient's studies on the PACS and fetch one (C-FIND, then C-GET): ultrasound studies to
plan on, or studies holding an RT Plan for the physicist's review.

Queries and retrievals run in the background with Cancel; the fetched files land in the user
data folder (one folder per study) exactly as the PACS sent them (so signatures still verify),
and the window opens the first file of the wanted modality among them.
"""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from planner.dicom.network import StudySummary, find_studies, retrieve_study
from planner.dicom.pacs_settings import PacsNode
from planner.paths import data_dir

PROBLEM_STYLE = "color: #ff6060;"
COLUMNS = ("Date", "Patient", "Patient ID", "Description", "Modalities", "Images")


MODALITY_WORDS = {"US": "ultrasound", "RTPLAN": "RT Plan"}


class PacsBrowser(QDialog):
    file_retrieved = Signal(str)  # path of the first file of the wanted modality in the fetched study

    def __init__(self, node: PacsNode, runner, parent: QWidget | None = None, modality: str = "US"):
        super().__init__(parent)
        self.modality = modality
        self.words = MODALITY_WORDS.get(modality, modality)
        self.setWindowTitle(f"{self.words} studies on {node.called_ae_title} ({node.host}:{node.port})")
        self.node = node
        self.runner = runner
        self.studies: tuple[StudySummary, ...] = ()
        self.patient_id = QLineEdit()
        self.patient_name = QLineEdit()
        self.patient_name.setPlaceholderText("e.g. DOE^J*  (* and ? are wildcards)")
        self.find_button = QPushButton(f"Find {self.words} studies")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.retrieve_button = QPushButton("Fetch and open")
        self.retrieve_button.setEnabled(False)
        self.message = QLabel()
        self.message.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Patient ID", self.patient_id)
        form.addRow("Patient name", self.patient_name)
        buttons = QHBoxLayout()
        buttons.addWidget(self.find_button)
        buttons.addStretch(1)
        buttons.addWidget(self.retrieve_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        self.resize(760, 420)
        self.find_button.clicked.connect(self.find)
        self.retrieve_button.clicked.connect(self.retrieve_selected)
        self.table.itemSelectionChanged.connect(
            lambda: self.retrieve_button.setEnabled(bool(self.table.selectionModel().selectedRows())))

    def find(self) -> bool:
        patient_id = self.patient_id.text().strip() or None
        name = self.patient_name.text().strip() or None
        if patient_id is None and name is None:
            self._say("Give a patient ID or a name to search for.", problem=True)
            return False
        if self.runner.busy:
            self._say("Another task is running; try again when it ends.", problem=True)
            return False
        self._say("Searching…")
        return self.runner.start("Searching the PACS",
                                 lambda _p, _c: find_studies(self.node, patient_id, name, modality=self.modality),
                                 self._show_studies, lambda message: self._say(f"Search failed: {message}", True))

    def _show_studies(self, studies: tuple[StudySummary, ...]) -> None:
        self.studies = tuple(studies)
        self.table.setRowCount(len(self.studies))
        for row, s in enumerate(self.studies):
            values = ("" if s.study_date is None else s.study_date.isoformat(), s.patient_name, s.patient_id,
                      s.description, ", ".join(s.modalities),
                      "" if s.number_of_instances is None else str(s.number_of_instances))
            for col, text in enumerate(values):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self._say(f"{len(self.studies)} {self.words} stud{'y' if len(self.studies) == 1 else 'ies'} found."
                  if self.studies else f"No {self.words} study matches.")

    def retrieve_selected(self) -> bool:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.runner.busy:
            return False
        study = self.studies[rows[0].row()]
        folder = data_dir() / "pacs-retrieved" / study.study_instance_uid
        self._say(f"Fetching the study of {study.study_date or 'unknown date'}…")
        return self.runner.start("Fetching from the PACS",
                                 lambda progress, cancelled: retrieve_study(self.node, study.study_instance_uid,
                                                                            folder, progress, cancelled),
                                 self._opened, lambda message: self._say(f"Not fetched: {message}", True))

    def _opened(self, paths) -> None:
        found = first_of_modality(paths, self.modality)
        if found is None:
            self._say(f"The study holds no {self.words} Planner can open.", problem=True)
            return
        self.file_retrieved.emit(str(found))
        self.accept()

    def _say(self, text: str, problem: bool = False) -> None:
        self.message.setStyleSheet(PROBLEM_STYLE if problem else "")
        self.message.setText(text)


def first_of_modality(paths, modality: str) -> Path | None:
    """The first fetched file of ``modality`` (for US, the RT objects of earlier plans are skipped)."""
    for path in sorted(Path(p) for p in paths):
        try:
            if dcmread(path, stop_before_pixels=True).get("Modality") == modality:
                return path
        except (InvalidDicomError, OSError):
            continue
    return None
