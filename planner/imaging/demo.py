"""The bundled demo case: a synthetic dermal ultrasound DICOM plus its ground truth.

Why: a new user (and every test) can open a realistic case without patient data, and the truth
file lets tests check that loading, calibration and skin detection give the generator's numbers.
The files are produced by ``scripts/make_demo_case.py`` and committed in ``resources/demo``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .errors import ImageLoadError
from .loader import load_ultrasound
from .skin_surface import SkinLine
from .ultrasound import UltrasoundImage

__all__ = ["DemoCase", "DemoTruth", "demo_case_path", "demo_json_path", "load_demo_case",
           "DEMO_IMAGE_NAME", "DEMO_JSON_NAME"]

DEMO_IMAGE_NAME = "demo_ultrasound.dcm"
DEMO_JSON_NAME = "demo_case.json"


def demo_case_path() -> Path:
    """``resources/demo`` at the repository root (next to the ``planner`` package)."""
    return Path(__file__).resolve().parents[2] / "resources" / "demo"


def demo_json_path() -> Path:
    return demo_case_path() / DEMO_JSON_NAME


@dataclass(frozen=True)
class DemoTruth:
    """Ground truth of the synthetic image (mm)."""

    tumour_max_depth_below_skin_mm: float
    tumour_width_mm: float
    mm_per_pixel_x: float
    mm_per_pixel_y: float


@dataclass(frozen=True, eq=False)
class DemoCase:
    """The loaded demo image with the default lesion outline and the truth it was made with."""

    image: UltrasoundImage
    lesion_outline_mm: tuple[tuple[float, float], ...]
    skin_line: SkinLine
    truth: DemoTruth
    generator_seed: int
    json_path: Path


def load_demo_case(folder: str | Path | None = None) -> DemoCase:
    """Load ``demo_case.json`` and the image it names; raises ImageLoadError if inconsistent.

    The truth's pixel size is cross-checked against the calibration read from the DICOM file, so
    a demo file regenerated with different geometry cannot silently pair with stale truth.
    """
    base = Path(folder) if folder is not None else demo_case_path()
    json_file = base / DEMO_JSON_NAME
    try:
        spec = json.loads(json_file.read_text(encoding="utf-8"))
        image_name = spec["image"]
        truth_raw = spec["truth"]
        truth = DemoTruth(
            tumour_max_depth_below_skin_mm=float(truth_raw["tumour_max_depth_below_skin_mm"]),
            tumour_width_mm=float(truth_raw["tumour_width_mm"]),
            mm_per_pixel_x=float(truth_raw["mm_per_pixel_x"]),
            mm_per_pixel_y=float(truth_raw["mm_per_pixel_y"]),
        )
        outline = tuple((float(x), float(y)) for x, y in spec["lesion_outline_mm"])
        skin = SkinLine(tuple(float(p[0]) for p in spec["skin_line_mm"]),
                        tuple(float(p[1]) for p in spec["skin_line_mm"]))
        seed = int(spec["generator"]["seed"])
    except FileNotFoundError as exc:
        raise ImageLoadError(f"demo case not found: {json_file} is missing") from exc
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ImageLoadError(f"demo case file {json_file.name} is invalid: {exc}") from exc
    if len(outline) < 3:
        raise ImageLoadError(f"demo case file {json_file.name} has a lesion outline with fewer than 3 points")

    image = load_ultrasound(base / image_name)
    cal = image.calibration
    if cal is None or not (math.isclose(cal.mm_per_pixel_x, truth.mm_per_pixel_x, rel_tol=1e-12)
                           and math.isclose(cal.mm_per_pixel_y, truth.mm_per_pixel_y, rel_tol=1e-12)):
        raise ImageLoadError(f"demo case is inconsistent: {image_name} calibration {cal} does not "
                             f"match the truth in {json_file.name}")
    return DemoCase(image=image, lesion_outline_mm=outline, skin_line=skin, truth=truth,
                    generator_seed=seed, json_path=json_file)
