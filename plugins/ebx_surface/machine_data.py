"""Surface electronic brachytherapy (eBx) units as published; every number with its source.

Sources (shared/reference/physics-data.md §3 and §4.1; abstracts unless stated):
- [Garcia-Martinez 2014] Garcia-Martinez T, Chan J-P, Perez-Calatayud J, Ballester F. Dosimetric
  characteristics of a new unit for electronic skin brachytherapy. J Contemp Brachytherapy 6(1):45–53,
  2014, doi 10.5114/jcb.2014.40770 (Esteya, 69.5 kV): HVL 1.85 mm Al, applicators "from 10 mm to 30 mm",
  flatness and symmetry better than 5 %, penumbra about 1 mm, depth-dose gradient about 7 %/mm, dose rate
  about 3.3 Gy/min for a typical 6–7 Gy prescription, leakage < 100 µGy/min, lesions up to 5 mm deep.
- [ARS surface applicators] advancedradsolutions.com, "Surface Applicator Plan Development
  Considerations" (Xoft Axxent class, 50 kV): applicators 10, 20, 35, 50 mm; uniformity within ±15 % at
  2 mm depth for all sizes; treatable diameter after field-edge allowance 5–45 mm across the set;
  flattening filter; SSD differs per applicator (values not published there).
- [NIST eBx] nist.gov, "Calibrations of a miniature X-ray source used for electronic brachytherapy":
  50 kV miniature source, photons < 50 keV.
- [Radiat Oncol 2010] The initial experience of electronic brachytherapy for the treatment of
  non-melanoma skin cancer. Radiat Oncol 5:87, 2010 (PMC2957390): 40 Gy in 8 fractions, twice weekly,
  at least 48 h apart, prescribed at 3–7 mm depth.
- [Ballester-Sánchez 2016] Ballester-Sánchez R et al. J Contemp Brachytherapy 8(1):48–55, 2016 (Esteya):
  36.6 Gy / 6 × 6.1 Gy versus 42 Gy / 6 × 7 Gy.
- [Delishaj 2015] Delishaj D et al. J Contemp Brachytherapy 7(6):437–444, 2015 (Ir-192 Valencia):
  40 Gy / 8 × 5 Gy, lesions ≤ 4 mm deep.

Not published in what we could retrieve (NOT FOUND in physics-data.md, so the clinic commissions them):
source-to-surface distances, per-applicator output and PDD, the flattening filters' material and shape,
the Xoft source's HVL. Values the Monte Carlo model needs for these are modelling assumptions kept in
plugins/ebx_surface/applicator_model.py, labelled there, never presented as machine data.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.techniques.interface import (
    NOT_COMMISSIONED,
    Applicator,
    Energy,
    FractionationPreset,
    Machine,
    MachineParameter,
)

GARCIA_MARTINEZ_2014 = ("Garcia-Martinez T et al., J Contemp Brachytherapy 6(1):45–53, 2014, "
                        "doi 10.5114/jcb.2014.40770, abstract")
ARS_SURFACE = ("advancedradsolutions.com, 'Surface Applicator Plan Development Considerations' "
               "(Xoft Axxent surface applicators)")
NIST_EBX = "nist.gov, 'Calibrations of a miniature X-ray source used for electronic brachytherapy'"
RADIAT_ONCOL_2010 = ("The initial experience of electronic brachytherapy for the treatment of non-melanoma "
                     "skin cancer, Radiat Oncol 5:87, 2010 (PMC2957390)")
BALLESTER_SANCHEZ_2016 = "Ballester-Sánchez R et al., J Contemp Brachytherapy 8(1):48–55, 2016"
DELISHAJ_2015 = "Delishaj D et al., J Contemp Brachytherapy 7(6):437–444, 2015"

INTERMEDIATE_SIZE_NOTE = ("intermediate sizes not listed in the retrieved text: the source gives only "
                          "'10 mm to 30 mm'; offered in 5 mm steps — confirm against the clinic's unit")


@dataclass(frozen=True)
class PublishedFigure:
    """A characteristic the source states for the unit (the validation compares the model with it).

    `qualifier` keeps the source's wording: "better than", "about", "within ±", "below".
    """

    name: str
    qualifier: str
    value: float
    unit: str
    source: str

    @property
    def label(self) -> str:
        return f"{self.name}: {self.qualifier} {self.value:g} {self.unit}"


# ---------------------------------------------------------------------------------------- Esteya class

ESTEYA_MACHINE_ID = "esteya-class"
ESTEYA_APPLICATOR_DIAMETERS_MM = (10, 15, 20, 25, 30)
ESTEYA_PUBLISHED_DIAMETERS_MM = (10, 30)        # the two ends of the range the abstract states

ESTEYA_UNIT = Machine(
    id=ESTEYA_MACHINE_ID,
    name="eBx surface unit, 69.5 kV (Esteya class)",
    energies=(
        Energy("69.5kV", kvp=69.5, hvl_mm_al=1.85,
               source=f"{GARCIA_MARTINEZ_2014}: nominal 69.5 kV (measured 68.4 ± 1.0 kV, k = 1), "
                      f"HVL 1.85 mm Al"),
    ),
    applicators=tuple(
        Applicator(f"applicator-{d}mm", diameter_mm=float(d),
                   source=(f"{GARCIA_MARTINEZ_2014}: applicators from 10 mm to 30 mm in diameter"
                           if d in ESTEYA_PUBLISHED_DIAMETERS_MM else
                           f"{GARCIA_MARTINEZ_2014}; {INTERMEDIATE_SIZE_NOTE}"))
        for d in ESTEYA_APPLICATOR_DIAMETERS_MM
    ),
    parameters=(
        MachineParameter("source-to-surface distance", None, "cm", NOT_COMMISSIONED),
        MachineParameter("dose rate at the prescription point, per applicator", None, "Gy/min", NOT_COMMISSIONED),
        MachineParameter("published typical dose rate (6–7 Gy prescription; not this unit's output)", 3.3,
                         "Gy/min", f"{GARCIA_MARTINEZ_2014}: 'about 3.3 Gy/min' — a published typical "
                                   f"figure, never a substitute for the clinic's measured output"),
        MachineParameter("published measured tube potential (k = 1 uncertainty 1.0 kV)", 68.4, "kV",
                         GARCIA_MARTINEZ_2014),
        MachineParameter("published leakage (upper bound)", 100.0, "µGy/min",
                         f"{GARCIA_MARTINEZ_2014}: leakage < 100 µGy/min"),
        MachineParameter("flattening filter (material, thickness profile)", None, "", NOT_COMMISSIONED),
        MachineParameter("timer end effect", None, "s", NOT_COMMISSIONED),
    ),
)

ESTEYA_PUBLISHED = (
    PublishedFigure("flatness and symmetry", "better than", 5.0, "%", GARCIA_MARTINEZ_2014),
    PublishedFigure("penumbra", "about", 1.0, "mm", GARCIA_MARTINEZ_2014),
    PublishedFigure("depth-dose gradient", "about", 7.0, "%/mm", GARCIA_MARTINEZ_2014),
    PublishedFigure("maximum lesion depth", "up to", 5.0, "mm", GARCIA_MARTINEZ_2014),
)

# ---------------------------------------------------------------------------------------- Xoft class

XOFT_MACHINE_ID = "xoft-class"
XOFT_APPLICATOR_DIAMETERS_MM = (10, 20, 35, 50)
# Treatable diameter after the field-edge allowance: the source gives the range 5–45 mm across the set.
# 10 mm → 5 mm and 50 mm → 45 mm are the published ends; both imply 2.5 mm per side. The 20 and 35 mm
# values (15, 30 mm) are DERIVED by assuming the same 2.5 mm allowance — not published.
XOFT_TREATABLE_DIAMETER_MM = {10: 5.0, 20: 15.0, 35: 30.0, 50: 45.0}
XOFT_TREATABLE_SOURCE = {
    10: f"{ARS_SURFACE}: treatable 5–45 mm across the set (5 mm is the smallest)",
    20: "DERIVED: 2.5 mm field-edge allowance per side, as implied by both published ends (5 and 45 mm)",
    35: "DERIVED: 2.5 mm field-edge allowance per side, as implied by both published ends (5 and 45 mm)",
    50: f"{ARS_SURFACE}: treatable 5–45 mm across the set (45 mm is the largest)",
}

XOFT_UNIT = Machine(
    id=XOFT_MACHINE_ID,
    name="eBx miniature X-ray source, 50 kV, surface applicators (Xoft Axxent class)",
    energies=(
        Energy("50kV", kvp=50.0, hvl_mm_al=None,
               source=f"50 kVp: {NIST_EBX} (photons < 50 keV); HVL NOT FOUND in the retrieved sources — "
                      f"{NOT_COMMISSIONED}"),
    ),
    applicators=tuple(
        Applicator(f"surface-{d}mm", diameter_mm=float(d),
                   source=f"{ARS_SURFACE}: circular surface applicators 10, 20, 35, 50 mm")
        for d in XOFT_APPLICATOR_DIAMETERS_MM
    ),
    parameters=(
        *(MachineParameter(f"source-to-surface distance, {d} mm applicator", None, "cm",
                           f"{NOT_COMMISSIONED} (the source says only that it differs per applicator)")
          for d in XOFT_APPLICATOR_DIAMETERS_MM),
        MachineParameter("first half-value layer", None, "mm Al", NOT_COMMISSIONED),
        MachineParameter("dose rate at the prescription point, per applicator", None, "Gy/min", NOT_COMMISSIONED),
        MachineParameter("flattening filter (material, thickness profile)", None, "",
                         f"{NOT_COMMISSIONED} ({ARS_SURFACE}: a flattening filter is used, source tip "
                         f"centred, disposable flat end cap always in place)"),
        MachineParameter("timer end effect", None, "s", NOT_COMMISSIONED),
    ),
)

XOFT_PUBLISHED = (
    PublishedFigure("dose uniformity at 2 mm depth, every applicator", "within ±", 15.0, "%", ARS_SURFACE),
)

# ---------------------------------------------------------------------------------------- regimens

FRACTIONATION_PRESETS = (
    FractionationPreset("40 Gy / 8 × 5 Gy (twice weekly, ≥ 48 h apart)", 5.0, 8,
                        f"{RADIAT_ONCOL_2010}: eBx, prescribed at 3–7 mm depth, twice weekly, at least 48 h apart; "
                        f"also {DELISHAJ_2015} (Ir-192 Valencia, BED10 60 Gy)", min_interval_hours=48.0),
    FractionationPreset("42 Gy / 6 × 7 Gy", 7.0, 6, f"{BALLESTER_SANCHEZ_2016} (Esteya; 1-year CR 95 %)"),
    FractionationPreset("36.6 Gy / 6 × 6.1 Gy", 6.1, 6, f"{BALLESTER_SANCHEZ_2016} (Esteya; 1-year CR 90 %)"),
)

TYPICAL_PRESCRIPTION_DEPTH_MM = (3.0, 5.0)
TYPICAL_PRESCRIPTION_DEPTH_SOURCE = (
    f"3–5 mm typical: {GARCIA_MARTINEZ_2014} (Esteya for lesions up to 5 mm; Valencia applicators typically "
    f"3–4 mm); {RADIAT_ONCOL_2010} prescribed at 3–7 mm from CT; the depth is the physician's per lesion")
