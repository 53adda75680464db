"""The semi-automatic outline: one click inside the demo tumour proposes an outline close to the truth."""

import numpy as np
import pytest

from planner.core.outline import LesionOutline
from planner.dose.metrics import polygon_mask
from planner.imaging import make_dermal_ultrasound
from planner.imaging.lesion_proposal import ProposalError, propose_lesion_outline


@pytest.fixture(scope="module")
def case():
    return make_dermal_ultrasound(seed=20240611)


def rasterise(vertices_mm, calibration, shape):
    rows, cols = shape
    x_mm, y_mm = calibration.pixel_to_mm(np.arange(cols), np.arange(rows))
    mask = np.zeros(shape, dtype=bool)
    row_slice, col_slice, box = polygon_mask(LesionOutline(vertices_mm), np.asarray(x_mm), np.asarray(y_mm))
    mask[row_slice, col_slice] = box
    return mask


def skin_of(case):
    return case.skin_line.depth_at


def test_a_click_in_the_tumour_proposes_an_outline_that_overlaps_the_truth(case):
    rr, cc = np.nonzero(case.tumour_mask)
    seed = case.calibration.pixel_to_mm(int(np.median(cc)), int(np.median(rr)))
    vertices = propose_lesion_outline(case.pixels_u8, case.calibration, tuple(map(float, seed)), skin_of(case))
    proposed = rasterise(vertices, case.calibration, case.tumour_mask.shape)
    truth = case.tumour_mask
    dice = 2 * (proposed & truth).sum() / (proposed.sum() + truth.sum())
    assert dice >= 0.80, f"Dice {dice:.2f}"
    depth = LesionOutline(vertices).max_depth_below_skin_mm(skin_of(case))
    # Within 0.2 mm (8 axial pixels at 0.025 mm) of the generator's deepest tumour point.
    assert depth == pytest.approx(case.tumour_max_depth_below_skin_mm, abs=0.2)


def test_a_click_in_bright_dermis_is_refused_with_the_reason(case):
    rr, cc = np.nonzero(case.tumour_mask)
    col = int(cc.max()) + 80  # well lateral of the tumour, in the dermis just below the skin
    skin_y = case.skin_line.depth_at(float(case.calibration.pixel_to_mm(col, 0)[0]))
    seed = (float(case.calibration.pixel_to_mm(col, 0)[0]), skin_y + 0.5)
    with pytest.raises(ProposalError, match="not in a dark"):
        propose_lesion_outline(case.pixels_u8, case.calibration, seed, skin_of(case))


def test_a_click_above_the_skin_or_outside_the_image_is_refused(case):
    with pytest.raises(ProposalError, match="above the skin"):
        propose_lesion_outline(case.pixels_u8, case.calibration, (0.0, 0.2), skin_of(case))
    with pytest.raises(ProposalError, match="outside the image"):
        propose_lesion_outline(case.pixels_u8, case.calibration, (100.0, 5.0), skin_of(case))
