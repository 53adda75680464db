"""Controls under the image: cine frame slider with play/pause, and window/level.

Display settings, not plan data: they are not undoable edits and are not saved with the plan.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QStyle, QWidget

DEFAULT_FRAME_TIME_MS = 40.0  # 25 frames/s when the file states no frame time


class ImageControls(QWidget):
    frame_changed = Signal(int)
    levels_changed = Signal(float, float)  # (low, high) display levels

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.play_button = QPushButton()
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play or pause the cine loop (Space)")
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.frame_slider = QSlider(Qt.Orientation.Horizontal)
        self.frame_label = QLabel()
        self.window_slider = QSlider(Qt.Orientation.Horizontal)
        self.level_slider = QSlider(Qt.Orientation.Horizontal)
        self.levels_label = QLabel()
        self.reset_levels_button = QPushButton("Reset")
        self.reset_levels_button.setToolTip("Full range of the stored pixel values")
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._next_frame)
        self._value_range = (0.0, 255.0)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        self.cine_widgets = (self.play_button, self.frame_slider, self.frame_label)
        for widget in self.cine_widgets:
            layout.addWidget(widget, 3 if widget is self.frame_slider else 0)
        self.level_widgets = (QLabel("Window"), self.window_slider, QLabel("Level"), self.level_slider,
                              self.levels_label, self.reset_levels_button)
        for widget in self.level_widgets:
            layout.addWidget(widget, 1 if isinstance(widget, QSlider) else 0)

        self.frame_slider.valueChanged.connect(self._on_frame_slider)
        self.play_button.toggled.connect(self.set_playing)
        self.window_slider.valueChanged.connect(self._emit_levels)
        self.level_slider.valueChanged.connect(self._emit_levels)
        self.reset_levels_button.clicked.connect(self.reset_levels)

    def show_image(self, image) -> None:
        self.set_playing(False)
        self.frame_slider.blockSignals(True)
        self.frame_slider.setRange(0, image.n_frames - 1)
        self.frame_slider.setValue(0)
        self.frame_slider.blockSignals(False)
        frame_time = image.frame_time_ms or DEFAULT_FRAME_TIME_MS
        self._timer.setInterval(max(1, int(round(frame_time))))
        self._frame_time_ms = image.frame_time_ms
        for widget in self.cine_widgets:
            widget.setVisible(image.n_frames > 1)
        self._update_frame_label(0)

        low, high = float(image.frames.min()), float(image.frames.max())
        self._value_range = (low, max(high, low + 1.0))
        span = int(round(self._value_range[1] - self._value_range[0]))
        for slider in (self.window_slider, self.level_slider):
            slider.blockSignals(True)
        self.window_slider.setRange(1, max(1, span))
        self.level_slider.setRange(int(low), int(round(self._value_range[1])))
        for slider in (self.window_slider, self.level_slider):
            slider.blockSignals(False)
        for widget in self.level_widgets:
            widget.setVisible(not image.is_colour)
        self.reset_levels()

    def reset_levels(self) -> None:
        low, high = self._value_range
        self.window_slider.blockSignals(True)
        self.window_slider.setValue(int(round(high - low)))
        self.window_slider.blockSignals(False)
        self.level_slider.setValue(int(round((low + high) / 2)))
        self._emit_levels()

    def levels(self) -> tuple[float, float]:
        window, level = self.window_slider.value(), self.level_slider.value()
        return level - window / 2.0, level + window / 2.0

    def set_playing(self, playing: bool) -> None:
        if self.play_button.isChecked() != playing:
            self.play_button.setChecked(playing)
            return
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))
        self._timer.start() if playing and self.frame_slider.maximum() > 0 else self._timer.stop()

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def _next_frame(self) -> None:
        slider = self.frame_slider
        slider.setValue(0 if slider.value() >= slider.maximum() else slider.value() + 1)

    def _on_frame_slider(self, frame: int) -> None:
        self._update_frame_label(frame)
        self.frame_changed.emit(frame)

    def _update_frame_label(self, frame: int) -> None:
        total = self.frame_slider.maximum() + 1
        timing = "" if not self._frame_time_ms else f", {frame * self._frame_time_ms / 1000.0:.2f} s"
        self.frame_label.setText(f"frame {frame + 1}/{total}{timing}")

    def _emit_levels(self) -> None:
        low, high = self.levels()
        self.levels_label.setText(f"{low:.0f}–{high:.0f}")
        self.levels_changed.emit(low, high)
