"""The segments of an IMRT RT Plan read back from its own attributes (read_mlc_plan): what the review
recomputes the dose of. A plan typed in by hand goes out and comes back the same; the MU of each
segment are the hand-computed shares of the beam's meterset."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom import dcmread

from planner.core.mlc_beams import MlcBeam, MlcPlan, MlcSegment
from planner.dicom.rt_plan_mlc import MlcPlanError, read_mlc_plan, volume_identity, write_rt_plan_mlc
from plugins.imrt_photon.phantom import tg119_c_shape

BOUNDARIES_MM = (-10.0, -5.0, 0.0, 5.0, 10.0)   # four pairs


def segment(left, right, weight):
    return MlcSegment(np.array([left, right], dtype=float), weight)


def hand_plan() -> MlcPlan:
    first = MlcBeam(
        name="G000", gantry_deg=0.0, isocentre_mm=(0.0, 0.0, 0.0), ssd_mm=850.0, sad_mm=1000.0,
        jaws_x_mm=(-15.0, 12.5), jaws_y_mm=(-10.0, 5.0), leaf_boundaries_mm=np.array(BOUNDARIES_MM),
        segments=(segment([-15.0, -5.0, -2.5, -20.0], [10.0, 7.5, 2.5, -20.0], 3.0),
                  segment([-20.0, 0.0, 0.0, -20.0], [-20.0, 12.5, 5.0, -20.0], 1.0),
                  segment([-5.0, -5.0, -20.0, -20.0], [5.0, 5.0, -20.0, -20.0], 2.0)),
        meterset_mu=120.0, beam_dose_gy=1.25, description="first beam")
    second = MlcBeam(
        name="G090", gantry_deg=90.0, isocentre_mm=(1.0, -2.0, 3.5), ssd_mm=900.0, sad_mm=1000.0,
        jaws_x_mm=(-5.0, 5.0), jaws_y_mm=(-5.0, 5.0), leaf_boundaries_mm=np.array(BOUNDARIES_MM),
        segments=(segment([-20.0, -5.0, -5.0, -20.0], [-20.0, 5.0, 5.0, -20.0], 0.5),),
        meterset_mu=80.5, beam_dose_gy=0.75, description="second beam")
    return MlcPlan(label="HAND", beams=(first, second), fractions=25, dose_per_fraction_gy=2.0,
                   prescription_description="50 Gy in 25 fractions to PTV", machine_name="GENERIC_6MV",
                   target_roi_name="PTV", target_roi_number=3, demo_calibration=True, notes=("a note",))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("mlc-read") / "RTPLAN.dcm"
    write_rt_plan_mlc(hand_plan(), volume_identity(tg119_c_shape(10.0)), path, structure_set_uid="1.2.3.4")
    return path


def test_a_written_plan_reads_back_the_same(written):
    plan, read = hand_plan(), read_mlc_plan(dcmread(written))
    for name in ("label", "fractions", "dose_per_fraction_gy", "prescription_description", "machine_name",
                 "target_roi_name", "target_roi_number", "patient_position", "demo_calibration"):
        assert getattr(read, name) == getattr(plan, name), name
    assert read.notes == ()   # the file keeps them only in the free-text description
    assert len(read.beams) == len(plan.beams)
    for mine, its in zip(plan.beams, read.beams):
        for name in ("name", "gantry_deg", "isocentre_mm", "ssd_mm", "sad_mm", "jaws_x_mm", "jaws_y_mm",
                     "meterset_mu", "beam_dose_gy", "collimator_deg", "couch_deg", "nominal_energy_mv",
                     "description"):
            assert getattr(its, name) == getattr(mine, name), f"{mine.name} {name}"
        assert np.array_equal(its.leaf_boundaries_mm, BOUNDARIES_MM)
        assert len(its.segments) == len(mine.segments)
        for a, b in zip(mine.segments, its.segments):
            assert np.array_equal(a.leaf_positions_mm, b.leaf_positions_mm)
    # each segment's MU: its weight's share of the beam's meterset, by hand (3:1:2 of 120 MU; 80.5 MU)
    assert read.beams[0].segment_mu() == pytest.approx([60.0, 20.0, 40.0], rel=1e-12)
    assert read.beams[1].segment_mu() == pytest.approx([80.5], rel=1e-12)


def test_leaves_that_move_with_the_beam_on_are_refused(written, tmp_path):
    ds = dcmread(written)
    point = ds.BeamSequence[0].ControlPointSequence[1]      # the end of the first segment
    mlc = point.BeamLimitingDevicePositionSequence[0]
    values = [float(v) for v in mlc.LeafJawPositions]
    values[4] -= 1.0                                           # the first pair's X2 leaf, 1 mm
    mlc.LeafJawPositions = [f"{v:g}" for v in values]
    with pytest.raises(MlcPlanError, match="G000: the leaves move with the beam on before control point 1"):
        read_mlc_plan(ds)


def test_a_beam_without_leaves_is_refused(written):
    ds = dcmread(written)
    beam = ds.BeamSequence[1]
    beam.BeamLimitingDeviceSequence = beam.BeamLimitingDeviceSequence[:2]
    with pytest.raises(MlcPlanError, match="beam G090 has no MLCX leaves"):
        read_mlc_plan(ds)
