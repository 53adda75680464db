"""What a dose engine hands back for one fraction of a plan: the one shape every technique fills.

The GUI, the DICOM writers, the report and the physicist's review read only this, so a new
technique's engine is usable everywhere once it returns a DoseResult.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from planner.core.prescription import PrescriptionPoint
from planner.dose.coverage import Coverage
from planner.dose.metrics import DoseMetrics
from planner.dose.plan_checks import REFUSE, Finding, refused

# What the beam-on time of a fraction is called in each technique (shown and reported as given).
TREATMENT_TIME = "treatment time"   # kV cones: the timer setting
DWELL_TIME = "dwell time"           # electronic brachytherapy: the source's dwell per fraction


@dataclass(frozen=True, eq=False)
class DoseResult:
    """One fraction of a plan. Doses Gy, rates Gy/min, times min, lengths mm (image frame).

    ``dose_grid_gy`` is (len(y_mm), len(x_mm)): 0 above the skin, NaN where no beam data exist;
    None when the plan was refused before a dose could be computed (see ``findings``).
    ``absolute`` is the engine's own record of how the absolute dose was obtained (kV: TG-61
    in-air; eBx: the commissioned reference dose rate); ``time_name`` says what the time is called.
    """

    dose_grid_gy: np.ndarray | None
    x_mm: np.ndarray
    y_mm: np.ndarray
    cone_axis_x_mm: float | None
    prescription_point: PrescriptionPoint
    prescribed_dose_gy: float
    surface_dose_gy: float | None
    prescription_depth_mm: float | None
    dose_at_prescription_depth_gy: float | None
    surface_dose_rate_gy_per_min: float | None
    treatment_time_min: float | None
    treatment_time_reason: str | None          # why there is no time (None when there is one)
    absolute: object | None
    metrics: DoseMetrics | None
    findings: tuple[Finding, ...]
    model_description: str
    data_sources: dict[str, str] = field(default_factory=dict)
    time_name: str = TREATMENT_TIME
    ssd_cm: float | None = None                # the commissioned source-to-surface distance used
    # "X %" has one meaning: percent of Dmax, the central-axis maximum (planner.dose.coverage).
    prescription_isodose_percent: float | None = None   # the isodose (% of Dmax) that receives the prescription
    coverage: Coverage | None = None           # the lesion's deepest point against that isodose

    @property
    def dmax_gy(self) -> float | None:
        """Central-axis maximum dose per fraction: the surface dose for kV and eBx beams."""
        return self.surface_dose_gy

    def metric_rows(self) -> tuple[tuple[str, float | None, str], ...]:
        """(label, value, unit) of the numbers shown below the prescription and coverage sentences, in
        the window and the report alike; every "X %" is percent of Dmax. The lesion's deepest point
        is in the coverage sentence, so it is not repeated here."""
        rows = [("Dmax (surface, central axis)", self.dmax_gy, "Gy")]
        m = self.metrics
        if m is not None:
            rows += [("Lesion D98", m.lesion_d98_gy, "Gy"), ("Lesion D90", m.lesion_d90_gy, "Gy"),
                     ("Lesion Dmin", m.lesion_dmin_gy, "Gy"), ("Lesion Dmean", m.lesion_dmean_gy, "Gy"),
                     ("Depth of the 90 % isodose (90 % of Dmax, central axis)", m.depth_90_percent_isodose_mm, "mm"),
                     ("Depth of the 80 % isodose (80 % of Dmax, central axis)", m.depth_80_percent_isodose_mm, "mm")]
        return tuple(rows)

    @property
    def refused(self) -> bool:
        return refused(self.findings)


def dose_result(x_mm: np.ndarray, y_mm: np.ndarray, point: PrescriptionPoint, prescribed_dose_gy: float,
                findings, **known) -> DoseResult:
    """A DoseResult with what the engine got to; everything else None. Without a time, the reason
    is the refusals (or "not computed"), so the window always says why."""
    fields = dict(dose_grid_gy=None, cone_axis_x_mm=None, surface_dose_gy=None, prescription_depth_mm=None,
                  dose_at_prescription_depth_gy=None, surface_dose_rate_gy_per_min=None, treatment_time_min=None,
                  treatment_time_reason=None, absolute=None, metrics=None, model_description="no dose computed",
                  data_sources={})
    fields.update(known)
    findings = tuple(findings)
    if fields["treatment_time_min"] is None and fields["treatment_time_reason"] is None:
        fields["treatment_time_reason"] = "; ".join(f.message for f in findings if f.severity == REFUSE) \
            or "not computed"
    return DoseResult(x_mm=x_mm, y_mm=y_mm, prescription_point=point, prescribed_dose_gy=prescribed_dose_gy,
                      findings=findings, **fields)


def stale_dose_problem(plan, dose: DoseResult) -> str | None:
    """Why ``dose`` is not the dose of ``plan`` as it is now (prescription or beam axis changed
    since it was computed), or None. Exporting or reporting a stale dose would print a wrong number."""
    rx = plan.prescription
    if abs(dose.prescribed_dose_gy - rx.dose_per_fraction_gy) > 1e-9 * max(1.0, rx.dose_per_fraction_gy):
        return (f"the dose was computed for {dose.prescribed_dose_gy:g} Gy per fraction but the plan prescribes "
                f"{rx.dose_per_fraction_gy:g} Gy: recompute the dose")
    if dose.prescription_point != rx.point:
        return (f"the dose was computed {dose.prescription_point.describe()} but the plan prescribes "
                f"{rx.point.describe()}: recompute the dose")
    if (plan.cone_axis_x_mm is not None and dose.cone_axis_x_mm is not None
            and abs(plan.cone_axis_x_mm - dose.cone_axis_x_mm) > 1e-6):
        return (f"the dose was computed with the beam axis at {dose.cone_axis_x_mm:.2f} mm, the plan has it at "
                f"{plan.cone_axis_x_mm:.2f} mm: recompute the dose")
    return None
