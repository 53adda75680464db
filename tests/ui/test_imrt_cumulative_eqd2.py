"""The cumulative EQD2 of a re-irradiation on the slice and in the DVH (issue 18, point 4's last
sentence), on the thoracic-spine phantom planned with spine-sbrt-16gy-1fx (2.5 mm dose grid) and its
earlier course of 30 Gy in 10 fractions, cut here to |x| ≤ 30 mm so part of the slice has no
earlier dose. Checked against an independent computation: pydicom reads the earlier RT Dose and RT
Plan, SciPy interpolates the earlier dose trilinearly, and EQD2 = D (d + α/β) / (2 + α/β) is taken
by hand with the limit, α/β and fractions read from the protocol file itself."""

import json
import re
from dataclasses import replace

import numpy as np
import pydicom
import pytest
from PySide6.QtCore import Qt
from pydicom.uid import generate_uid
from scipy.interpolate import RegularGridInterpolator

from planner.ui.imrt.cumulative_view import CumulativeEqd2
from tests.ui.test_imrt_protocol import ROOT, SBRT, optimise, undo
from tests.ui.test_imrt_protocol_prior import (check_the_cumulative_eqd2_limits_after_optimise, load, sbrt_window,  # noqa: F401
                                               spine)  # spine: a fixture

PROTOCOL = json.loads((ROOT / "resources" / "protocols" / f"{SBRT}.json").read_text(encoding="utf-8"))
LIMIT_GY = PROTOCOL["reirradiation"]["cumulative_eqd2_gy"]["value"]       # 70 Gy (Sahgal et al. 2012)
ALPHA_BETA_GY = PROTOCOL["alpha_beta_gy"]["SpinalCord"]["value"]          # 2 Gy
FRACTIONS = PROTOCOL["prescription"]["fractions"]["value"]                # 1
HALF_WIDTH_MM = 30.0   # the earlier dose kept at |x| ≤ this


def eqd2(total_gy, fractions, alpha_beta_gy):
    """EQD2 = D (d + α/β) / (2 + α/β), d = D / n."""
    return total_gy * (total_gy / fractions + alpha_beta_gy) / (2.0 + alpha_beta_gy)


@pytest.fixture(scope="module")
def cropped_prior(spine, tmp_path_factory):
    """The phantom's earlier RT Dose cut to |x| ≤ 30 mm (the cord and its canal inside), same plan."""
    ds = pydicom.dcmread(spine.prior_dose)
    x = float(ds.ImagePositionPatient[0]) + np.arange(ds.Columns) * float(ds.PixelSpacing[1])
    keep = np.flatnonzero(np.abs(x) <= HALF_WIDTH_MM)
    pixels = np.ascontiguousarray(ds.pixel_array[:, :, keep[0]:keep[-1] + 1])
    ds.PixelData, ds.Columns = pixels.tobytes(), pixels.shape[2]
    ds.ImagePositionPatient = [float(x[keep[0]]), *ds.ImagePositionPatient[1:]]
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    out = tmp_path_factory.mktemp("cropped") / "RTDOSE_cropped.dcm"
    ds.save_as(out)
    return out


def earlier_eqd2_by_hand(rtdose, rtplan, x_mm, y_mm, z_mm):
    """The earlier course's EQD2 at points: pydicom's reading, SciPy's trilinear interpolation
    (NaN beyond the outer voxel centres), the fractions from the RT Plan."""
    ds = pydicom.dcmread(rtdose)
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    offsets = np.array([float(v) for v in ds.GridFrameOffsetVector])
    assert offsets[0] == 0.0   # relative to Image Position (Patient)
    x0, y0, z0 = (float(v) for v in ds.ImagePositionPatient)
    axes = (z0 + offsets, y0 + np.arange(ds.Rows) * float(ds.PixelSpacing[0]),
            x0 + np.arange(ds.Columns) * float(ds.PixelSpacing[1]))
    total = RegularGridInterpolator(axes, ds.pixel_array * float(ds.DoseGridScaling), bounds_error=False,
                                    fill_value=np.nan)(np.column_stack([a.ravel() for a in np.broadcast_arrays(z_mm, y_mm, x_mm)]))
    fractions = int(pydicom.dcmread(rtplan).FractionGroupSequence[0].NumberOfFractionsPlanned)
    assert fractions == 10
    return eqd2(total, fractions, ALPHA_BETA_GY)


def d_at_cc(curve, structure_cc: float, volume_cc: float) -> float:
    """D_v read off a drawn cumulative curve (dose ascending, volume % falling), linearly."""
    dose, volume = curve
    return float(np.interp(100.0 * volume_cc / structure_cc, volume[::-1], dose[::-1]))


def test_the_cumulative_eqd2_is_drawn_checked_by_hand_and_follows_the_earlier_course(qtbot, spine, cropped_prior,
                                                                                     tmp_path):
    main, window = sbrt_window(qtbot, spine)
    assert isinstance(window.cumulative_eqd2, CumulativeEqd2)   # the window makes it
    view, dvh = window.slice_view, window.dvh
    assert not view.dose_choice.isVisibleTo(view)   # no earlier course: nothing to choose
    load(qtbot, window, cropped_prior, spine.prior_plan)
    assert window.document.context.prior is not None, window.last_problem
    assert view.dose_choice.isVisibleTo(view) and not view.dose_choice.isEnabled()   # no dose yet
    assert [view.dose_choice.itemText(i) for i in range(view.dose_choice.count())] == [
        "this course (Gy)", f"cumulative EQD2, α/β {ALPHA_BETA_GY:g} Gy (SpinalCord)"]
    optimise(qtbot, window, 5)
    # this course's physical dose by default, as without an earlier course
    assert view.dose_choice.currentIndex() == 0 and not view.cumulative_note.isVisibleTo(view)
    assert view.isodose_legend_texts()[0] == "Isodoses, % of 16 Gy prescribed"
    qtbot.keyClick(view.dose_choice, Qt.Key.Key_Down)
    assert view.shows_cumulative
    assert view.isodose_legend_texts() == [f"Cumulative EQD2 (α/β {ALPHA_BETA_GY:g} Gy, both courses)",
                                           f"EQD2 {LIMIT_GY:g} Gy · limit", *(f"EQD2 {LIMIT_GY - d:g} Gy"
                                                                            for d in (10, 20, 30, 45))]
    assert view.cumulative_note.isVisibleTo(view)
    assert view.cumulative_note.text() == (
        f"⚠ A figure for SpinalCord only: EQD2 at its α/β {ALPHA_BETA_GY:g} Gy everywhere (other tissues' differ); "
        "the limit is on its D0.03cc. Blank where the earlier dose is not known.")

    # the whole shown slice at the voxel centres against the independent computation: both courses'
    # EQD2, this course's dose (one fraction) taken at the same voxel
    grid, k = window.volume.grid, view.slice_index
    xx, yy = np.meshgrid(grid.x_mm, grid.y_mm, indexing="ij")
    new_gy = view.dose_gy[:, :, k]
    by_hand = earlier_eqd2_by_hand(cropped_prior, spine.prior_plan, xx, yy, grid.z_mm[k]).reshape(xx.shape) \
        + eqd2(new_gy, FRACTIONS, ALPHA_BETA_GY)
    raster_i = [int(np.flatnonzero(np.isclose(view.raster_x_mm, x))[0]) for x in grid.x_mm]
    raster_j = [int(np.flatnonzero(np.isclose(view.raster_y_mm, y))[0]) for y in grid.y_mm]
    shown = view.plane_gy[np.ix_(raster_j, raster_i)].T        # [x, y] at the voxel centres
    known = np.abs(grid.x_mm) <= HALF_WIDTH_MM
    inside = np.isfinite(by_hand)   # SciPy's NaN: outside the earlier grid's outer voxel centres
    assert inside[known].mean() > 0.85   # all but the outermost rows and columns
    assert np.allclose(shown[inside], by_hand[inside], rtol=0, atol=1e-6)
    assert np.isnan(shown[np.abs(grid.x_mm) > HALF_WIDTH_MM + 2.5]).all()   # beyond the earlier grid's faces
    assert np.nanmax(by_hand[known]) > LIMIT_GY - 45   # some lines are on this slice
    # the cord's centre voxel on the readout, to its two decimals
    i, j = int(np.argmin(np.abs(grid.x_mm))), int(np.argmin(np.abs(grid.y_mm)))
    text = view.readout_at(float(grid.x_mm[i]), float(grid.y_mm[j]))
    found = re.search(r"dose (\d+\.\d\d) Gy \(this course\) · EQD2 (\d+\.\d\d) Gy \(α/β 2 Gy, both courses\)", text)
    assert found, text
    assert abs(float(found[1]) - new_gy[i, j]) <= 0.005 + 1e-9 and abs(float(found[2]) - by_hand[i, j]) <= 0.005 + 1e-9
    assert "in SpinalCord" in text
    far = view.readout_at(100.0, float(grid.y_mm[j]))
    assert "(this course) · earlier dose not known here" in far and "EQD2" not in far, far

    # every line point lies on its level of the slice by hand (bilinear between voxel centres, as
    # the lines are traced) and none where the earlier dose is not known
    inner = RegularGridInterpolator((grid.x_mm[known], grid.y_mm), by_hand[known], bounds_error=False,
                                    fill_value=np.nan)
    drawn = 0
    for level, line in zip(view.isodose_levels, view.isodose_lines):
        xs, ys = line.getData()
        assert line.isVisible()
        assert xs.size == 0 or np.abs(xs).max() < HALF_WIDTH_MM + 2.5, level.label
        values = inner(np.column_stack((xs, ys)))
        assert np.allclose(values[~np.isnan(values)], level.dose_gy, atol=1e-6), level.label
        drawn += xs.size
    assert drawn > 100
    # the colour wash of the same values, on a bar in EQD2 to 120 % of the limit, blank where not known
    view.wash_check.setChecked(True)
    assert view.wash.isVisible() and np.array_equal(view.wash.image, view.plane_gy, equal_nan=True)
    assert np.isnan(view.wash.image).any()
    assert view.colour_bar.getAxis("left").labelText == f"EQD2 [Gy] (α/β {ALPHA_BETA_GY:g} Gy)"
    assert view.colour_bar.levels() == pytest.approx((0.0, 1.2 * LIMIT_GY))
    view.wash_check.setChecked(False)

    # the DVH: the cord's cumulative EQD2 dashed in the cord's colour, beside the physical curves,
    # named in the key under the plot; its D0.03cc is the Earlier course panel's cumulative value
    name = f"SpinalCord cumulative EQD2 (α/β {ALPHA_BETA_GY:g})"
    assert list(dvh.eqd2_curves) == [name]
    assert dvh.key_text().startswith("━━━━━ PTV   ━━━━━ SpinalCord   ") and dvh.key_text().endswith(f"   ━ ━ ━ {name}")
    pen = dvh.eqd2_curves[name].opts["pen"]
    assert pen.style() == Qt.PenStyle.DashLine
    assert pen.color().name() == dvh.curves["SpinalCord"].opts["pen"].color().name()
    assert dvh.plot.getPlotItem().getAxis("bottom").labelText == "Dose [Gy] solid, EQD2 [Gy] dashed"
    assert dvh.eqd2_limit_line.isVisible() and dvh.eqd2_limit_line.value() == LIMIT_GY
    rows = {r[0]: r for r in window.prior_panel.limit_texts()}
    cumulative = float(rows[f"cumulative EQD2 D0.03cc ≤ {LIMIT_GY:g} Gy"][1].split()[0])
    cord_cc = window.document.context.protocol.reirradiation.samples.volume_cc
    assert d_at_cc(dvh.eqd2_curve_data(name), cord_cc, 0.03) == pytest.approx(cumulative, abs=0.005)
    # the four limits in the Earlier course panel by hand, and the exported report's section
    check_the_cumulative_eqd2_limits_after_optimise(qtbot, window, tmp_path)

    # an edit after Optimise: the cumulative views stay, said to be the previous optimisation's, as
    # the physical dose is; undone, they are current again
    plan = window.plan
    first = plan.objectives[0]
    window.apply_edit(replace(plan, objectives=(replace(first, weight=2 * first.weight), *plan.objectives[1:])),
                      "Double a weight")
    assert window.is_stale and view.shows_cumulative
    assert view.cumulative_note.text().startswith("⚠ Of the previous optimisation's dose, not of the current plan.")
    assert any(line.getData()[0].size for line in view.isodose_lines) and list(dvh.eqd2_curves) == [name]
    undo(qtbot, window)
    assert not window.is_stale and view.cumulative_note.text().startswith("⚠ A figure for SpinalCord only")

    # undo back to before the earlier course: the choice, the lines and the broken curves go
    while window.document.context.prior is not None:
        undo(qtbot, window)
    assert not view.dose_choice.isVisibleTo(view) and not view.shows_cumulative
    assert not view.cumulative_note.isVisibleTo(view)
    assert view.isodose_legend_texts()[0] == "Isodoses, % of 16 Gy prescribed"
    assert view.colour_bar.getAxis("left").labelText == "Dose [Gy]"
    assert view.readout_at(0.0, 0.0).count("EQD2") == 0
    assert dvh.eqd2_curves == {} and not dvh.eqd2_limit_line.isVisible() and "EQD2" not in dvh.key_text()
    assert dvh.plot.getPlotItem().getAxis("bottom").labelText == "Dose [Gy]"
    # redo brings the choice back (this course's dose shown); Remove Earlier Course takes it away
    window.redo_action.trigger()
    assert view.dose_choice.isVisibleTo(view) and view.dose_choice.currentIndex() == 0
    assert list(dvh.eqd2_curves) == [name]
    window.remove_prior_action.trigger()
    assert not view.dose_choice.isVisibleTo(view) and dvh.eqd2_curves == {}
    window.close()
