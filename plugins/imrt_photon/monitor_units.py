"""Monitor units: the engine's bixel weights in the linac's calibration, and the MLC plan to export.

The pencil-beam engine's dose is relative (Gy per unit bixel weight with the kernels' own scale).
A linac is calibrated so that 1 MU gives a stated dose under a reference condition; Planner's
convention (DEMO, a clinic commissions its own) is the usual one: 1 cGy per MU at d_max on the
central axis of a 10 x 10 cm^2 field at SSD 100 cm in water, TG-51's reference field (Almond et al.,
AAPM TG-51, Med Phys 26(9):1847-1870, 1999, defines the 10 x 10 cm^2 field at SSD or SAD 100 cm; the
1 cGy/MU at d_max is the machine's calibration convention, stated here, not taken from TG-51).

The same engine computes that field (20 x 20 bixels of 5 mm, weight 1, gantry 0, water surface at
the isocentre) and finds d_max on its axis; then a bixel weight w, delivered as a fluence, needs
w x mu_per_unit_weight MU, whatever the field: the engine's own scatter model carries the field-size
dependence of the phantom scatter. Not modelled: head scatter (collimator factor Sc), MLC
transmission and leaf-end effects, so small segments' MU are only as good as the kernel model.
The calibration uses the engine's full scatter (no sampled tail), not a plan's lighter settings:
the MU deliver the fluence, and how well a plan's dij models the dose of that fluence is the dose
calculation's accuracy, not the machine's calibration.
"""

from __future__ import annotations

from dataclasses import dataclass
import threading

import numpy as np

from planner.core.mlc_beams import MlcBeam, MlcPlan
from planner.core.volume import PlanningVolume, VoxelGrid

from .beam_data import SvdKernelMachine, generic_6mv
from .leaf_sequencing import SequencedPlan
from .pencil_beam import BeamSettings, Bixel, DoseInfluence, central_ssd_mm, dose_influence

REFERENCE_FIELD_MM = 100.0       # 10 x 10 cm^2 at the isocentre plane
REFERENCE_SSD_MM = 1000.0        # SSD 100 cm: the water surface at the isocentre (SAD 100 cm)
REFERENCE_DOSE_PER_MU_GY = 0.01  # 1 cGy per MU at d_max (DEMO calibration convention)
CALIBRATION_BIXEL_MM = 5.0
CALIBRATION_DEPTH_STEP_MM = 1.0
CALIBRATION_DEPTH_MAX_MM = 60.0  # d_max of a 6 MV beam is ~15 mm; 60 mm is ample to find it
# Full scatter for the calibration field: every voxel within 150 mm of a bixel is stored.
CALIBRATION_SCATTER_RADIUS_MM = 150.0
CALIBRATION_DESCRIPTION = ("DEMO calibration: 1 cGy/MU at d_max, 10 x 10 cm2, SSD 100 cm, water, "
                           "computed by Planner's pencil-beam engine; not a commissioned machine")


@dataclass(frozen=True)
class MuCalibration:
    """MU per unit bixel weight (whole course) and where it comes from."""

    mu_per_unit_weight: float
    dose_per_unit_weight_at_dmax_gy: float
    dmax_mm: float
    machine_source: str
    description: str = CALIBRATION_DESCRIPTION
    demo: bool = True

    def mu(self, weight: float | np.ndarray, fractions: int = 1) -> float | np.ndarray:
        """MU per fraction that deliver `weight` (a bixel or segment weight for the whole course)."""
        if fractions < 1:
            raise ValueError(f"{fractions} fractions")
        return np.asarray(weight, dtype=float) * self.mu_per_unit_weight / fractions

    def weight_for_mu(self, mu_per_fraction: float, fractions: int) -> float:
        """The whole-course weight that `mu_per_fraction` MU per fraction deliver (mu's inverse)."""
        if fractions < 1:
            raise ValueError(f"{fractions} fractions")
        return float(mu_per_fraction) * fractions / self.mu_per_unit_weight


def reference_field(machine: SvdKernelMachine | None = None) -> tuple[PlanningVolume, DoseInfluence]:
    """The reference field's water phantom (a 1 mm depth column on the axis) and its dose influence."""
    step = CALIBRATION_DEPTH_STEP_MM
    depth = np.arange(step / 2, CALIBRATION_DEPTH_MAX_MM, step)
    grid = VoxelGrid(np.array([-step, 0.0, step]), depth, np.array([-step, 0.0, step]))
    density = np.ones(grid.shape, np.float32)
    water = PlanningVolume(grid, density, {"Body": density > 0}, isocentre_mm=(0.0, 0.0, 0.0),
                           description="water, surface at the isocentre (SSD 100 cm)")
    w = CALIBRATION_BIXEL_MM
    n_half = int(round(REFERENCE_FIELD_MM / w / 2))
    # bixel edges at 0, ±5 ... ±50 mm: the field's edges exactly at ±50 mm
    bixels = tuple(Bixel(0, 0.0, (i + 0.5) * w, (j + 0.5) * w)
                   for i in range(-n_half, n_half) for j in range(-n_half, n_half))
    settings = BeamSettings(gantry_angles_deg=(0.0,), bixel_width_mm=w,
                            full_radius_mm=CALIBRATION_SCATTER_RADIUS_MM,
                            tail_radius_mm=CALIBRATION_SCATTER_RADIUS_MM)
    return water, dose_influence(water, settings=settings, machine=machine, bixels=bixels)


def _calibration(machine: SvdKernelMachine) -> MuCalibration:
    water, influence = reference_field(machine)
    ssd = central_ssd_mm(water, 0.0, machine.sad_mm)
    if abs(ssd - REFERENCE_SSD_MM) > 1.0:
        raise RuntimeError(f"the calibration phantom's SSD is {ssd:g} mm, not {REFERENCE_SSD_MM:g} mm")
    dose = influence.dose_grid_gy(np.ones(len(influence.bixels)), water.grid.shape)[1, :, 1]
    i_max = int(np.argmax(dose))
    dose_at_dmax = float(dose[i_max])
    return MuCalibration(mu_per_unit_weight=dose_at_dmax / REFERENCE_DOSE_PER_MU_GY,
                         dose_per_unit_weight_at_dmax_gy=dose_at_dmax,
                         dmax_mm=float(water.grid.y_mm[i_max]), machine_source=machine.source)


_CACHE: dict[int, tuple[SvdKernelMachine, MuCalibration]] = {}
_CACHE_LOCK = threading.Lock()


def reference_calibration(machine: SvdKernelMachine | None = None) -> MuCalibration:
    """The DEMO calibration of the engine's machine, computed once per machine object (its arrays
    make it unhashable, so the cache keys on identity and keeps the machine alive)."""
    machine = machine or generic_6mv()
    with _CACHE_LOCK:
        cached = _CACHE.get(id(machine))
        if cached is None or cached[0] is not machine:
            cached = _CACHE[id(machine)] = (machine, _calibration(machine))
    return cached[1]


def _target_mean(influence: DoseInfluence, weights: np.ndarray, target_rows: np.ndarray) -> float:
    return float((influence.dij[target_rows] @ weights.astype(influence.dij.dtype)).mean())


def build_mlc_plan(sequenced: SequencedPlan, influence: DoseInfluence, volume: PlanningVolume,
                   target_rows: np.ndarray, calibration: MuCalibration, fractions: int,
                   prescription_gy: float, *, label: str = "IMRT", target_roi_name: str = "PTV",
                   target_roi_number: int | None = None, machine_name: str = "GENERIC_6MV",
                   machine: SvdKernelMachine | None = None) -> MlcPlan:
    """The exportable plan: every sequenced beam with MU per fraction, SSD and its dose share.

    ``prescription_gy`` is the whole course's (e.g. TG-119: 50 Gy in 25 fractions). A beam's
    BeamDose is its share of the target's mean dose, times the dose per fraction, so the beams add
    up to the prescription. Beams with nothing to deliver are left out (and named in the notes).
    """
    machine = machine or generic_6mv()
    weights = sequenced.weights
    total_mean = _target_mean(influence, weights, target_rows)
    if not total_mean > 0:
        raise ValueError("the sequenced plan gives the target no dose")
    dose_per_fraction = prescription_gy / fractions
    beams, notes = [], []
    for b in sequenced.beams:
        name = f"G{b.gantry_deg:03.0f}"
        if not b.segments:
            notes.append(f"beam {name} delivers nothing after sequencing and is left out")
            continue
        own = np.zeros_like(weights)
        own[b.fluence.bixel_indices] = weights[b.fluence.bixel_indices]
        share = _target_mean(influence, own, target_rows) / total_mean
        mu = float(calibration.mu(b.total_weight, fractions))
        beams.append(MlcBeam(
            name=name, gantry_deg=b.gantry_deg, isocentre_mm=tuple(float(c) for c in volume.isocentre_mm),
            ssd_mm=central_ssd_mm(volume, b.gantry_deg, machine.sad_mm), sad_mm=machine.sad_mm,
            jaws_x_mm=b.jaws_x_mm, jaws_y_mm=b.jaws_y_mm,
            leaf_boundaries_mm=sequenced.mlc.leaf_boundaries_mm, segments=b.segments,
            meterset_mu=mu, beam_dose_gy=share * dose_per_fraction,
            description=(f"6 MV step-and-shoot IMRT, gantry {b.gantry_deg:g}, {len(b.segments)} segments, "
                         f"{sequenced.levels} intensity levels (Xia & Verhey 1998), {sequenced.mlc.name}")))
    notes.append(calibration.description)
    return MlcPlan(label=label, beams=tuple(beams), fractions=fractions,
                   dose_per_fraction_gy=dose_per_fraction,
                   prescription_description=(f"{prescription_gy:g} Gy in {fractions} fractions to "
                                             f"{target_roi_name}"),
                   machine_name=machine_name, target_roi_name=target_roi_name,
                   target_roi_number=target_roi_number, demo_calibration=calibration.demo,
                   notes=tuple(notes))


def open_field_mu_per_fraction(influence: DoseInfluence, normalisation_factor, calibration: MuCalibration,
                               fractions: int) -> float:
    """The MU per fraction of an unmodulated plan on the same beams, the reference that says how
    much a plan's modulation costs (modulation factor = plan MU / these MU).

    Every bixel of every beam gets one weight (each beam an open field over its bixels, i.e. the
    target's projection with the bixel margin), scaled by ``normalisation_factor(weights)`` so the
    target is covered as the plan's is (reported D95 = prescription). Each beam then delivers that
    weight once: its MU are ``calibration.mu(weight, fractions)``, the same for every beam.
    """
    weight = float(normalisation_factor(np.ones(len(influence.bixels))))
    beams = len({b.beam for b in influence.bixels})
    return beams * float(calibration.mu(weight, fractions))
