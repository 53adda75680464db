"""The IMRT plan's independent second check: a Monte Carlo point dose from the exported RT Plan alone.

Why: a second calculation catches a wrong MU only if it cannot share the plan's mistakes. This module
shares no code and no beam model with the pencil-beam engine (it imports nothing of plugins/): it
reads the exported RTPLAN.dcm (gantry angles, isocentre, jaws, MLC leaves per control point,
cumulative meterset weights, BeamMeterset), turns each beam's segments into a fluence map of
beamlets at the isocentre plane, and has ompMC (Doerner & Caprile, Med Phys 44:6672, 2017; photon
dose with EGSnrc-derived physics, 6 MV spectrum of Mohan, Chui, Lidofsky, Med Phys 12:595, 1985)
compute the dose in the CT the plan was made on. ompMC is GPL-3, so it runs in the reference
environment as a subprocess (mc_point_dose_worker.py); Planner's process never imports it.

MU calibration by the same Monte Carlo, so the check is independent of Planner's calibration too:
Planner's convention is 1 cGy per MU at d_max on the central axis of a 10 x 10 cm2 field at SSD 100 cm
in water. The worker computes that field (water surface at the isocentre) and d_max's dose per unit
fluence; a plan beamlet's weight is MU x its open area (cm2 at the isocentre plane), so
dose [Gy] = MC dose per unit weight x weight / (calibration dose per unit weight at d_max) x 0.01 Gy.

Check point: the isocentre if the plan's dose there is high and flat (every voxel of the scoring
region >= 90 % of the prescription and the region's spread (max - min)/mean <= 5 %; our choice);
otherwise (TG-119's isocentre sits in the core, a low-dose region) the dose-grid voxel in the target
whose scoring region is all >= 90 % of the prescription and has the smallest spread, the first in
(z, y, x) order on a tie. Scoring region: the dose-grid voxels whose centres lie within +-5 mm
across (x, y) and +-10 mm along z (the patient's long axis) of the point; the Monte Carlo scores
their union as ONE voxel, so ompMC's batch uncertainty is the region's.

Output commissioning: the point source without head scatter or source size gives small fields too much
dose per MU (at 10 cm depth, relative to 10 x 10 cm2, +3 ... +6 % above measured output factors for 2-6 cm
squares; benchmarks/imrt_second_check_arbiter.py). So the Monte Carlo computes its own output factor
OF_MC(c) of open square fields of side c (water, SSD 100 cm, 10 cm depth, the same worker and cells), and
each segment's MU in its fluence is multiplied by k(c) = OF_measured(c) / OF_MC(c), c = sqrt(the segment's
open area in cm2 at the isocentre plane, jaws applied), linear in c between the commissioned sides and
constant outside them; k(10) = 1 by definition. The measured factors default to published ones
(MEASURED_OUTPUT_FACTORS); the clinic replaces them with its own linac's. A plan with more than
`outside_fraction_review` (default 20 %, our choice) of its MU in segments outside the commissioned sides
is at least "review".

Action levels: AAPM TG-219 (Zhu et al., Med Phys 46(1):e1-e14, 2019) for independent point-dose
checks of IMRT: review beyond 3 %, stop beyond 5 %, both the clinic's to set.

Not modelled (the method's limits): leaf and jaw transmission, tongue-and-groove, leaf-end rounding,
electron contamination; the Mohan spectrum is generic, not commissioned to the machine; every voxel is
water at the density the CT's HU give (relative electron density taken as mass density). Head scatter
(Sc) and the focal spot's size are covered only empirically, by the output commissioning: for open
SQUARE fields on the central axis at one depth; an IMRT segment is reduced to its equivalent square by
area alone (a 1 x 9 cm2 strip and a 3 x 3 cm2 square get the same k), off-axis segments get the
on-axis k, and the penumbra's shape (what the source size does at a field edge) is still the point
source's. Collimator and couch rotations other than 0 and patient positions other than HFS are refused.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np
import pydicom

from planner.core.errors import Cancelled, PlannerError
from planner.review.second_check import AGREE, REVIEW, STOP, ActionLevels

__all__ = ["ImrtSecondCheckError", "ImrtSecondCheck", "McCalibration", "OutputCommissioning", "OutputCorrection",
           "DEFAULT_ACTION_LEVELS", "MEASURED_OUTPUT_FACTORS", "OUTSIDE_FRACTION_REVIEW", "WORKER", "reference_python",
           "imrt_second_check", "check_plan_dose", "default_cache_path", "ship_commissioning", "mc_calibration", "output_commissioning", "CANNOT_BE_MADE"]

WORKER = Path(__file__).resolve().with_name("mc_point_dose_worker.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE_PYTHON_VARIABLE = "PLANNER_REFERENCE_PYTHON"
CANNOT_BE_MADE = "cannot be made"
NOT_INSTALLED = ("cannot be made: the independent Monte Carlo environment is not installed "
                 "(bash scripts/setup.sh makes it)")

# AAPM TG-219 (Zhu et al., Med Phys 46(1):e1-e14, 2019): 3 % review, 5 % stop for IMRT point doses.
DEFAULT_ACTION_LEVELS = ActionLevels(review_percent=3.0, stop_percent=5.0)
TG219_CITATION = "AAPM TG-219, Zhu et al., Med Phys 46(1):e1-e14, 2019"

REFERENCE_DOSE_PER_MU_GY = 0.01   # Planner's convention: 1 cGy/MU at d_max, 10 x 10 cm2, SSD 100 cm, water
REFERENCE_FIELD_CM = 10.0
CELL_ALONG_LEAF_CM = 0.25         # beamlet cell along the leaf travel; across it, the leaf width
HIGH_DOSE_FRACTION = 0.90         # of the prescription: the region must lie in the high-dose region
FLAT_SPREAD = 0.05                # (max - min)/mean over the region: "flat" (our choice)
SCORE_HALF_ACROSS_MM = 5.0        # scoring region: voxel centres within +-5 mm in x and y
SCORE_HALF_ALONG_MM = 10.0        # and +-10 mm in z
BODY_DENSITY = 0.1                # relative density above which a voxel is body (the crop)
N_BATCHES = 10
# Measured on 2 cores (ompMC 0.4.0): TG-119 (9 beams, 98 segments, 5 mm grid) 3 M histories in 59 s, k=1 0.9 %
# at its point (1.1 % with the output commissioning's segment weights); an open 10 x 10 cm2 field at 10 cm depth 3 M in 92 s, 1.5 % (12 M for < 1 %). The
# calibration, 4 M in 433 s (a loaded machine), is made once and cached.
PLAN_HISTORIES = 3_000_000
CALIBRATION_HISTORIES = 4_000_000
SEEDS = (97, 33)

# Calibration phantom: water 30 x 30 x 30 cm, surface at the isocentre (SSD = SAD = 100 cm); the axis is
# scored in a 3 x 3 cm2 column (the 10 x 10 field is flat there) in 2 mm slabs.
CAL_HALF_WIDTH_CM = 15.0
CAL_SCORE_HALF_CM = 1.5
CAL_SLAB_CM = 0.2
CAL_DEPTH_CM = 30.0
CAL_DMAX_FIT_CM = (0.9, 2.3)      # d_max: a parabola through the slabs with centres in this range (the top: the
#                                   build-up is at ~98 % by 9 mm; the window holds the nominal 15 mm)
CAL_PDD_DEPTH_CM = 10.0           # PDD(10): mean of the slabs with centres within +-0.5 cm of it
SAD_CM = 100.0

# Published measured output factors, 6 MV, relative to 10 x 10 cm2, by square field side (cm): Followill et al.,
# "The Radiological Physics Center's standard dataset for small field size output factors", J Appl Clin Med Phys
# 13(5):282-289, 2012, doi:10.1120/jacmp.v13i5.3962, Table 2 (Elekta 6 MV, RPC-measured mean over institutions).
# NOT known here (the table caption read, not the methods): the depth and SSD of the measurements, and whether
# the fields were jaw- or MLC-defined. Elekta is not the plan's generic MLC machine: the clinic replaces these
# with its own linac's (imrt_second_check's `measured_output_factors`).
MEASURED_OUTPUT_FACTORS = MappingProxyType({2.0: 0.790, 3.0: 0.842, 4.0: 0.878, 6.0: 0.930, 10.0: 1.000})
MEASURED_OUTPUT_FACTORS_SOURCE = "Followill et al., JACMP 13(5):282, 2012, Table 2, Elekta 6 MV"
OUTSIDE_FRACTION_REVIEW = 0.20    # of the MU outside the commissioned sides: at least "review" (our choice)
# The Monte Carlo's output factor: 1 MU of an open square field on water (SSD 100 cm, 30 x 30 cm lateral), dose
# on the axis in a central column, the mean of the 2 mm slabs with centres within 9-11 cm depth.
OF_DEPTH_CM = 10.0
OF_DEPTH_HALF_CM = 1.0
OF_SLAB_CM = 0.2
OF_SLABS_TO_CM = 12.0             # 2 mm slabs to 12 cm, then one slab to 30 cm
# side (cm): (scoring column side in cm, inside the field's flat part; histories). Measured on 2 cores: 2-6 cm
# 1-4 min each, k=1 0.6-0.9 % at 10 cm; 10 x 10 (the most: every k shares its statistics) 422 s, 0.51 %; so
# OF_MC's k=1 is 0.9-1.1 %. Other sides: a column of 0.3 x side (at most 2 cm), PLAN_HISTORIES.
OF_RUNS = MappingProxyType({2.0: (0.6, 2_000_000), 3.0: (1.0, 2_000_000), 4.0: (1.0, 2_000_000),
                            6.0: (1.5, 3_000_000), 10.0: (2.0, 12_000_000)})


class ImrtSecondCheckError(PlannerError, ValueError):
    """The second check cannot read the plan or run; one line."""


@dataclass(frozen=True)
class McCalibration:
    """The Monte Carlo's own MU calibration: 10 x 10 cm2, SSD 100 cm, water."""

    dose_per_unit_weight_at_dmax_gy: float   # per MU x cm2 of fluence weight
    dmax_mm: float
    pdd10_percent: float
    uncertainty_percent: float               # k=1, of the d_max dose (slab statistics / fit)
    depth_mm: tuple[float, ...]
    pdd_percent: tuple[float, ...]
    n_histories: int
    seconds: float


@dataclass(frozen=True)
class OutputCommissioning:
    """k(c) = measured / Monte Carlo output factor of open square fields of side c (cm), relative to 10 x 10."""

    side_cm: tuple[float, ...]
    measured: tuple[float, ...]
    mc: tuple[float, ...]
    mc_uncertainty_percent: tuple[float, ...]   # k=1 of OF_MC: both runs' statistics (0 for 10 x 10 itself)
    k: tuple[float, ...]
    depth_cm: float
    source: str

    def k_at(self, side_cm: float) -> float:
        """Linear in the side between the commissioned ones, constant outside them."""
        return float(np.interp(side_cm, self.side_cm, self.k))


@dataclass(frozen=True)
class OutputCorrection:
    """What the output commissioning did to one plan: the table, and the plan's segments under it."""

    commissioning: OutputCommissioning
    mu_weighted_k: float                        # sum(MU x k) / sum(MU) over the plan's segments
    outside_fraction: float                     # of the MU in segments smaller or larger than the commissioned sides
    outside_fraction_review: float              # the clinic's limit: beyond it the verdict is at least "review"

    def line(self) -> str:
        """One line for a physicist."""
        c = self.commissioning
        return (f"Monte Carlo output commissioned to measured output factors ({c.source}): each segment's MU x "
                f"k = OF measured / OF Monte Carlo at its equivalent square, MU-weighted mean k "
                f"{self.mu_weighted_k:.3f}; {100 * self.outside_fraction:.0f} % of the MU in segments outside the "
                f"commissioned {c.side_cm[0]:g}-{c.side_cm[-1]:g} cm sides (given the nearest side's k; review "
                f"beyond {100 * self.outside_fraction_review:.0f} %)")


@dataclass(frozen=True)
class ImrtSecondCheck:
    """The result. Doses Gy per fraction; difference (plan - check)/check in %; point in mm (DICOM patient)."""

    point_mm: tuple[float, float, float]
    point_choice: str
    plan_dose_gy: float | None
    check_dose_gy: float | None
    uncertainty_percent: float | None        # k=1, the Monte Carlo's statistics at the point
    difference_percent: float | None
    verdict: str                             # agree | review | stop | cannot be made
    message: str
    action_levels: ActionLevels
    n_histories: int
    seconds: float
    calibration: McCalibration | None
    method: str
    output_correction: OutputCorrection | None = None

    def as_dict(self) -> dict:
        """Plain JSON values, for ``planner review --json``."""
        correction = self.output_correction
        return {"verdict": self.verdict, "message": self.message, "method": self.method,
                "difference_percent": self.difference_percent, "point_mm": list(self.point_mm),
                "point_choice": self.point_choice, "plan_dose_gy_per_fraction": self.plan_dose_gy,
                "check_dose_gy_per_fraction": self.check_dose_gy, "uncertainty_percent_k1": self.uncertainty_percent,
                "n_histories": self.n_histories,
                "output_correction": None if correction is None else {
                    "mu_weighted_k": correction.mu_weighted_k, "outside_fraction": correction.outside_fraction,
                    "source": correction.commissioning.source}}


METHOD = ("Independent Monte Carlo (ompMC 0.4.0, EGSnrc-derived physics; 6 MV spectrum of Mohan et al., "
          "Med Phys 12:595, 1985) of the exported RT Plan's MLC segments and MU on the CT's densities, "
          "calibrated by the same Monte Carlo to 1 cGy/MU at d_max, 10 x 10 cm2, SSD 100 cm, water; each "
          "segment's MU x k = measured / Monte Carlo output factor of its equivalent square (10 cm depth), "
          "which covers head scatter and source size for open square fields only. Not modelled: leaf and jaw "
          "transmission, tongue-and-groove, leaf ends, electron contamination; spectrum not commissioned to the "
          f"machine; tissue as water at the CT's density. Action levels: {TG219_CITATION}.")


# ------------------------------------------------------------------------------------ environment


def reference_python() -> Path:
    """The reference environment's interpreter: $PLANNER_REFERENCE_PYTHON, else <repo>/.venv-reference."""
    named = os.environ.get(REFERENCE_PYTHON_VARIABLE)
    return Path(named) if named else REPO_ROOT / ".venv-reference" / "bin" / "python"


# ------------------------------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class _Segment:
    jaws_x_mm: tuple[float, float]
    jaws_y_mm: tuple[float, float]
    left_mm: np.ndarray
    right_mm: np.ndarray
    mu: float


@dataclass(frozen=True)
class _Beam:
    gantry_deg: float
    isocentre_mm: np.ndarray
    sad_mm: float
    boundaries_mm: np.ndarray
    segments: tuple[_Segment, ...]


def _float(ds, keyword: str, where: str) -> float:
    value = ds.get(keyword)
    if value is None or value == "":
        raise ImrtSecondCheckError(f"{where}: {keyword} is missing")
    return float(value)


def read_plan(path: Path) -> tuple[list[_Beam], int, float | None]:
    """The beams (segments with their MU per fraction), the fractions and the prescription per fraction."""
    try:
        ds = pydicom.dcmread(str(path))
    except (OSError, pydicom.errors.InvalidDicomError) as err:
        raise ImrtSecondCheckError(f"cannot read the RT Plan {path.name}: {err}") from None
    setups = ds.get("PatientSetupSequence") or []
    if setups and str(setups[0].get("PatientPosition", "HFS")) != "HFS":
        raise ImrtSecondCheckError(f"patient position {setups[0].PatientPosition} is not modelled (HFS only)")
    group = ds.FractionGroupSequence[0]
    fractions = int(group.get("NumberOfFractionsPlanned", 1) or 1)
    meterset = {int(item.ReferencedBeamNumber): _float(item, "BeamMeterset", "fraction group")
                for item in group.ReferencedBeamSequence}
    rx_per_fraction = None
    refs = group.get("ReferencedDoseReferenceSequence") or []
    if refs and refs[0].get("TargetPrescriptionDose") not in (None, ""):
        rx_per_fraction = float(refs[0].TargetPrescriptionDose)
    beams = []
    for beam in ds.BeamSequence:
        name = f"beam {beam.BeamNumber}"
        if str(beam.get("TreatmentDeliveryType", "TREATMENT")) != "TREATMENT" or meterset.get(int(beam.BeamNumber), 0) <= 0:
            continue
        if str(beam.get("RadiationType", "PHOTON")) != "PHOTON":
            raise ImrtSecondCheckError(f"{name}: only photon beams are checked")
        boundaries = None
        for device in beam.BeamLimitingDeviceSequence:
            if device.RTBeamLimitingDeviceType in ("MLCX",):
                boundaries = np.asarray(device.LeafPositionBoundaries, dtype=float)
        cps = beam.ControlPointSequence
        cp0 = cps[0]
        gantry = _float(cp0, "GantryAngle", name)
        for keyword in ("BeamLimitingDeviceAngle", "PatientSupportAngle"):
            if abs(float(cp0.get(keyword, 0.0) or 0.0)) > 1e-6:
                raise ImrtSecondCheckError(f"{name}: {keyword} {cp0.get(keyword)} is not modelled (0 only)")
        iso = np.asarray(cp0.IsocenterPosition, dtype=float)
        final = float(beam.get("FinalCumulativeMetersetWeight", 1.0) or 1.0)
        mu = meterset[int(beam.BeamNumber)]
        state: dict[str, list[float]] = {}
        positions = []
        for cp in cps:
            for item in cp.get("BeamLimitingDevicePositionSequence") or []:
                state[item.RTBeamLimitingDeviceType] = [float(v) for v in item.LeafJawPositions]
            positions.append((float(cp.CumulativeMetersetWeight), dict(state)))
        segments = []
        for (w0, s0), (w1, s1) in zip(positions, positions[1:]):
            if w1 - w0 <= 0:
                continue
            for shape in (s0, s1):  # a dynamic pair is taken as half its start and half its end shape
                jx = shape.get("ASYMX") or shape.get("X") or [-200.0, 200.0]
                jy = shape.get("ASYMY") or shape.get("Y") or [-200.0, 200.0]
                if "MLCX" not in shape or boundaries is None:
                    raise ImrtSecondCheckError(f"{name}: no MLCX leaf positions")
                leaves = np.asarray(shape["MLCX"])
                n = leaves.size // 2
                segments.append(_Segment((jx[0], jx[1]), (jy[0], jy[1]), leaves[:n], leaves[n:],
                                         0.5 * mu * (w1 - w0) / final))
        beams.append(_Beam(gantry, iso, float(beam.get("SourceAxisDistance", 1000.0)), boundaries,
                           tuple(segments)))
    if not beams:
        raise ImrtSecondCheckError("the RT Plan has no treatment beam with MU")
    return beams, fractions, rx_per_fraction


def _overlap(lo: np.ndarray, hi: np.ndarray, a, b) -> np.ndarray:
    return np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0.0, None)


def fluence_weights(beam: _Beam) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells (x0, y0 in cm at the isocentre plane, beam's-eye X along the leaves) and MU x open cm2 each."""
    lo_x = min(s.jaws_x_mm[0] for s in beam.segments)
    hi_x = max(s.jaws_x_mm[1] for s in beam.segments)
    n_x = max(1, int(math.ceil((hi_x - lo_x) / (10 * CELL_ALONG_LEAF_CM) - 1e-9)))
    x_edges_mm = lo_x + np.arange(n_x + 1) * 10 * CELL_ALONG_LEAF_CM
    b = beam.boundaries_mm
    weight = np.zeros((b.size - 1, n_x))
    for s in beam.segments:
        across = _overlap(b[:-1], b[1:], *s.jaws_y_mm)                                   # (pairs,)
        left = np.maximum(s.left_mm, s.jaws_x_mm[0])[:, None]
        right = np.minimum(s.right_mm, s.jaws_x_mm[1])[:, None]
        along = _overlap(x_edges_mm[None, :-1], x_edges_mm[None, 1:], left, right)     # (pairs, cells)
        weight += s.mu * across[:, None] * along / 100.0                                 # MU x cm2
    return x_edges_mm / 10.0, b / 10.0, weight


def beamlets(beams: list[_Beam]) -> dict[str, np.ndarray]:
    """ompMC's BeamletSource arrays (cm, DICOM patient axes) and weights (MU x cm2) of every open cell.

    IEC 61217 for HFS, couch and collimator at 0: the source at gantry g sits at
    iso + SAD (sin g, -cos g, 0); the beam's-eye X (leaf travel, ASYMX) is (cos g, sin g, 0) and Y
    (across the leaves, ASYMY) is +z (towards the gantry, the patient's head).
    """
    sources, i_beam, corner, side1, side2, weights = [], [], [], [], [], []
    for k, beam in enumerate(beams):
        g = math.radians(beam.gantry_deg)
        iso = beam.isocentre_mm / 10.0
        ex, ey = np.array([math.cos(g), math.sin(g), 0.0]), np.array([0.0, 0.0, 1.0])
        sources.append(iso + beam.sad_mm / 10.0 * np.array([math.sin(g), -math.cos(g), 0.0]))
        x_edges, y_edges, w = fluence_weights(beam)
        pair, cell = np.nonzero(w > 0)
        x0, y0 = x_edges[cell], y_edges[pair]
        corner.append(iso + x0[:, None] * ex + y0[:, None] * ey)
        side1.append(np.outer(np.diff(x_edges)[cell], ex))
        side2.append(np.outer(np.diff(y_edges)[pair], ey))
        i_beam.append(np.full(pair.size, k))
        weights.append(w[pair, cell])
    return {"source": np.array(sources), "i_beam": np.concatenate(i_beam), "corner": np.concatenate(corner),
            "side1": np.concatenate(side1), "side2": np.concatenate(side2), "weights": np.concatenate(weights)}


# -------------------------------------------------------------------------------------- the phantom


def _axis_bounds(centres_mm: np.ndarray, lo_mm: float, hi_mm: float) -> np.ndarray:
    """Voxel edges (mm) of an evenly spaced axis, with [lo, hi] made one voxel."""
    step = centres_mm[1] - centres_mm[0] if centres_mm.size > 1 else 1.0
    edges = np.concatenate([centres_mm - step / 2, [centres_mm[-1] + step / 2]])
    keep = (edges < lo_mm - 0.25 * step) | (edges > hi_mm + 0.25 * step)
    return np.unique(np.concatenate([edges[keep], [lo_mm, hi_mm]]))


def _regrid(density: np.ndarray, centres: list[np.ndarray], bounds: list[np.ndarray]) -> np.ndarray:
    """Mean of the CT voxels whose centres fall in each MC voxel."""
    idx = [np.clip(np.searchsorted(b, c, side="right") - 1, 0, b.size - 2) for b, c in zip(bounds, centres)]
    shape = tuple(b.size - 1 for b in bounds)
    flat = np.ravel_multi_index(np.meshgrid(*idx, indexing="ij"), shape)
    total = np.bincount(flat.ravel(), weights=density.ravel(), minlength=int(np.prod(shape)))
    count = np.bincount(flat.ravel(), minlength=int(np.prod(shape)))
    return (total / np.maximum(count, 1)).reshape(shape)


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(WORKER.read_bytes())
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(key.encode() + str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------- running


Runner = Callable[[dict, Callable[[float], None], Callable[[], bool]], dict]


def run_worker(request: dict, progress: Callable[[float], None], is_cancelled: Callable[[], bool]) -> dict:
    """Runs the worker in the reference environment; a cancel kills it and raises Cancelled."""
    python = reference_python()
    if not python.is_file():
        raise ImrtSecondCheckError(NOT_INSTALLED)
    with tempfile.TemporaryDirectory(prefix="planner-imrt-check-") as folder:
        req, res = Path(folder) / "request.npz", Path(folder) / "result.json"
        np.savez(req, **request)
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
        process = subprocess.Popen([str(python), str(WORKER), str(req), str(res)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True, env=env)
        tail: list[str] = []

        def read() -> None:
            for line in process.stderr:
                if line.startswith("progress "):
                    try:
                        progress(float(line.split()[1]))
                    except ValueError:
                        pass
                else:
                    tail[:] = (tail + [line.strip()])[-3:]

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        while process.poll() is None:
            if is_cancelled():
                process.kill()
                process.wait()
                raise Cancelled("the IMRT second check was cancelled")
            time.sleep(0.2)
        reader.join(timeout=5)
        if process.returncode != 0 or not res.is_file():
            raise ImrtSecondCheckError(f"the Monte Carlo worker failed (exit {process.returncode}): "
                                       + " | ".join(tail))
        return json.loads(res.read_text())


def cached(request: dict, cache_path: Path | None, runner: Runner, progress, is_cancelled) -> dict:
    """The result under the request's digest in the shipped commissioning (COMMISSIONING_FILE) or in
    cache_path (a JSON file), or a new run added to cache_path."""
    digest = _digest(request)
    shipped = _commissioning_results()
    if digest in shipped:
        progress(1.0)
        return shipped[digest]
    store = json.loads(cache_path.read_text()) if cache_path is not None and cache_path.is_file() else {}
    if digest in store.get("results", {}):
        progress(1.0)
        return store["results"][digest]
    result = runner(request, progress, is_cancelled)
    if cache_path is not None:
        store.setdefault("about", "ompMC results of planner.review.imrt_second_check requests, by digest of the "
                                  "request and the worker script; never hand-edited")
        store.setdefault("results", {})[digest] = result
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(store, indent=1) + "\n")
    return result


# The Monte Carlo's own commissioning, shipped: its MU calibration field and the open square fields of its output
# factors are the same requests for every plan, 10-20 minutes of runs on 2 cores; a clinic's first review should run
# only the plan's own field. Made from a cache holding those runs (never hand-edited):
#     .venv/bin/python -m planner.review.imrt_second_check --ship-commissioning tests/reference/imrt_second_check_recorded.json
COMMISSIONING_FILE = Path(__file__).resolve().with_name("mc_commissioning.json")


def default_cache_path() -> Path:
    """Where a workstation keeps the Monte Carlo's answers to plans it has checked (by digest)."""
    from planner.paths import data_dir

    return data_dir() / "imrt_second_check_cache.json"


def _commissioning_results() -> dict:
    if not COMMISSIONING_FILE.is_file():
        return {}
    return json.loads(COMMISSIONING_FILE.read_text()).get("results", {})


def commissioning_requests(measured: Mapping[float, float] | None = None) -> list[dict]:
    """The requests of the Monte Carlo's commissioning: the calibration field and one per measured side."""
    sides = sorted(float(c) for c in (MEASURED_OUTPUT_FACTORS if measured is None else measured))
    return [calibration_request(), *(output_factor_request(side, *output_factor_run(side)) for side in sides)]


def ship_commissioning(from_cache: Path) -> Path:
    """Write COMMISSIONING_FILE with the commissioning's answers found in `from_cache`; refuses a missing one."""
    store = json.loads(Path(from_cache).read_text()).get("results", {})
    digests = [_digest(request) for request in commissioning_requests()]
    missing = [d[:12] for d in digests if d not in store]
    if missing:
        raise ImrtSecondCheckError(f"{from_cache} lacks the commissioning runs {', '.join(missing)}: run them first")
    COMMISSIONING_FILE.write_text(json.dumps(
        {"about": "ompMC's commissioning runs of planner.review.imrt_second_check (its MU calibration field and the "
                  "open square fields of its output factors), by digest of the request and of the worker script; "
                  "made by ship_commissioning, never hand-edited",
         "results": {d: store[d] for d in digests}}, indent=1) + "\n")
    return COMMISSIONING_FILE


# ------------------------------------------------------------------------------------- calibration


def open_field_request(field_cm: tuple[float, float], column_cm: tuple[float, float], depth_bounds_cm: np.ndarray,
                       n_histories: int) -> dict:
    """An open field (x along the leaves by y, cm at the isocentre plane) from gantry 0 on water 30 x 30 cm, surface at
    the isocentre (SSD 100 cm), in beamlets of the plan's cell size (0.25 x 0.5 cm) of weight 1 MU x the cell's cm2;
    the central column (cm) is scored in the given depth slabs."""
    (fx, fy), (cx, cy) = field_cm, column_cm
    X, Y = np.meshgrid(np.arange(-fx / 2, fx / 2 - 1e-9, CELL_ALONG_LEAF_CM), np.arange(-fy / 2, fy / 2 - 1e-9, 0.5),
                       indexing="ij")
    n, nz = X.size, depth_bounds_cm.size - 1
    return {"x_bounds": np.array([-CAL_HALF_WIDTH_CM, -cx / 2, cx / 2, CAL_HALF_WIDTH_CM]),
            "y_bounds": np.array([-CAL_HALF_WIDTH_CM, -cy / 2, cy / 2, CAL_HALF_WIDTH_CM]),
            "z_bounds": depth_bounds_cm, "density": np.ones((3, 3, nz)), "source": np.array([[0.0, 0.0, -SAD_CM]]),
            "i_beam": np.zeros(n, dtype=np.int32), "corner": np.c_[X.ravel(), Y.ravel(), np.zeros(n)],
            "side1": np.tile([CELL_ALONG_LEAF_CM, 0.0, 0.0], (n, 1)), "side2": np.tile([0.0, 0.5, 0.0], (n, 1)),
            "weights": np.full(n, CELL_ALONG_LEAF_CM * 0.5),     # 1 MU x the cell's cm2: uniform fluence
            "score": np.c_[np.ones(nz, dtype=int), np.ones(nz, dtype=int), np.arange(nz)],
            "n_histories": np.int64(n_histories), "n_batches": np.int64(N_BATCHES),
            "seeds": np.array(SEEDS, dtype=np.int64)}


def calibration_request() -> dict:
    """The 10 x 10 cm2 field at SSD 100 cm on water, a 3 x 3 cm2 column in 2 mm slabs to 30 cm."""
    return open_field_request((REFERENCE_FIELD_CM,) * 2, (2 * CAL_SCORE_HALF_CM,) * 2,
                              np.linspace(0.0, CAL_DEPTH_CM, int(round(CAL_DEPTH_CM / CAL_SLAB_CM)) + 1),
                              CALIBRATION_HISTORIES)


def output_factor_request(side_cm: float, column_cm: float, n_histories: int) -> dict:
    """The square field of `side_cm` for the Monte Carlo's output factor: 2 mm slabs to 12 cm, then one to 30 cm."""
    return open_field_request((side_cm, side_cm), (column_cm, column_cm), output_factor_depth_bounds_cm(), n_histories)


def output_factor_depth_bounds_cm() -> np.ndarray:
    return np.r_[np.round(np.arange(0.0, OF_SLABS_TO_CM + 1e-9, OF_SLAB_CM), 6), CAL_DEPTH_CM]


def output_factor_run(side_cm: float) -> tuple[float, int]:
    """(scoring column side cm, histories) of a commissioned side: OF_RUNS, else 0.3 x side (at most 2 cm)."""
    return OF_RUNS.get(float(side_cm), (round(min(0.3 * side_cm, 2.0), 2), PLAN_HISTORIES))


def _dose_at_depth(request: dict, result: dict) -> tuple[float, float]:
    """Dose per MU (Gy, this run's units) and its k=1 relative uncertainty: mean of the slabs within 9-11 cm."""
    dose = np.asarray(result["dose_per_unit_weight_gy"]) * float(np.sum(request["weights"]))
    unc = np.asarray(result["relative_uncertainty"])
    z = 0.5 * (request["z_bounds"][:-1] + request["z_bounds"][1:])
    slabs = np.abs(z - OF_DEPTH_CM) < OF_DEPTH_HALF_CM - 1e-9
    return float(dose[slabs].mean()), float(np.sqrt(np.sum(unc[slabs] ** 2)) / slabs.sum())


def output_commissioning(cache_path: Path | None, runner: Runner = run_worker, progress=lambda f: None,
                         is_cancelled=lambda: False, measured: Mapping[float, float] | None = None,
                         source: str = MEASURED_OUTPUT_FACTORS_SOURCE) -> OutputCommissioning:
    """k(c) from the measured output factors (side cm: OF relative to 10 x 10) and the Monte Carlo's own ones."""
    measured = MEASURED_OUTPUT_FACTORS if measured is None else measured
    sides = sorted(float(c) for c in measured)
    if measured.get(REFERENCE_FIELD_CM) != 1.0 or len(sides) < 2 or min(sides) <= 0 or min(measured.values()) <= 0:
        raise ImrtSecondCheckError("the measured output factors must be positive, relative to 10 x 10 cm2 (10: 1.0), "
                                   f"for at least two square sides; got {measured}")
    runs = {}
    for i, side in enumerate(sides):
        request = output_factor_request(side, *output_factor_run(side))
        result = cached(request, cache_path, runner, lambda f, i=i: progress((i + f) / len(sides)), is_cancelled)
        runs[side] = _dose_at_depth(request, result)
    reference, reference_unc = runs[REFERENCE_FIELD_CM]
    mc = [runs[c][0] / reference for c in sides]
    unc = [0.0 if c == REFERENCE_FIELD_CM else 100 * math.hypot(runs[c][1], reference_unc) for c in sides]
    return OutputCommissioning(side_cm=tuple(sides), measured=tuple(float(measured[c]) for c in sides),
                               mc=tuple(mc), mc_uncertainty_percent=tuple(unc),
                               k=tuple(float(measured[c]) / m for c, m in zip(sides, mc)),
                               depth_cm=OF_DEPTH_CM, source=source)


def segment_side_cm(beam: _Beam, segment: _Segment) -> float:
    """sqrt(the segment's open area in cm2 at the isocentre plane, jaws applied): its equivalent square by area."""
    across = _overlap(beam.boundaries_mm[:-1], beam.boundaries_mm[1:], *segment.jaws_y_mm)
    along = np.clip(np.minimum(segment.right_mm, segment.jaws_x_mm[1])
                    - np.maximum(segment.left_mm, segment.jaws_x_mm[0]), 0.0, None)
    return math.sqrt(float(np.sum(across * along)) / 100.0)


def output_correction(beams: list[_Beam], commissioning: OutputCommissioning,
                      outside_fraction_review: float = OUTSIDE_FRACTION_REVIEW) -> tuple[list[_Beam], OutputCorrection]:
    """The beams with each segment's MU x k(its side), and what that did."""
    lo, hi = commissioning.side_cm[0], commissioning.side_cm[-1]
    out, total, weighted, outside = [], 0.0, 0.0, 0.0
    for beam in beams:
        segments = []
        for s in beam.segments:
            side = segment_side_cm(beam, s)
            k = commissioning.k_at(side)
            segments.append(replace(s, mu=s.mu * k))
            total, weighted = total + s.mu, weighted + s.mu * k
            outside += s.mu if (side < lo - 1e-9 or side > hi + 1e-9) else 0.0
        out.append(replace(beam, segments=tuple(segments)))
    return out, OutputCorrection(commissioning=commissioning, mu_weighted_k=weighted / total,
                                 outside_fraction=outside / total, outside_fraction_review=outside_fraction_review)


def mc_calibration(cache_path: Path | None, runner: Runner = run_worker, progress=lambda f: None,
                   is_cancelled=lambda: False) -> McCalibration:
    """d_max and its dose per unit weight from the worker's depth dose (cached by digest)."""
    request = calibration_request()
    result = cached(request, cache_path, runner, progress, is_cancelled)
    dose = np.asarray(result["dose_per_unit_weight_gy"]) * float(np.sum(request["weights"]))
    unc = np.asarray(result["relative_uncertainty"])
    z = 0.5 * (request["z_bounds"][:-1] + request["z_bounds"][1:])
    fit = (z >= CAL_DMAX_FIT_CM[0] - 1e-9) & (z <= CAL_DMAX_FIT_CM[1] + 1e-9)
    a, b, c = np.polyfit(z[fit], dose[fit], 2)
    dmax = -b / (2 * a)
    d_at_dmax = c - b * b / (4 * a)
    slab10 = np.abs(z - CAL_PDD_DEPTH_CM) < 0.5
    pdd10 = 100 * dose[slab10].mean() / d_at_dmax
    return McCalibration(dose_per_unit_weight_at_dmax_gy=float(d_at_dmax), dmax_mm=float(10 * dmax),
                         pdd10_percent=float(pdd10),
                         uncertainty_percent=float(100 * np.sqrt(np.mean(unc[fit] ** 2) / fit.sum())),
                         depth_mm=tuple(float(v) for v in 10 * z),
                         pdd_percent=tuple(float(v) for v in 100 * dose / d_at_dmax),
                         n_histories=int(result["n_histories"]), seconds=float(result["seconds"]))


# ---------------------------------------------------------------------------------- the check point


def _read_rt_dose(path: Path, x_mm, y_mm, z_mm, fractions: int) -> np.ndarray:
    """The plan's dose per fraction (Gy) on the CT grid, indexed [x, y, z]; the grids must agree."""
    ds = pydicom.dcmread(str(path))
    dose = ds.pixel_array.astype(float) * float(ds.DoseGridScaling)
    if dose.ndim == 2:
        dose = dose[None]
    dx, dy = float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0])
    x0, y0, z0 = (float(v) for v in ds.ImagePositionPatient)
    offsets = np.asarray(ds.get("GridFrameOffsetVector") or [0.0], dtype=float)
    dx_mm = x0 + dx * np.arange(dose.shape[2])
    dy_mm = y0 + dy * np.arange(dose.shape[1])
    if not (dx_mm.size == x_mm.size and dy_mm.size == y_mm.size and offsets.size == z_mm.size
            and np.allclose(dx_mm, x_mm, atol=0.01) and np.allclose(dy_mm, y_mm, atol=0.01)
            and np.allclose(z0 + offsets, z_mm, atol=0.01)):
        raise ImrtSecondCheckError("the RT Dose grid is not the CT's grid; the check reads it only on the CT grid")
    if str(ds.get("DoseSummationType", "PLAN")) == "FRACTION":
        fractions = 1
    return dose.transpose(2, 1, 0) / fractions


def _box(index: tuple[int, int, int], steps_mm, shape) -> tuple[slice, slice, slice]:
    halves = (SCORE_HALF_ACROSS_MM, SCORE_HALF_ACROSS_MM, SCORE_HALF_ALONG_MM)
    out = []
    for i, step, half, n in zip(index, steps_mm, halves, shape):
        r = int(math.floor(half / step + 1e-6))
        out.append(slice(max(i - r, 0), min(i + r + 1, n)))
    return tuple(out)


def _region_stats(dose: np.ndarray, index, steps_mm) -> tuple[float, float, float]:
    region = dose[_box(index, steps_mm, dose.shape)]
    return float(region.mean()), float(region.min()), float((region.max() - region.min()) / max(region.mean(), 1e-12))


def choose_point(dose: np.ndarray, grid_mm, target: np.ndarray | None, isocentre_mm, rx_gy: float):
    """(index, how it was chosen): the isocentre if high and flat, else the flattest high-dose target voxel."""
    steps = [float(a[1] - a[0]) if a.size > 1 else 1.0 for a in grid_mm]
    iso = tuple(int(np.argmin(np.abs(a - c))) for a, c in zip(grid_mm, isocentre_mm))
    mean, low, spread = _region_stats(dose, iso, steps)
    if low >= HIGH_DOSE_FRACTION * rx_gy and spread <= FLAT_SPREAD:
        return iso, (f"the isocentre: its region is >= {100 * HIGH_DOSE_FRACTION:.0f} % of the prescription "
                     f"and flat ({100 * spread:.1f} % spread)")
    if target is None:
        raise ImrtSecondCheckError("the isocentre is not in a high, flat dose region and the plan names no target")
    best, best_spread = None, math.inf
    for k, j, i in sorted(zip(*np.nonzero(target.transpose(2, 1, 0)))):
        mean, low, spread = _region_stats(dose, (i, j, k), steps)
        if low >= HIGH_DOSE_FRACTION * rx_gy and spread < best_spread:
            best, best_spread = (int(i), int(j), int(k)), spread
    if best is None:
        raise ImrtSecondCheckError(f"no point of the target has its region >= {100 * HIGH_DOSE_FRACTION:.0f} % "
                                   "of the prescription")
    return best, (f"in the target (isocentre region {100 * mean / rx_gy:.0f} % of the prescription, "
                  f"{100 * spread:.0f} % spread): the voxel whose region is >= {100 * HIGH_DOSE_FRACTION:.0f} % "
                  f"of the prescription with the smallest spread ({100 * best_spread:.1f} %)")


# ------------------------------------------------------------------------------------------ the check


def _cannot(message: str, levels: ActionLevels) -> ImrtSecondCheck:
    return ImrtSecondCheck(point_mm=(math.nan,) * 3, point_choice="", plan_dose_gy=None, check_dose_gy=None,
                           uncertainty_percent=None, difference_percent=None, verdict=CANNOT_BE_MADE,
                           message=message, action_levels=levels, n_histories=0, seconds=0.0, calibration=None,
                           method=METHOD)


def commissioned_verdict(difference_percent: float, action_levels: ActionLevels,
                         correction: OutputCorrection) -> tuple[str, str]:
    """(verdict, its words): the action levels', raised to "review" when too much MU is outside the commissioning."""
    verdict = action_levels.verdict(difference_percent)
    if verdict == AGREE and correction.outside_fraction > correction.outside_fraction_review:
        return REVIEW, (f"review: {100 * correction.outside_fraction:.0f} % of the MU is in segments outside the "
                        "commissioned field sizes")
    return verdict, {AGREE: "agrees", REVIEW: "review", STOP: "STOP"}[verdict]


def imrt_second_check(folder, *, point_mm=None, action_levels: ActionLevels = DEFAULT_ACTION_LEVELS,
                      cache_path: Path | None = None, runner: Runner = run_worker,
                      progress: Callable[[float], None] = lambda f: None,
                      is_cancelled: Callable[[], bool] = lambda: False,
                      n_histories: int = PLAN_HISTORIES,
                      measured_output_factors: Mapping[float, float] | None = None,
                      output_factors_source: str = MEASURED_OUTPUT_FACTORS_SOURCE,
                      outside_fraction_review: float = OUTSIDE_FRACTION_REVIEW) -> ImrtSecondCheck:
    """The check of an exported IMRT folder (RTPLAN.dcm, CT*.dcm with its RT Structure Set, RTDOSE.dcm).

    `point_mm` overrides the choice of the check point (snapped to the nearest dose-grid voxel centre).
    `cache_path` keeps the Monte Carlo's answers by digest (the calibration, the output-factor fields and the
    plan's run). `measured_output_factors` (square side cm: output factor relative to 10 x 10 cm2) and
    `output_factors_source` are the clinic's linac's; the default is MEASURED_OUTPUT_FACTORS.
    """
    from planner.imaging.ct_series import CtSeriesError, load_ct_volume

    folder = Path(folder)
    if not reference_python().is_file():
        return _cannot(NOT_INSTALLED, action_levels)
    _, fractions, _ = read_plan(folder / "RTPLAN.dcm")
    try:
        volume = load_ct_volume(folder)
    except CtSeriesError as err:
        raise ImrtSecondCheckError(f"the plan's CT: {err}") from None
    grid = volume.grid
    axes = [np.asarray(grid.x_mm, float), np.asarray(grid.y_mm, float), np.asarray(grid.z_mm, float)]
    dose_path = folder / "RTDOSE.dcm"
    plan_dose = _read_rt_dose(dose_path, *axes, fractions) if dose_path.is_file() else None
    return check_plan_dose(folder / "RTPLAN.dcm", volume, plan_dose, point_mm=point_mm, action_levels=action_levels,
                           cache_path=cache_path, runner=runner, progress=progress, is_cancelled=is_cancelled,
                           n_histories=n_histories, measured_output_factors=measured_output_factors,
                           output_factors_source=output_factors_source,
                           outside_fraction_review=outside_fraction_review)


def check_plan_dose(rt_plan: Path, volume, plan_dose_gy: np.ndarray | None, *, point_mm=None,
                    action_levels: ActionLevels = DEFAULT_ACTION_LEVELS, cache_path: Path | None = None,
                    runner: Runner = run_worker, progress: Callable[[float], None] = lambda f: None,
                    is_cancelled: Callable[[], bool] = lambda: False, n_histories: int = PLAN_HISTORIES,
                    measured_output_factors: Mapping[float, float] | None = None,
                    output_factors_source: str = MEASURED_OUTPUT_FACTORS_SOURCE,
                    outside_fraction_review: float = OUTSIDE_FRACTION_REVIEW) -> ImrtSecondCheck:
    """The check of the RT Plan at `rt_plan` on `volume` (a PlanningVolume: grid, relative density, masks)
    against the plan's dose `plan_dose_gy` PER FRACTION on the volume's grid (None: no comparison). The
    review gives the dose it recomputed from the signed segments; `imrt_second_check` the folder's RTDOSE."""
    if not 0.0 <= outside_fraction_review <= 1.0:
        raise ImrtSecondCheckError(f"outside_fraction_review must be a fraction 0-1, got {outside_fraction_review!r}")
    if not reference_python().is_file():
        return _cannot(NOT_INSTALLED, action_levels)
    t0 = time.perf_counter()
    beams, _, rx = read_plan(Path(rt_plan))
    grid = volume.grid
    axes = [np.asarray(grid.x_mm, float), np.asarray(grid.y_mm, float), np.asarray(grid.z_mm, float)]
    steps = [float(a[1] - a[0]) if a.size > 1 else 1.0 for a in axes]
    plan_dose = None if plan_dose_gy is None else np.asarray(plan_dose_gy, dtype=float)
    if plan_dose is not None and plan_dose.shape != tuple(grid.shape):
        raise ImrtSecondCheckError(f"the plan's dose grid {plan_dose.shape} is not the volume's {tuple(grid.shape)}")
    if point_mm is not None:
        index = tuple(int(np.argmin(np.abs(a - c))) for a, c in zip(axes, point_mm))
        choice = "as given"
    else:
        if plan_dose is None or rx is None:
            raise ImrtSecondCheckError("the check point needs the plan's RTDOSE.dcm and prescription")
        target = next((m for name, m in volume.masks.items() if name.upper().startswith("PTV")), None)
        index, choice = choose_point(plan_dose, axes, target, beams[0].isocentre_mm, rx)
    box = _box(index, steps, grid.shape)
    lo = [a[s.start] - st / 2 for a, s, st in zip(axes, box, steps)]
    hi = [a[s.stop - 1] + st / 2 for a, s, st in zip(axes, box, steps)]
    # the phantom: the CT cropped to the body, the scoring region one voxel
    body = np.asarray(volume.density) > BODY_DENSITY
    keep = [np.nonzero(body.any(axis=tuple(j for j in range(3) if j != i)))[0] for i in range(3)]
    crop = tuple(slice(k[0], k[-1] + 1) if k.size else slice(None) for k in keep)
    cropped_axes = [a[c] for a, c in zip(axes, crop)]
    bounds_mm = [_axis_bounds(a, l, h) for a, l, h in zip(cropped_axes, lo, hi)]
    density = _regrid(np.asarray(volume.density, float)[crop], cropped_axes, bounds_mm)
    score = [int(np.searchsorted(b, 0.5 * (l + h)) - 1) for b, l, h in zip(bounds_mm, lo, hi)]
    commissioning = output_commissioning(cache_path, runner, lambda f: progress(0.3 * f), is_cancelled,
                                         measured_output_factors, output_factors_source)
    mc_beams, correction = output_correction(beams, commissioning, outside_fraction_review)
    cells = beamlets(mc_beams)
    total_weight = float(cells["weights"].sum())
    request = {"x_bounds": bounds_mm[0] / 10, "y_bounds": bounds_mm[1] / 10, "z_bounds": bounds_mm[2] / 10,
               "density": np.round(density, 6), **{k: v for k, v in cells.items() if k != "weights"},
               # relative weights, rounded: the same plan at other MU (or last digits) reuses the run
               "weights": np.round(cells["weights"] / total_weight, 12),
               "score": np.array([score]), "n_histories": np.int64(n_histories),
               "n_batches": np.int64(N_BATCHES), "seeds": np.array(SEEDS, dtype=np.int64)}
    calibration = mc_calibration(cache_path, runner, lambda f: progress(0.3 + 0.1 * f), is_cancelled)
    result = cached(request, cache_path, runner, lambda f: progress(0.4 + 0.6 * f), is_cancelled)
    mc_gy = (float(result["dose_per_unit_weight_gy"][0]) * total_weight
             / calibration.dose_per_unit_weight_at_dmax_gy * REFERENCE_DOSE_PER_MU_GY)
    unc = 100 * float(result["relative_uncertainty"][0])
    point = tuple(float(a[i]) for a, i in zip(axes, index))
    plan_gy = None if plan_dose is None else float(plan_dose[box].mean())
    if plan_gy is None:
        diff, verdict = None, CANNOT_BE_MADE
        message = f"Monte Carlo {mc_gy:.3f} Gy per fraction at {point} mm; no plan dose to compare"
    else:
        diff = 100 * (plan_gy - mc_gy) / mc_gy
        verdict, word = commissioned_verdict(diff, action_levels, correction)
        message = (f"plan {plan_gy:.3f} Gy, independent Monte Carlo {mc_gy:.3f} Gy (± {unc:.1f} % k=1) per "
                   f"fraction: {diff:+.1f} % — {word} (review > {action_levels.review_percent:g} %, stop > "
                   f"{action_levels.stop_percent:g} %)")
    message += "\n" + correction.line()
    return ImrtSecondCheck(point_mm=point, point_choice=choice, plan_dose_gy=plan_gy, check_dose_gy=mc_gy,
                           uncertainty_percent=unc, difference_percent=diff, verdict=verdict, message=message,
                           action_levels=action_levels, n_histories=int(result["n_histories"]),
                           seconds=time.perf_counter() - t0 if "seconds" not in result else float(result["seconds"]),
                           calibration=calibration, method=METHOD, output_correction=correction)


if __name__ == "__main__":  # pragma: no cover - a physicist's quick look: python -m ... FOLDER [CACHE]
    if sys.argv[1] == "--ship-commissioning":
        print(f"wrote {ship_commissioning(Path(sys.argv[2]))}")
    else:
        print(imrt_second_check(sys.argv[1], cache_path=Path(sys.argv[2]) if len(sys.argv) > 2 else None))
