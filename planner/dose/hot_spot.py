"""Hot spot outside the target: a finding (issue 14) when the body's near-maximum (D0.03cc) is
above the target's, i.e. part of the hottest 0.03 cc lies outside the target.

An inverse plan should put its highest dose inside the target; a near-maximum reaching into normal
tissue is something to look at before approval. Both D0.03cc come from the same samples as the DVH
(planner.dose.structure_dvh): the body's lattice points, split by the target's shape into those
inside and outside the target, the dose interpolated at them. On one lattice the comparison is
exact: where the body's hottest 0.03 cc lies wholly inside the target the two D0.03cc are equal,
and any of it outside makes the body's higher. Across the two structures' own lattices (the
reported PTV and Body D0.03cc) the comparison is biased: a large body is sampled one plane per dose
voxel in z (planner.dose.structure_dvh's lattice budget), on the dose planes themselves, where the
interpolated dose peaks, while the target is sampled every 0.5 mm. Measured on TG-119 at 10 mm
voxels after 20 iterations: Body D0.03cc 80.45 Gy against PTV D0.03cc 78.33 Gy on their own
lattices, 80.45 against 80.45 Gy on the body's, with the body outside the PTV at 78.01 Gy: no hot
spot outside, though the reported points would say so. That reading (hot_spot_check, from the
points alone) is kept for callers that have only the points, and names itself. The body outside
the target's own D0.03cc is given beside the finding: it tells a hot spot in normal tissue (about
as hot as the body's) from one that straddles the target's edge.

Given the prescription, the body outside the target is also held to the +7 % ICRU Report 50 (1993)
allows the target itself: a plan whose target is hotter still (TG-119 on 10 mm voxels after 111
iterations: PTV 83.3 Gy, the C's opening 78.2 Gy = 156 % of 50 Gy) has a hot spot outside the
target that the comparison of near-maxima alone would call none.
"""

from __future__ import annotations

from dataclasses import dataclass
from weakref import WeakKeyDictionary

import numpy as np

from planner.core.volume import PlanningVolume
from planner.dose.coverage import percent_text
from planner.dose.plan_checks import WARN, Finding
from planner.dose.structure_dvh import (NEAR_MAX_VOLUME_CC, DvhPoints, SampledStructures, StructureDvh,
                                        StructureSamples, VoxelMaskShape, dose_at_samples_gy)

HOT_SPOT_CODE = "hot-spot-outside-target"
# ICRU Report 50 (1993): the target's dose within +7 % and −5 % of the prescription. Normal tissue
# hotter than the target is allowed to be is a hot spot whatever the target's own maximum.
TARGET_UPPER_LIMIT_OF_PRESCRIPTION = 1.07
BODY_PREFIXES = ("BODY", "EXTERNAL")


def body_name(names) -> str | None:
    """The structure that is the patient's (or phantom's) outline: Body, BODY, External …"""
    return next((n for n in names if n.upper().startswith(BODY_PREFIXES)), None)


@dataclass(frozen=True)
class HotSpotCheck:
    """The body's near-maximum (D0.03cc) against the target's, and the body outside the target's
    against ICRU 50's +7 % (when the prescription is given)."""

    target: str
    body: str
    body_d0_03cc_gy: float
    target_d0_03cc_gy: float
    outside_d0_03cc_gy: float | None = None   # the body outside the target, when read from the samples
    same_samples: bool = False                # both read at the body's samples (else each at its own)
    prescribed_gy: float | None = None

    @property
    def above_target(self) -> bool:
        return self.body_d0_03cc_gy > self.target_d0_03cc_gy

    @property
    def above_target_limit(self) -> bool:
        """Normal tissue hotter than ICRU 50 allows the target itself (+7 % of the prescription)."""
        return (self.outside_d0_03cc_gy is not None and self.prescribed_gy is not None
                and self.outside_d0_03cc_gy > TARGET_UPPER_LIMIT_OF_PRESCRIPTION * self.prescribed_gy)

    @property
    def is_hot_spot(self) -> bool:
        return self.above_target or self.above_target_limit

    def _outside(self) -> str:
        if self.outside_d0_03cc_gy is None:
            return ""
        percent = ("" if not self.prescribed_gy else
                   f" ({percent_text(100.0 * self.outside_d0_03cc_gy / self.prescribed_gy)} of {self.prescribed_gy:g} Gy)")
        return f"{self.body} outside {self.target} D0.03cc {self.outside_d0_03cc_gy:.2f} Gy{percent}"

    @property
    def messages(self) -> tuple[str, ...]:
        """The finding's sentence with its numbers, one for both criteria (none when there is no hot spot)."""
        if not (self.above_target or self.above_target_limit):
            return ()
        reasons = []
        if self.above_target_limit:
            reasons.append(f"{self._outside()}, above the {percent_text(100 * TARGET_UPPER_LIMIT_OF_PRESCRIPTION)} "
                           f"ICRU Report 50 allows in the target")
        if self.above_target:
            where = f"both at the {self.body}'s samples" if self.same_samples else "each from its own samples"
            outside = (f"; {self._outside()}" if self.outside_d0_03cc_gy is not None and not self.above_target_limit
                       else "")
            reasons.append(f"{self.body} D0.03cc {self.body_d0_03cc_gy:.2f} Gy is above {self.target} D0.03cc "
                           f"{self.target_d0_03cc_gy:.2f} Gy ({where}){outside}")
        return ("Hot spot outside the target: " + "; ".join(reasons),)

    @property
    def text(self) -> str:
        """The findings' sentences, or why there is none, with the numbers."""
        if self.is_hot_spot:
            return "; ".join(self.messages)
        outside = f"; {self._outside()}" if self.outside_d0_03cc_gy is not None else ""
        if self.same_samples:
            return (f"No hot spot outside the target: the {self.body}'s hottest 0.03 cc (D0.03cc "
                    f"{self.body_d0_03cc_gy:.2f} Gy) lies inside {self.target}{outside}")
        return (f"No hot spot outside the target: {self.body} D0.03cc {self.body_d0_03cc_gy:.2f} Gy is not above "
                f"{self.target} D0.03cc {self.target_d0_03cc_gy:.2f} Gy (each from its own samples){outside}")

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(Finding(WARN, m, HOT_SPOT_CODE) for m in self.messages)


def hot_spot_check(metrics: dict[str, DvhPoints], target: str) -> HotSpotCheck | None:
    """The check from the reported DVH points alone: the body's D0.03cc against the target's, each
    from its own lattice (so equal doses may differ by the sampling). None without a body or target,
    or when either is smaller than 0.03 cc."""
    body = body_name(name for name in metrics if name != target)
    if body is None or target not in metrics:
        return None
    body_gy, target_gy = metrics[body].d0_03cc_gy, metrics[target].d0_03cc_gy
    if not (np.isfinite(body_gy) and np.isfinite(target_gy)):
        return None
    return HotSpotCheck(target, body, float(body_gy), float(target_gy))


def hot_spot_findings(metrics: dict[str, DvhPoints], target: str) -> tuple[Finding, ...]:
    """One finding when the body's D0.03cc is above the target's (the reported DVH points), else none."""
    check = hot_spot_check(metrics, target)
    return () if check is None else check.findings


# ------------------------------------------------------------------------------- from the samples

_SPLITS: WeakKeyDictionary = WeakKeyDictionary()


def inside_shape(samples: StructureSamples, shape) -> np.ndarray:
    """Per sample of `samples` (in the order of samples.inside): whether `shape` contains it."""
    contained = np.asarray(shape.contains_on_lattice(samples.x_mm, samples.y_mm, samples.z_mm)).ravel()
    return contained[samples.inside]


def _body_in_target(volume: PlanningVolume, body: StructureSamples, target: str) -> np.ndarray:
    """Which of the body's samples the target's shape (its outline, else its voxel mask) contains,
    made once per sampled body and target."""
    cached = _SPLITS.setdefault(body, {})
    if target not in cached:
        shape = getattr(volume, "shapes", {}).get(target) or VoxelMaskShape(volume.masks[target], volume.grid)
        cached[target] = inside_shape(body, shape)
    return cached[target]


def plan_hot_spot_check(volume: PlanningVolume, structures: SampledStructures, dose_gy: np.ndarray,
                        target: str, prescribed_gy: float | None = None) -> HotSpotCheck | None:
    """The check of a dose [x, y, z] on the volume's grid, on one lattice: the body's samples, the
    target's part of them and the rest (against +7 % of `prescribed_gy` when given). None without
    a sampled body or target, or when the target holds less than 0.03 cc of the body's samples."""
    body = body_name(name for name in structures.samples if name != target)
    if body is None or target not in volume.masks:
        return None
    samples = structures.samples[body]
    dose = dose_at_samples_gy(samples, volume.grid, dose_gy)
    in_target = _body_in_target(volume, samples, target)

    def near_max(doses: np.ndarray) -> float:
        return StructureDvh(body, doses, samples.cell_cc).dose_at_volume_cc_gy(NEAR_MAX_VOLUME_CC)

    body_gy, target_gy, outside_gy = near_max(dose), near_max(dose[in_target]), near_max(dose[~in_target])
    if not (np.isfinite(body_gy) and np.isfinite(target_gy)):
        return None
    return HotSpotCheck(target, body, body_gy, target_gy, outside_gy if np.isfinite(outside_gy) else None,
                        same_samples=True, prescribed_gy=prescribed_gy)
