"""Step-and-shoot MLC beams: what the leaf sequencer produces and the RT Plan writer exports.

Why a core type: the IMRT plugin makes these values and planner.dicom writes them, and the DICOM
layer may not import a plugin, so the shared vocabulary lives here, numpy only. Geometry is IEC
61217 at the isocentre plane, collimator 0: leaves travel along the beam-limiting-device X axis (X1
jaw side negative), leaf pairs are stacked along Y. Every value is checked when it is made, so a
writer never has to wonder whether a segment is deliverable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

POSITION_TOLERANCE_MM = 1e-6


def _frozen_array(values, dtype=float) -> np.ndarray:
    array = np.array(values, dtype=dtype, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class MlcSegment:
    """One static MLC shape and its share of the beam's meterset.

    ``leaf_positions_mm`` is (2, n_pairs): row 0 the X1-side (negative) bank, row 1 the X2-side bank,
    pair 0 at the most negative Y. A pair with left == right is closed (parked under a jaw).
    ``meterset_weight`` is relative within the beam (any unit; the beam's MU give it meaning).
    """

    leaf_positions_mm: np.ndarray
    meterset_weight: float

    def __post_init__(self):
        positions = _frozen_array(self.leaf_positions_mm)
        if positions.ndim != 2 or positions.shape[0] != 2:
            raise ValueError(f"leaf positions must be (2, n_pairs), got {positions.shape}")
        if np.any(positions[0] > positions[1] + POSITION_TOLERANCE_MM):
            raise ValueError("a leaf pair has its X1-side leaf beyond its X2-side leaf")
        if not np.isfinite(self.meterset_weight) or self.meterset_weight <= 0:
            raise ValueError(f"a segment's meterset weight must be positive, got {self.meterset_weight}")
        object.__setattr__(self, "leaf_positions_mm", positions)
        object.__setattr__(self, "meterset_weight", float(self.meterset_weight))

    @property
    def open_pairs(self) -> np.ndarray:
        """Indices of the pairs with a gap between their leaves."""
        left, right = self.leaf_positions_mm
        return np.flatnonzero(right - left > POSITION_TOLERANCE_MM)


@dataclass(frozen=True, eq=False)
class MlcBeam:
    """One static-gantry step-and-shoot beam: its geometry, jaws, MLC layout and segments.

    ``meterset_mu`` is per fraction; ``beam_dose_gy`` (per fraction) is the beam's share of the
    prescribed dose, as the RT Plan's fraction group reports it. Angles are IEC 61217 degrees,
    positions mm (isocentre in the patient frame, jaws and leaves at the isocentre plane).
    """

    name: str
    gantry_deg: float
    isocentre_mm: tuple[float, float, float]
    ssd_mm: float
    sad_mm: float
    jaws_x_mm: tuple[float, float]
    jaws_y_mm: tuple[float, float]
    leaf_boundaries_mm: np.ndarray
    segments: tuple[MlcSegment, ...]
    meterset_mu: float
    beam_dose_gy: float
    collimator_deg: float = 0.0
    couch_deg: float = 0.0
    nominal_energy_mv: float = 6.0
    description: str = ""

    def __post_init__(self):
        boundaries = _frozen_array(self.leaf_boundaries_mm)
        if boundaries.ndim != 1 or boundaries.size < 2 or np.any(np.diff(boundaries) <= 0):
            raise ValueError("leaf boundaries must be increasing, one more than the leaf pairs")
        object.__setattr__(self, "leaf_boundaries_mm", boundaries)
        object.__setattr__(self, "segments", tuple(self.segments))
        if not self.segments:
            raise ValueError(f"beam {self.name!r} has no segment")
        for segment in self.segments:
            if segment.leaf_positions_mm.shape[1] != self.n_pairs:
                raise ValueError(f"beam {self.name!r}: a segment has {segment.leaf_positions_mm.shape[1]} "
                                 f"leaf pairs, the MLC {self.n_pairs}")
        (x1, x2), (y1, y2) = self.jaws_x_mm, self.jaws_y_mm
        if not (x1 < x2 and y1 < y2):
            raise ValueError(f"beam {self.name!r}: jaws X {self.jaws_x_mm}, Y {self.jaws_y_mm} are not open")
        if not np.isfinite(self.meterset_mu) or self.meterset_mu <= 0:
            raise ValueError(f"beam {self.name!r}: meterset {self.meterset_mu} MU")

    @property
    def n_pairs(self) -> int:
        return self.leaf_boundaries_mm.size - 1

    @property
    def total_weight(self) -> float:
        return float(sum(s.meterset_weight for s in self.segments))

    def segment_mu(self) -> np.ndarray:
        """MU per fraction of each segment: its share of the beam's meterset."""
        weights = np.array([s.meterset_weight for s in self.segments])
        return self.meterset_mu * weights / weights.sum()

    def cumulative_meterset_weights(self) -> np.ndarray:
        """0, then the running sum after each segment, normalised to a final weight of exactly 1."""
        weights = np.array([s.meterset_weight for s in self.segments])
        cumulative = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
        cumulative[-1] = 1.0
        return cumulative


@dataclass(frozen=True, eq=False)
class MlcPlan:
    """A step-and-shoot IMRT plan as it is exported: beams, fractionation and prescription.

    ``demo_calibration``: the MU come from Planner's illustrative calibration (DEMO), not from a
    commissioned machine; every export says so.
    """

    label: str
    beams: tuple[MlcBeam, ...]
    fractions: int
    dose_per_fraction_gy: float
    prescription_description: str
    machine_name: str
    target_roi_name: str
    target_roi_number: int | None = None
    patient_position: str = "HFS"
    demo_calibration: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "beams", tuple(self.beams))
        if not self.beams:
            raise ValueError("a plan needs at least one beam")
        if self.fractions < 1 or self.dose_per_fraction_gy <= 0:
            raise ValueError(f"{self.fractions} fractions of {self.dose_per_fraction_gy} Gy")

    @property
    def total_dose_gy(self) -> float:
        return self.fractions * self.dose_per_fraction_gy

    @property
    def total_mu_per_fraction(self) -> float:
        return float(sum(b.meterset_mu for b in self.beams))

    @property
    def segment_counts(self) -> tuple[int, ...]:
        return tuple(len(b.segments) for b in self.beams)
