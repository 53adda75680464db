"""Default superficial kV unit (SRT-100 class) as published; every number with its source.

Sources (shared/reference/physics-data.md §1.1 and §4.1):
- [Sheu 2015] Sheu R-D, Powers A, Lo Y-C. Commissioning a 50–100 kV X-ray unit for skin cancer
  treatment. J Appl Clin Med Phys 16(2), 2015 (PMC5690081), abstract: first HVL, mean of two units.
- [SRT-100 Vision QA] Periodic QA of an SRT-100 Vision over 3.5 years (PMC12450352), abstract:
  applicator diameters 1.5, 2.0, 2.5, 3.0, 4.0, 5.0 cm.
- [Rook 79.1] Superficial radiotherapy dosage regimens for skin BCC and SCC, Table 79.1 of the
  Blackwell reference text ISBN 9781405161695.
- [Xstrahl modules] Xstrahl learning modules (vendor education): BCC 40.5 Gy / 9 fx.
- [Chan 2007] Chan S, Dhadda AS, Swindell R, 2007: single fractions of 18–22.5 Gy, 1005 lesions.
SSD, filtration and output are not published for this unit: the clinic commissions them.
"""

from planner.techniques.interface import (
    NOT_COMMISSIONED,
    Applicator,
    Energy,
    FractionationPreset,
    Machine,
    MachineParameter,
)

_HVL_SOURCE = "Sheu 2015, JACMP 16(2), abstract: measured first HVL, mean of two SRT-100 units (mm Al)"
_CONE_SOURCE = "SRT-100 Vision periodic QA (PMC12450352), abstract: applicator diameters (cm)"

SUPERFICIAL_UNIT = Machine(
    id="srt100-class",
    name="Superficial kV unit (SRT-100 class)",
    energies=(
        Energy("50kV", kvp=50.0, hvl_mm_al=0.52, source=_HVL_SOURCE),
        Energy("70kV", kvp=70.0, hvl_mm_al=1.15, source=_HVL_SOURCE),
        Energy("100kV", kvp=100.0, hvl_mm_al=2.20, source=_HVL_SOURCE),
    ),
    applicators=tuple(
        Applicator(f"cone-{d}mm", diameter_mm=float(d), source=_CONE_SOURCE) for d in (15, 20, 25, 30, 40, 50)
    ),
    parameters=(
        MachineParameter("source-to-surface distance", None, "cm", NOT_COMMISSIONED),
        MachineParameter("added filtration", None, "mm Al", NOT_COMMISSIONED),
        MachineParameter("air-kerma rate in air", None, "Gy/min", NOT_COMMISSIONED),
    ),
)

FRACTIONATION_PRESETS = (
    FractionationPreset("18 Gy × 1", 18.0, 1, "Rook 79.1; Chan 2007"),
    FractionationPreset("20 Gy × 1", 20.0, 1, "Chan 2007 (optimal for ≤ 3 cm flat lesions)"),
    FractionationPreset("35 Gy / 5 × 7 Gy", 7.0, 5, "Rook 79.1 (tumours < 4 cm, daily)"),
    FractionationPreset("40.5 Gy / 9 × 4.5 Gy", 4.5, 9, "Xstrahl learning modules (BCC)"),
    FractionationPreset("45 Gy / 10 × 4.5 Gy", 4.5, 10, "Rook 79.1 (tumours > 4 cm, daily)"),
)
