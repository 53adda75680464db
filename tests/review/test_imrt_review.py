"""The review recomputes a signed IMRT plan's dose from the RT Plan's own segments (issue 16, point 1).

Outside sources: the exported RTDOSE.dcm read with pydicom (the dose the export wrote, voxel by
voxel and interpolated at the isocentre here by hand), the leaf geometry by hand (a leaf 1 mm into a
5 mm cell leaves a fifth of it), and plans changed with pydicom after export and signed again with
a test key, so only the recomputation can catch the change.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from planner.core.inverse_plan_file import VolumeSource
from planner.core.mlc_beams import MlcBeam, MlcSegment
from planner.dicom.inverse_payload import ISOCENTRE, InverseSource, read_inverse_payload, recorded_dose_figures
from planner.dicom.signatures import CREATOR, sign_file
from planner.review.plan_review import REPRODUCTION_TOLERANCE, review_plan
from plugins.imrt_photon.segment_dose import SegmentDoseError, open_fractions
from tests.dicom.signature_fixtures import signer
from tests.dicom.test_imrt_signature import small_tg119_export
from tests.review.test_imrt_second_check import RECORDED
from tests.tg119_recorded_plan import tg119_recorded_export

GRID_MM = 10.0
NOT_CHECKED = ("the independent second check was not made: it compares with the plan's dose, which is not "
               "reproduced from the signed segments")


@pytest.fixture(scope="module")
def tg119_5mm(tmp_path_factory):
    """`planner imrt --tg119 --grid-mm 5 --out DIR` as stored (tests/tg119_recorded_plan.py): its Monte Carlo
    check is recorded (a 10 mm grid is too coarse for the check's 1 cm scoring region)."""
    return tg119_recorded_export(tmp_path_factory, "imrt-review-5mm")


@pytest.fixture
def mc_cache(tmp_path):
    """A copy of the recorded Monte Carlo answers (a live run would take minutes)."""
    return Path(shutil.copy(RECORDED, tmp_path / "mc-cache.json"))


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return small_tg119_export(tmp_path_factory.mktemp("imrt-review") / "export",
                              lambda plan: InverseSource(plan, VolumeSource.tg119(GRID_MM), "model", "calibration"))[1]


def signed_copy(path, folder, change=None):
    """The RT Plan, changed by ``change(ds)`` with pydicom, signed by a test physician: a valid
    signature over whatever it holds. Returns (signed file, trusted certificates)."""
    ds = dcmread(path)
    if change is not None:
        change(ds)
    changed = folder / "changed.dcm"
    ds.save_as(changed)
    identity, _, _ = signer(folder, "Dr A. Oncologist")
    signed = folder / "RTPLAN.dcm"
    assert sign_file(changed, signed, identity, CREATOR).valid
    return signed, [identity.certificate]


def rt_dose_gy(path):
    """The RT Dose as pydicom reads it: Gy on its own axes (x columns, y rows, z frames), [x, y, z]."""
    ds = dcmread(path)
    dose = ds.pixel_array.astype(float).transpose(2, 1, 0) * float(ds.DoseGridScaling)
    x0, y0, z0 = (float(v) for v in ds.ImagePositionPatient)
    dy, dx = (float(v) for v in ds.PixelSpacing)
    x = x0 + dx * np.arange(ds.Columns)
    y = y0 + dy * np.arange(ds.Rows)
    z = z0 + np.array([float(v) for v in ds.GridFrameOffsetVector])
    return dose, (x, y, z), float(ds.DoseGridScaling)


def rt_dose_region_mean_gy(path, point_mm):
    """Mean whole-course RT Dose over the check's scoring region (voxel centres within 5 mm across, 10 mm along
    z of the point, planner.review.imrt_second_check's docstring)."""
    dose, (x, y, z), _ = rt_dose_gy(path)
    inside = [np.abs(x - point_mm[0]) <= 5.0 + 1e-6, np.abs(y - point_mm[1]) <= 5.0 + 1e-6,
              np.abs(z - point_mm[2]) <= 10.0 + 1e-6]
    return float(dose[np.ix_(*inside)].mean())


def trilinear(dose, axes, point):
    """Dose at ``point`` from its eight neighbours (weights by hand)."""
    lower, weight = [], []
    for axis, p in zip(axes, point):
        i = int(np.searchsorted(axis, p)) - 1
        lower.append(i)
        weight.append((p - axis[i]) / (axis[i + 1] - axis[i]))
    total = 0.0
    for corner in range(8):
        bits = [(corner >> k) & 1 for k in range(3)]
        w = np.prod([t if b else 1 - t for b, t in zip(bits, weight)])
        total += w * dose[lower[0] + bits[0], lower[1] + bits[1], lower[2] + bits[2]]
    return float(total)


def mlc(point):
    return next(p for p in point.BeamLimitingDevicePositionSequence if p.RTBeamLimitingDeviceType == "MLCX")


def heaviest_segment(beam):
    """Control points (start, end) of the beam's segment with the largest meterset share."""
    weights = [float(p.CumulativeMetersetWeight) for p in beam.ControlPointSequence]
    end = int(np.argmax(np.diff(weights))) + 1
    return beam.ControlPointSequence[end - 1], beam.ControlPointSequence[end]


def test_a_signed_plan_is_reproduced_from_its_segments_and_checked_independently(tg119_5mm, tmp_path, mc_cache):
    rt_plan, rt_dose = tg119_5mm / "RTPLAN.dcm", tg119_5mm / "RTDOSE.dcm"
    signed, trusted = signed_copy(rt_plan, tmp_path)
    review = review_plan(signed, trusted, mc_cache_path=mc_cache)
    recomputation = review.recomputation
    assert recomputation.reproduced
    # the independent Monte Carlo agrees within TG-219's 3 % review level: nothing stands in the way
    check = review.second_check
    assert check.verdict == "agree" and abs(check.difference_percent) < 3.0
    assert check.action_levels.review_percent == 3.0 and check.action_levels.stop_percent == 5.0
    assert review.reasons == () and review.can_approve
    # the plan dose it was compared with is the export's own RT Dose, read with pydicom, over the check's region
    _, _, step_gy = rt_dose_gy(rt_dose)
    fractions = int(dcmread(rt_plan).FractionGroupSequence[0].NumberOfFractionsPlanned)
    assert check.plan_dose_gy == pytest.approx(rt_dose_region_mean_gy(rt_dose, check.point_mm) / fractions,
                                               abs=step_gy)
    _, record = read_inverse_payload(dcmread(rt_plan))
    figures = recorded_dose_figures(record)
    names = {f.name for f in figures}
    assert {"PTV D95", "PTV D2", "PTV D0.03cc", "PTV Dmean", "Core D0.03cc", "Core D10", "Core Dmean",
            "dose at the isocentre"} <= names
    assert [c.name for c in recomputation.figures] == [f.name for f in figures]
    for c in recomputation.figures:
        assert c.reproduced and abs(c.recomputed_gy - c.signed_gy) <= REPRODUCTION_TOLERANCE * c.signed_gy, c
    # TG-119 normalises the plan so that PTV D95 is the prescription, 50 Gy
    assert next(f.dose_gy for f in figures if f.name == "PTV D95") == pytest.approx(50.0, rel=1e-4)
    # outside check: the export's own RT Dose, read with pydicom, is the recomputed dose voxel by voxel
    # (to its 16-bit quantisation) and at the isocentre
    dose, axes, step_gy = rt_dose_gy(rt_dose)
    recomputed = review.imrt_dose.dose_grid_gy
    assert recomputed.shape == dose.shape
    assert np.max(np.abs(recomputed - dose)) <= step_gy
    volume = review.planning_volume
    assert [np.allclose(a, b) for a, b in zip(axes, (volume.grid.x_mm, volume.grid.y_mm, volume.grid.z_mm))] == [True] * 3
    at_isocentre = trilinear(dose, axes, volume.isocentre_mm)
    assert recomputation.recomputed_dose_gy == pytest.approx(at_isocentre, abs=step_gy)
    assert next(f.dose_gy for f in figures if f.structure == ISOCENTRE) == pytest.approx(at_isocentre, abs=step_gy)
    assert review.as_dict()["recomputation"]["figures"][0]["name"] == figures[0].name


def test_a_leaf_moved_5_mm_is_not_reproduced_and_the_figure_is_named(export, tmp_path):
    def close_a_leaf(ds):
        start, end = heaviest_segment(ds.BeamSequence[0])   # the beam with the most MU
        values = np.array([float(v) for v in mlc(end).LeafJawPositions])
        pairs = values.size // 2
        widest = int(np.argmax(values[pairs:] - values[:pairs]))
        for point in (start, end):        # the segment's two control points: still step-and-shoot
            moved = [float(v) for v in mlc(point).LeafJawPositions]
            moved[pairs + widest] -= 5.0
            mlc(point).LeafJawPositions = [f"{v:g}" for v in moved]

    signed, trusted = signed_copy(export.rt_plan, tmp_path, close_a_leaf)
    review = review_plan(signed, trusted)
    assert not review.can_approve and not review.recomputation.reproduced
    failed = [c for c in review.recomputation.figures if not c.reproduced]
    assert failed and all(abs(c.recomputed_gy - c.signed_gy) > REPRODUCTION_TOLERANCE * c.signed_gy for c in failed)
    # the signature is valid: only the recomputation says what changed, naming each figure
    assert review.reasons[-1] == NOT_CHECKED and len(review.reasons) == 2
    assert review.reasons[0].startswith("the signed dose figures are not reproduced from the segments")
    assert all(f"{c.name} signed {c.signed_gy:.4f} Gy" in review.reasons[0] for c in failed)
    # less opening, less dose: PTV D95 falls below the 50 Gy it was signed with
    ptv = next(c for c in review.recomputation.figures if c.name == "PTV D95")
    assert ptv.recomputed_gy < ptv.signed_gy


def test_a_segment_opening_where_there_are_no_beamlets_is_refused(export, tmp_path):
    def open_the_first_pair(ds):
        beam = ds.BeamSequence[0]
        first = beam.ControlPointSequence[0]
        jaw_y = next(p for p in first.BeamLimitingDevicePositionSequence if p.RTBeamLimitingDeviceType == "ASYMY")
        boundaries = [float(v) for v in beam.BeamLimitingDeviceSequence[2].LeafPositionBoundaries]
        jaw_y.LeafJawPositions = [f"{boundaries[0]:g}", jaw_y.LeafJawPositions[1]]   # down to pair 1's edge
        pairs = len(boundaries) - 1
        for point in beam.ControlPointSequence[:2]:   # the first segment
            values = [float(v) for v in mlc(point).LeafJawPositions]
            values[0], values[pairs] = -5.0, 5.0      # pair 1, 200 mm from the axis, opened 10 mm
            mlc(point).LeafJawPositions = [f"{v:g}" for v in values]

    signed, trusted = signed_copy(export.rt_plan, tmp_path, open_the_first_pair)
    review = review_plan(signed, trusted)
    assert not review.can_approve and review.recomputation is None and review.imrt_dose is None
    # pair 1 is 10 mm wide: 10 x 10 mm opened where the plan has no beamlet
    assert review.reasons == ("the dose cannot be recomputed from the signed segments: beam G000, segment 1 opens "
                              "100 mm² where the plan has no beamlets: its dose cannot be represented",
                              NOT_CHECKED)


def test_a_missing_ct_folder_is_a_reason(tmp_path):
    gone = tmp_path / "no-such-ct"
    export = small_tg119_export(tmp_path / "export", lambda plan: InverseSource(
        plan, VolumeSource.ct(gone, GRID_MM), "model", "calibration"))[1]
    signed, trusted = signed_copy(export.rt_plan, tmp_path)
    review = review_plan(signed, trusted)
    assert not review.can_approve and review.recomputation is None
    assert len(review.reasons) == 2 and review.reasons[1] == NOT_CHECKED
    assert review.reasons[0].startswith("the dose cannot be recomputed from the signed segments: ")
    assert str(gone) in review.reasons[0] and "\n" not in review.reasons[0]


def one_cell_beam(left_mm: float, right_mm: float) -> MlcBeam:
    """One 5 mm leaf pair over one 5 x 5 mm bixel cell centred on the axis."""
    return MlcBeam(name="G000", gantry_deg=0.0, isocentre_mm=(0.0, 0.0, 0.0), ssd_mm=900.0, sad_mm=1000.0,
                   jaws_x_mm=(-10.0, 10.0), jaws_y_mm=(-2.5, 2.5), leaf_boundaries_mm=np.array([-2.5, 2.5]),
                   segments=(MlcSegment(np.array([[left_mm], [right_mm]]), 1.0),), meterset_mu=10.0,
                   beam_dose_gy=0.1)


def test_the_open_fraction_follows_the_leaves():
    centre = np.array([0.0])
    assert open_fractions(one_cell_beam(-2.5, 2.5), centre, centre, 5.0)[0] == pytest.approx([1.0])
    # the X2 leaf 1 mm into the cell: 4 of its 5 mm open
    assert open_fractions(one_cell_beam(-2.5, 1.5), centre, centre, 5.0)[0] == pytest.approx([0.8])
    # the X1 leaf 1 mm out of it, past the cell's edge: 5 x 1 mm open where there is no beamlet
    with pytest.raises(SegmentDoseError, match="^beam G000, segment 1 opens 5 mm² where the plan has no beamlets"):
        open_fractions(one_cell_beam(-3.5, 2.5), centre, centre, 5.0)


def test_the_recomputation_reports_progress_and_can_be_cancelled(export):
    from planner.dicom.rt_plan_mlc import read_mlc_plan
    from planner.dose.monte_carlo import CalculationCancelled
    from planner.techniques.registry import discover_techniques

    ds = dcmread(export.rt_plan)
    embedded, _ = read_inverse_payload(ds)
    planner = discover_techniques().get(embedded.technique_id).inverse_planner
    seen = []
    planner.dose_from_segments(read_mlc_plan(ds), embedded.plan, embedded.volume_source,
                               progress=lambda fraction, message: seen.append(fraction))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in seen) and len(seen) > 2
    with pytest.raises(CalculationCancelled):
        planner.dose_from_segments(read_mlc_plan(ds), embedded.plan, embedded.volume_source,
                                   is_cancelled=lambda: True)
