"""The dose numbers a physician reads, the treatment time, what the engine found wrong, the
energy and cone it would recommend, and which data and model produced it all."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from planner.dose.recommendation import DEFAULT_DEPTH_MARGIN_MM, DEFAULT_LATERAL_MARGIN_MM
from planner.ui.quantity_field import QuantityField, parse_non_negative_mm

REFUSE_COLOUR = "#ff7070"
WARN_COLOUR = "#ffc040"


def _fmt(value, unit: str, digits: int = 2) -> str:
    return "not available" if value is None else f"{value:.{digits}f} {unit}"


class DosePanel(QWidget):
    apply_energy = Signal(str)  # the user accepts the recommended energy id
    apply_applicator = Signal(str)  # the user accepts the recommended applicator id
    recommend_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.time_label = QLabel("–")
        self.time_label.setStyleSheet("font-weight: bold; font-size: 13pt;")
        self.rx_label = QLabel("–")
        self.rx_label.setWordWrap(True)
        self.rx_dose_label = QLabel("–")
        self.value_labels: dict[str, QLabel] = {}
        self.form = QFormLayout()
        self.form.addRow("Treatment time per fraction", self.time_label)
        self.form.addRow("Prescription", self.rx_label)
        self.form.addRow("Dose at the prescription depth", self.rx_dose_label)
        self.findings_label = QLabel()
        self.findings_label.setWordWrap(True)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setStyleSheet("color: #b0b0b0;")

        recommend = QGroupBox("Recommendation (not applied until you choose)")
        self.energy_reason = QLabel()
        self.energy_reason.setWordWrap(True)
        self.cone_reason = QLabel()
        self.cone_reason.setWordWrap(True)
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
        self.recommend_button.setToolTip("Lowest energy whose 90 % isodose covers the lesion's deepest point plus a "
                                         "depth margin; smallest cone covering the lesion width plus 5 mm a side")
        self.recommend_button.clicked.connect(self.recommend_requested)
        recommend_layout.addWidget(self.recommend_button)
        for label, button in ((self.energy_reason, self.use_energy), (self.cone_reason, self.use_cone)):
            row = QHBoxLayout()
            row.addWidget(label, 1)
            row.addWidget(button)
            recommend_layout.addLayout(row)
        self._recommended = {"energy": None, "cone": None}
        self.use_energy.clicked.connect(lambda: self.apply_energy.emit(self._recommended["energy"]))
        self.use_cone.clicked.connect(lambda: self.apply_applicator.emit(self._recommended["cone"]))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.status_label)
        layout.addLayout(self.form)
        layout.addWidget(self.findings_label)
        layout.addWidget(recommend)
        layout.addWidget(self.model_label)
        self.show_unavailable("No plan open.")

    def show_unavailable(self, reason: str) -> None:
        self.status_label.setText(reason)
        self.status_label.setVisible(True)
        self.time_label.setText("–")
        self.rx_label.setText("–")
        self.rx_dose_label.setText("–")
        for label in self.value_labels.values():
            label.setText("–")
        self.findings_label.setText("")
        self.model_label.setText("")
        self.show_recommendations(())

    def show_result(self, result) -> None:
        self.status_label.setVisible(False)
        # "Treatment time" for a kV timer, "Dwell time" for an eBx source: the engine names it.
        self.form.labelForField(self.time_label).setText(f"{result.time_name.capitalize()} per fraction")
        if result.treatment_time_min is not None:
            self.time_label.setText(f"{result.treatment_time_min:.2f} min ({result.treatment_time_min * 60:.0f} s)")
        else:
            self.time_label.setText(f"not available: {result.treatment_time_reason}")
        # The depth is repeated only where the point description does not already state it.
        depth = "" if result.prescription_depth_mm is None or result.prescription_point.mode == "depth" \
            else f" ({result.prescription_depth_mm:.2f} mm below the skin)"
        self.rx_label.setText(f"{result.prescribed_dose_gy:g} Gy per fraction {result.prescription_point.describe()}{depth}")
        self.rx_dose_label.setText("not available" if result.dose_at_prescription_depth_gy is None else
                                   f"{result.dose_at_prescription_depth_gy:.2f} Gy at {result.prescription_depth_mm:.2f} mm")
        rows = result.metrics.rows() if result.metrics is not None else ()
        for name, value, unit in rows:
            label = self.value_labels.get(name)
            if label is None:
                label = self.value_labels[name] = QLabel()
                self.form.addRow(name, label)
            label.setText(_fmt(value, unit))
        lines = [f'<span style="color:{REFUSE_COLOUR if f.severity == "refuse" else WARN_COLOUR}">'
                 f'{"Refused" if f.severity == "refuse" else "Warning"}: {f.message}</span>' for f in result.findings]
        self.findings_label.setText("<br>".join(lines))
        self.model_label.setText(f"Dose from: {result.model_description}")

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
