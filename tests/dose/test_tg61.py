"""TG-61 tables: transcription and interpolation against the worked values of physics-data §2.4 (±0.001)."""

import numpy as np
import pytest

from planner.dose import tg61
from planner.dose.tg61 import tg61_backscatter_factor, tg61_mu_en_ratio_water_air

# physics-data §2.4 (DERIVED there by linear interpolation in the §2.2/§2.3 tables).
MU_EN_RATIO = {0.52: 1.0276, 1.15: 1.0185, 1.85: 1.0177, 2.20: 1.0186}
BW = {  # hvl: {ssd: (d = 1, 2, 3, 5 cm)}
    0.52: {10: (1.0364, 1.0592, 1.0708, 1.0814), 20: (1.0366, 1.0602, 1.0706, 1.0822)},
    1.15: {10: (1.0475, 1.0868, 1.1082, 1.1342), 20: (1.0482, 1.0875, 1.1103, 1.1400)},
    2.20: {10: (1.0564, 1.1080, 1.1398, 1.1838), 20: (1.0578, 1.1088, 1.1420, 1.1894)},
}


@pytest.mark.parametrize("hvl, expected", MU_EN_RATIO.items())
def test_table_iv_interpolation(hvl, expected):
    assert tg61_mu_en_ratio_water_air(hvl) == pytest.approx(expected, abs=1e-3)


def test_table_iv_nodes_and_copper():
    assert tg61_mu_en_ratio_water_air(1.0) == 1.020
    assert tg61_mu_en_ratio_water_air(8.0) == 1.045
    assert tg61_mu_en_ratio_water_air(0.5, "mm Cu") == 1.050
    with pytest.raises(ValueError):
        tg61_mu_en_ratio_water_air(9.0)
    with pytest.raises(ValueError):
        tg61_mu_en_ratio_water_air(1.0, "mm Pb")


@pytest.mark.parametrize("hvl", BW)
@pytest.mark.parametrize("ssd", (10, 20))
def test_table_v_interpolation(hvl, ssd):
    for d, expected in zip((1, 2, 3, 5), BW[hvl][ssd]):
        assert tg61_backscatter_factor(hvl, d, ssd) == pytest.approx(expected, abs=1e-3)


def test_table_v_nodes_shapes_and_overlap():
    assert tg61_backscatter_factor(2.0, 10, 100) == 1.245
    assert tg61_backscatter_factor(0.04, 1, 1.5) == 1.001
    assert np.shape(tg61._TABLE5A_BW) == (5, 7, 19)
    assert np.shape(tg61._TABLE5B_BW) == (5, 7, 22)
    # The two tables overlap at SSD 10 cm and agree there within 0.001 (physics-data §2.3).
    a = np.array(tg61._TABLE5A_BW)[-1]
    b = np.array(tg61._TABLE5B_BW)[0][:, :19]
    assert np.abs(a - b).max() <= 0.001 + 1e-12
    # B_w grows with field size at every SSD and HVL, as physics requires.
    assert np.all(np.diff(np.array(tg61._TABLE5B_BW), axis=1) >= 0)


def test_table_v_refuses_to_extrapolate():
    with pytest.raises(ValueError):
        tg61_backscatter_factor(5.0, 2, 5)      # short-SSD table stops at 4 mm Al
    with pytest.raises(ValueError):
        tg61_backscatter_factor(1.0, 0.5, 20)
