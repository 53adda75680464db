"""DVH points of an exported plan by dicompyler-core, the usual third-party DVH code, sampling below the voxel.

Run with the reference environment's Python (.venv-reference, made by scripts/setup.sh; dicompyler-core
0.5.6 needs pydicom 2, Planner has pydicom 3): ``python dicompyler_dvh.py RTSTRUCT RTDOSE --roi PTV --roi
Core [--subdivisions N] [--in-plane-mm MM] [--cell-centres] [--near-max-cc CC ...] [--volume-at-gy GY ...]``;
prints JSON. Nothing of Planner is imported: only the two DICOM files are read.

How it samples below the voxel, with dicompyler-core's own DVH code (dvhcalc.get_dvh: each structure plane
filled by matplotlib's point-in-polygon test at the dose grid's points, XOR of a plane's contours, volume
from the plane thickness, 1 cGy bins):

- In-plane: the RT Dose is resampled by SciPy's trilinear RegularGridInterpolator to a grid of
  pixel / N (N = ceil(pixel / ``--in-plane-mm``), default 0.5 mm: 0.5 mm for 5 and 2.5 mm doses) over the
  structures' extent, and dicompyler-core computes on that grid without its own interpolation. The grid starts
  one pixel below the structures' lowest x and y; with ``--cell-centres`` each ROI gets its own grid, at the
  centres of cells tiling its contours' bounding box from its lowest x and y (the lattice a sub-voxel DVH
  such as Planner's samples), so the two can be compared point for point: at a surface facing a steep
  fall-off a 0.03 cc near-maximum moves by about 1 % with the lattice's phase alone. Why not its
  ``interpolation_resolution``: in 0.5.6 the resampled image and the lookup table it is paired with
  disagree (the image is rescaled from the first N-1 columns by skimage while the table spans N
  columns), so the dose is shifted by up to half a voxel, 2.5 mm at the centre of a 5 mm grid,
  measured here on a linear ramp; dicompyler-core pull request 192 reports the same shift. On the
  TG-119 export that shift alone moved core D10 from 13 to 22 Gy.
- Along z: each contour stands for a slab of the contour spacing (the DICOM reading, which Planner's
  reader uses too); the slab is split into ``--subdivisions`` planes (default 5: 1 mm for 5 mm
  slices, 0.5 mm for 2.5 mm) carrying the same contour, and the resampled dose has a plane at each.
  dicompyler-core's own ``interpolation_segments_between_planes`` only fills between the first and
  last contour, leaving out half a slab at each end of a structure. The planes' thickness (slab /
  subdivisions) is given to get_dvh: dicompyler-core's own reading of it, the smallest gap between its
  plane keys rounded to 0.01 mm, makes planes 0.25 mm apart at x.125 mm 0.24 mm thick, the volume 4 % low.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from scipy.interpolate import RegularGridInterpolator

import dicompylercore
from dicompylercore import dvhcalc

FINEST_IN_PLANE_MM = 0.5
NEAR_MAX_CC = 0.03


def contour_planes(rtstruct: Dataset, roi_number: int) -> dict[float, list]:
    """The ROI's CLOSED_PLANAR contours by plane z (mm)."""
    planes: dict[float, list] = {}
    for item in rtstruct.ROIContourSequence:
        if int(item.ReferencedROINumber) != roi_number:
            continue
        for contour in item.get("ContourSequence", []):
            data = np.asarray([float(v) for v in contour.ContourData]).reshape(-1, 3)
            planes.setdefault(round(float(data[0, 2]), 3), []).append(contour)
    return planes


def slab_mm(rtstruct: Dataset, roi_number: int) -> float:
    """The ROI's contour spacing, the slab each contour stands for."""
    z = sorted(contour_planes(rtstruct, roi_number))
    slab = float(min(np.diff(z))) if len(z) > 1 else 0.0
    if slab <= 0:
        raise SystemExit(f"ROI {roi_number}: one contour plane, no slab thickness to split")
    return slab


def with_sub_planes(rtstruct: Dataset, roi_numbers: list[int], subdivisions: int) -> tuple[Dataset, list[float]]:
    """A copy of the structure set whose contours each stand on `subdivisions` planes across their slab
    (the contour spacing), and the z of every plane written."""
    out = copy.deepcopy(rtstruct)
    all_z: set[float] = set()
    for item in out.ROIContourSequence:
        number = int(item.ReferencedROINumber)
        if number not in roi_numbers or "ContourSequence" not in item:
            continue
        planes = contour_planes(out, number)
        z, slab = sorted(planes), slab_mm(out, number)
        contours = []
        for z0 in z:
            for i in range(subdivisions):
                zi = round(z0 - slab / 2 + (i + 0.5) * slab / subdivisions, 3)
                all_z.add(zi)
                for contour in planes[z0]:
                    c = copy.deepcopy(contour)
                    data = np.asarray([float(v) for v in contour.ContourData]).reshape(-1, 3)
                    data[:, 2] = zi
                    c.ContourData = [f"{v:.4f}" for v in data.ravel()]
                    c.ContourNumber = len(contours) + 1
                    contours.append(c)
        item.ContourSequence = Sequence(contours)
    return out, sorted(all_z)


def resampled_dose(rtdose: Dataset, x_range: tuple[float, float], y_range: tuple[float, float],
                   z_planes: list[float], subdivisions_xy: int) -> Dataset:
    """The RT Dose trilinearly resampled (SciPy) to pixel / subdivisions in-plane over the ranges, with a
    plane at each z of z_planes (held at the edge planes beyond the grid)."""
    if [float(v) for v in rtdose.ImageOrientationPatient] != [1, 0, 0, 0, 1, 0]:
        raise SystemExit("only axial, head-first RT Dose grids are handled")
    dose = rtdose.pixel_array.astype(np.float64) * float(rtdose.DoseGridScaling)   # [z, y, x]
    x0, y0, z0 = (float(v) for v in rtdose.ImagePositionPatient)
    row_mm, col_mm = (float(v) for v in rtdose.PixelSpacing)
    z = z0 + np.asarray([float(v) for v in rtdose.GridFrameOffsetVector])
    y = y0 + np.arange(rtdose.Rows) * row_mm
    x = x0 + np.arange(rtdose.Columns) * col_mm
    interpolate = RegularGridInterpolator((z, y, x), dose, method="linear")
    step_x, step_y = col_mm / subdivisions_xy, row_mm / subdivisions_xy
    fx = np.clip(np.arange(x_range[0], x_range[1] + step_x / 2, step_x), x[0], x[-1])
    fy = np.clip(np.arange(y_range[0], y_range[1] + step_y / 2, step_y), y[0], y[-1])
    fz = np.asarray(z_planes)
    Y, X = np.meshgrid(fy, fx, indexing="ij")
    fine = np.stack([interpolate(np.stack([np.full(X.shape, zi), Y, X], axis=-1))   # a plane at a time: memory
                     for zi in np.clip(fz, z[0], z[-1])])
    scaling = max(float(fine.max()), 1e-9) / 4.0e9
    out = copy.deepcopy(rtdose)
    out.BitsAllocated, out.BitsStored, out.HighBit, out.PixelRepresentation = 32, 32, 31, 0
    out.Rows, out.Columns, out.NumberOfFrames = fy.size, fx.size, fz.size
    out.PixelSpacing = [f"{step_y:.6f}", f"{step_x:.6f}"]
    out.ImagePositionPatient = [f"{fx[0]:.4f}", f"{fy[0]:.4f}", f"{fz[0]:.4f}"]
    out.GridFrameOffsetVector = [f"{v:.4f}" for v in fz - fz[0]]
    out.DoseGridScaling = f"{scaling:.10e}"
    out.PixelData = np.round(fine / float(out.DoseGridScaling)).astype(np.uint32).tobytes()
    return out


def points(dvh, near_max_cc=(NEAR_MAX_CC,), volumes_at_gy=()) -> dict:
    """dicompyler-core's own DVH statistics (cumulative DVH, 1 cGy bins): its D at each absolute volume
    (key d0_03cc_gy for 0.03 cc) and its relative V at each dose (key v16gy_percent for 16 Gy)."""
    out = {"volume_cc": float(dvh.volume), "d98_gy": float(dvh.D98.value), "d95_gy": float(dvh.D95.value),
           "d50_gy": float(dvh.D50.value), "d10_gy": float(dvh.D10.value), "d2_gy": float(dvh.D2.value),
           "mean_gy": float(dvh.mean)}
    for cc in near_max_cc:
        out[f"d{cc:g}cc_gy".replace(".", "_")] = (float(dvh.statistic(f"D{cc:g}cc").value) if dvh.volume >= cc
                                                  else float("nan"))
    for gy in volumes_at_gy:
        out[f"v{gy:g}gy_percent".replace(".", "_")] = float(dvh.relative_volume.volume_constraint(gy, "Gy").value)
    return out


def in_plane_subdivisions(rtdose: Dataset, in_plane_mm: float) -> int:
    """How many resampled points per dose pixel: the fewest that make the step at most `in_plane_mm`."""
    pixel = max(float(v) for v in rtdose.PixelSpacing)
    return max(1, math.ceil(pixel / in_plane_mm - 1e-9))


def sub_voxel(rtstruct: Dataset, rtdose: Dataset, wanted: list[int], subdivisions: int, in_plane_mm: float,
              cell_centres: bool) -> tuple[Dataset, Dataset]:
    """The structure set with its slabs split into planes and the dose resampled below the voxel over the
    `wanted` ROIs' extent (see the module text)."""
    structures, z_planes = with_sub_planes(rtstruct, wanted, subdivisions)
    xy = np.concatenate([np.asarray([float(v) for v in c.ContourData]).reshape(-1, 3)[:, :2]
                         for n in wanted for cs in contour_planes(rtstruct, n).values() for c in cs])
    pixel = max(float(v) for v in rtdose.PixelSpacing)
    subdivisions_xy = in_plane_subdivisions(rtdose, in_plane_mm)
    ranges = []
    for axis, step in ((0, float(rtdose.PixelSpacing[1]) / subdivisions_xy),
                       (1, float(rtdose.PixelSpacing[0]) / subdivisions_xy)):
        lo, hi = xy[:, axis].min() - pixel, xy[:, axis].max() + pixel
        if cell_centres:   # the first point half a step inside the bounding box, the margin in whole steps
            lo = xy[:, axis].min() + step / 2 - math.ceil(pixel / step) * step
        ranges.append((lo, hi))
    return structures, resampled_dose(rtdose, ranges[0], ranges[1], z_planes, subdivisions_xy)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rtstruct")
    parser.add_argument("rtdose")
    parser.add_argument("--roi", action="append", required=True, help="ROI name (repeat for several)")
    parser.add_argument("--subdivisions", type=int, default=5, help="planes per contour slab (default 5)")
    parser.add_argument("--in-plane-mm", type=float, default=FINEST_IN_PLANE_MM,
                        help=f"finest in-plane resampling step (default {FINEST_IN_PLANE_MM} mm)")
    parser.add_argument("--cell-centres", action="store_true",
                        help="each ROI on its own grid at the cell centres of its bounding box (see the text)")
    parser.add_argument("--near-max-cc", type=float, action="append",
                        help=f"a D at this absolute volume, cc (repeat; default {NEAR_MAX_CC})")
    parser.add_argument("--volume-at-gy", type=float, action="append", default=[],
                        help="a relative V at this dose, Gy (repeat)")
    parser.add_argument("--as-exported", action="store_true",
                        help="dicompyler-core on the files as they are (voxel centres, no sub-voxel sampling)")
    args = parser.parse_args(argv)
    rtstruct, rtdose = pydicom.dcmread(args.rtstruct), pydicom.dcmread(args.rtdose)
    numbers = {str(r.ROIName): int(r.ROINumber) for r in rtstruct.StructureSetROISequence}
    missing = [n for n in args.roi if n not in numbers]
    if missing:
        raise SystemExit(f"no ROI named {', '.join(missing)} in {args.rtstruct}")
    wanted = [numbers[n] for n in args.roi]
    if args.in_plane_mm <= 0 or args.subdivisions < 1:
        raise SystemExit("--in-plane-mm must be above 0 and --subdivisions at least 1")
    if args.as_exported:
        sampled = {n: (rtstruct, rtdose) for n in wanted}
        how = "as exported: dose-grid points, contour planes"
    else:
        groups = [[n] for n in wanted] if args.cell_centres else [wanted]
        sampled = {}
        for group in groups:
            pair = sub_voxel(rtstruct, rtdose, group, args.subdivisions, args.in_plane_mm, args.cell_centres)
            sampled.update({n: pair for n in group})
        step = max(float(v) for v in rtdose.PixelSpacing) / in_plane_subdivisions(rtdose, args.in_plane_mm)
        where = " at each ROI's cell centres" if args.cell_centres else ""
        how = (f"dose resampled trilinearly (SciPy) to {step:g} mm in-plane{where}; each contour slab "
               f"split into {args.subdivisions} planes")
    result = {"dicompyler_core": dicompylercore.__version__, "pydicom": pydicom.__version__, "sampling": how,
              "rois": {}}
    for name, number in zip(args.roi, wanted):
        structures, dose = sampled[number]
        # the planes' thickness given, not read from rounded plane keys (see the module text)
        thickness = None if args.as_exported else slab_mm(rtstruct, number) / args.subdivisions
        result["rois"][name] = points(dvhcalc.get_dvh(structures, dose, number, thickness=thickness),
                                      args.near_max_cc or (NEAR_MAX_CC,), args.volume_at_gy)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
