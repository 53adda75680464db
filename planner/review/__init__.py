"""The physicist's review layer: the independent second check, approval or rejection, the plan
lock and the audit log of who did what to a plan and when. It sits above the plan model and the
dose and DICOM layers (may import planner.core, planner.dose, planner.dicom) and never imports Qt,
so the command line and the tests run every review step without a display.
"""
