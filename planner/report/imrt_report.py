"""The report of an exported IMRT plan: a PDF beside the RT Plan, drawn with reportlab (no Qt).

``imrt_report_content(...)`` freezes what the report shows from plain values;
``imrt_report_for(inverse_planner, volume, influence, result, deliverable, ...)`` builds it (and the
deliverable dose's DVH curves) from the IMRT technique's planning objects, read by attribute only,
so this module never imports a plugin; the command line and the window both call it.
``write_imrt_report(path, content, dvh_curves)`` draws it: page 1 the summary (DEMO banner,
patient, prescription, TG-119 goals or a
clinical protocol's, findings, DVH), page 2 the objectives, the DVH points as optimised and
as delivered after leaf sequencing, the beams and their MU, the model, beam data and calibration,
and the files written with their SHA-256 fingerprints.

``planner.dicom.imrt_export.export_imrt_plan`` writes it as ``report.pdf`` with the DICOM files,
all or nothing, and fills in what only the export knows (the RT Plan's SOP Instance UID, the files).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Mapping

import numpy as np
from reportlab.graphics.shapes import Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import KeepTogether, PageBreak, Spacer

import planner
from planner.core.atomic import atomic_write_bytes
from planner.core.inverse_plan import DVH_KINDS, OBJECTIVE_KINDS
from planner.core.protocols.goals import SHOWN_DECIMALS
from planner.dose.dvh import CumulativeDvh
from planner.dose.hot_spot import plan_hot_spot_check
from planner.dose.structure_dvh import DVH_METHOD
from planner.report import formatting as fmt
from planner.report.content import Alert, Item, ReportError
from planner.report.fonts import REGULAR
from planner.report.pdf_figures import nice_step, ticks
from planner.report.pdf_report import (GREEN, LABEL_BG, MARGIN_BOTTOM, MARGIN_TOP, ORANGE, PAGE_H, RED, TEXT_W,
                                       alert_boxes, build_pdf, draw_page_frame, grid_table, items_table, paragraph,
                                       report_styles)

REPORT_TITLE = "IMRT plan report"
DEMO_TITLE = "DEMO — NOT FOR CLINICAL USE"
DEMO_BEAM_DATA = "DEMO beam data, not a commissioned machine"
DEMO_CALIBRATION = "DEMO calibration: 1 cGy/MU at d_max, 10 × 10 cm², SSD 100 cm"
RT_PLAN_STATUS = "RT Plan as exported: UNAPPROVED (draft)"  # at export; a later approval is in the RT Plan
# and signatures.txt (planner.review.approval): this report is not redrawn for it
DVH_BIN_GY = 0.25
MU_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ObjectiveRow:
    """One optimiser objective as the objectives table shows it."""

    structure: str
    kind: str                       # the table's words: "Max dose", "Min DVH point" ...
    dose_gy: float
    volume_percent: float | None    # the DVH kinds' volume; None for the others
    weight: float


@dataclass(frozen=True)
class DvhPoints:
    """One structure's reported DVH points (Gy, whole course; planner.dose.structure_dvh): the
    near-maximum is D0.03cc and D2, never one voxel's dose."""

    volume_cc: float
    d98_gy: float
    d95_gy: float
    d10_gy: float
    d2_gy: float
    d0_03cc_gy: float
    mean_gy: float


@dataclass(frozen=True)
class StructureDvhPoints:
    structure: str
    optimised: DvhPoints      # the optimiser's fluence, before leaf sequencing
    deliverable: DvhPoints    # after leaf sequencing, as exported


@dataclass(frozen=True)
class GoalRow:
    """A TG-119 goal of the deliverable dose: its words (with the limit), the plan's value, met or not."""

    label: str
    value_gy: float
    met: bool


@dataclass(frozen=True)
class ClinicalGoalRow:
    """A protocol's goal of the deliverable dose (``met`` True/False, with its priority), or an organ
    no goal names (``met`` and ``priority`` None: its D0.03cc or Dmean shown, not judged)."""

    structure: str
    goal: str          # "D0.03cc ≤ 14 Gy", or the bare metric for an organ without a goal
    value_text: str    # as judged: "13.52 Gy", "91.3 %"
    met: bool | None
    priority: int | None


@dataclass(frozen=True)
class ProtocolGoals:
    """The clinical protocol's goals table: which protocol, the rows, and its warnings (a cord
    without a limit)."""

    protocol_text: str
    rows: tuple[ClinicalGoalRow, ...]
    warnings: tuple[str, ...] = ()

    @classmethod
    def of(cls, protocol, report) -> ProtocolGoals:
        """From a planner.core.protocols Protocol and its GoalReport (goals.evaluate_goals) on the deliverable dose."""
        judged = iter(protocol.goals)   # the report's judged rows come one per goal, in the protocol's order
        rows = tuple(ClinicalGoalRow(r.structure, r.goal if r.limit is None else next(judged).text,
                                     f"{r.value:.{SHOWN_DECIMALS[r.unit]}f} {r.unit}", r.met, r.priority)
                     for r in report.rows)
        return cls(f"{protocol.id} version {protocol.version}: {protocol.title}", rows, tuple(report.warnings))


@dataclass(frozen=True)
class ReirradiationSummary:
    """A re-irradiation's limits on the cumulative EQD2 of the deliverable dose (priority 1 each),
    the earlier course they add to, how the EQD2 was made, and each limit's source."""

    prior_text: str
    method_text: str
    rows: tuple[ClinicalGoalRow, ...]
    sources: tuple[str, ...]

    @classmethod
    def of(cls, report) -> ReirradiationSummary:
        """From plugins.imrt_photon.protocol_plan.ReirradiationReport (read by attribute)."""
        interval = ("interval unknown" if report.months is None
                    else f"{report.months:.1f} months before the planning CT")
        rows = tuple(ClinicalGoalRow(r.structure, r.text,
                                     "unknown" if not math.isfinite(r.value)
                                     else f"{r.value:.{SHOWN_DECIMALS[r.unit]}f} {r.unit}", r.met, 1)
                     for r in report.rows)
        method = (f"EQD2 at α/β {report.alpha_beta_gy:g} Gy, EQD2 = D (d + α/β) / (2 + α/β), at each DVH sample of "
                  f"{report.structure}, the earlier course's dose interpolated there; cumulative = both courses' "
                  f"EQD2 summed point by point, read at its near-maximum. {report.note}")
        return cls(f"{report.prior.summary()}; {interval}", method, rows,
                   tuple(f"{r.text}: {r.source}" for r in report.rows))


@dataclass(frozen=True)
class BeamRow:
    name: str
    gantry_deg: float
    segments: int
    mu_per_fraction: float
    jaws_mm: tuple[float, float, float, float]    # X1, X2, Y1, Y2 at the isocentre plane


@dataclass(frozen=True)
class WrittenFile:
    """A file of the export: its name, what it is and, for single files, its SHA-256 (hex)."""

    name: str
    what: str
    sha256: str = ""


@dataclass(frozen=True)
class ImrtReportContent:
    """Everything the IMRT report prints, in plain values; the drawing only lays it out."""

    patient_name: str            # as printed ("FAMILY, Given")
    patient_id: str
    plan_label: str
    volume_description: str
    prescription_text: str       # "50 Gy in 25 × 2 Gy to PTV D95"
    prescribed_total_gy: float   # the whole course's dose: the DVH's prescription line
    fractions: int
    normalisation_text: str
    beams_text: str
    sequencing_text: str
    optimisation_text: str
    objectives: tuple[ObjectiveRow, ...]
    dvh_points: tuple[StructureDvhPoints, ...]
    goals: tuple[GoalRow, ...]
    beams: tuple[BeamRow, ...]
    total_segments: int
    total_mu_per_fraction: float
    model_description: str
    dvh_text: str                # how the DVH samples the structures (planner.dose.structure_dvh)
    beam_data_description: str   # contains DEMO_BEAM_DATA while the machine is the generic DEMO one
    calibration_note: str        # DEMO_CALIBRATION while the MU come from the DEMO calibration
    notes: tuple[str, ...]
    printed_at: str
    planner_version: str
    rt_plan_uid: str = ""                      # filled in by the export
    files_written: tuple[WrittenFile, ...] = ()  # likewise
    findings: tuple[str, ...] = ()             # about the deliverable dose (planner.dose.hot_spot), in words
    hot_spot_text: str = ""                    # the hot-spot check's sentence ("" when nothing was checked)
    protocol_goals: ProtocolGoals | None = None  # a clinical protocol's goals, in place of TG-119's
    reirradiation: ReirradiationSummary | None = None  # an earlier course's cumulative EQD2 limits

    def __post_init__(self) -> None:
        object.__setattr__(self, "objectives", tuple(self.objectives))
        object.__setattr__(self, "dvh_points", tuple(self.dvh_points))
        object.__setattr__(self, "goals", tuple(self.goals))
        object.__setattr__(self, "beams", tuple(self.beams))
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "files_written", tuple(self.files_written))
        object.__setattr__(self, "findings", tuple(self.findings))
        if not self.beams:
            raise ReportError("an IMRT report needs the plan's beams")
        if self.total_segments != sum(b.segments for b in self.beams):
            raise ReportError(f"{self.total_segments} segments in total, but the beams have "
                              f"{sum(b.segments for b in self.beams)}")
        beams_mu = sum(b.mu_per_fraction for b in self.beams)
        if not math.isclose(self.total_mu_per_fraction, beams_mu, rel_tol=MU_TOLERANCE):
            raise ReportError(f"{self.total_mu_per_fraction} MU per fraction in total, but the beams have {beams_mu}")
        if not (math.isfinite(self.prescribed_total_gy) and self.prescribed_total_gy > 0):
            raise ReportError(f"prescribed dose {self.prescribed_total_gy!r} Gy")

    def exported(self, rt_plan_uid: str, files_written) -> ImrtReportContent:
        """The same content with what only the export knows."""
        return replace(self, rt_plan_uid=rt_plan_uid, files_written=tuple(files_written))


def imrt_report_content(*, patient_name: str, patient_id: str, plan_label: str, volume_description: str,
                        prescription_text: str, prescribed_total_gy: float, fractions: int,
                        normalisation_text: str, beams_text: str, sequencing_text: str, optimisation_text: str,
                        objectives, dvh_points, goals, beams, model_description: str, dvh_text: str,
                        beam_data_description: str, calibration_note: str, notes=(), rt_plan_uid: str = "",
                        files_written=(), printed_at: datetime | None = None, findings=(),
                        hot_spot_text: str = "", protocol_goals: ProtocolGoals | None = None,
                        reirradiation: ReirradiationSummary | None = None) -> ImrtReportContent:
    """The report's content from plain values. ``patient_name`` in DICOM form (``FAMILY^Given``);
    the totals are the beams' sums; ``printed_at`` defaults to now."""
    beams = tuple(beams)
    return ImrtReportContent(
        patient_name=fmt.person_name(patient_name), patient_id=patient_id, plan_label=plan_label,
        volume_description=volume_description, prescription_text=prescription_text,
        prescribed_total_gy=float(prescribed_total_gy), fractions=int(fractions),
        normalisation_text=normalisation_text, beams_text=beams_text, sequencing_text=sequencing_text,
        optimisation_text=optimisation_text, objectives=objectives, dvh_points=dvh_points, goals=goals,
        beams=beams, total_segments=sum(b.segments for b in beams),
        total_mu_per_fraction=float(sum(b.mu_per_fraction for b in beams)),
        model_description=model_description, dvh_text=dvh_text, beam_data_description=beam_data_description,
        calibration_note=calibration_note, notes=notes,
        printed_at=fmt.moment(printed_at or datetime.now().astimezone()), planner_version=planner.__version__,
        rt_plan_uid=rt_plan_uid, files_written=files_written, findings=findings, hot_spot_text=hot_spot_text,
        protocol_goals=protocol_goals, reirradiation=reirradiation)


# ------------------------------------------------------------------------------ from the plan objects
def _modulation_text(plan, deliverable) -> str:
    """The smoothness weight, segments left out and MU against open fields on the same beams."""
    text = f"; fluence smoothness weight {getattr(plan, 'modulation_weight', 0.0):g}"
    if getattr(deliverable, "dropped_segments", 0):
        text += (f"; {deliverable.dropped_segments} segments under {deliverable.min_segment_mu:g} MU or "
                 f"{deliverable.min_segment_area_cm2:g} cm² not delivered")
    open_mu = getattr(deliverable, "open_field_mu_per_fraction", float("nan"))
    if math.isfinite(open_mu):
        text += (f"; {deliverable.mlc_plan.total_mu_per_fraction:.0f} MU per fraction = "
                 f"{deliverable.modulation_factor:.1f} × the {open_mu:.0f} MU of open fields on the same beams "
                 f"with the same target D95")
    return text


def imrt_report_for(inverse_planner, volume, influence, result, deliverable, *, patient_name: str,
                    patient_id: str, printed_at: datetime | None = None,
                    protocol_goals: ProtocolGoals | None = None,
                    reirradiation: ReirradiationSummary | None = None
                    ) -> tuple[ImrtReportContent, dict[str, CumulativeDvh]]:
    """The report's content and the deliverable dose's DVH curves from the IMRT technique's objects.

    ``inverse_planner``: the technique's InversePlanner (``structure_dvhs``, ``dvh_description``,
    ``tg119_goals``, ``MODEL_DESCRIPTION``); ``result``: its ImrtResult (``plan``, ``metrics``, ...);
    ``deliverable``: its DeliverablePlan (``mlc_plan``, ``metrics``, ``dose_rows_gy``, ``levels``).
    All are read by attribute: planner.report never imports a plugin. ``protocol_goals``: a clinical
    protocol's goals of the deliverable dose (ProtocolGoals.of), shown in place of TG-119's;
    ``reirradiation``: the re-irradiation limits of the deliverable dose (ReirradiationSummary.of).
    """
    plan, mlc = result.plan, deliverable.mlc_plan
    rx = plan.prescription
    dvhs = inverse_planner.structure_dvhs(volume, influence, np.asarray(deliverable.dose_rows_gy, dtype=float))
    curves = {name: dvh.cumulative(DVH_BIN_GY) for name, dvh in dvhs.items()}
    beams = tuple(BeamRow(b.name, float(b.gantry_deg), len(b.segments), float(b.meterset_mu),
                          (*map(float, b.jaws_x_mm), *map(float, b.jaws_y_mm))) for b in mlc.beams)
    first = mlc.beams[0]
    left_out = len(plan.gantry_angles_deg) - len(mlc.beams)
    beams_text = (f"{len(mlc.beams)} coplanar {first.nominal_energy_mv:g} MV beams at gantry "
                  f"{', '.join(f'{b.gantry_deg:g}°' for b in mlc.beams)}"
                  + (f" (left out, nothing to deliver after sequencing: {left_out} of the "
                     f"{len(plan.gantry_angles_deg)} planned beams)" if left_out > 0 else "")
                  + f"; collimator {first.collimator_deg:g}°, couch {first.couch_deg:g}°; isocentre "
                  f"({', '.join(f'{c:.1f}' for c in first.isocentre_mm)}) mm; SAD {first.sad_mm:g} mm; "
                  f"bixels {plan.bixel_width_mm:g} mm; machine {mlc.machine_name}")
    goals = () if protocol_goals is not None else tuple(
        GoalRow(g.label, float(g.value_gy), bool(g.met))
        for g in inverse_planner.tg119_goals(deliverable.metrics, target=rx.target))
    hot_spot = plan_hot_spot_check(volume, inverse_planner.sampled(volume), inverse_planner.dose_grid_gy(
        volume, influence, np.asarray(deliverable.dose_rows_gy, dtype=float)), rx.target, rx.total_dose_gy)
    content = imrt_report_content(
        patient_name=patient_name, patient_id=patient_id, plan_label=mlc.label,
        volume_description=volume.description or "planning volume",
        prescription_text=rx.describe(), prescribed_total_gy=rx.total_dose_gy, fractions=rx.fractions,
        normalisation_text=f"{deliverable.normalisation_text or rx.normalisation_text()}, again after leaf sequencing",
        beams_text=beams_text,
        sequencing_text=(f"step-and-shoot, {deliverable.levels} intensity levels per beam (Xia & Verhey 1998); "
                         f"{sum(mlc.segment_counts)} segments" + _modulation_text(plan, deliverable)),
        optimisation_text=(f"{result.iterations} iterations in {result.seconds:.1f} s"
                           + (f" ({result.message})" if getattr(result, "message", "") else "")),
        objectives=tuple(ObjectiveRow(o.structure, OBJECTIVE_KINDS.get(o.kind, o.kind), float(o.dose_gy),
                                      o.volume_fraction * 100 if o.kind in DVH_KINDS else None, float(o.weight))
                         for o in plan.objectives),
        dvh_points=tuple(StructureDvhPoints(name, _points(result.metrics[name]), _points(deliverable.metrics[name]))
                         for name in deliverable.metrics if name in result.metrics),
        goals=goals, beams=beams, model_description=inverse_planner.MODEL_DESCRIPTION,
        dvh_text=f"{DVH_METHOD}. {inverse_planner.dvh_description(volume)}",
        # the IMRT technique's only machine is matRad's generic one (plugins/imrt_photon/data/README.md)
        beam_data_description=f"matRad's generic 6 MV machine (pyRadPlan 0.5.0), MLC and jaws as exported for "
                              f"{mlc.machine_name}: {DEMO_BEAM_DATA}",
        calibration_note=(DEMO_CALIBRATION if mlc.demo_calibration
                          else "MU from the machine's commissioned calibration"),
        notes=tuple(mlc.notes), printed_at=printed_at,
        findings=() if hot_spot is None else tuple(f.message for f in hot_spot.findings),
        hot_spot_text="" if hot_spot is None else hot_spot.text, protocol_goals=protocol_goals,
        reirradiation=reirradiation)
    return content, curves


def _points(metrics) -> DvhPoints:
    return DvhPoints(*(float(getattr(metrics, f)) for f in ("volume_cc", "d98_gy", "d95_gy", "d10_gy", "d2_gy",
                                                            "d0_03cc_gy", "mean_gy")))


# ------------------------------------------------------------------------------ drawing
STRUCTURE_COLOURS = (("PTV", "#c00000"), ("CTV", "#d46a00"), ("GTV", "#a0008c"), ("BODY", "#7a7a7a"),
                     ("EXTERNAL", "#7a7a7a"))
PALETTE = ("#1f4e99", "#1b7f2a", "#7030a0", "#008080", "#b35c00", "#c71585", "#4d4d00")


def structure_colours(names) -> dict[str, str]:
    """A colour on white paper for each structure: targets red, the body grey, others a palette."""
    colours, spare = {}, iter(PALETTE * 4)
    for name in names:
        colour = next((c for prefix, c in STRUCTURE_COLOURS if name.upper().startswith(prefix)), None)
        colours[name] = colour or next(spare, "#000000")
    return colours


def _curve_arrays(curve) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(curve, "dose_gy"):
        return np.asarray(curve.dose_gy, dtype=float), np.asarray(curve.volume_percent, dtype=float)
    dose, volume = curve
    return np.asarray(dose, dtype=float), np.asarray(volume, dtype=float)


def dvh_drawing(dvh_curves: Mapping, prescribed_gy: float, width_pt: float, height_pt: float = 250.0) -> Drawing:
    """Cumulative DVHs, Dose [Gy] against Volume [%], one line per structure, the prescription dashed."""
    d = Drawing(width_pt, height_pt)
    curves = {name: _curve_arrays(c) for name, c in dvh_curves.items()}
    colours = structure_colours(curves)
    legend = _dvh_legend_rows([*curves, "prescription"], width_pt - 10.0)
    rows = 1 + max(row for row, _x, _name in legend)
    legend_h = 16.0 + LEGEND_ROW_PT * (rows - 1)
    x0, y0 = 40.0, 30.0 + legend_h
    w, h = width_pt - x0 - 10.0, height_pt - y0 - 12.0
    reached = [float(dose[volume > 0].max()) for dose, volume in curves.values() if np.any(volume > 0)]
    top = max([prescribed_gy, *reached]) * 1.05
    step = nice_step(top, 10)
    x_max = math.ceil(top / step - 1e-9) * step

    def px(g):
        return x0 + np.asarray(g, dtype=float) / x_max * w

    def py(v):
        return y0 + np.asarray(v, dtype=float) / 100.0 * h

    d.add(Rect(x0, y0, w, h, fillColor=None, strokeColor=colors.black, strokeWidth=0.6))
    for v in range(0, 101, 10):
        d.add(Line(x0, float(py(v)), x0 + w, float(py(v)), strokeColor=colors.HexColor("#dddddd"), strokeWidth=0.4))
        d.add(String(x0 - 4, float(py(v)) - 2.5, f"{v}", fontName=REGULAR, fontSize=7, textAnchor="end"))
    for g in ticks(0.0, x_max, step):
        x = float(px(g))
        d.add(Line(x, y0, x, y0 + h, strokeColor=colors.HexColor("#eeeeee"), strokeWidth=0.4))
        d.add(Line(x, y0, x, y0 - 3, strokeColor=colors.black, strokeWidth=0.5))
        d.add(String(x, y0 - 11, f"{g:g}", fontName=REGULAR, fontSize=7, textAnchor="middle"))
    d.add(String(x0 + w / 2, y0 - 23, "Dose [Gy] (whole course)", fontName=REGULAR, fontSize=8,
                 textAnchor="middle"))
    d.add(String(x0 - 30, y0 + h + 6, "Volume [%]", fontName=REGULAR, fontSize=8))
    rx_x = float(px(prescribed_gy))
    d.add(Line(rx_x, y0, rx_x, y0 + h + 3, strokeColor=colors.black, strokeWidth=0.8, strokeDashArray=(4, 3)))
    d.add(String(rx_x, y0 + h + 6, f"prescription {prescribed_gy:g} Gy", fontName=REGULAR, fontSize=7,
                 textAnchor="middle"))
    for name, (dose, volume) in curves.items():
        points = [v for g, p in zip(px(dose).tolist(), py(np.clip(volume, 0, 100)).tolist()) for v in (g, p)]
        if len(points) >= 4:
            d.add(PolyLine(points, strokeColor=colors.HexColor(colours[name]), strokeWidth=1.4))
    # legend under the axis title, one swatch per structure, as many rows as the names need
    d.add(String(4.0, 4.0 + LEGEND_ROW_PT * (rows - 1), DVH_LEGEND_LEAD, fontName=REGULAR, fontSize=7.5))
    for row, x, name in legend:
        y = 4.0 + LEGEND_ROW_PT * (rows - 1 - row)
        if name in curves:
            d.add(Line(x, y + 2.5, x + 16, y + 2.5, strokeColor=colors.HexColor(colours[name]), strokeWidth=2))
        else:
            d.add(Line(x, y + 2.5, x + 16, y + 2.5, strokeColor=colors.black, strokeWidth=0.8, strokeDashArray=(4, 3)))
        d.add(String(x + 20, y, name, fontName=REGULAR, fontSize=7.5))
    return d


DVH_LEGEND_LEAD = "Deliverable dose:"
LEGEND_ROW_PT = 11.0


def _dvh_legend_rows(names, right_pt: float) -> list[tuple[int, float, str]]:
    """(row, x, name) of each legend entry: after the lead on the first row, a new row when the next
    entry would pass ``right_pt`` (a CT's ten structures do not fit on one line of the page)."""
    left = 4.0 + stringWidth(DVH_LEGEND_LEAD, REGULAR, 7.5) + 8
    placed, row, x = [], 0, left
    for name in names:
        width = 20 + stringWidth(name, REGULAR, 7.5) + 12
        if x > left and x + width > right_pt:
            row, x = row + 1, left
        placed.append((row, x, name))
        x += width
    return placed


def _gy(value: float) -> str:
    return fmt.quantity(value, "Gy")


def _banner(content: ImrtReportContent, s) -> list:
    calibrated = "DEMO calibration" in content.calibration_note
    text = (f"The dose comes from {DEMO_BEAM_DATA}"
            + ("; the monitor units from Planner's DEMO calibration" if calibrated else "")
            + ". This plan must not be used to treat a patient.")
    return alert_boxes((Alert("refuse", DEMO_TITLE, text, DEMO_TITLE),), s)


def _identity(content: ImrtReportContent, s) -> list:
    cells = [("Patient", content.patient_name, "Patient ID", content.patient_id),
             ("Plan", content.plan_label, "Volume", content.volume_description),
             ("Printed", content.printed_at, "Planner version", content.planner_version)]
    rows = [[paragraph(a, s["label"]), paragraph(b, s["body"]), paragraph(c, s["label"]), paragraph(d, s["body"])]
            for a, b, c, d in cells]
    rows.append([paragraph("RT Plan UID", s["label"]), paragraph(content.rt_plan_uid or "not exported", s["mono"]),
                 "", ""])
    half = TEXT_W / 2
    return [paragraph(REPORT_TITLE, s["h1"]),
            grid_table(rows, [26 * mm, half - 26 * mm, 30 * mm, half - 30 * mm],
                       [("BACKGROUND", (0, 0), (0, -1), LABEL_BG), ("BACKGROUND", (2, 0), (2, -2), LABEL_BG),
                        ("SPAN", (1, -1), (-1, -1))])]


def _key_facts(content: ImrtReportContent, s) -> list:
    per_fraction = content.prescribed_total_gy / content.fractions
    rows = [[paragraph("Prescription", s["key_label"]), paragraph(content.prescription_text, s["key_value"])],
            [paragraph("Dose per fraction × fractions", s["key_label"]),
             paragraph(f"{per_fraction:g} Gy × {content.fractions} = {content.prescribed_total_gy:g} Gy; "
                       f"{content.normalisation_text}", s["body"])],
            [paragraph("Monitor units per fraction", s["key_label"]),
             paragraph(f"{content.total_mu_per_fraction:.1f} MU in {len(content.beams)} beams, "
                       f"{content.total_segments} segments", s["key_value"])],
            [paragraph("MU calibration", s["key_label"]), paragraph(content.calibration_note, s["body"])],
            [paragraph("Beams", s["key_label"]), paragraph(content.beams_text, s["body"])]]
    return [grid_table(rows, [52 * mm, TEXT_W - 52 * mm], [("BOX", (0, 0), (-1, -1), 1.2, colors.black),
                                                          ("BACKGROUND", (0, 0), (0, -1), LABEL_BG)])]


def _goals(content: ImrtReportContent, s) -> list:
    if content.protocol_goals is not None:
        return _protocol_goals(content.protocol_goals, s) + _reirradiation(content.reirradiation, s)
    title = paragraph("TG-119 goals of the deliverable dose (after leaf sequencing)", s["h2"])
    if not content.goals:
        return [title, paragraph("None: the volume has no structure TG-119 sets a goal for.", s["body"])]
    rows = [[paragraph(t, s["label"]) for t in ("Goal", "Deliverable dose", "Result")]]
    commands = [("BACKGROUND", (0, 0), (-1, 0), LABEL_BG)]
    for g in content.goals:
        verdict = "✓ met" if g.met else "✗ NOT met"
        style = s["label"].clone(f"goal{len(rows)}", textColor=GREEN if g.met else RED)
        rows.append([paragraph(g.label, s["body"]), paragraph(_gy(g.value_gy), s["body"]), paragraph(verdict, style)])
    return [title, grid_table(rows, [90 * mm, 40 * mm, 40 * mm], commands)]


def _protocol_goals(goals: ProtocolGoals, s) -> list:
    """The protocol's goals (met / NOT met, priority), then the organs no goal names, then its warnings."""
    title = paragraph(f"Clinical goals of the deliverable dose (after leaf sequencing): {goals.protocol_text}", s["h2"])
    rows = [[paragraph(t, s["label"]) for t in ("Priority", "Structure", "Goal", "Deliverable dose", "Result")]]
    for g in goals.rows:
        verdict = "no goal: shown" if g.met is None else "✓ met" if g.met else "✗ NOT met"
        style = s["label"].clone(f"cgoal{len(rows)}", textColor=colors.black if g.met is None else GREEN if g.met else RED)
        rows.append([paragraph("—" if g.priority is None else f"{g.priority}", s["body"]),
                     paragraph(g.structure, s["body"]), paragraph(g.goal, s["body"]),
                     paragraph(g.value_text, s["body"]), paragraph(verdict, style)])
    table = grid_table(rows, [18 * mm, 38 * mm, 44 * mm, 34 * mm, TEXT_W - 134 * mm],
                       [("BACKGROUND", (0, 0), (-1, 0), LABEL_BG)])
    warning = s["label"].clone("goal_warning", textColor=RED)
    return [title, table, *(paragraph(f"⚠ {w}", warning) for w in goals.warnings)]


def _reirradiation(summary: ReirradiationSummary | None, s) -> list:
    """The re-irradiation limits of the deliverable dose on the cumulative EQD2, the earlier course, the method."""
    if summary is None:
        return []
    rows = [[paragraph(t, s["label"]) for t in ("Priority", "Structure", "Limit", "Deliverable dose", "Result")]]
    for g in summary.rows:
        style = s["label"].clone(f"rgoal{len(rows)}", textColor=GREEN if g.met else RED)
        rows.append([paragraph(f"{g.priority}", s["body"]), paragraph(g.structure, s["body"]),
                     paragraph(g.goal, s["body"]), paragraph(g.value_text, s["body"]),
                     paragraph("✓ met" if g.met else "✗ NOT met", style)])
    table = grid_table(rows, [18 * mm, 30 * mm, 70 * mm, 28 * mm, TEXT_W - 146 * mm],
                       [("BACKGROUND", (0, 0), (-1, 0), LABEL_BG)])
    return [paragraph("Re-irradiation: cumulative EQD2 with the earlier course (deliverable dose)", s["h2"]),
            paragraph(summary.prior_text, s["body"]), table, paragraph(summary.method_text, s["small"]),
            *(paragraph(f"Source — {text}", s["small"]) for text in summary.sources)]


def _findings(content: ImrtReportContent, s) -> list:
    title = paragraph("Findings of the deliverable dose", s["h2"])
    if content.findings:
        style = s["label"].clone("finding", textColor=RED)
        return [title, *(paragraph(f"⚠ {text}", style) for text in content.findings)]
    return [title, paragraph(content.hot_spot_text or "None checked: the volume has no body or no target.", s["body"])]


def _dvh(content: ImrtReportContent, dvh_curves, s, height_pt: float) -> list:
    title = paragraph("Dose-volume histograms", s["h2"])
    if not dvh_curves:
        return [title, paragraph("No DVH: no structure doses were given to the report.", s["body"])]
    caption = (f"Cumulative DVH of the deliverable dose (after leaf sequencing, whole course, {DVH_BIN_GY:g} Gy bins), "
               f"Volume [%] of each structure receiving at least the dose, the structures sampled below the dose "
               f"voxel; dashed: the prescription, {content.prescribed_total_gy:g} Gy.")
    return [KeepTogether([title, dvh_drawing(dvh_curves, content.prescribed_total_gy, TEXT_W, height_pt),
                          paragraph(caption, s["small"])])]


def _objectives(content: ImrtReportContent, s) -> list:
    rows = [[paragraph(t, s["label"]) for t in ("Structure", "Objective", "Dose", "Volume", "Weight")]]
    for o in content.objectives:
        volume = "—" if o.volume_percent is None else f"{o.volume_percent:g} %"
        rows.append([paragraph(o.structure, s["body"]), paragraph(o.kind, s["body"]),
                     paragraph(f"{o.dose_gy:g} Gy", s["body"]), paragraph(volume, s["body"]),
                     paragraph(f"{o.weight:g}", s["body"])])
    return [paragraph("Optimiser objectives", s["h2"]),
            grid_table(rows, [40 * mm, 45 * mm, 30 * mm, 25 * mm, 25 * mm], [("BACKGROUND", (0, 0), (-1, 0), LABEL_BG)]),
            Spacer(1, 2), paragraph(f"Optimisation: {content.optimisation_text}.", s["small"])]


DVH_POINT_COLUMNS = ("D98", "D95", "D10", "D2", "D0.03cc", "Mean")


def _dvh_points(content: ImrtReportContent, s) -> list:
    header = [paragraph(t, s["label"]) for t in ("Structure", "Dose", "Volume", *DVH_POINT_COLUMNS)]
    rows, commands = [header], [("BACKGROUND", (0, 0), (-1, 0), LABEL_BG)]
    for p in content.dvh_points:
        for k, (what, m) in enumerate((("optimised", p.optimised), ("deliverable (leaf-sequenced)", p.deliverable))):
            values = (m.d98_gy, m.d95_gy, m.d10_gy, m.d2_gy, m.d0_03cc_gy, m.mean_gy)
            rows.append([paragraph(p.structure if k == 0 else "", s["label"]), paragraph(what, s["body"]),
                         paragraph(f"{m.volume_cc:.1f} cc", s["body"]),
                         *(paragraph("—" if not math.isfinite(v) else f"{v:.2f}", s["body"]) for v in values)])
        commands.append(("SPAN", (0, len(rows) - 2), (0, len(rows) - 1)))
    widths = [18 * mm, 46 * mm, 20 * mm] + [(TEXT_W - 84 * mm) / len(DVH_POINT_COLUMNS)] * len(DVH_POINT_COLUMNS)
    return [paragraph("DVH points in Gy: optimised and deliverable (whole course)", s["h2"]),
            grid_table(rows, widths, commands)]


def _beams(content: ImrtReportContent, s) -> list:
    header = [paragraph(t, s["label"]) for t in ("Beam", "Gantry", "Segments", "MU per fraction",
                                                 "Jaw X1", "Jaw X2", "Jaw Y1", "Jaw Y2")]
    rows = [header]
    for b in content.beams:
        rows.append([paragraph(b.name, s["body"]), paragraph(f"{b.gantry_deg:g}°", s["body"]),
                     paragraph(f"{b.segments}", s["body"]), paragraph(f"{b.mu_per_fraction:.1f} MU", s["body"]),
                     *(paragraph(f"{j:.1f} mm", s["body"]) for j in b.jaws_mm)])
    rows.append([paragraph("Total", s["label"]), "", paragraph(f"{content.total_segments}", s["label"]),
                 paragraph(f"{content.total_mu_per_fraction:.1f} MU", s["label"]),
                 paragraph(f"× {content.fractions} fractions = {content.total_mu_per_fraction * content.fractions:.0f} "
                           f"MU for the course", s["body"]), "", "", ""])
    widths = [20 * mm, 18 * mm, 20 * mm, 30 * mm] + [(TEXT_W - 88 * mm) / 4] * 4
    table = grid_table(rows, widths, [("BACKGROUND", (0, 0), (-1, 0), LABEL_BG),
                                      ("BACKGROUND", (0, -1), (-1, -1), LABEL_BG), ("SPAN", (4, -1), (-1, -1))])
    return [paragraph("Beams and monitor units", s["h2"]), table, Spacer(1, 2),
            paragraph(f"Sequencing: {content.sequencing_text}. Jaws at the isocentre plane (IEC 61217, "
                      f"collimator 0°). {content.calibration_note}.", s["small"])]


def _model(content: ImrtReportContent, s) -> list:
    items = [Item("Dose model", content.model_description), Item("DVH", content.dvh_text),
             Item("Beam data", content.beam_data_description)]
    items += [Item("Plan note", n) for n in content.notes]
    return [paragraph("Dose model, beam data and calibration", s["h2"]), items_table(items, s, 40 * mm, "small")]


def _files(content: ImrtReportContent, s) -> list:
    title = paragraph("Files written", s["h2"])
    if not content.files_written:
        return [title, paragraph("None: this report was not written by an export.", s["body"])]
    mono = s["mono"].clone("fingerprint", fontSize=5.8, leading=7.5)
    rows = [[paragraph(t, s["label"]) for t in ("File", "What", "SHA-256")]]
    for f in content.files_written:
        rows.append([paragraph(f.name, s["small"]), paragraph(f.what, s["small"]),
                     paragraph(fmt.fingerprint(f.sha256) if f.sha256 else "—", mono)])
    return [KeepTogether([title, grid_table(rows, [22 * mm, 36 * mm, TEXT_W - 58 * mm],
                                            [("BACKGROUND", (0, 0), (-1, 0), LABEL_BG)])])]


def _story(content: ImrtReportContent, dvh_curves, s) -> list:
    story = [*_identity(content, s), *_banner(content, s), Spacer(1, 6), *_key_facts(content, s),
             *_goals(content, s), *_findings(content, s)]
    used = sum(f.wrap(TEXT_W, 10_000)[1] for f in story) + 60
    available = PAGE_H - MARGIN_TOP - MARGIN_BOTTOM - used - 40
    story += _dvh(content, dvh_curves, s, max(180.0, min(300.0, available)))
    story += [PageBreak(), *_objectives(content, s), *_dvh_points(content, s), *_beams(content, s),
              *_model(content, s), *_files(content, s)]
    return story


def render_imrt_report(content: ImrtReportContent, dvh_curves: Mapping | None = None) -> bytes:
    """The PDF's bytes. ``dvh_curves``: structure → CumulativeDvh (or (dose Gy, volume %) arrays)."""
    s = report_styles()
    curves = dict(dvh_curves or {})

    def decorations(total):
        def draw(canvas, doc) -> None:
            draw_page_frame(canvas, doc.page, total, title=f"Planner — {REPORT_TITLE}", status_text=RT_PLAN_STATUS,
                            status_colour=ORANGE, marks=(DEMO_TITLE,),
                            identity=(f"Patient ID: {content.patient_id}   ·   {content.patient_name}   ·   "
                                      f"Plan: {content.plan_label}   ·   RT Plan {content.rt_plan_uid or 'not exported'}"),
                            printed=f"Printed {content.printed_at} by Planner {content.planner_version}")
        return draw

    return build_pdf(lambda: _story(content, curves, s), decorations, creator=f"Planner {content.planner_version}",
                     title=f"{REPORT_TITLE} — {content.plan_label}", author=f"Planner {content.planner_version}",
                     subject=f"Patient ID {content.patient_id}; {DEMO_TITLE}")


def write_imrt_report(path: str | os.PathLike, content: ImrtReportContent, dvh_curves: Mapping | None = None) -> None:
    """Draw the whole report in memory, then write ``path`` atomically (never a truncated PDF)."""
    data = render_imrt_report(content, dvh_curves)
    try:
        atomic_write_bytes(path, data)
    except OSError as err:
        raise ReportError(f"cannot write the report to {os.fspath(path)}: {err.strerror or err}") from err
