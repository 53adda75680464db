"""Process-wide pyqtgraph options; imported by every module that uses pyqtgraph.

Row-major so (row, col) image arrays are not shown transposed; no mouse-rate limit so synthetic
drags in tests are not dropped (shared/reference/qt-setup-notes.md, pitfalls 2 and 10).
"""

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pyqtgraph as pg  # noqa: E402

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, mouseRateLimit=-1)
