"""The plan report: a PDF a physician can sign off a treatment from, drawn without Qt.

``report_content(plan, dose_result, planning_image, technique, ...)`` freezes what the report
shows (planner/report/content.py); ``write_plan_report(path, content)`` draws and writes it
atomically (planner/report/pdf_report.py).
"""

from planner.report.assemble import report_content
from planner.report.content import (AUTHORIZATION, CREATOR, PlanStatus, ReportContent, ReportError, SignatureLine,
                                    status_from_signatures)
from planner.report.pdf_report import render_plan_report, write_plan_report

__all__ = ["AUTHORIZATION", "CREATOR", "PlanStatus", "ReportContent", "ReportError", "SignatureLine",
           "report_content", "render_plan_report", "status_from_signatures", "write_plan_report"]
