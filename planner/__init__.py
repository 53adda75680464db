"""Planner: treatment planning for image-guided superficial radiotherapy (IGSRT), surface
electronic brachytherapy and IMRT.

Layers (see README): ``planner.core`` (plan model, geometry, radiobiology; numpy only),
``planner.imaging`` (ultrasound loading and calibration; pydicom), ``planner.techniques`` (the
plugin interface), ``planner.cli`` (command line) and ``planner.ui`` (the only Qt layer).
"""

__version__ = "0.1.0"
