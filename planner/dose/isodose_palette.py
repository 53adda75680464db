"""How isodoses, the lesion outline and the skin line look, on screen and on paper alike.

One definition for the window (planner/ui/dose_overlay.py, image_view.py) and the report
(planner/report/figure.py, pdf_figures.py), so the printout reads like the screen the plan was made
on. Isodose percentages are percent of Dmax (planner.dose.coverage), each line also labelled in Gy;
the isodose that receives the prescription stands out (thicker, or dashed white when it is not one
of the levels). The outline and the skin line use no colour an isodose uses.
"""

from __future__ import annotations

from planner.dose.coverage import percent_text

ISODOSE_LEVELS_PERCENT = (100, 90, 80, 50, 20)                            # % of Dmax
ISODOSE_COLOURS = ("#ff2a2a", "#ff9a00", "#fff200", "#00e0ff", "#3c78ff")   # red, orange, yellow, cyan, blue
PRESCRIPTION_ISODOSE_COLOUR = "#ffffff"   # the prescription isodose when it is not one of the levels, dashed
OUTLINE_COLOUR = "#ff40ff"                # magenta
SKIN_COLOUR = "#40ff40"                   # green
ISODOSE_MEANING = "Isodose percentages are percent of Dmax, the central-axis maximum dose per fraction."


def isodose_label(percent_of_dmax: float, dmax_gy: float, prescription: bool = False) -> str:
    """'90 % · 18.0 Gy': percent of Dmax and the dose per fraction it stands for."""
    text = f"{percent_text(percent_of_dmax)} · {percent_of_dmax / 100.0 * dmax_gy:.1f} Gy"
    return text + " (prescription)" if prescription else text
