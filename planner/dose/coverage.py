"""One meaning of "X %" for surface beams, and the sentence that says whether the lesion is covered.

Every isodose percentage in Planner (image legend, dose panel, report, command line, RT Plan) is
percent of Dmax, the central-axis maximum dose per fraction. For kV cones and eBx surface
applicators the depth dose falls from the surface (no build-up at these energies), so Dmax is the
surface dose on the axis and the PDD, in % of the surface dose, is already in % of Dmax.

The three ways to prescribe, each with one meaning (D = prescribed dose per fraction):
  * at the surface:              Dmax = D;                      prescription isodose 100 %
  * at a point at depth d:       D at d on the axis;            prescription isodose PDD(d) %
  * to the X % isodose:          Dmax = D / (X/100);            prescription isodose X %
Whatever the mode, one separate coverage line states where the lesion's deepest point lies:
"Lesion's deepest point, 2.70 mm: 71.5 % of Dmax, 14.30 Gy — outside the 90 % isodose".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.core.prescription import PrescriptionPoint

# Coverage is judged on the percentage as shown (one decimal), so the words never contradict the number.
PERCENT_DECIMALS = 1


def percent_text(percent: float) -> str:
    """'90 %' for a whole percentage, '76.4 %' otherwise."""
    rounded = round(float(percent), PERCENT_DECIMALS)
    return f"{rounded:.0f} %" if rounded == int(rounded) else f"{rounded:.{PERCENT_DECIMALS}f} %"


@dataclass(frozen=True)
class Coverage:
    """Whether the lesion's deepest point lies inside the prescription isodose (doses per fraction)."""

    dmax_gy: float                          # central-axis maximum dose (the surface for kV and eBx)
    prescription_isodose_percent: float     # % of Dmax that receives the prescribed dose
    deepest_point_depth_mm: float           # below the skin line
    deepest_point_dose_gy: float            # at the point itself (off-axis and inverse square included)

    def __post_init__(self) -> None:
        for name in ("dmax_gy", "prescription_isodose_percent", "deepest_point_depth_mm", "deepest_point_dose_gy"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ValueError(f"coverage: {name} must be a finite number, got {value!r}")
        if self.dmax_gy <= 0:
            raise ValueError(f"coverage: Dmax must be above 0 Gy, got {self.dmax_gy!r}")

    @property
    def deepest_point_percent_of_dmax(self) -> float:
        return 100.0 * self.deepest_point_dose_gy / self.dmax_gy

    @property
    def covered(self) -> bool:
        shown = round(self.deepest_point_percent_of_dmax, PERCENT_DECIMALS)
        return shown >= round(self.prescription_isodose_percent, PERCENT_DECIMALS)

    def sentence(self) -> str:
        where = "inside" if self.covered else "outside"
        return (f"Lesion's deepest point, {self.deepest_point_depth_mm:.2f} mm: "
                f"{percent_text(self.deepest_point_percent_of_dmax)} of Dmax, {self.deepest_point_dose_gy:.2f} Gy "
                f"— {where} the {percent_text(self.prescription_isodose_percent)} isodose")

    def as_json(self) -> dict:
        return {"deepest_point_depth_mm": self.deepest_point_depth_mm,
                "deepest_point_dose_gy": self.deepest_point_dose_gy,
                "deepest_point_percent_of_dmax": self.deepest_point_percent_of_dmax,
                "prescription_isodose_percent": self.prescription_isodose_percent,
                "dmax_gy": self.dmax_gy, "covered": self.covered}


def prescription_sentence(prescribed_dose_gy: float, point: PrescriptionPoint, dmax_gy: float,
                          prescription_isodose_percent: float) -> str:
    """The prescription in the one meaning of its mode, with Dmax and the isodose it amounts to."""
    dose = f"{prescribed_dose_gy:g} Gy per fraction"
    dmax = f"Dmax = {dmax_gy:.2f} Gy"
    if point.mode == "surface":
        return f"{dose} at the surface ({dmax})"
    if point.mode == "depth":
        return (f"{dose} at {point.depth_mm:g} mm depth on the beam axis: the "
                f"{percent_text(prescription_isodose_percent)} isodose ({dmax})")
    return f"{dose} to the {percent_text(point.isodose_percent)} isodose ({dmax})"
