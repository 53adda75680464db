#!/usr/bin/env python3
"""Write the TG-119 C-shape phantom as a DICOM CT series with its RT Structure Set (synthetic).

Run: ``.venv/bin/python scripts/make_tg119_ct.py OUT_FOLDER [--spacing-mm 3]``. The water phantom
of plugins/imrt_photon/phantom.py gets an air margin around it (so the Body contour is a real
outline and the CT looks like a scan), then goes through planner.dicom.ct_series_writer. The output
is deterministic: UIDs derived from a fixed seed string and fixed dates, so running it again gives
byte-identical files (on the same pydicom and numpy). Nothing is committed: at 3 mm the series is
about 0.7 MB, made on demand (tests write it into a temporary folder).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # allow running without an editable install
    sys.path.insert(0, str(REPO_ROOT))

from planner.core.volume import PlanningVolume, VoxelGrid  # noqa: E402
from planner.dicom.ct_series_writer import write_ct_series  # noqa: E402
from plugins.imrt_photon.phantom import tg119_c_shape  # noqa: E402

PATIENT_NAME = "TG119^C-shape phantom"
PATIENT_ID = "TG119-CSHAPE"
UID_SEED = "planner-tg119-ct-v1"
CREATED = dt.datetime(2024, 6, 11, 9, 30, 0)
DEFAULT_SPACING_MM = 3.0
DEFAULT_AIR_MARGIN_MM = 10.0
AIR_DENSITY = 0.0   # written as -1000 HU, read back as the HU table's 0.001


def with_air_margin(volume: PlanningVolume, margin_mm: float) -> PlanningVolume:
    """The volume with whole voxels of air added on both sides in x and y (z unchanged)."""
    sx, sy, _ = volume.grid.spacing_mm
    nx, ny = int(round(margin_mm / sx)), int(round(margin_mm / sy))
    if nx == 0 and ny == 0:
        return volume
    g = volume.grid

    def extend(axis: np.ndarray, n: int, step: float) -> np.ndarray:
        return np.concatenate([axis[0] - step * np.arange(n, 0, -1), axis, axis[-1] + step * np.arange(1, n + 1)])

    pad = ((nx, nx), (ny, ny), (0, 0))
    return replace(volume, grid=VoxelGrid(extend(g.x_mm, nx, sx), extend(g.y_mm, ny, sy), g.z_mm),
                   density=np.pad(volume.density, pad, constant_values=AIR_DENSITY),
                   masks={name: np.pad(mask, pad, constant_values=False) for name, mask in volume.masks.items()})


def tg119_ct_volume(spacing_mm: float = DEFAULT_SPACING_MM,
                    air_margin_mm: float = DEFAULT_AIR_MARGIN_MM) -> PlanningVolume:
    """The TG-119 phantom as it is written: water box with PTV, Core and Body, air around."""
    phantom = tg119_c_shape(spacing_mm)
    return replace(with_air_margin(phantom, air_margin_mm),
                   description=f"TG-119 C-shape phantom CT ({spacing_mm:g} mm voxels, synthetic)")


def write_tg119_ct(folder: Path, spacing_mm: float = DEFAULT_SPACING_MM,
                   air_margin_mm: float = DEFAULT_AIR_MARGIN_MM) -> list[Path]:
    """Write the series and rtstruct.dcm into ``folder`` (replacing an earlier one); the paths."""
    return write_ct_series(tg119_ct_volume(spacing_mm, air_margin_mm), folder, PATIENT_NAME, PATIENT_ID,
                           uid_seed=f"{UID_SEED}-{spacing_mm:g}mm-{air_margin_mm:g}mm", created=CREATED,
                           overwrite=True, study_description="TG-119 C-shape phantom (synthetic, not a patient)",
                           series_description=f"TG-119 C-shape {spacing_mm:g} mm (synthetic)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (created if missing)")
    parser.add_argument("--spacing-mm", type=float, default=DEFAULT_SPACING_MM)
    parser.add_argument("--air-margin-mm", type=float, default=DEFAULT_AIR_MARGIN_MM)
    args = parser.parse_args(argv)
    paths = write_tg119_ct(args.out, args.spacing_mm, args.air_margin_mm)
    size_kb = sum(p.stat().st_size for p in paths) // 1024
    print(f"wrote {len(paths) - 1} CT slices and {paths[-1].name} into {args.out} ({size_kb} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
