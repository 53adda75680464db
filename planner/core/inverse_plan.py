"""An inverse (IMRT) plan as an immutable value: prescription, beam arrangement and objectives.

What the planner edits in the objectives table is this value; an edit makes a new one, so undo,
autosave and export need nothing else. The optimised fluence and the dose are results computed
from it, not part of it. Doses are whole-course Gy, as TG-119 and clinical objectives state them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from planner.core.errors import PlannerError

# The objective kinds planners use (matRad: Wieser et al., Med Phys 44(6):2556, 2017, sec. 2.4;
# DVH points: Wu & Mohan, Med Phys 27(4):701, 2000), with the words the objectives table shows.
OBJECTIVE_KINDS = {
    "min_dose": "Min dose",
    "max_dose": "Max dose",
    "mean_dose": "Mean dose",
    "min_dvh": "Min DVH point",
    "max_dvh": "Max DVH point",
}
DVH_KINDS = ("min_dvh", "max_dvh")
# The fluence smoothness weight of a new plan (plugins/imrt_photon/fluence_smoothness.py: a mean
# squared step between neighbouring bixels, in Gy of an open field at d_max, on the objectives'
# scale); 0 switches the control off. Planner's choice: the largest weight of a sweep (0.1, 1, 10, 30,
# 100, 300) on TG-119 (5 mm grid, 300 iterations, Planner's objectives) that kept the optimised PTV
# D10 and core D10 within 0.6 Gy of the unsmoothed plan's: at 30, core D10 14.80 -> 15.34 Gy and PTV
# D10 56.45 -> 56.33 Gy, while the leaf-sequenced plan needs 2097 instead of 6087 MU per fraction
# (before the minimum segment area); at 100 PTV D10 rose 0.66 Gy, at 300 3.0 Gy.
DEFAULT_MODULATION_WEIGHT = 30.0


# The dose grid (issue 14): on 5 mm voxels, as wide as the TG-119 gap between the core and the C, the
# dose interpolated between voxels misses the fall-off and the plan's figures are a first look only;
# 2.5 mm is the planning grid. 5 mm stays as a draft, 10 mm as a quick look, each labelled so.
DEFAULT_DOSE_GRID_MM = 2.5
DRAFT_DOSE_GRID_MM = 5.0


def dose_grid_label(spacing_mm: float) -> str:
    """The dose grid in words, with what it is good for."""
    if spacing_mm <= DEFAULT_DOSE_GRID_MM + 1e-9:
        return f"{spacing_mm:g} mm dose grid"
    if spacing_mm <= DRAFT_DOSE_GRID_MM + 1e-9:
        return f"{spacing_mm:g} mm dose grid (draft: plan on {DEFAULT_DOSE_GRID_MM:g} mm before judging the goals)"
    return f"{spacing_mm:g} mm dose grid (quick look only: the goals cannot be judged on it)"


class InversePlanError(PlannerError, ValueError):
    """An objective or prescription that cannot be optimised as written; the message says why."""


@dataclass(frozen=True)
class Objective:
    """One weighted term of the optimiser's cost.

    `dose_gy` is the reference dose; `volume_fraction` is the DVH point's volume for the DVH kinds
    (0.95 with 'min_dvh' reads "D95 >= dose_gy", 0.10 with 'max_dvh' reads "D10 <= dose_gy").
    """

    structure: str
    kind: str
    dose_gy: float
    weight: float = 1.0
    volume_fraction: float = 0.0

    def problem(self, structures: tuple[str, ...] | None = None) -> str | None:
        """Why this objective cannot be optimised, or None."""
        if structures is not None and self.structure not in structures:
            return f"objective on {self.structure!r}: no such structure (the volume has {', '.join(structures)})"
        if self.kind not in OBJECTIVE_KINDS:
            return f"objective on {self.structure}: unknown kind {self.kind!r}"
        if not _finite(self.dose_gy) or self.dose_gy < 0:
            return f"objective on {self.structure}: dose must be a number ≥ 0 Gy, got {self.dose_gy!r}"
        if not _finite(self.weight) or self.weight <= 0:
            return f"objective on {self.structure}: weight must be a number > 0, got {self.weight!r}"
        if self.kind in DVH_KINDS and not (_finite(self.volume_fraction) and 0 < self.volume_fraction < 1):
            return (f"objective on {self.structure}: a DVH point needs a volume between 0 and 100 %, "
                    f"got {self.volume_fraction * 100 if _finite(self.volume_fraction) else self.volume_fraction!r} %")
        return None

    def describe(self) -> str:
        if self.kind == "min_dvh":
            return f"{self.structure} D{self.volume_fraction * 100:g} ≥ {self.dose_gy:g} Gy"
        if self.kind == "max_dvh":
            return f"{self.structure} D{self.volume_fraction * 100:g} ≤ {self.dose_gy:g} Gy"
        sign = {"min_dose": "≥", "max_dose": "≤", "mean_dose": "mean ="}[self.kind] if self.kind in OBJECTIVE_KINDS else "?"
        word = "" if self.kind == "mean_dose" else " dose"
        return f"{self.structure}{word} {sign} {self.dose_gy:g} Gy"


@dataclass(frozen=True)
class InversePrescription:
    """The target, the whole-course dose and its fractions, normalised as TG-119 does: the
    dose covering `coverage_volume_fraction` of the target (D95) equals the prescribed dose."""

    target: str = "PTV"
    dose_per_fraction_gy: float = 2.0
    fractions: int = 25
    coverage_volume_fraction: float = 0.95

    @property
    def total_dose_gy(self) -> float:
        return self.dose_per_fraction_gy * self.fractions

    def problem(self) -> str | None:
        if not _finite(self.dose_per_fraction_gy) or not 0 < self.dose_per_fraction_gy <= 30:
            return f"dose per fraction must be above 0 and at most 30 Gy, got {self.dose_per_fraction_gy!r}"
        if not isinstance(self.fractions, int) or not 1 <= self.fractions <= 60:
            return f"number of fractions must be a whole number from 1 to 60, got {self.fractions!r}"
        if not _finite(self.coverage_volume_fraction) or not 0 < self.coverage_volume_fraction < 1:
            return f"coverage volume must be between 0 and 100 %, got {self.coverage_volume_fraction!r}"
        return None

    def describe(self) -> str:
        return (f"{self.total_dose_gy:g} Gy in {self.fractions} × {self.dose_per_fraction_gy:g} Gy to "
                f"{self.target} D{self.coverage_volume_fraction * 100:g}")

    def normalisation_text(self) -> str:
        """How an optimised plan is scaled, in the words every view uses."""
        return (f"scaled so that {self.target} D{self.coverage_volume_fraction * 100:g} = {self.total_dose_gy:g} Gy "
                f"on the reported DVH (structures sampled below the dose voxel)")


@dataclass(frozen=True)
class InversePlan:
    """Everything the planner chose; the technique's engine turns it into fluence and dose."""

    prescription: InversePrescription = InversePrescription()
    gantry_angles_deg: tuple[float, ...] = tuple(float(a) for a in range(0, 360, 40))
    bixel_width_mm: float = 5.0
    objectives: tuple[Objective, ...] = field(default_factory=tuple)
    max_iterations: int = 300
    # How much the optimiser weighs a smooth fluence (fewer MU and segments) against the dose
    # objectives; 0 = off. Same scale as an objective's weight (both are mean squares in Gy²).
    modulation_weight: float = DEFAULT_MODULATION_WEIGHT

    def problems(self, structures: tuple[str, ...] | None = None) -> list[str]:
        """Everything that stops this plan from being optimised, each in words."""
        found = [p for p in [self.prescription.problem()] if p]
        if structures is not None and self.prescription.target not in structures:
            found.append(f"the target {self.prescription.target!r} is not a structure of this volume "
                         f"({', '.join(structures)})")
        if not self.gantry_angles_deg:
            found.append("the plan has no beams")
        if any(not _finite(a) for a in self.gantry_angles_deg):
            found.append(f"gantry angles must be numbers, got {self.gantry_angles_deg!r}")
        if not _finite(self.bixel_width_mm) or not 2.0 <= self.bixel_width_mm <= 20.0:
            found.append(f"bixel width must be 2–20 mm, got {self.bixel_width_mm!r}")
        if not self.objectives:
            found.append("the plan has no objectives")
        found += [p for p in (o.problem(structures) for o in self.objectives) if p]
        if not _finite(self.modulation_weight) or self.modulation_weight < 0:
            found.append(f"modulation weight must be a number ≥ 0 (0 = off), got {self.modulation_weight!r}")
        if not isinstance(self.max_iterations, int) or self.max_iterations < 1:
            found.append(f"iterations must be a whole number ≥ 1, got {self.max_iterations!r}")
        return found


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
