"""The report's fonts: DejaVu, embedded, because the PDF standard fonts have no α, β, μ, Ø, ≥ or ²,
and a report that prints "?" for a Greek letter or a unit cannot be signed from.

Found in the system's fonts-dejavu, else in the copy matplotlib ships (a dependency of SpekPy,
so always installed with Planner).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from planner.report.content import ReportError

REGULAR, BOLD, MONO = "PlannerSans", "PlannerSans-Bold", "PlannerMono"
_FILES = {REGULAR: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf", MONO: "DejaVuSansMono.ttf"}
_SYSTEM_FOLDERS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
                   Path("/usr/local/share/fonts/dejavu"))
_registered = False


def _font_folders() -> list[Path]:
    folders = list(_SYSTEM_FOLDERS)
    spec = importlib.util.find_spec("matplotlib")   # locates the package without importing it
    if spec is not None and spec.origin:
        folders.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf")
    return folders


def register_fonts() -> None:
    """Register the three faces with reportlab once; ReportError names the files when none is found."""
    global _registered
    if _registered:
        return
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    folders = _font_folders()
    for name, file_name in _FILES.items():
        path = next((folder / file_name for folder in folders if (folder / file_name).is_file()), None)
        if path is None:
            raise ReportError(f"font {file_name} not found (looked in {', '.join(map(str, folders))}); "
                              f"install the Debian package fonts-dejavu-core")
        pdfmetrics.registerFont(TTFont(name, str(path)))
    addMapping(REGULAR, 0, 0, REGULAR)
    addMapping(REGULAR, 1, 0, BOLD)
    addMapping(REGULAR, 0, 1, REGULAR)
    addMapping(REGULAR, 1, 1, BOLD)
    _registered = True
