"""IMRT with 6 MV photons (issue 8): TG-119 phantom, pencil-beam dose influence, fluence optimisation.

Not yet registered as a `planner.techniques` entry point: the GUI, leaf sequencing and DICOM export
come later. Everything here runs without Qt.
"""
