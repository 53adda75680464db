"""Whether a prescription makes sense for its technique, judged before anything is computed from it.

The window (plan panel) and the command line (`planner plan`) ask the same function, so both refuse
and question the same regimens. Two limits, each with where it comes from:

* Refused outright: more than 100 Gy in total. No surface technique gives that to the skin; issue 13
  names it as the example of a number outside physical sense. It is more than twice the largest
  total of any published regimen Planner offers (45 Gy, kV; 42 Gy, eBx: plugins/*/machine_data.py).
* Confirmed by the user: a regimen outside the published range of the technique's own regimens,
  ``technique.fractionation_presets`` (each cites its source in plugins/*/machine_data.py). The
  range is the span of the presets in dose per fraction, number of fractions, total dose and
  BED10 (n·d·(1 + d/10), no time factor: planner.core.radiobiology). The BED10 span is the one the
  physicist's review checks (planner.review.consistency, rule "BED10 ... within the range spanned by
  the technique's presets"), so a regimen taken here without a question is never "outside the
  published range" there. A regimen inside the range that is none of the presets passes here and
  is still a "custom regimen" for the review (a second look, not a stop), as consistency.py judges.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.core.prescription import Prescription
from planner.core.radiobiology import ALPHA_BETA_TUMOUR_GY, bed_gy

MAX_TOTAL_DOSE_GY = 100.0   # issue 13: "more than 100 Gy total to skin" is outside physical sense
REFUSE = "refuse"
CONFIRM = "confirm"
# Float tolerance when comparing with a preset's numbers, as planner.review.consistency does.
_TOLERANCE = 1e-6


@dataclass(frozen=True)
class PlausibilityFinding:
    """A prescription refused (``kind`` "refuse") or to be confirmed by the user ("confirm")."""

    kind: str
    message: str    # one line: which number, its limit and where the limit comes from

    def __post_init__(self) -> None:
        if self.kind not in (REFUSE, CONFIRM):
            raise ValueError(f"kind must be {REFUSE!r} or {CONFIRM!r}, got {self.kind!r}")

    @property
    def question(self) -> str:
        """The message as the question a user answers (window) or a flag overrides (command line)."""
        return f"{self.message}. Use this regimen anyway?"


def check_prescription(prescription: Prescription, presets, technique_name: str,
                       max_total_dose_gy: float = MAX_TOTAL_DOSE_GY) -> PlausibilityFinding | None:
    """A refusal, a question to confirm, or None when the regimen lies within the published range.

    ``presets``: the technique's ``fractionation_presets`` (FractionationPreset: dose_per_fraction_gy,
    fractions). Module doc for the limits.
    """
    d, n = prescription.dose_per_fraction_gy, prescription.fractions
    total = prescription.total_dose_gy
    regimen = f"{total:g} Gy in {n} × {d:g} Gy"
    if total > max_total_dose_gy:
        return PlausibilityFinding(REFUSE, f"{regimen} is refused: more than {max_total_dose_gy:g} Gy in total to "
                                           f"the skin is outside physical sense for any surface technique")
    presets = tuple(presets)
    if not presets:
        return PlausibilityFinding(CONFIRM, f"{regimen}: {technique_name} publishes no regimen to compare it with")
    if any(abs(p.dose_per_fraction_gy - d) < _TOLERANCE and p.fractions == n for p in presets):
        return None
    bed = bed_gy(prescription, ALPHA_BETA_TUMOUR_GY)
    quantities = (
        ("dose per fraction", d, [p.dose_per_fraction_gy for p in presets], "{:g} Gy"),
        ("number of fractions", n, [p.fractions for p in presets], "{:g}"),
        ("total dose", total, [p.dose_per_fraction_gy * p.fractions for p in presets], "{:g} Gy"),
        (f"BED{ALPHA_BETA_TUMOUR_GY:g}", bed,
         [bed_gy(Prescription(p.dose_per_fraction_gy, p.fractions), ALPHA_BETA_TUMOUR_GY) for p in presets],
         "{:.1f} Gy"),
    )
    outside = []
    for name, value, spanned, fmt in quantities:
        low, high = min(spanned), max(spanned)
        if low - _TOLERANCE <= value <= high + _TOLERANCE:
            continue
        span = fmt.format(low) if high - low < _TOLERANCE else \
            f"{fmt.format(low).split()[0]}–{fmt.format(high)}"
        outside.append(f"{name} {fmt.format(value)} is {'below' if value < low else 'above'} {span}")
    if not outside:
        return None
    return PlausibilityFinding(CONFIRM, f"{regimen} is outside the published regimens of {technique_name}: "
                                        f"{'; '.join(outside)}")
