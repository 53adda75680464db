"""A protocol on the thoracic-spine phantom (plugins/imrt_photon/spine_phantom.py, issue 18 point 7):
its structures matched by name, the cord PRV and PTV minus PRV made below the voxel, and the goals
judged on the honest DVH of a dose known by hand (uniform)."""

import numpy as np
import pytest

from planner.core.protocols.derived import derive_structures
from planner.core.protocols.goals import evaluate_goals
from planner.core.protocols.margins import DifferenceShape, GrownShape
from planner.core.protocols.matching import StructureMatchError, match_structures
from planner.core.protocols.protocol import load_protocol
from planner.dose.structure_dvh import sampled_structures
from plugins.imrt_photon.spine_phantom import spine_phantom

# the types a structure set would give the phantom's structures (RT ROI Interpreted Type)
TYPES = {"PTV": "PTV", "SpinalCord": "ORGAN", "SpinalCanal": "ORGAN", "Bone_Vertebra": "ORGAN",
         "Esophagus": "ORGAN", "Lung_L": "ORGAN", "Lung_R": "ORGAN", "External": "EXTERNAL"}


@pytest.fixture(scope="module")
def phantom():
    return spine_phantom(2.5)


def test_sbrt_protocol_on_the_spine_phantom(phantom):
    sbrt = load_protocol("spine-sbrt-16gy-1fx")
    mapping = match_structures(sbrt, TYPES)
    assert mapping == {"PTV": "PTV", "SpinalCord": "SpinalCord", "External": "External"}
    volume, mapping = derive_structures(phantom, sbrt, mapping)
    assert isinstance(volume.shapes["SpinalCord_PRV02"], GrownShape)
    assert isinstance(volume.shapes["PTV_Opt"], DifferenceShape)
    sampled = sampled_structures(volume)
    # the phantom's PTV starts 2.5 mm from the cord (a circle of 4.5 mm about the origin): beyond the
    # 2 mm PRV, so below the voxel PTV minus PRV is the whole PTV; the PRV reaches 4.5 + 2 mm
    opt, ptv, prv = (sampled.samples[n] for n in ("PTV_Opt", "PTV", "SpinalCord_PRV02"))
    np.testing.assert_array_equal(opt.inside, ptv.inside)
    xx, yy, _ = np.meshgrid(prv.x_mm, prv.y_mm, prv.z_mm, indexing="ij")
    reach = np.hypot(xx, yy).ravel()[prv.inside].max()
    half_diagonal = np.hypot(*prv.spacing_mm[:2]) / 2   # the margin rule errs outward by at most this
    assert 6.5 - half_diagonal <= reach <= 6.5 + half_diagonal
    dvhs = sampled.dvhs(np.full(volume.grid.shape, 12.0))
    report = evaluate_goals(sbrt, mapping, dvhs, TYPES)
    rows = {(r.structure, r.goal): r for r in report.rows}
    assert (rows["SpinalCord", "D0.03cc"].value, rows["SpinalCord", "D0.03cc"].met) == (pytest.approx(12.0), True)
    assert (rows["SpinalCord", "D0.35cc"].value, rows["SpinalCord", "D0.35cc"].met) == (pytest.approx(12.0), False)
    assert (rows["PTV", "V16Gy"].value, rows["PTV", "V16Gy"].met) == (0.0, False)
    watched = {name for name, goal in rows if goal == "Dmean"}
    assert watched == {"SpinalCanal", "Bone_Vertebra", "Esophagus", "Lung_L", "Lung_R"}
    assert all(rows[name, "Dmean"].value == pytest.approx(12.0) and rows[name, "Dmean"].met is None for name in watched)
    assert report.warnings == ()


def test_a_protocol_organ_the_ct_lacks_stops_naming_it():
    with pytest.raises(StructureMatchError) as error:
        match_structures(load_protocol("tg119-c-shape"), TYPES)
    assert str(error.value).startswith("protocol structure Core (organ) is not on this CT: map it to one of ")
