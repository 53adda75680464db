"""Single bixels of TG-119, Planner's pencil beam against pyRadPlan's, voxel by voxel on the same dose grid (issue 14).

    bash benchmarks/pyradplan_env.sh      # once: pyRadPlan 0.5.0 in its own venv
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/tg119_bixel_columns.py [--grid-mm 5] [--work DIR]

pyRadPlan (its own environment, a subprocess) loads its TG119.mat, generates the stf of 9 beams (0, 40, ...
320 deg, 5 mm bixels), computes its dose-influence matrix on the `--grid-mm` dose grid and exports it with the
geometry (dose grid, HU, masks, isocentre, every ray's BEV and patient position, source points). The export is
kept in `--work` (default: a temporary directory) and reused when present. Planner then computes its own matrix
(plugins/imrt_photon/pencil_beam.py as it is in the working tree, default BeamSettings) for exactly those bixels
(u = BEV x, v = BEV z, checked here against pyRadPlan's ray_pos: residual must be < 0.01 mm) on the same voxels
(density 1 + HU/1000, 0 outside BODY), and the columns of three bixels of beam 0 are compared: the central ray,
the outermost ray in z = 0, and the ray nearest the centre that crosses the PTV but not the Core while passing
within 7.5 mm of it. Printed per bixel: non-zeros, sum, maximum, the largest iso-plane radius stored, sums and
counts in radial bins, the depth dose on the ray and lateral profiles at ~20, 70, 140 mm depth (P = pyRadPlan,
Q = Planner), then the whole-matrix sums.

What it showed at 5 and 2.5 mm (Planner at 929f9aa): Planner's dose is ~1.22x pyRadPlan's everywhere (its bixel
fluence is 11 x 11 samples of 0.5 mm, |x| <= 2.5 mm inclusive, 30.25 mm^2, against matRad's
ones(floor(5/0.5)) = 10 x 10, 25 mm^2); pyRadPlan stores every voxel within 50 mm (iso plane) of the ray,
Planner every voxel within 20 mm and a random 10 % (x 10) out to 60 mm, hence 3.5x fewer non-zeros.

Time: 5 mm ~1 min for pyRadPlan's matrix, ~20 s for Planner's; 2.5 mm ~5-25 min (pyRadPlan) and ~2 min
(Planner), ~6 GB peak (pyRadPlan's 299 M non-zeros in CSC). Not a timing benchmark: dose values only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
PYRADPLAN_PYTHON = HERE / ".venv-pyradplan" / "bin" / "python"

EXPORT = r'''
import sys
import numpy as np, scipy.sparse as sp, SimpleITK as sitk
from pyRadPlan import PhotonPlan, calc_dose_influence, generate_stf, load_tg119
out, grid_mm = sys.argv[1], float(sys.argv[2])
ct, cst = load_tg119()
pln = PhotonPlan(machine="Generic")
pln.prop_stf = {"gantry_angles": list(range(0, 360, 40)), "couch_angles": [0.0] * 9, "bixel_width": 5.0}
pln.prop_dose_calc = {"dose_grid": {"resolution": {"x": grid_mm, "y": grid_mm, "z": grid_mm}}}
stf = generate_stf(ct, cst, pln)
dij = calc_dose_influence(ct, cst, stf, pln)
matrix = sp.csc_matrix(dij.physical_dose.flat[0])  # rows: the dose grid in [z, y, x] C order
dose = dij.compute_result_dose_grid(np.ones(matrix.shape[1]))["physical_dose"]
def to_dose_grid(img, interp):
    return sitk.GetArrayFromImage(sitk.Resample(img, dose, sitk.Transform(), interp, 0.0))
masks = {"mask_" + v.name: to_dose_grid(sitk.Cast(v.mask, sitk.sitkFloat32), sitk.sitkNearestNeighbor) > 0.5
         for v in cst.vois}
beam_of, angle, bev, pos = [], [], [], []
for i, b in enumerate(stf.beams):
    for r in b.rays:
        beam_of.append(i); angle.append(float(b.gantry_angle))
        bev.append(np.asarray(r.ray_pos_bev, float)); pos.append(np.asarray(r.ray_pos, float))
sp.save_npz(out + "_dij.npz", matrix, compressed=False)
np.savez_compressed(out + ".npz", hu=to_dose_grid(ct.cube_hu, sitk.sitkLinear), origin=np.asarray(dose.GetOrigin()),
                    spacing=np.asarray(dose.GetSpacing()), direction=np.asarray(dose.GetDirection()),
                    iso=np.asarray(stf.beams[0].iso_center, float), sad=float(stf.beams[0].sad),
                    bixel_width=float(stf.beams[0].bixel_width), bixel_beam=np.asarray(beam_of),
                    bixel_gantry=np.asarray(angle), ray_pos_bev=np.asarray(bev), ray_pos=np.asarray(pos),
                    source_point=np.asarray([np.asarray(b.source_point, float) for b in stf.beams]), **masks)
'''


def export(work: Path, grid_mm: float) -> str:
    stem = str(work / f"prp_{grid_mm:g}mm")
    if not (Path(stem + ".npz").is_file() and Path(stem + "_dij.npz").is_file()):
        script = work / "export.py"
        script.write_text(EXPORT)
        done = subprocess.run([str(PYRADPLAN_PYTHON), str(script), stem, str(grid_mm)], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"pyRadPlan failed:\n{done.stderr[-3000:]}")
    return stem


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid-mm", type=float, default=5.0)
    ap.add_argument("--work", type=Path, default=None, help="keep pyRadPlan's export here (reused if present)")
    args = ap.parse_args()
    if not PYRADPLAN_PYTHON.is_file():
        sys.exit("pyRadPlan's environment is missing: bash benchmarks/pyradplan_env.sh")
    from planner.core.volume import PlanningVolume, VoxelGrid
    from plugins.imrt_photon.pencil_beam import BeamSettings, Bixel, beam_axes, dose_influence

    with tempfile.TemporaryDirectory(prefix="tg119_columns_") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        stem = export(work, args.grid_mm)
        d = np.load(stem + ".npz")
        P = sp.load_npz(stem + "_dij.npz").tocsc()
    to_xyz = lambda a: np.ascontiguousarray(np.transpose(a, (2, 1, 0)))
    assert np.allclose(d["direction"], np.eye(3).ravel()), "dose grid is not axis-aligned"
    shape = to_xyz(d["hu"]).shape
    nx, ny, nz = shape
    axes = [d["origin"][i] + d["spacing"][i] * np.arange(shape[i]) for i in range(3)]
    density = np.clip(1.0 + to_xyz(d["hu"]) / 1000.0, 0.0, None).astype(np.float32)
    masks = {"PTV": to_xyz(d["mask_OuterTarget"]), "Core": to_xyz(d["mask_Core"]), "Body": to_xyz(d["mask_BODY"])}
    density[~masks["Body"]] = 0.0
    phantom = PlanningVolume(VoxelGrid(*axes), density, masks, tuple(float(v) for v in d["iso"]))
    beam_of, gantry, bev = d["bixel_beam"], d["bixel_gantry"], d["ray_pos_bev"]
    angles = tuple(float(gantry[beam_of == i][0]) for i in range(int(beam_of.max()) + 1))
    bixels = tuple(Bixel(int(b), angles[b], float(p[0]), float(p[2])) for b, p in zip(beam_of, bev))
    residual = max(float(np.linalg.norm(b.u_mm * beam_axes(b.gantry_deg)[1] + b.v_mm * beam_axes(b.gantry_deg)[2] - p))
                   for b, p in zip(bixels, d["ray_pos"]))
    assert residual < 0.01, f"bixel mapping off pyRadPlan's ray_pos by {residual:.2f} mm"
    sad, iso = float(d["sad"]), np.asarray(d["iso"])
    for i, a in enumerate(angles):
        assert np.allclose(d["source_point"][i], -sad * beam_axes(a)[0], atol=1e-6), "source points differ"
    inf = dose_influence(phantom, settings=BeamSettings(gantry_angles_deg=angles, bixel_width_mm=float(d["bixel_width"])),
                         bixels=bixels, workers=2)
    i, j, k = np.unravel_index(inf.voxels, shape)
    prp_row = (k * ny + j) * nx + i  # Planner's rows in pyRadPlan's [z, y, x] order
    print(f"TG-119, {args.grid_mm:g} mm dose grid {nx} x {ny} x {nz}, {len(bixels)} bixels (pyRadPlan's rays), "
          f"SAD {sad:g} mm, isocentre {np.round(iso, 2)} mm, bixel mapping residual {residual:.3g} mm")
    print(f"non-zeros: pyRadPlan {P.nnz:,}, Planner {inf.dij.nnz:,} (ratio {P.nnz / inf.dij.nnz:.2f}); "
          f"sum P / sum Q {P.sum(dtype=np.float64) / inf.dij.sum(dtype=np.float64):.4f}")

    g = phantom.grid
    kk, jj, ii = np.unravel_index(np.arange(nx * ny * nz), (nz, ny, nx))
    pts = np.stack([g.x_mm[ii], g.y_mm[jj], g.z_mm[kk]], 1)
    body, ptv, core = (d[f"mask_{n}"].ravel() for n in ("BODY", "OuterTarget", "Core"))
    b0 = np.flatnonzero(beam_of == 0)
    zc = b0[np.abs(bev[b0, 2]) < 1e-6]
    direction, u, v = beam_axes(angles[0])
    src = iso - sad * direction
    rel = pts - src
    edge = None
    for j in zc[np.argsort(np.abs(bev[zc, 0]))]:
        dirn = iso + bixels[j].u_mm * u + bixels[j].v_mm * v - src
        dirn /= np.linalg.norm(dirn)
        perp = np.linalg.norm(rel - np.outer(rel @ dirn, dirn), axis=1)
        on = perp < 0.505 * d["spacing"][0]
        if ptv[on].any() and not core[on].any() and core[perp < 7.5].any():
            edge = j
            break
    picks = {"central ray": b0[np.argmin(np.sum(bev[b0] ** 2, 1))], "outermost ray in z = 0": zc[np.argmax(bev[zc, 0])],
             "PTV edge by the Core": edge}
    for name, j in picks.items():
        if j is None:
            continue
        b = bixels[j]
        along = rel @ direction
        a = (rel @ u) * sad / along - b.u_mm
        c = (rel @ v) * sad / along - b.v_mm
        r = np.hypot(a, c)
        p = P[:, [j]].toarray().ravel()
        col = inf.dij[:, [j]].tocoo()
        q = np.zeros(p.size)
        q[prp_row[col.row]] = col.data
        print(f"\n== beam 0, {name}: column {j}, u = {b.u_mm:+.1f} mm, v = {b.v_mm:+.1f} mm")
        print(f"  non-zeros P {np.count_nonzero(p):,} Q {np.count_nonzero(q):,}; sum P {p.sum():.4f} Q {q.sum():.4f} "
              f"(P/Q {p.sum() / q.sum():.4f}); max P {p.max():.5f} Q {q.max():.5f} (P/Q {p.max() / q.max():.4f}); "
              f"largest stored radius P {r[p > 0].max():.1f} mm, Q {r[q > 0].max():.1f} mm")
        print("  radius [mm]       sum P     sum Q     P/Q   voxels P  voxels Q")
        edges = [0, 2.5, 5, 7.5, 10, 15, 20, 25, 30, 40, 50, 55, 60]
        for lo, hi in zip(edges[:-1], edges[1:]):
            s = (r >= lo) & (r < hi)
            sp_, sq_ = p[s].sum(), q[s].sum()
            ratio = f"{sp_ / sq_:7.4f}" if sq_ else "    -  "
            print(f"   {lo:5.1f}-{hi:5.1f}  {sp_:9.4f} {sq_:9.4f} {ratio} {np.count_nonzero(p[s]):9d} {np.count_nonzero(q[s]):9d}")
        on = np.flatnonzero((r * along / sad < 0.505 * d["spacing"][0]) & (body > 0))
        on = on[np.argsort(along[on])]
        surface = along[on].min()
        print("  depth dose on the ray (depth below the first body voxel on it): P, Q, P/Q")
        for kx in on[:: max(1, len(on) // 12)]:
            print(f"    {along[kx] - surface:6.1f} mm  {p[kx]:.5f} {q[kx]:.5f} {p[kx] / q[kx] if q[kx] else float('nan'):.4f}")
        for depth in (20, 70, 140):
            sel = np.flatnonzero((np.abs(along - surface - depth) < 0.505 * d["spacing"][1])
                                 & (np.abs(c) < 0.505 * d["spacing"][2]) & (body > 0) & (np.abs(a) <= 62))
            sel = sel[np.argsort(a[sel])]
            print(f"  lateral profile at ~{depth} mm depth, a = iso-plane offset from the bixel: P, Q, P/Q")
            for kx in sel[:: max(1, len(sel) // 16)]:
                ratio = f"{p[kx] / q[kx]:.3f}" if q[kx] else "-"
                print(f"    a {a[kx]:+6.1f}  {p[kx]:.6f} {q[kx]:.6f} {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
