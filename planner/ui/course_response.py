"""The lesion's response over the course (issue 17, point 2): a plot, two images side by side, words.

Observes the PlanDocument (its plan's course: sessions and fraction records) and, when given, the
dose controller (the prescription isodose's depth on the beam axis). It never edits the plan.

- Plot: depth below the skin and lateral width (mm) against the date of each imaging session, the area
  (mm²) in its own small plot below with the same date axis; each session is a point named by its
  place on the timeline in a row of names above all the points (placed in screen pixels on as many
  levels as needed so that no two names overlap and none is cut at the plot's edges); each delivered
  fraction a vertical marker at its date; the plan's prescription isodose depth
  (DoseResult.prescription_depth_mm, "on the axis: 0 (surface), the stated depth, or the X % isodose's
  depth") a horizontal line on the depth plot, its label as long as the plot's width allows. A session
  whose lesion cannot be measured is a hollow marker in a band below 0 mm, named with the others, its
  reason in the tooltip, never a 0.
- Layout: the findings across the whole width at the bottom, shown whole; the view keeps a least size
  (MIN_SIZE_PX) at which all reads, so a smaller dock scrolls rather than squashing it.
- Side by side: the baseline and a chosen later session, each in mm relative to its beam axis
  (lateral) and its skin line at that axis (depth), the two views linked and locked 1:1, so both
  show the same mm per screen pixel and the same point (lateral, depth) at the same pixel of each.
  The beam axis on a session's image is taken as its lesion's lateral centre (where Edit ▸ Centre
  Cone on Lesion puts it); a session without an outline uses the plan's axis. Images are loaded on
  demand with the planning loader; a missing or unreadable file is said in words in place of the image.
- On each image, the plan's isodoses as the main window draws them (planner/ui/dose_overlay.py: the
  same levels, colours and labels), the plan's dose placed on the session by
  planner.dose.session_dose (its beam axis at its skin moved onto the session's); a session it cannot
  be placed on (not measurable, no dose, a refused dose) shows none, and the note under the images
  says why.
- Words: planner.core.course_imaging.response_findings with the clinic's regrowth threshold
  (recurrence_regrowth_percent in the clinic settings; unset: the findings say recurrence is not judged).
"""

from __future__ import annotations

import html
from datetime import date, datetime, timezone

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import (QComboBox, QFrame, QHBoxLayout, QLabel, QScrollArea, QSplitter, QVBoxLayout,
                               QWidget)

from planner.ui import qt_setup  # noqa: F401  (pyqtgraph options)
import pyqtgraph as pg

from planner.core.clinic_settings import ClinicSettingsError, load_clinic_settings
from planner.core.course_imaging import response_findings
from planner.core.errors import PlannerError
from planner.dose import isodose_palette as palette
from planner.dose.coverage import percent_text
from planner.dose.session_dose import APPROXIMATION, placed_or_reason
from planner.imaging.loader import load_ultrasound
from planner.ui.dose_overlay import DoseOverlay
from planner.ui.readable_colours import STOP, WARNING, text_colour

DEPTH_COLOUR = "#ff8040"
WIDTH_COLOUR = "#40a0ff"
AREA_COLOUR = "#40d080"
FRACTION_COLOUR = (200, 120, 255)       # the cone's violet (image_view.CONE_COLOUR): the beam was on
ISODOSE_COLOUR = palette.PRESCRIPTION_ISODOSE_COLOUR
LABEL_GAP_PX = 6                        # least room between two session names on one level
MARKER_ROOM_PX = 8                      # between the highest point and the lowest name (a marker's radius + 3)
LABEL_BAND_MAX = 0.5                    # the names take at most this share of the plot's height
UNMEASURED_BAND = 0.12                  # the band below 0 where unmeasurable sessions sit (share of the range)
PLOT_MIN_HEIGHT_PX = 230                # below this the dates and the labels no longer read
IMAGE_MIN_HEIGHT_PX = 150
# The least size at which every part reads (the plot's names and dates, both images one above the other with
# their titles, the findings): a dock smaller than this scrolls (the main window's docks are scroll areas)
# rather than squashing the view. Narrower than the 760 px own window an 800 px screen gives (less its frame).
MIN_SIZE_PX = (720, 700)
FINDINGS_SHARE_MAX = 0.4                # the findings show whole up to this share of the height, then scroll
NO_SESSIONS = "No imaging sessions in the course yet (planner course add-image)."
LEGEND_CHIP = "#202020"                  # isodose swatches on the images' dark, so yellow and white show
IMAGE_NOTE = ("Both images in mm from their beam axis (the lesion's lateral centre) and the skin line there, at the "
              "same scale; outline magenta, skin green.")


def day_seconds(day: date) -> float:
    """The date axis: seconds since 1970 at 00:00 UTC of ``day`` (pyqtgraph's DateAxisItem reads UTC)."""
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()


class _SessionImage(pg.PlotWidget):
    """One session's image in mm relative to its beam axis and its skin line, with its outline."""

    def __init__(self, title: str):
        super().__init__(background="k")
        plot = self.getPlotItem()
        plot.invertY(True)
        plot.setAspectLocked(True, ratio=1.0)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setTitle(title, size="9pt")
        # "depth" alone: a longer name was cut on a short image; the note under the images says from where
        for side, text in (("bottom", "lateral from beam axis"), ("left", "depth")):
            plot.getAxis(side).enableAutoSIPrefix(False)
            plot.setLabel(side, text, units="mm")
        self.image_item = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self.image_item)
        self.skin_curve = pg.PlotCurveItem(pen=pg.mkPen(palette.SKIN_COLOUR, width=1.5))
        self.outline_curve = pg.PlotCurveItem(pen=pg.mkPen(palette.OUTLINE_COLOUR, width=2))
        self.axis_line = pg.InfiniteLine(0.0, angle=90, movable=False,
                                         pen=pg.mkPen(FRACTION_COLOUR, width=1, style=Qt.PenStyle.DashLine))
        for item, z in ((self.skin_curve, 5), (self.outline_curve, 10), (self.axis_line, 4)):
            item.setZValue(z)
            plot.addItem(item, ignoreBounds=item is self.axis_line)
        self.dose = DoseOverlay(plot)
        self.isodose_problem = "no session shown"     # why no isodose is drawn, "" when they are
        self.message = pg.TextItem("", color="w", anchor=(0.5, 0.5), fill=pg.mkBrush(0, 0, 0, 200))
        self.message.setZValue(20)
        plot.addItem(self.message, ignoreBounds=True)
        self.shown_image = None     # the UltrasoundImage shown, or None
        self.problem = ""

    def show_session(self, session, image, problem: str, fallback_axis_x_mm: float | None, placed) -> None:
        """``image`` the loaded UltrasoundImage or None with ``problem`` saying why; ``placed`` the plan's
        SessionDose on this session, or why there is none (text)."""
        self.getPlotItem().setTitle(f"{session.when.label} ({session.acquired_on.isoformat()})", size="9pt")
        axis_x = session.outline.lateral_centre_mm if session.outline is not None else fallback_axis_x_mm
        skin = session.skin_surface
        if image is not None and image.calibration is None:
            image, problem = None, f"{session.image_path}: the image has no mm scale; it cannot be shown in mm"
        if image is not None and (skin is None or axis_x is None):
            image, problem = None, f"{session.when.label}: {session.unmeasured_reason or 'no beam axis'}; " \
                                   f"it cannot be aligned on the skin line"
        if image is None:
            self.show_message(problem)
            return
        self.shown_image, self.problem = image, ""
        self.message.setVisible(False)
        skin_y = float(skin.depth_at(axis_x))
        left, top, width, height = image.extent_mm
        frame = image.frames[0]
        levels = (0, 255) if image.is_colour else (float(frame.min()), float(frame.max()))
        self.image_item.setImage(frame, autoLevels=False, levels=levels)
        self.image_item.setRect(QRectF(left - axis_x, top - skin_y, width, height))
        self.skin_curve.setData([x - axis_x for x, _ in skin.points_mm], [y - skin_y for _, y in skin.points_mm])
        if session.outline is None:
            self.outline_curve.setData([], [])
        else:
            vertices = list(session.outline.vertices_mm) + [session.outline.vertices_mm[0]]
            self.outline_curve.setData([x - axis_x for x, _ in vertices], [y - skin_y for _, y in vertices])
        self._show_dose(placed)

    def _show_dose(self, placed) -> None:
        """The isodoses in this view's frame (mm from the beam axis, below the skin there), or none and why."""
        if isinstance(placed, str):
            self.dose.clear()
            self.isodose_problem = placed
            return
        frame = placed.in_beam_frame()
        self.dose.show_dose(frame.dose_gy, frame.x_mm, frame.y_mm, frame.dmax_gy, frame.skin_depth_at,
                            frame.prescription_isodose_percent)
        self.dose.legend.setVisible(False)          # in a small image it hides the lesion: the note under both has it
        self.isodose_problem = ""

    def isodose_legend(self) -> list[tuple[str, str]]:
        """(colour, label) of each isodose drawn, as the main window's legend gives them; [] when none."""
        if self.isodose_problem:
            return []
        return [(sample.item.opts["pen"].color().name(), label.text) for sample, label in self.dose.legend.items]

    def show_message(self, text: str) -> None:
        """No image: ``text`` says why, in its place."""
        self.shown_image, self.problem = None, text
        self.image_item.clear()
        self.skin_curve.setData([], [])
        self.outline_curve.setData([], [])
        self.dose.clear()
        self.isodose_problem = text
        self.message.setText(text)
        self.message.setPos(0.0, 2.0)
        self.message.setVisible(True)

    @property
    def mm_per_screen_pixel(self) -> tuple[float, float]:
        """(lateral, depth) mm that one screen pixel spans."""
        px, py = self.getPlotItem().getViewBox().viewPixelSize()
        return float(px), float(py)


class _FillingLayout(QVBoxLayout):
    """The view's layout fills what its scroll area gives (down to the view's minimum size): asked its height
    for a width, the wrapped texts and the plots' preferred sizes made the view 1266 px tall in a 760 px window."""

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        return False


class CourseResponseView(QWidget):
    """``dose``: the window's DoseController (signals ``computed`` and ``unavailable``, ``last_result``),
    or None (no prescription isodose line until ``show_dose`` is called). ``clinic_settings``: a
    function returning the ClinicSettings (read on each refresh, so an edited file counts).
    ``load_image``: path → UltrasoundImage (the planning loader)."""

    def __init__(self, document, dose=None, clinic_settings=load_clinic_settings, load_image=load_ultrasound,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self._clinic_settings = clinic_settings
        self._load_image = load_image
        self._images: dict[str, tuple[object | None, str]] = {}   # path → (image, problem), loaded once
        self._dose_result = None
        self._no_dose_reason = "no dose computed yet"
        self.point_labels: list[pg.TextItem] = []
        self.fraction_lines: list[pg.InfiniteLine] = []
        self.unmeasured_labels: list[pg.TextItem] = []
        self._unmeasured = []
        self._drawn_fraction_lines: list[tuple[object, pg.InfiniteLine]] = []
        self.findings = ()
        self._images_stale = False
        self._label_levels = 0          # levels of session names above the points (_place_labels)
        self._placing = False

        # --- the plot: depth and width (mm) above, area (mm²) below, one date axis --------------------
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("k")
        self.size_plot = self.plots.addPlot(row=0, col=0, axisItems={"bottom": pg.DateAxisItem()})
        self.area_plot = self.plots.addPlot(row=1, col=0, axisItems={"bottom": pg.DateAxisItem()})
        self.plots.ci.layout.setRowStretchFactor(0, 3)
        self.plots.ci.layout.setRowStretchFactor(1, 2)
        self.area_plot.setXLink(self.size_plot)
        for plot, label, unit in ((self.size_plot, "depth below skin, width", "mm"), (self.area_plot, "area", "mm²")):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.setLabel("left", label, units=unit)
            plot.getAxis("left").setWidth(62)
        self.area_plot.setLabel("bottom", "date of the image (fractions: violet lines)")
        self.depth_curve = self.size_plot.plot(pen=pg.mkPen(DEPTH_COLOUR, width=2),
                                               symbol="o", symbolSize=8, symbolBrush=DEPTH_COLOUR)
        self.width_curve = self.size_plot.plot(pen=pg.mkPen(WIDTH_COLOUR, width=2),
                                               symbol="s", symbolSize=7, symbolBrush=WIDTH_COLOUR)
        self.area_curve = self.area_plot.plot(pen=pg.mkPen(AREA_COLOUR, width=2), symbol="t", symbolSize=8,
                                              symbolBrush=AREA_COLOUR)
        self.unmeasured_points = pg.ScatterPlotItem(symbol="o", size=10, pen=pg.mkPen("w", width=1.5), brush=None)
        self.size_plot.addItem(self.unmeasured_points)
        self.isodose_line = pg.InfiniteLine(angle=0, movable=False,
                                            pen=pg.mkPen(ISODOSE_COLOUR, width=2, style=Qt.PenStyle.DashLine),
                                            label="", labelOpts={"position": 0.98, "color": ISODOSE_COLOUR,
                                                                 "anchors": [(1, 1), (1, 1)],
                                                                 "fill": pg.mkBrush(0, 0, 0, 170)})
        self.isodose_line.setVisible(False)
        self.size_plot.addItem(self.isodose_line, ignoreBounds=True)
        self._isodose_texts: tuple[str, ...] = ()     # the line's label, longest first: the longest that fits
        # The key under the plot, not a legend in it: in a narrow plot a legend hid the points.
        self.plot_key = QLabel(" &nbsp; ".join(   # each entry on one line when the key wraps
            f"<span style='color:{colour}'>{mark}</span>&nbsp;{text.replace(' ', '&nbsp;')}" for colour, mark, text in (
                (DEPTH_COLOUR, "━●━", "depth below skin (mm)"), (WIDTH_COLOUR, "━■━", "width (mm)"),
                (AREA_COLOUR, "━▼━", "area (mm²)"), ("white", "○", "not measurable"))))
        self.plot_key.setWordWrap(True)
        self.plot_key.setStyleSheet("background: black; color: white; padding: 2px")
        self.isodose_label = QLabel()
        self.isodose_label.setWordWrap(True)
        box = self.size_plot.getViewBox()
        box.sigResized.connect(lambda _box: self._place_labels())
        box.sigXRangeChanged.connect(lambda _box, _range: self._place_labels())

        # --- the findings in words -----------------------------------------------------------------
        self.findings_label = QLabel()
        self.findings_label.setWordWrap(True)
        self.findings_label.setTextFormat(Qt.TextFormat.RichText)
        self.findings_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # --- the images side by side -----------------------------------------------------------------
        self.session_combo = QComboBox()
        self.session_combo.setToolTip("The later session shown beside the baseline")
        self.session_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)   # for _fill_combo
        self.baseline_image = _SessionImage("baseline")
        self.later_image = _SessionImage("later session")
        self.later_image.setXLink(self.baseline_image)
        self.later_image.setYLink(self.baseline_image)
        self.image_note = QLabel(IMAGE_NOTE)
        self.image_note.setWordWrap(True)
        self.image_note.setTextFormat(Qt.TextFormat.RichText)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.plots.setMinimumHeight(PLOT_MIN_HEIGHT_PX)
        left_layout.addWidget(self.plots, 1)
        left_layout.addWidget(self.plot_key)
        self.names_key = QLabel()       # the sessions' names when the plot shows their numbers (_place_labels)
        self.names_key.setWordWrap(True)
        self.names_key.setVisible(False)
        left_layout.addWidget(self.names_key)
        left_layout.addWidget(self.isodose_label)
        # The findings across the whole width under the plot and the images (fewer lines), shown whole
        # (_fit_findings); only a course too long for FINDINGS_SHARE_MAX of the height scrolls them.
        self.findings_scroll = QScrollArea()
        self.findings_scroll.setWidgetResizable(True)
        self.findings_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.findings_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.findings_scroll.setWidget(self.findings_label)
        self.findings_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        chooser = QHBoxLayout()
        chooser.addWidget(QLabel("Beside the baseline:"))
        chooser.addWidget(self.session_combo, 1)
        right_layout.addLayout(chooser)
        self.images_layout = QVBoxLayout()      # one above the other: side by side their titles were cut
        for view in (self.baseline_image, self.later_image):
            view.setMinimumHeight(IMAGE_MIN_HEIGHT_PX)
            self.images_layout.addWidget(view, 1)
        right_layout.addLayout(self.images_layout, 1)
        right_layout.addWidget(self.image_note)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 6)
        self.splitter.setStretchFactor(1, 5)
        layout = _FillingLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.findings_scroll)
        self.setMinimumSize(*MIN_SIZE_PX)

        self.session_combo.currentIndexChanged.connect(lambda _i: self._show_images())
        document.plan_changed.connect(self.show_plan)
        if dose is not None:
            dose.computed.connect(lambda result: self.show_dose(result) if result is dose.last_result else None)
            dose.unavailable.connect(self.show_no_dose)
        self._show_isodose()
        self.show_plan(document.plan)

    def _refresh_images(self) -> None:
        """The images and their isodoses cost ~30 ms: drawn now when shown, else when next shown (the dose is
        recomputed on every outline edit in the main window, while the Response dock is mostly hidden)."""
        if self.isVisible():
            self._show_images()
        else:
            self._images_stale = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self._images_stale:
            self._show_images()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._fit_findings(event.size().width(), event.size().height())
        super().resizeEvent(event)

    def _fit_findings(self, width_px: int, height_px: int) -> None:
        """The findings' area as tall as their text at this width, up to FINDINGS_SHARE_MAX of the view."""
        margins = self.findings_label.contentsMargins()
        needed = self.findings_label.heightForWidth(max(1, width_px - 4)) + margins.top() + margins.bottom() + 2
        self.findings_scroll.setFixedHeight(max(0, min(needed, int(FINDINGS_SHARE_MAX * height_px))))

    # --- the dose: only the prescription isodose's depth ------------------------------------------
    def show_dose(self, result) -> None:
        self._dose_result = result
        self._show_isodose()
        self._refresh_images()

    def show_no_dose(self, reason: str) -> None:
        self._dose_result, self._no_dose_reason = None, reason
        self._show_isodose()
        self._refresh_images()

    def _show_isodose(self) -> None:
        result = self._dose_result
        depth = None if result is None or result.refused else result.prescription_depth_mm
        percent = None if result is None else result.prescription_isodose_percent
        if depth is None or percent is None:
            why = self._no_dose_reason if result is None else (
                "the plan is refused" if result.refused else "the dose gives no prescription isodose depth")
            self.isodose_line.setVisible(False)
            self.isodose_label.setText(f"No prescription isodose line: {why}.")
            return
        text = f"prescription isodose ({percent_text(percent)} of Dmax) on the beam axis: {depth:.2f} mm"
        self._isodose_texts = (text, f"prescription isodose ({percent_text(percent)}): {depth:.2f} mm",
                               f"{percent_text(percent)} isodose: {depth:.2f} mm")
        self.isodose_line.setValue(depth)
        self.isodose_line.setVisible(True)          # first: a hidden line's label does not take new text
        self.isodose_line.label.setFormat(text)
        self.isodose_label.setText(f"Dashed white line: the plan's {text} below the skin (the current dose).")
        self._fit_size_range()

    # --- the course --------------------------------------------------------------------------------
    def show_plan(self, plan) -> None:
        course = None if plan is None else plan.course
        sessions = () if course is None else course.sessions
        if plan is None:
            self.summary_label.setText("No plan open.")
        elif course is None:
            self.summary_label.setText("The course has not started: start it in the Course tab.")
        else:
            self.summary_label.setText(NO_SESSIONS if not sessions else
                                       f"{len(sessions)} imaging session(s), {course.delivered_fractions} of "
                                       f"{course.planned_fractions} fractions delivered.")
        self._show_series(sessions)
        self._show_fractions(() if course is None else course.records)
        self._show_findings(sessions)
        self._fill_combo(sessions)
        self._refresh_images()

    def _show_series(self, sessions) -> None:
        for item in self.point_labels + self.unmeasured_labels:
            self.size_plot.removeItem(item)
        self.point_labels, self.unmeasured_labels = [], []
        measured = [(s, s.measure) for s in sessions if s.measure is not None]
        xs = [day_seconds(s.acquired_on) for s, _ in measured]
        self.depth_curve.setData(xs, [m.depth_mm for _, m in measured])
        self.width_curve.setData(xs, [m.width_mm for _, m in measured])
        self.area_curve.setData(xs, [m.area_mm2 for _, m in measured])
        for (session, m), x in zip(measured, xs):
            self.point_labels.append(self._session_name(
                session.when.label, x, f"{session.when.label} ({session.acquired_on.isoformat()}): depth "
                f"{m.depth_mm:.2f} mm, width {m.width_mm:.2f} mm, area {m.area_mm2:.2f} mm²; scale: "
                f"{m.calibration_source}"))
        self._unmeasured = [s for s in sessions if s.measure is None]
        for session in self._unmeasured:
            self.unmeasured_labels.append(self._session_name(
                f"{session.when.label}: not measurable", day_seconds(session.acquired_on),
                f"{session.when.label} ({session.acquired_on.isoformat()}): {session.unmeasured_reason}"))
        self._label_levels = 0
        self._fit_size_range()

    def _session_name(self, text: str, x: float, tip: str) -> pg.TextItem:
        """A session's name at its date; _place_labels puts it in the row of names above the points."""
        label = pg.TextItem(text, color="w", fill=pg.mkBrush(0, 0, 0, 170))
        label.session_name = text
        label.setPos(x, 0.0)
        label.setToolTip(tip)
        label.setZValue(25)
        self.size_plot.addItem(label, ignoreBounds=True)
        return label

    def _place_labels(self) -> None:
        """Each session's name centred on its date (moved in from the plot's edges), on the first level
        from the top where it overlaps no other name, in screen pixels: the plot's width decides the
        levels, the levels the room kept above the points (_fit_size_range). Names needing more than
        LABEL_BAND_MAX of the plot's height (many sessions days apart in a small plot) become numbers,
        named under the plot."""
        if self._placing:
            return
        self._placing = True
        try:
            box = self.size_plot.getViewBox()
            labels = sorted(self.point_labels + self.unmeasured_labels, key=lambda item: item.pos().x())
            for label in labels:
                label.setText(label.session_name)
            placed = self._levels(labels)
            row_px = max((label.textItem.boundingRect().height() for label in labels), default=0.0)
            names_px = self._label_levels * row_px + MARKER_ROOM_PX
            numbered = box.height() > 0 and names_px > LABEL_BAND_MAX * box.height()
            if numbered:
                for number, label in enumerate(labels, start=1):
                    label.setText(str(number))
                placed = self._levels(labels)
            self.names_key.setText("Sessions: " + ", ".join(f"{n} {label.session_name}" for n, label in
                                                            enumerate(labels, start=1)) if numbered else "")
            self.names_key.setVisible(numbered)
            self._fit_size_range(place=False)
            top = box.viewRange()[1][1]
            for label, anchor_x, level in placed:
                label.setPos(label.pos().x(), top)
                label.setAnchor((anchor_x, -level))
            if self._isodose_texts:
                room = box.width() * self.isodose_line.label.orthoPos - 4
                fits = [t for t in self._isodose_texts if self._text_width(t) <= room]
                self.isodose_line.label.setFormat(fits[0] if fits else self._isodose_texts[-1])
        finally:
            self._placing = False

    def _levels(self, labels) -> list[tuple[pg.TextItem, float, int]]:
        """(label, its x anchor, its level) for ``labels`` in date order, as _place_labels says."""
        box = self.size_plot.getViewBox()
        width_px = box.width()
        (x0, x1), _ = box.viewRange()
        levels: list[float] = []           # the right end (px) of the last name on each level
        placed = []
        for label in labels:
            w = label.textItem.boundingRect().width()
            centre = (label.pos().x() - x0) / (x1 - x0) * width_px if x1 > x0 else 0.0
            left = max(0.0, min(centre - w / 2, width_px - w))
            level = next((k for k, end in enumerate(levels) if left >= end + LABEL_GAP_PX), len(levels))
            levels[level:level + 1] = [left + w]
            placed.append((label, (centre - left) / w if w else 0.5, level))
        self._label_levels = len(levels)
        return placed

    def _text_width(self, text: str) -> float:
        """``text``'s width in pixels in the isodose line's label (its font and its margins)."""
        label = self.isodose_line.label
        margin_px = label.textItem.document().documentMargin()
        return QFontMetricsF(label.textItem.font()).horizontalAdvance(text) + 2 * margin_px

    def _fit_size_range(self, place: bool = True) -> None:
        """y from a band below 0 (the unmeasurable sessions) to above the largest value, the isodose and its
        label, with the session names' levels (in pixels) above them all."""
        depths, widths = self.depth_curve.getData()[1], self.width_curve.getData()[1]
        values = [float(v) for v in ([] if depths is None else depths)] + \
                 [float(v) for v in ([] if widths is None else widths)]
        height_px = self.size_plot.getViewBox().height()
        row_px = max((label.textItem.boundingRect().height() for label in self.point_labels + self.unmeasured_labels),
                     default=0.0)
        names_px = self._label_levels * row_px
        # (value, pixels needed above it): top − value ≥ px/height · (top − bottom), bottom = −1.5·band·top
        needs = [(v, names_px + MARKER_ROOM_PX) for v in values]
        if self.isodose_line.isVisible():
            needs.append((float(self.isodose_line.value()),
                          names_px + self.isodose_line.label.textItem.boundingRect().height()))
        top = 0.0
        for value, px in needs:
            share = min(LABEL_BAND_MAX, px / height_px) if height_px > 0 else LABEL_BAND_MAX
            top = max(top, value / (1.0 - share * (1.0 + 1.5 * UNMEASURED_BAND)))
        top = top or 5.0
        band = -UNMEASURED_BAND * top
        (_, (low, high)) = self.size_plot.getViewBox().viewRange()
        if abs(high - top) > 1e-9 * top or abs(low - band * 1.5) > 1e-9 * top:
            self.size_plot.setYRange(band * 1.5, top, padding=0)
        spots = []
        for session in self._unmeasured:
            tip = f"{session.when.label} ({session.acquired_on.isoformat()}): {session.unmeasured_reason}"
            spots.append({"pos": (day_seconds(session.acquired_on), band), "data": tip})
        self.unmeasured_points.setData(spots)
        self.unmeasured_points.setToolTip("\n".join(s["data"] for s in spots))
        if place:
            self._fit_dates()
            self._place_labels()

    def _fit_dates(self) -> None:
        days = [float(x) for x in (self.depth_curve.getData()[0] if self.depth_curve.getData()[0] is not None
                                   else [])]
        days += [day_seconds(s.acquired_on) for s in self._unmeasured]
        days += [float(line.value()) for line in self.fraction_lines]
        if days:
            lo, hi = min(days), max(days)
            margin = max(86400.0 * 7, 0.15 * (hi - lo))   # the end labels fit inside
            self.size_plot.setXRange(lo - margin, hi + margin, padding=0)
        area = self.area_curve.getData()[1]
        top = max((float(v) for v in ([] if area is None else area)), default=10.0) * 1.2 or 10.0
        self.area_plot.setYRange(0, top, padding=0)

    def _show_fractions(self, records) -> None:
        for plot, line in self._drawn_fraction_lines:
            plot.removeItem(line)
        self._drawn_fraction_lines, self.fraction_lines = [], []
        ends = {records[0].number, records[-1].number} if records else set()
        for record in records:
            # Every fraction drawn; only the first and the last named (fractions days apart would overlap).
            for plot, labelled in ((self.area_plot, True), (self.size_plot, False)):
                line = pg.InfiniteLine(day_seconds(record.delivered_on), angle=90, movable=False,
                                       pen=pg.mkPen(FRACTION_COLOUR, width=1.5),
                                       label=f"F{record.number}" if labelled and record.number in ends else None,
                                       labelOpts={"position": 0.97, "color": FRACTION_COLOUR,
                                                  "anchors": [(1.1, 0), (1.1, 0)] if record.number == min(ends)
                                                  and len(ends) > 1 else [(-0.1, 0), (-0.1, 0)]})
                line.setToolTip(f"fraction {record.number} delivered {record.delivered_on.isoformat()}")
                plot.addItem(line, ignoreBounds=True)
                self._drawn_fraction_lines.append((plot, line))
                if labelled:
                    self.fraction_lines.append(line)
        self._fit_dates()

    @property
    def fraction_dates(self) -> list[date]:
        """The dates of the fraction markers shown, in order."""
        return [datetime.fromtimestamp(line.value(), tz=timezone.utc).date() for line in self.fraction_lines]

    def _show_findings(self, sessions) -> None:
        if not sessions:
            self.findings = ()
            self.findings_label.setText("")
            return
        problem = ""
        try:
            threshold = self._clinic_settings().recurrence_regrowth_percent
        except ClinicSettingsError as err:
            threshold, problem = None, f"The clinic settings cannot be used, so recurrence is not judged: {err}"
        findings = response_findings(sessions, regrowth_threshold_percent=threshold)
        lines = []
        for finding in findings:
            text = html.escape(finding.message)
            if finding.kind == "suspected recurrence":
                text = f"<b style='color: {text_colour(STOP, self)}'>{text}</b>"
            elif finding.kind in ("recurrence not judged", "not measurable", "no baseline"):
                text = f"<span style='color: {text_colour(WARNING, self)}'>{text}</span>"
            lines.append(f"• {text}")
        if problem:
            lines.append(f"<span style='color: {text_colour(STOP, self)}'>{html.escape(problem)}</span>")
        self.findings = findings
        self.findings_label.setText("<br>".join(lines))

    # --- the images -----------------------------------------------------------------------------------
    def _fill_combo(self, sessions) -> None:
        chosen = self.session_combo.currentData()
        later = [s for s in sessions if s.when.kind != "baseline"]
        self.session_combo.blockSignals(True)
        self.session_combo.clear()
        for s in later:
            self.session_combo.addItem(f"{s.when.label} ({s.acquired_on.isoformat()})", s.when.text)
        index = self.session_combo.findData(chosen) if chosen is not None else -1
        self.session_combo.setCurrentIndex(index if index >= 0 else len(later) - 1)
        self.session_combo.setEnabled(bool(later))
        self.session_combo.setMinimumWidth(self.session_combo.sizeHint().width())   # the longest name never cut
        self.session_combo.blockSignals(False)

    def _image(self, path: str):
        """Loaded once, when first shown; a problem is kept as its message (a missing file, a bad one)."""
        if path not in self._images:
            try:
                self._images[path] = (self._load_image(path), "")
            except (PlannerError, OSError) as err:
                message = getattr(err, "user_message", None) or str(err)
                self._images[path] = (None, f"The image cannot be shown: {message}")
        return self._images[path]

    def _placed_dose(self, plan, session):
        """The plan's current dose on ``session`` (a SessionDose), or why there is none."""
        return placed_or_reason(self._dose_result, plan, session, no_dose=self._no_dose_reason)

    def _show_image_note(self) -> None:
        """The isodoses' legend (the same on both images: one plan, one dose), what they are, and why an image
        shown has none."""
        views = (self.baseline_image, self.later_image)
        legend = next((v.isodose_legend() for v in views if v.isodose_legend()), [])
        problems = [v.isodose_problem for v in views if v.isodose_problem and v.shown_image is not None]
        lines = []
        if legend:
            # each entry kept on one line (non-breaking spaces) when the legend wraps
            lines.append("Isodoses: " + " &nbsp;".join(
                f"<span style='background:{LEGEND_CHIP}; color:{colour}'>&nbsp;━━&nbsp;</span>&nbsp;"
                + html.escape(label).replace(" ", "&nbsp;") for colour, label in legend))
        lines.append(html.escape(IMAGE_NOTE + (f" Isodoses in % of Dmax: {APPROXIMATION}." if legend else "")))
        if problems:
            lines.append(f"<span style='color: {text_colour(WARNING, self)}'>{html.escape('; '.join(problems))}."
                         f"</span>")
        self.image_note.setText("<br>".join(lines))

    def _show_images(self) -> None:
        self._images_stale = False
        plan = self.document.plan
        sessions = () if plan is None or plan.course is None else plan.course.sessions
        baseline = next((s for s in sessions if s.when.kind == "baseline"), None)
        chosen = self.session_combo.currentData()
        later = next((s for s in sessions if s.when.text == chosen), None)
        axis = None
        if plan is not None:
            axis = plan.cone_axis_x_mm if plan.cone_axis_x_mm is not None else (
                None if plan.outline is None else plan.outline.lateral_centre_mm)
        for view, session, missing in ((self.baseline_image, baseline, "no baseline session"),
                                       (self.later_image, later, "no later session")):
            if session is None:
                view.show_message(missing)
            else:
                view.show_session(session, *self._image(session.image_path), axis, self._placed_dose(plan, session))
        self._show_image_note()
        # The lesions and a margin, not the whole image: the views are linked, so one range sets both.
        outlines = [s.outline for s, v in ((baseline, self.baseline_image), (later, self.later_image))
                    if s is not None and v.shown_image is not None and s.outline is not None]
        half = max((o.lateral_width_mm / 2 for o in outlines), default=5.0) + 4.0
        depths = [float(max(ys)) for v in (self.baseline_image, self.later_image)
                  for ys in [v.outline_curve.getData()[1]] if v.shown_image is not None and ys is not None and len(ys)]
        deep = max(depths, default=3.0) + 3.0
        self.baseline_image.setRange(xRange=(-half, half), yRange=(-1.5, deep), padding=0)
