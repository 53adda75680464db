"""Course ▸ Add Course Image…: one ultrasound of the course, its place on the timeline and its date,
the lesion outlined on it (issue 17).

The image is loaded, checked and its outline proposed by planner.techniques.course_session, the
functions `planner course add-image` calls, so the window and the command line add the same session.
The image is loaded (and the outline proposed) in a worker thread of the dialog's own, so a large cine
loop does not freeze the window and closing the dialog cancels it. The proposed outline is shown on the
image for the user to accept, drag, draw anew or replace by a file before anything is added; the dialog
only builds the new course, the caller applies it as one edit.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (QComboBox, QDateEdit, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from planner.core.course import CourseError
from planner.core.course_imaging import SessionDateQuestion, SessionError, SessionTime
from planner.core.plan import Plan
from planner.techniques.course_session import (OUTLINE_FILE_FORMAT, SessionImage, load_session_image,
                                               make_session, propose_session_outline, read_outline_file)
from planner.ui.image_view import UltrasoundView
from planner.ui.plan_files import IMAGE_FILE_FILTER
from planner.ui.readable_colours import STOP, WARNING, text_colour
from planner.ui.tasks import TaskRunner

PLACES = (("baseline", "baseline"), ("before fraction", "before"), ("after fraction", "after"),
          ("follow-up week", "followup"))
DATE_QUESTION_TITLE = "Course image date"
OUTLINE_FILE_FILTER = "Outline (*.csv *.txt *.json);;All files (*)"


def default_place(plan: Plan) -> tuple[str, int]:
    """Where the next image most likely goes: the baseline first, then after the last fraction given,
    then follow-up week 0 once every fraction is given (the user changes it as needed)."""
    course = plan.course
    if not any(s.when.kind == "baseline" for s in course.sessions):
        return "baseline", 0
    if course.complete:
        return "followup", 0
    return "after", max(1, course.delivered_fractions)


class CourseImageDialog(QDialog):
    """Builds ``course``, the plan's course with the new session, when the user presses Add."""

    def __init__(self, plan: Plan, dialogs, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Add Course Image")
        self.plan = plan
        self.dialogs = dialogs
        self.loaded: SessionImage | None = None
        self.outline = None
        self.course = None          # the course with the session, once Add succeeded
        self.runner = TaskRunner(self)

        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("the ultrasound of this visit (DICOM, PNG, JPEG, TIFF)")
        self.choose_button = QPushButton("Choose…")
        self.load_button = QPushButton("Load")
        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(self.choose_button)
        file_row.addWidget(self.load_button)

        self.place_combo = QComboBox()
        for text, kind in PLACES:
            self.place_combo.addItem(text, kind)
        self.number_spin = QSpinBox()
        self.number_spin.setRange(0, 520)
        place_row = QHBoxLayout()
        place_row.addWidget(self.place_combo)
        place_row.addWidget(self.number_spin)
        place_row.addStretch(1)
        kind, number = default_place(plan)
        self.place_combo.setCurrentIndex(self.place_combo.findData(kind))
        self.number_spin.setValue(number)
        self._place_changed()

        self.date_edit = QDateEdit()
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        self.date_edit.setDate(QDate.currentDate())

        form = QFormLayout()
        form.addRow("Image", file_row)
        form.addRow("Place in the course", place_row)
        date_row = QHBoxLayout()
        date_row.addWidget(self.date_edit)
        date_row.addStretch(1)
        form.addRow("Acquired on", date_row)

        self.view = UltrasoundView()
        self.view.setMinimumSize(520, 300)
        self.draw_button = QPushButton("Draw Outline")
        self.draw_button.setToolTip("Click the lesion's vertices on the image; a vertex can also be dragged")
        self.propose_button = QPushButton("Propose Outline")
        self.propose_button.setToolTip("Inside the previous session's outline (else the plan's), moved to this "
                                       "image's skin line")
        self.file_button = QPushButton("Outline from File…")
        self.file_button.setToolTip(f"The lesion outline in mm: {OUTLINE_FILE_FORMAT}")
        tools = QHBoxLayout()
        for button in (self.propose_button, self.draw_button, self.file_button):
            button.setEnabled(False)
            tools.addWidget(button)
        tools.addStretch(1)

        self.notes_label = QLabel()
        self.notes_label.setWordWrap(True)
        self.notes_label.setStyleSheet(f"color: {text_colour(WARNING, self)};")
        self.measure_label = QLabel("Load the image to outline the lesion on it.")
        self.measure_label.setWordWrap(True)
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet(f"color: {text_colour(STOP, self)};")

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = self.buttons.addButton("Add to Course", QDialogButtonBox.ButtonRole.AcceptRole)
        self.add_button.setEnabled(False)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.view, 1)
        layout.addLayout(tools)
        layout.addWidget(self.measure_label)
        layout.addWidget(self.notes_label)
        layout.addWidget(self.problem_label)
        layout.addWidget(self.buttons)
        self.resize(900, 720)

        self.choose_button.clicked.connect(self.choose_image)
        self.load_button.clicked.connect(self.load_image)
        self.path_edit.returnPressed.connect(self.load_image)
        self.place_combo.currentIndexChanged.connect(self._place_changed)
        self.propose_button.clicked.connect(self.propose_outline)
        self.draw_button.clicked.connect(self.view.start_drawing_outline)
        self.file_button.clicked.connect(self.choose_outline_file)
        self.view.outline_edited.connect(self.set_outline)
        self.view.edit_refused.connect(self.problem_label.setText)
        self.buttons.rejected.connect(self.reject)
        self.finished.connect(lambda _result: self.runner.abandon())   # a load still running is not wanted
        self.add_button.clicked.connect(self.add_session)

    # --- the place on the timeline ------------------------------------------------------------------
    def _place_changed(self, *_args) -> None:
        kind = self.place_combo.currentData()
        self.number_spin.setEnabled(kind != "baseline")
        self.number_spin.setMinimum(0 if kind in ("baseline", "followup") else 1)
        if kind == "baseline":
            self.number_spin.setValue(0)
        self.number_spin.setPrefix("fraction " if kind in ("before", "after") else "week " if kind == "followup"
                                   else "")

    def session_time(self) -> SessionTime:
        kind = self.place_combo.currentData()
        return SessionTime(kind, 0 if kind == "baseline" else self.number_spin.value())

    # --- the image and its outline ------------------------------------------------------------------
    def choose_image(self) -> None:
        path = self.dialogs.choose_file_to_open("Course image", IMAGE_FILE_FILTER)
        if path:
            self.path_edit.setText(path)
            self.load_image()

    def load_image(self) -> bool:
        """Load the file as for planning, in the worker; another patient's image is refused before any outlining.
        False when the load cannot start (no file, a place the course cannot take, a load already running)."""
        path = self.path_edit.text().strip()
        if self.runner.busy:
            self.problem_label.setText("The previous image is still loading; wait for it or choose again after.")
            return False
        self._forget_image()
        if not path:
            self.problem_label.setText("Choose the image first.")
            return False
        try:
            when = self.session_time()
            self.plan.course.check_place(when)
        except (SessionError, CourseError) as err:
            self.problem_label.setText(f"Not loaded: {err.user_message.rstrip('.')}.")
            return False
        plan = self.plan

        def work(progress, cancelled):
            loaded = load_session_image(plan, path, progress, cancelled)
            try:
                return loaded, propose_session_outline(plan, when, loaded) if loaded.calibrated else None
            except SessionError as err:
                return loaded, err.user_message

        self.measure_label.setText(f"Loading {path}…")
        return self.runner.start(f"Loading {path}", work, self._show_loaded, self._not_loaded)

    @property
    def loading(self) -> bool:
        return self.runner.busy

    def _not_loaded(self, message: str) -> None:
        self.measure_label.setText("Load the image to outline the lesion on it.")
        self.problem_label.setText(f"Not loaded: {message.rstrip('.')}.")

    def _show_loaded(self, result) -> None:
        loaded, proposal = result
        self.loaded = loaded
        self.view.show_image(loaded.image)
        self.view.show_skin_surface(loaded.skin)
        self.notes_label.setText("<br>".join(f"Note: {n}" for n in loaded.notes))
        for button in (self.propose_button, self.draw_button, self.file_button):
            button.setEnabled(loaded.calibrated)
        self.add_button.setEnabled(True)
        if isinstance(proposal, tuple):
            self.set_outline(*proposal)
        elif isinstance(proposal, str):
            self._no_proposal(proposal)
        else:
            self._show_measure()

    def _forget_image(self) -> None:
        self.loaded, self.outline, self.course = None, None, None
        self.problem_label.setText("")
        self.notes_label.setText("")
        self.add_button.setEnabled(False)
        self.view.show_outline(None)

    def propose_outline(self) -> None:
        if self.loaded is None:
            return
        try:
            outline, note = propose_session_outline(self.plan, self.session_time(), self.loaded)
        except SessionError as err:
            self._no_proposal(err.user_message)
            return
        self.problem_label.setText("")
        self.set_outline(outline, note)

    def _no_proposal(self, message: str) -> None:
        self.problem_label.setText(f"No outline proposed: {message.rstrip('.')}. Draw it or load it from a file.")
        self.set_outline(None)

    def choose_outline_file(self) -> None:
        path = self.dialogs.choose_file_to_open("Lesion outline", OUTLINE_FILE_FILTER)
        if path:
            self.load_outline_file(path)

    def load_outline_file(self, path: str) -> bool:
        try:
            outline = read_outline_file(path)
        except SessionError as err:
            self.problem_label.setText(f"Outline not loaded: {err.user_message.rstrip('.')}.")
            return False
        self.problem_label.setText("")
        self.set_outline(outline, f"outline from {path}")
        return True

    def set_outline(self, outline, note: str = "outline edited on the image") -> None:
        self.outline = outline
        self.view.show_outline(outline)
        self._show_measure(note if outline is not None else "")

    def _show_measure(self, note: str = "") -> None:
        """Depth, width and area as the course will hold them, or why they cannot be measured."""
        if self.loaded is None:
            return
        try:
            session = make_session(self.plan, self.session_time(), date.today(), self.loaded, self.outline)
        except SessionError as err:
            self.measure_label.setText(str(err.user_message))
            return
        measure = session.measure
        reason = session.unmeasured_reason or ""     # the core's words: "not measurable until calibrated", …
        text = (reason[:1].upper() + reason[1:] if measure is None else
                f"Lesion: depth {measure.depth_mm:.2f} mm below the skin, width {measure.width_mm:.2f} mm, "
                f"area {measure.area_mm2:.2f} mm² (scale: {measure.calibration_source})")
        self.measure_label.setText(text + (f" — {note}" if note else ""))

    # --- adding ---------------------------------------------------------------------------------------
    def add_session(self) -> bool:
        """Build the course with the session; a date before the baseline or in the future is asked about."""
        if self.loaded is None:
            self.problem_label.setText("Load the image first.")
            return False
        when = self.date_edit.date()
        try:
            session = make_session(self.plan, self.session_time(), date(when.year(), when.month(), when.day()),
                                   self.loaded, self.outline)
            try:
                course = self.plan.course.with_session(session)
            except SessionDateQuestion as question:
                answer = self.dialogs.ask(DATE_QUESTION_TITLE, f"{question.user_message} Add the image with this "
                                                               f"date?", ("Yes", "No"))
                if answer != "Yes":
                    self.problem_label.setText("Not added: correct the date, or answer Yes to keep it.")
                    return False
                course = self.plan.course.with_session(session, confirm_date=True)
        except (SessionError, CourseError) as err:
            self.problem_label.setText(f"Not added: {err.user_message.rstrip('.')}.")
            return False
        self.course = course
        self.accept()
        return True
