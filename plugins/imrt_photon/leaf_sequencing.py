"""Step-and-shoot leaf sequencing: optimised bixel weights -> MLC segments a linac can deliver.

Per beam the bixel weights become a fluence map (rows = MLC leaf pairs along v, the patient's long
axis = IEC Y; columns = bixels along u = leaf travel = IEC X at collimator 0), quantised to `levels`
equal steps of the beam's maximum and decomposed with the reducing-level method of Xia & Verhey,
"Multileaf collimator leaf sequencing algorithm for intensity modulated beams with multiple static
segments", Med Phys 25(8):1424-1434 (1998), equations 5-7 as matRad implements them
(matRad_xiaLeafSequencing.m, mode 'rl'): while the residual map's maximum L > 0, the delivery unit is
d = 2^(m-1) with m = max(1, floor(log2 L)); in every leaf pair the contiguous run of cells >= d
around the pair's highest such cell is opened, and d is subtracted there. Each step is one segment
of weight d; the segments add up to the quantised map exactly (integers, no rounding). Identical
shapes are then merged (their weights add): step-and-shoot order does not change the fluence.

Why 10 levels by default: steps of 10 % of the beam's maximum keep the deliverable dose within a
few per cent of the optimised one (TG-119 test: PTV D95 and core D10), while the reducing-level
method's segment count, and so the delivery time, grows with the number of levels. matRad's
default is 5 (pln.propSeq.sequencingLevel), coarser than we want for a 5 mm bixel map.

MLC constraints honoured: left <= right in every pair; a pair with nothing to deliver in a segment
is closed (left == right) and parked under the X1 jaw, inside the leaves' travel range; jaws are
the envelope of all open leaves of all segments (fixed per beam, as step-and-shoot delivers it).
No interdigitation constraint is applied: the sequencer never needs one for the Varian-style MLC
modelled here (opposing leaves of neighbouring pairs may overlap); an MLC that forbids it, the
tongue-and-groove underdose between pairs and the leaves' maximum span within a bank are not
checked.

Small segments: a segment below a minimum open area or a minimum MU is dropped, not delivered, and
the dose is recomputed from the segments that are (``levels`` and ``deliverable`` are what is
delivered). A small aperture's output is what a pencil-beam model without head scatter or leaf-end
modelling gets least right (monitor_units: "small segments' MU are only as good as the kernel
model"), and a few-MU segment is delivered less reproducibly and costs beam-on overhead for almost
no dose; clinical step-and-shoot systems expose both limits as settings (Qi & Xia, J Appl Clin Med
Phys 14(3):232-243, 2013, relate segment area to MU efficiency). The defaults are Planner's choice
(DEMO), not a vendor's: DEFAULT_MIN_SEGMENT_MU and DEFAULT_MIN_SEGMENT_AREA_CM2 say why.
sequence_deliverable drops them and renormalises the plan; sequence_plan keeps every segment unless
it is given minimums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from planner.core.errors import PlannerError
from planner.core.mlc_beams import MlcSegment

from .pencil_beam import BeamSettings, DoseInfluence

DEFAULT_LEVELS = 10
# Closed pairs are parked this far behind the X1 jaw's edge, so their abutting tips are shielded.
PARK_BEHIND_JAW_MM = 5.0
GRID_TOLERANCE_MM = 1e-3
# Planner's choice (DEMO), per fraction: below 2 MU a segment gives under 2 cGy at d_max with the
# DEMO calibration (1 cGy/MU), about 1 % of a 2 Gy fraction, and its delivered dose depends most on
# the linac's low-MU behaviour, which no machine data here describe.
DEFAULT_MIN_SEGMENT_MU = 2.0
# Planner's choice (DEMO): 1 cm^2 = four bixels of 5 x 5 mm, so a single bixel (0.25 cm^2) or a pair
# is never a segment of its own: such apertures lie deep in the small-field range (IAEA TRS-483, 2017,
# "Dosimetry of small static fields used in external beam radiotherapy"), where pencil-beam kernels
# without head scatter or a leaf-end model are least trustworthy. Measured on TG-119 (5 mm grid,
# 300 iterations, smoothness weight 30): 11 of 106 segments are below 1 cm^2 (6 % of the MU); left
# out, PTV D10 rises 0.08 Gy. 2 cm^2 would leave out 23 (+0.30 Gy); without smoothing it would
# leave out 61 of 126 and raise PTV D10 by 3.5 Gy, 1 cm^2 43 of 126 (+0.8 Gy).
DEFAULT_MIN_SEGMENT_AREA_CM2 = 1.0


class LeafAlignmentError(PlannerError, ValueError):
    """The bixel rows do not fall on whole leaf pairs of the MLC model."""


@dataclass(frozen=True, eq=False)
class MlcModel:
    """A multileaf collimator as the sequencer needs it: leaf-pair boundaries along IEC Y and the
    leaves' travel limit along X, both at the isocentre plane (as DICOM Leaf Position Boundaries)."""

    name: str
    leaf_boundaries_mm: np.ndarray
    max_leaf_position_mm: float
    source: str

    @property
    def n_pairs(self) -> int:
        return len(self.leaf_boundaries_mm) - 1

    def pair_for_row(self, v_mm: float, width_mm: float) -> int:
        """The leaf pair that exactly covers the bixel row centred at v_mm; refuses a row straddling
        two pairs or lying on a wider leaf (its fluence could not be delivered as optimised)."""
        b = np.asarray(self.leaf_boundaries_mm)
        pair = int(np.searchsorted(b, v_mm, side="right")) - 1
        if pair < 0 or pair >= self.n_pairs:
            raise LeafAlignmentError(f"bixel row at v = {v_mm:g} mm lies outside the {self.name} MLC")
        lower, upper = b[pair], b[pair + 1]
        if (abs(lower - (v_mm - width_mm / 2)) > GRID_TOLERANCE_MM
                or abs(upper - (v_mm + width_mm / 2)) > GRID_TOLERANCE_MM):
            raise LeafAlignmentError(
                f"the {width_mm:g} mm bixel row at v = {v_mm:g} mm does not coincide with a leaf pair of "
                f"the {self.name} MLC (the pair there spans {lower:g} to {upper:g} mm); bixel rows and "
                f"leaf pairs must share their edges")
        return pair


def _millennium_like_boundaries(shift_mm: float) -> np.ndarray:
    """60 pairs: 10 x 10 mm, 40 x 5 mm, 10 x 10 mm (400 mm), shifted along Y by shift_mm."""
    widths = [10.0] * 10 + [5.0] * 40 + [10.0] * 10
    return np.concatenate([[0.0], np.cumsum(widths)]) - 200.0 + shift_mm


# The leaf-width layout of the Varian Millennium 120 MLC: 40 central pairs of 5 mm and 10 outer
# pairs of 10 mm on each side, a leaf boundary on the central axis. Not from a vendor document
# (none was found): as tabulated in public code that reads Millennium 120 plans (an ESAPI plan
# complexity script, "Millennium 120": 10 mm leaves centred at -195 + 10 i, 5 mm at -97.5 + 5 i; a
# Pinnacle RTPLAN reader's leaf centres -19.5 ... -10.5, -9.75 ... 9.75 cm). Its 5 mm pairs span
# [5k, 5k + 5] mm, half a leaf off Planner's bixel rows (centred at v = 5k mm, see
# pencil_beam.target_bixels): this layout refuses Planner's default bixel grid (LeafAlignmentError).
MILLENNIUM_120_LAYOUT = MlcModel(
    name="Millennium 120 layout",
    leaf_boundaries_mm=_millennium_like_boundaries(0.0),
    max_leaf_position_mm=200.0,
    source="Varian Millennium 120 leaf widths as read by public plan-reading code; not a vendor spec",
)

# Planner's generic 60-pair MLC (DEMO machine model): the Millennium 120 widths shifted by half a
# central leaf (+2.5 mm), so its 5 mm pairs span [5k - 2.5, 5k + 2.5] mm and each 5 mm bixel row
# centred at v = 5k mm maps onto exactly one leaf pair (rows within -97.5 ... 102.5 mm). A real
# Millennium 120 needs the bixel rows centred at (k + 1/2) 5 mm instead (a change in
# pencil_beam.target_bixels), or this model's plans delivered with the couch shifted 2.5 mm, which
# is exact only at the isocentre plane.
GENERIC_MLC_60 = MlcModel(
    name="Generic MLC 60 (DEMO)",
    leaf_boundaries_mm=_millennium_like_boundaries(2.5),
    max_leaf_position_mm=200.0,
    source="generic model: Millennium 120 leaf widths, boundaries shifted +2.5 mm onto the bixel rows",
)


@dataclass(frozen=True, eq=False)
class FluenceMap:
    """One beam's bixel weights on the MLC grid: rows = all leaf pairs, columns = bixel columns.

    ``bixel_indices`` are the beam's columns of the dose-influence matrix; bixel i sits at
    (``pair_of_bixel[i]``, ``column_of_bixel[i]``). Cells without a bixel hold 0.
    """

    weights: np.ndarray          # (n_pairs, n_columns)
    u_edges_mm: np.ndarray       # (n_columns + 1,), leaf positions that open whole columns
    bixel_indices: np.ndarray
    pair_of_bixel: np.ndarray
    column_of_bixel: np.ndarray


@dataclass(frozen=True, eq=False)
class SequencedBeam:
    """One beam after sequencing. Segment weights are in bixel-weight units (whole course), so
    ``deliverable`` is what dij @ weights sees; jaws are None for a beam with nothing to deliver."""

    beam: int
    gantry_deg: float
    fluence: FluenceMap
    levels: np.ndarray           # (n_pairs, n_columns) delivered integer intensity levels 0 ... levels
    level_weight: float          # bixel weight of one level
    segments: tuple[MlcSegment, ...]
    jaws_x_mm: tuple[float, float] | None
    jaws_y_mm: tuple[float, float] | None
    # per segment: [first, stop) open columns of each MLC pair, and its intensity in levels
    segment_openings: tuple[np.ndarray, ...] = ()
    segment_units: tuple[int, ...] = ()
    dropped_segments: int = 0    # below the minimum MU or area: not delivered
    dropped_weight: float = 0.0  # their summed segment weight (at the level weight they had)

    @property
    def deliverable(self) -> np.ndarray:
        return self.levels * self.level_weight

    @property
    def total_weight(self) -> float:
        return float(sum(s.meterset_weight for s in self.segments))

    def segment_areas_mm2(self, mlc: MlcModel) -> tuple[float, ...]:
        """Each segment's open area at the isocentre plane."""
        return tuple(_open_area_mm2(o, self.fluence, mlc) for o in self.segment_openings)


@dataclass(frozen=True, eq=False)
class SequencedPlan:
    """All beams sequenced; ``weights`` are the deliverable bixel weights in the dose-influence
    matrix's column order, so the deliverable dose is ``influence.dij @ weights``."""

    beams: tuple[SequencedBeam, ...]
    weights: np.ndarray
    levels: int
    mlc: MlcModel

    @property
    def segment_counts(self) -> tuple[int, ...]:
        return tuple(len(b.segments) for b in self.beams)

    @property
    def dropped_segments(self) -> int:
        return sum(b.dropped_segments for b in self.beams)

    def scaled(self, factor: float) -> SequencedPlan:
        """Every segment weight times ``factor`` (a renormalisation after sequencing): the shapes,
        and so the deliverability, do not change."""
        if not factor > 0:
            raise ValueError(f"scale factor {factor} must be positive")
        beams = tuple(SequencedBeam(
            b.beam, b.gantry_deg, b.fluence, b.levels, b.level_weight * factor,
            tuple(MlcSegment(s.leaf_positions_mm, s.meterset_weight * factor) for s in b.segments),
            b.jaws_x_mm, b.jaws_y_mm, b.segment_openings, b.segment_units, b.dropped_segments,
            b.dropped_weight) for b in self.beams)
        return SequencedPlan(beams, self.weights * factor, self.levels, self.mlc)

    def without_segments_below(self, min_segment_weight: float) -> SequencedPlan:
        """The plan less its segments lighter than ``min_segment_weight`` (the dose is what the
        rest deliver)."""
        beams = []
        for b in self.beams:
            kept = [(o, u) for o, u in zip(b.segment_openings, b.segment_units) if u * b.level_weight >= min_segment_weight]
            lost = sum(u * b.level_weight for u in b.segment_units) - sum(u * b.level_weight for _, u in kept)
            beams.append(_delivered_beam(b.beam, b.gantry_deg, b.fluence, b.level_weight, kept, self.mlc,
                                         b.dropped_segments + len(b.segment_units) - len(kept),
                                         b.dropped_weight + lost))
        return _plan_of(tuple(beams), self.weights.size, self.levels, self.mlc)


def fluence_map(influence: DoseInfluence, weights: np.ndarray, beam: int,
                mlc: MlcModel = GENERIC_MLC_60) -> FluenceMap:
    """The beam's weights on the MLC grid; refuses bixels off a regular grid or off the leaf pairs."""
    width = float(getattr(influence, "bixel_width_mm", BeamSettings().bixel_width_mm))
    indices = np.array([i for i, b in enumerate(influence.bixels) if b.beam == beam], dtype=int)
    if indices.size == 0:
        raise ValueError(f"beam {beam} has no bixels")
    u = np.array([influence.bixels[i].u_mm for i in indices])
    v = np.array([influence.bixels[i].v_mm for i in indices])
    u_first = u.min()
    columns_float = (u - u_first) / width
    columns = np.rint(columns_float).astype(int)
    if np.max(np.abs(columns_float - columns)) * width > GRID_TOLERANCE_MM:
        raise LeafAlignmentError(f"beam {beam}: bixel columns are not on a {width:g} mm grid")
    pairs = np.array([mlc.pair_for_row(float(vv), width) for vv in v], dtype=int)
    grid = np.zeros((mlc.n_pairs, columns.max() + 1))
    if len(set(zip(pairs.tolist(), columns.tolist()))) != indices.size:
        raise LeafAlignmentError(f"beam {beam}: two bixels fall in one MLC cell")
    grid[pairs, columns] = np.asarray(weights, dtype=float)[indices]
    u_edges = u_first - width / 2 + width * np.arange(columns.max() + 2)
    if np.max(np.abs(u_edges)) > mlc.max_leaf_position_mm + GRID_TOLERANCE_MM:
        raise ValueError(f"beam {beam}: the fluence reaches past the leaves' travel "
                         f"(±{mlc.max_leaf_position_mm:g} mm)")
    return FluenceMap(grid, u_edges, indices, pairs, columns)


def quantise(fluence: np.ndarray, levels: int = DEFAULT_LEVELS) -> tuple[np.ndarray, float]:
    """(integer levels 0 ... `levels`, bixel weight per level): each cell rounded to the nearest
    multiple of max/levels. A beam with no weight gives all zeros and a weight per level of 0."""
    if levels < 1:
        raise ValueError(f"at least one intensity level is needed, got {levels}")
    fluence = np.asarray(fluence, dtype=float)
    if np.any(fluence < 0) or not np.all(np.isfinite(fluence)):
        raise ValueError("bixel weights must be finite and non-negative")
    maximum = float(fluence.max(initial=0.0))
    if maximum == 0.0:
        return np.zeros(fluence.shape, dtype=int), 0.0
    step = maximum / levels
    return np.rint(fluence / step).astype(int), step


def reducing_level_segments(levels: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Xia & Verhey's reducing-level decomposition of an integer map.

    Returns [(openings, units)], openings (n_rows, 2) = [first, stop) columns open per row (0, 0 when
    closed), units the segment's intensity in levels. Identical shapes are merged; the sum of
    units × opening masks equals ``levels`` exactly.
    """
    residual = np.array(levels, dtype=np.int64)
    if np.any(residual < 0):
        raise ValueError("intensity levels must be non-negative")
    n_rows, n_cols = residual.shape
    merged: dict[bytes, int] = {}
    order: list[bytes] = []
    while (top := int(residual.max(initial=0))) > 0:
        m = max(1, int(math.floor(math.log2(top))))  # Xia & Verhey eq. 7
        unit = 2 ** (m - 1)                           # eq. 6: the delivery intensity unit d_k
        openings = np.zeros((n_rows, 2), dtype=np.int64)
        for r in range(n_rows):
            candidates = np.where(residual[r] >= unit, residual[r], -1)
            peak = int(np.argmax(candidates))
            if candidates[peak] < 0:
                continue
            first, stop = peak, peak + 1
            while first > 0 and residual[r, first - 1] >= unit:
                first -= 1
            while stop < n_cols and residual[r, stop] >= unit:
                stop += 1
            openings[r] = first, stop
            residual[r, first:stop] -= unit
        key = openings.tobytes()
        if key not in merged:
            order.append(key)
            merged[key] = 0
        merged[key] += unit
    return [(np.frombuffer(key, dtype=np.int64).reshape(n_rows, 2).copy(), merged[key]) for key in order]


def _jaws(openings_list, fluence: FluenceMap, mlc: MlcModel):
    """X jaws: the envelope of the open leaves; Y jaws: the boundaries of the outermost open pairs."""
    open_rows = np.zeros(mlc.n_pairs, dtype=bool)
    first_col, stop_col = np.inf, -np.inf
    for openings, _ in openings_list:
        is_open = openings[:, 1] > openings[:, 0]
        open_rows |= is_open
        if is_open.any():
            first_col = min(first_col, openings[is_open, 0].min())
            stop_col = max(stop_col, openings[is_open, 1].max())
    rows = np.flatnonzero(open_rows)
    b = mlc.leaf_boundaries_mm
    return ((float(fluence.u_edges_mm[int(first_col)]), float(fluence.u_edges_mm[int(stop_col)])),
            (float(b[rows[0]]), float(b[rows[-1] + 1])))


def _open_area_mm2(openings: np.ndarray, fluence: FluenceMap, mlc: MlcModel) -> float:
    """A segment's open area at the isocentre plane: open columns x column width x leaf width."""
    column_mm = float(fluence.u_edges_mm[1] - fluence.u_edges_mm[0])
    leaf_mm = np.diff(np.asarray(mlc.leaf_boundaries_mm, dtype=float))
    return float(np.sum((openings[:, 1] - openings[:, 0]) * leaf_mm) * column_mm)


def _delivered_beam(beam: int, gantry: float, fluence: FluenceMap, step: float, kept, mlc: MlcModel,
                    dropped: int = 0, dropped_weight: float = 0.0) -> SequencedBeam:
    """A beam delivering the segments ``kept`` [(openings, units)]: their levels, jaws and leaves."""
    delivered = np.zeros(fluence.weights.shape, dtype=np.int64)
    for openings, units in kept:
        for r in np.flatnonzero(openings[:, 1] > openings[:, 0]):
            delivered[r, openings[r, 0]:openings[r, 1]] += units
    if not kept:
        return SequencedBeam(beam, gantry, fluence, delivered, step, (), None, None, (), (), dropped, dropped_weight)
    jaws_x, jaws_y = _jaws(kept, fluence, mlc)
    park = max(jaws_x[0] - PARK_BEHIND_JAW_MM, -mlc.max_leaf_position_mm)
    segments = []
    for openings, units in kept:
        positions = np.full((2, mlc.n_pairs), park)
        is_open = openings[:, 1] > openings[:, 0]
        positions[0, is_open] = fluence.u_edges_mm[openings[is_open, 0]]
        positions[1, is_open] = fluence.u_edges_mm[openings[is_open, 1]]
        segments.append(MlcSegment(positions, units * step))
    return SequencedBeam(beam, gantry, fluence, delivered, step, tuple(segments), jaws_x, jaws_y,
                         tuple(o for o, _ in kept), tuple(int(u) for _, u in kept), dropped, dropped_weight)


def sequence_beam(influence: DoseInfluence, weights: np.ndarray, beam: int, levels: int = DEFAULT_LEVELS,
                  mlc: MlcModel = GENERIC_MLC_60, min_segment_weight: float = 0.0,
                  min_segment_area_mm2: float = 0.0) -> SequencedBeam:
    """One beam: fluence map, quantisation, reducing-level segments (those below the minimum
    weight or open area dropped), jaws and leaf positions."""
    fluence = fluence_map(influence, weights, beam, mlc)
    gantry = float(influence.bixels[int(fluence.bixel_indices[0])].gantry_deg)
    level_map, step = quantise(fluence.weights, levels)
    decomposition = reducing_level_segments(level_map)
    kept = [(o, u) for o, u in decomposition
            if u * step >= min_segment_weight and _open_area_mm2(o, fluence, mlc) >= min_segment_area_mm2]
    return _delivered_beam(beam, gantry, fluence, step, kept, mlc, len(decomposition) - len(kept),
                           step * (sum(u for _, u in decomposition) - sum(u for _, u in kept)))


def _plan_of(beams: tuple[SequencedBeam, ...], n_bixels: int, levels: int, mlc: MlcModel) -> SequencedPlan:
    deliverable = np.zeros(n_bixels)
    for b in beams:
        deliverable[b.fluence.bixel_indices] = b.deliverable[b.fluence.pair_of_bixel, b.fluence.column_of_bixel]
    return SequencedPlan(beams, deliverable, levels, mlc)


def sequence_plan(influence: DoseInfluence, weights: np.ndarray, levels: int = DEFAULT_LEVELS,
                  mlc: MlcModel = GENERIC_MLC_60, min_segment_weight: float = 0.0,
                  min_segment_area_mm2: float = 0.0) -> SequencedPlan:
    """Every beam of the plan sequenced; the deliverable weights replace the optimised ones."""
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (len(influence.bixels),):
        raise ValueError(f"{weights.shape} weights for {len(influence.bixels)} bixels")
    beam_ids = sorted({b.beam for b in influence.bixels})
    beams = tuple(sequence_beam(influence, weights, beam, levels, mlc, min_segment_weight, min_segment_area_mm2)
                  for beam in beam_ids)
    return _plan_of(beams, weights.size, levels, mlc)


def sequence_deliverable(influence: DoseInfluence, weights: np.ndarray,
                         normalisation_factor: Callable[[np.ndarray], float], *, min_segment_weight: float,
                         min_segment_area_mm2: float, levels: int = DEFAULT_LEVELS,
                         mlc: MlcModel = GENERIC_MLC_60) -> SequencedPlan:
    """Sequenced without the segments below the minimums, and scaled by
    ``normalisation_factor(deliverable weights)`` (what brings the delivered dose to the
    prescription). A segment the scaling takes below the minimum weight is dropped too and the plan
    normalised again: dose is non-negative in every segment weight, so dropping one only lowers the
    dose, the next factor is >= 1 and no kept segment falls below the minimum."""
    sequenced = sequence_plan(influence, weights, levels, mlc, min_segment_weight, min_segment_area_mm2)
    while True:  # each round drops at least one segment, so this ends
        sequenced = sequenced.scaled(normalisation_factor(sequenced.weights))
        if all(s.meterset_weight >= min_segment_weight for b in sequenced.beams for s in b.segments):
            return sequenced
        sequenced = sequenced.without_segments_below(min_segment_weight)
