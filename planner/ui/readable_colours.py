"""Text colours for stops and warnings that stay readable on the panel they are shown on.

A fixed light orange reads on a dark theme and vanishes on a light one (issue 13), so each kind has
a dark shade for light backgrounds and a light shade for dark ones, picked from the widget's own
palette. Every pair keeps a WCAG 2 contrast of at least 4.5 : 1 on Qt's stock light (#efefef)
and dark (#353535) window colours.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

STOP = "stop"
WARNING = "warning"
# (on a light background, on a dark background)
_SHADES = {STOP: ("#b00020", "#ff8a80"), WARNING: ("#8a4500", "#ffc04d")}


def relative_luminance(colour: QColor) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0 black … 1 white)."""
    def linear(channel: int) -> float:
        c = channel / 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(colour.red()) + 0.7152 * linear(colour.green()) + 0.0722 * linear(colour.blue())


def contrast_ratio(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio, 1 (none) … 21 (black on white)."""
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def readable_colour(background: QColor, on_light: str, on_dark: str) -> str:
    """Of two shades, the one with more contrast on ``background`` (a light or a dark theme)."""
    return max((on_light, on_dark), key=lambda shade: contrast_ratio(QColor(shade), background))


def text_colour(kind: str, widget: QWidget) -> str:
    """The shade of ``kind`` (STOP or WARNING) that contrasts most with ``widget``'s window background."""
    return readable_colour(widget.palette().color(QPalette.ColorRole.Window), *_SHADES[kind])
