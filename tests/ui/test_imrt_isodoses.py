"""The IMRT slice view's isodose lines and the findings above the goals, driven through the window
on the 10 mm TG-119 phantom (tests/ui/test_imrt_window.py's fixtures)."""

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from tests.ui.test_imrt_window import imrt, imrt_and_launcher, optimised  # noqa: F401 (fixtures)


def test_isodose_lines_lie_on_their_gy_levels_with_a_legend(imrt, qtbot):
    window = imrt
    view = window.slice_view
    assert not any(line.isVisible() for line in view.isodose_lines)   # no dose, no lines
    result = optimised(qtbot, window)

    # 105, 100, 95, 80, 50 and 20 % of 50 Gy
    assert [level.dose_gy for level in view.isodose_levels] == pytest.approx([52.5, 50.0, 47.5, 40.0, 25.0, 10.0])
    assert view.isodose_legend_texts() == ["Isodoses, % of 50 Gy prescribed", "52.5 Gy · 105 %",
                                           "50 Gy · 100 %", "47.5 Gy · 95 %", "40 Gy · 80 %",
                                           "25 Gy · 50 %", "10 Gy · 20 %"]
    assert view.isodose_legend.isVisible() and not view.wash.isVisible()

    # Every line point lies on its level of the dose as SciPy interpolates it (trilinear) from the
    # 10 mm grid: the lines are traced on the interpolated dose, not on 10 mm blocks.
    grid = window.volume.grid
    scipy_dose = RegularGridInterpolator((grid.x_mm, grid.y_mm, grid.z_mm), view.dose_gy)
    assert view.raster_x_mm[1] - view.raster_x_mm[0] <= 1.0
    for level, line in zip(view.isodose_levels, view.isodose_lines):
        xs, ys = line.getData()
        assert line.isVisible()
        if level.percent_of_prescription <= 95:   # the hot-spot and prescription lines may miss this slice
            assert xs.size > 20, level.label
        inside = (xs >= grid.x_mm[0]) & (xs <= grid.x_mm[-1]) & (ys >= grid.y_mm[0]) & (ys <= grid.y_mm[-1])
        points = np.column_stack((xs[inside], ys[inside], np.full(inside.sum(), view.slice_z_mm)))
        assert np.allclose(scipy_dose(points), level.dose_gy, atol=1e-6), level.label
    # a line bends between voxel centres: the 50 % line has points off the 10 mm voxel-centre lines
    xs, _ = view.isodose_lines[4].getData()
    assert np.unique(np.round(xs, 3)).size > 4 * np.unique(np.round(grid.x_mm, 3)).size / 2

    # the structures are outlined as the shapes the DVH samples, not as 10 mm voxels: the core is
    # TG-119's cylinder of 1.0 cm radius (Ezzell et al. 2009) about the isocentre's axis
    xs, ys = view.outlines["Core"].getData()
    assert xs.size > 100 and np.allclose(np.hypot(xs, ys), 10.0, atol=1e-9)

    # the hover readout is the same interpolated dose
    x, y = 12.3, -31.7
    text = view.readout_at(x, y)
    assert f"dose {float(scipy_dose([[x, y, view.slice_z_mm]])[0]):.2f} Gy" in text

    view.lines_check.setChecked(False)
    assert not any(line.isVisible() for line in view.isodose_lines) and not view.isodose_legend.isVisible()
    view.wash_check.setChecked(True)
    assert view.wash.isVisible() and view.colour_bar.isVisible()
    assert view.wash.image.shape == (view.raster_y_mm.size, view.raster_x_mm.size)   # fine, not 10 mm blocks

    # the hot-spot check shows above the goals, the body outside the PTV in Gy and % of the prescription
    findings = window.goals.findings
    assert findings.isVisible()
    assert "Body outside PTV D0.03cc " in findings.text() and " % of 50 Gy)" in findings.text()
    if window.goals.finding_texts:
        assert all(line.startswith("⚠ Finding: Hot spot outside the target: Body ")
                   for line in findings.text().splitlines())
    else:
        body = result.metrics["Body"].d0_03cc_gy
        assert findings.text().startswith(f"No hot spot outside the target: the Body's hottest 0.03 cc (D0.03cc "
                                          f"{body:.2f} Gy)")


def test_a_hot_spot_stands_above_the_goals_as_a_finding(qtbot):
    from planner.dose.hot_spot import HotSpotCheck
    from planner.ui.imrt.goals_table import GoalsTable

    table = GoalsTable()
    qtbot.addWidget(table)
    table.show()
    assert not table.findings.isVisible()   # no dose: nothing checked
    table.show_findings(HotSpotCheck("PTV", "Body", 56.3, 55.9, 56.1, same_samples=True))
    assert table.findings.isVisible() and "font-weight: bold" in table.findings.styleSheet()
    assert table.findings.text() == ("⚠ Finding: Hot spot outside the target: Body D0.03cc 56.30 Gy is above PTV "
                                     "D0.03cc 55.90 Gy (both at the Body's samples); Body outside PTV D0.03cc 56.10 Gy")
    layout = table.layout()
    assert layout.indexOf(table.findings) < layout.indexOf(table.goals)
    table.show_findings(HotSpotCheck("PTV", "Body", 55.9, 55.9, 50.2, same_samples=True))
    assert table.finding_texts == () and table.findings.styleSheet() == ""
    assert table.findings.text() == ("No hot spot outside the target: the Body's hottest 0.03 cc (D0.03cc 55.90 Gy) "
                                     "lies inside PTV; Body outside PTV D0.03cc 50.20 Gy")
