"""DICOM out of and into Planner: RT Plan, RT Structure Set and RT Dose writers, PS3.15 digital
signatures, and DICOM networking (C-STORE, C-FIND, C-GET) with a PACS or record-and-verify system.

Never imports Qt: the command line, the GUI and the tests call the same functions.
"""
