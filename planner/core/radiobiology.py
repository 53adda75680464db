"""Linear-quadratic biologically effective dose, without a time factor.

BED = n·d·(1 + d/(α/β)); EQD2 = BED / (1 + 2/(α/β)). α/β = 10 Gy for tumour (the convention of
the ASTRO BED10 ranges and of Delishaj et al., J Contemp Brachytherapy 7(6):437–444, 2015, whose
printed BEDs it reproduces) and 3 Gy for late skin effects (shared/reference/physics-data.md §4.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.core.prescription import Prescription

ALPHA_BETA_TUMOUR_GY = 10.0
ALPHA_BETA_LATE_SKIN_GY = 3.0


def bed_gy(prescription: Prescription, alpha_beta_gy: float) -> float:
    if alpha_beta_gy <= 0:
        raise ValueError(f"α/β must be above 0 Gy, got {alpha_beta_gy:g} Gy")
    d = prescription.dose_per_fraction_gy
    return prescription.fractions * d * (1.0 + d / alpha_beta_gy)


def eqd2_gy(prescription: Prescription, alpha_beta_gy: float) -> float:
    return bed_gy(prescription, alpha_beta_gy) / (1.0 + 2.0 / alpha_beta_gy)


@dataclass(frozen=True)
class BiologicalDose:
    """BED and EQD2 of one prescription at one α/β, as shown side by side in the plan panel."""

    alpha_beta_gy: float
    bed_gy: float
    eqd2_gy: float


def biological_doses(prescription: Prescription,
                     alpha_betas_gy: tuple[float, ...] = (ALPHA_BETA_TUMOUR_GY, ALPHA_BETA_LATE_SKIN_GY),
                     ) -> tuple[BiologicalDose, ...]:
    return tuple(BiologicalDose(ab, bed_gy(prescription, ab), eqd2_gy(prescription, ab)) for ab in alpha_betas_gy)
