"""Isodose levels of an inverse (IMRT) plan: percent of the prescribed dose, each named in Gy.

An IMRT plan is normalised to its prescription (target D95 = prescribed dose), not to a
central-axis maximum, so its isodoses are read against the prescription, as clinical planning
systems show them. The levels:

* 105 %: the hot spot a physicist looks for (inside the +7 % / −5 % band ICRU Report 50, 1993,
  allows the target; the built-in TG-119 plan's PTV maximum objective is 52.5 Gy = 105 % of 50 Gy);
* 100 %: the prescription isodose;
* 95 %: the lower edge of that band, the coverage line that should hug the target;
* 80 %, 50 %, 20 %: the fall-off, the spread of intermediate and low dose through normal tissue.

Colours are the surface techniques' isodose palette (planner.dose.isodose_palette), hottest red
to coldest blue, and the prescription isodose in the palette's prescription white, so the screen
and paper of every technique use one set of colours.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.dose.coverage import percent_text
from planner.dose.isodose_palette import ISODOSE_COLOURS, PRESCRIPTION_ISODOSE_COLOUR

PRESCRIPTION_ISODOSE_PERCENT = (105, 100, 95, 80, 50, 20)
_COLOURS = (ISODOSE_COLOURS[0], PRESCRIPTION_ISODOSE_COLOUR, *ISODOSE_COLOURS[1:])


@dataclass(frozen=True)
class IsodoseLevel:
    percent_of_prescription: float
    dose_gy: float
    colour: str                 # hex, from the isodose palette

    @property
    def is_prescription(self) -> bool:
        return abs(self.percent_of_prescription - 100.0) < 1e-9

    @property
    def dose_text(self) -> str:
        """'52.5 Gy': the level in Gy, as few decimals as it needs (at most two)."""
        return f"{round(self.dose_gy, 2):g} Gy"

    @property
    def label(self) -> str:
        """'52.5 Gy · 105 %': the level in Gy and in % of the prescription."""
        return f"{self.dose_text} · {percent_text(self.percent_of_prescription)}"


def prescription_isodoses(prescribed_gy: float) -> tuple[IsodoseLevel, ...]:
    """The levels for a plan prescribed `prescribed_gy` (whole course), hottest first."""
    if not prescribed_gy > 0:
        raise ValueError(f"the prescribed dose must be above 0 Gy, got {prescribed_gy!r}")
    return tuple(IsodoseLevel(float(p), p / 100.0 * float(prescribed_gy), c)
                 for p, c in zip(PRESCRIPTION_ISODOSE_PERCENT, _COLOURS))


def legend_title(prescribed_gy: float) -> str:
    return f"Isodoses, % of {round(prescribed_gy, 2):g} Gy prescribed"
