"""What the engine found wrong (first), then the dose numbers a physician reads, the treatment time,
the energy and cone it would recommend, and which data and model produced it all.

"X %" means percent of Dmax, the central-axis maximum dose per fraction, and the prescription and
coverage rows use planner.dose.coverage's own sentences, so the window, the report, the command
line and the RT Plan say the same thing. A refused plan shows its refusals and nothing else: no
dose, no time, no number derived from the prescription.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from planner.dose.coverage import prescription_sentence
from planner.dose.recommendation import DEFAULT_DEPTH_MARGIN_MM, DEFAULT_LATERAL_MARGIN_MM
from planner.ui.quantity_field import QuantityField, parse_non_negative_mm
from planner.ui.readable_colours import STOP, WARNING, text_colour

# Findings are listed stop → warning → note; the engine's order is kept within each.
NOTE = "note"
FINDING_ORDER = {"refuse": 0, "warn": 1, NOTE: 2}
FINDING_WORDS = {"refuse": "Refused", "warn": "Warning", NOTE: "Note"}
REFUSED_NOTE = "no dose, time or isodose is shown while the plan is refused"
# Row labels are this many characters wide and wrap beyond, so a long label never widens the dock.
ROW_LABEL_CHARACTERS = 18
TIME_STYLE = "font-weight: bold; font-size: 13pt;"


def _fmt(value, unit: str, digits: int = 2) -> str:
    return "not available" if value is None else f"{value:.{digits}f} {unit}"


def ordered_findings(findings) -> list[tuple[str, str]]:
    """(severity, message) stop → warning → note, the engine's order kept within a severity."""
    return sorted(((f.severity, f.message) for f in findings), key=lambda item: FINDING_ORDER[item[0]])


def _wrapping(text: str = "–") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


class DosePanel(QWidget):
    apply_energy = Signal(str)  # the user accepts the recommended energy id
    apply_applicator = Signal(str)  # the user accepts the recommended applicator id
    apply_both = Signal(str, str)  # the user accepts both (energy id, applicator id)
    recommend_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.findings_label = _wrapping("")
        self.findings_label.setTextFormat(Qt.TextFormat.RichText)
        self.status_label = _wrapping("")
        self.time_label = _wrapping()
        self.time_label.setStyleSheet(TIME_STYLE)
        self.rx_label = _wrapping()
        self.coverage_label = _wrapping()
        self.rx_dose_label = _wrapping()
        self.value_labels: dict[str, QLabel] = {}
        self.numbers = QWidget()  # every dose number; hidden for a refused plan
        self.form = QFormLayout(self.numbers)
        self.form.setContentsMargins(0, 0, 0, 0)
        self._add_row("Treatment time per fraction", self.time_label)
        self._add_row("Prescription", self.rx_label)
        self._add_row("Coverage", self.coverage_label)
        self._add_row("Dose at the prescription depth", self.rx_dose_label)
        self.model_label = _wrapping("")

        recommend = QGroupBox("Recommendation (not applied until you choose)")
        self.energy_reason = _wrapping()
        self.cone_reason = _wrapping()
        self.use_energy = QPushButton("Use")
        self.use_cone = QPushButton("Use")
        recommend_layout = QVBoxLayout(recommend)
        margins = QFormLayout()
        self.depth_margin = QuantityField("mm below the deepest point", parse_non_negative_mm)
        self.lateral_margin = QuantityField("mm each side of the lesion", parse_non_negative_mm)
        self.depth_margin.set_value_text(f"{DEFAULT_DEPTH_MARGIN_MM:g}")
        self.lateral_margin.set_value_text(f"{DEFAULT_LATERAL_MARGIN_MM:g}")
        self.depth_margin.setToolTip("Ultrasound read lesions 0.14–0.21 mm shallower than histology on average "
                                     "(physics-data §5); the default is more than twice that")
        self.lateral_margin.setToolTip("5 mm a side: physics-data §4.3 (a 5 mm margin clears 62 % of microscopic "
                                       "extension, 10 mm 95 %)")
        margins.addRow("Depth margin", self.depth_margin)
        margins.addRow("Lateral margin", self.lateral_margin)
        recommend_layout.addLayout(margins)
        self.recommend_button = QPushButton("Recommend energy and cone")
        self.recommend_button.setToolTip("The lowest energy whose 90 % isodose (90 % of Dmax, the surface dose on "
                                         "the axis) reaches the lesion's deepest point plus the depth margin, and a "
                                         "cone covering the lesion width plus the lateral margin each side")
        self.recommend_button.clicked.connect(self.recommend_requested)
        recommend_layout.addWidget(self.recommend_button)
        for label, button in ((self.energy_reason, self.use_energy), (self.cone_reason, self.use_cone)):
            row = QHBoxLayout()
            row.addWidget(label, 1)
            row.addWidget(button)
            recommend_layout.addLayout(row)
        # Energy and cone are judged together (a wider cone reaches deeper): one click, one undo step.
        self.use_both = QPushButton("Use energy and cone")
        recommend_layout.addWidget(self.use_both)
        self._recommended = {"energy": None, "cone": None}
        self.use_energy.clicked.connect(lambda: self.apply_energy.emit(self._recommended["energy"]))
        self.use_cone.clicked.connect(lambda: self.apply_applicator.emit(self._recommended["cone"]))
        self.use_both.clicked.connect(lambda: self.apply_both.emit(self._recommended["energy"],
                                                                   self._recommended["cone"]))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.findings_label)  # first: a stop or a warning is never below the fold
        layout.addWidget(self.status_label)
        layout.addWidget(self.numbers)
        layout.addWidget(recommend)
        layout.addWidget(self.model_label)
        self.show_unavailable("No plan open.")

    def _add_row(self, text: str, field: QLabel) -> QLabel:
        """A form row whose label wraps instead of widening the panel."""
        label = _wrapping(text)
        label.setFixedWidth(label.fontMetrics().averageCharWidth() * ROW_LABEL_CHARACTERS)
        self.form.addRow(label, field)
        return label

    def show_unavailable(self, reason: str) -> None:
        self.status_label.setText(reason)
        self.status_label.setVisible(True)
        self.numbers.setVisible(False)
        self.findings_label.setText("")
        self.findings_label.setVisible(False)
        self.model_label.setText("")
        self.model_label.setVisible(False)
        self.show_recommendations(())

    def show_result(self, result) -> None:
        self.status_label.setVisible(False)
        if result.refused:
            # Only the refusals and what would fix them: a number next to a refusal reads as valid.
            self._show_findings([(f.severity, f.message) for f in result.findings if f.severity == "refuse"]
                                + [(NOTE, REFUSED_NOTE)])
            self.numbers.setVisible(False)
            self.model_label.setVisible(False)
            return
        self._show_findings(ordered_findings(result.findings))
        self.numbers.setVisible(True)
        # "Treatment time" for a kV timer, "Dwell time" for an eBx source: the engine names it.
        self.form.labelForField(self.time_label).setText(f"{result.time_name.capitalize()} per fraction")
        if result.treatment_time_min is not None:
            self.time_label.setText(f"{result.treatment_time_min:.2f} min ({result.treatment_time_min * 60:.0f} s)")
        else:
            self.time_label.setText(f"not available: {result.treatment_time_reason}")
        if result.dmax_gy is None or result.prescription_isodose_percent is None:
            self.rx_label.setText(f"{result.prescribed_dose_gy:g} Gy per fraction "
                                  f"{result.prescription_point.describe()}")
        else:
            self.rx_label.setText(prescription_sentence(result.prescribed_dose_gy, result.prescription_point,
                                                        result.dmax_gy, result.prescription_isodose_percent))
        self._show_coverage(result)
        at_depth = result.dose_at_prescription_depth_gy
        self.rx_dose_label.setText("not available" if at_depth is None else
                                   f"{at_depth:.2f} Gy at {result.prescription_depth_mm:.2f} mm")
        for name, value, unit in result.metric_rows():
            label = self.value_labels.get(name)
            if label is None:
                label = self.value_labels[name] = _wrapping()
                self._add_row(name, label)
            label.setText(_fmt(value, unit))
        self.model_label.setText(f"Dose from: {result.model_description}")
        self.model_label.setVisible(True)

    def _show_coverage(self, result) -> None:
        coverage = result.coverage
        if coverage is not None:
            self.coverage_label.setText(coverage.sentence())
        elif result.metrics is None:
            self.coverage_label.setText("not available: no lesion outline")
        else:
            self.coverage_label.setText("not available: the lesion's deepest point lies outside the beam data")
        short = coverage is not None and not coverage.covered
        self.coverage_label.setStyleSheet(f"color: {text_colour(WARNING, self)};" if short else "")

    def _show_findings(self, findings: list[tuple[str, str]]) -> None:
        colours = {"refuse": text_colour(STOP, self), "warn": text_colour(WARNING, self)}
        lines = []
        for severity, message in findings:
            text = f"{FINDING_WORDS[severity]}: {html.escape(message, quote=False)}"
            colour = colours.get(severity)
            lines.append(text if colour is None else f'<span style="color:{colour}">{text}</span>')
        self.findings_label.setText("<br>".join(lines))
        self.findings_label.setVisible(bool(lines))

    def margins_mm(self) -> tuple[float, float]:
        """(depth, lateral) margins as typed; a field showing a problem keeps its last good value."""
        return (parse_non_negative_mm(self.depth_margin.line_edit.text()),
                parse_non_negative_mm(self.lateral_margin.line_edit.text()))

    def show_recommendations(self, recommendations, note: str = "") -> None:
        by_kind = {r.what: r for r in recommendations}
        for kind, label, button in (("energy", self.energy_reason, self.use_energy),
                                    ("cone", self.cone_reason, self.use_cone)):
            rec = by_kind.get(kind)
            self._recommended[kind] = None if rec is None else rec.choice_id
            label.setText((note or "–") if rec is None else f"{kind.capitalize()}: {rec.reason}")
            button.setEnabled(rec is not None and rec.choice_id is not None)
        self.use_both.setEnabled(self.use_energy.isEnabled() and self.use_cone.isEnabled())
