"""TG-119 C-shape with Planner and with pyRadPlan in the same run: same voxels, beams and bixels (issues 8, 14).

    bash benchmarks/pyradplan_env.sh            # once: pyRadPlan 0.5.0 in its own venv
    .venv/bin/python benchmarks/tg119_vs_pyradplan.py [--repeats 3] [--grid-mm 5 2.5]
                                                      [--iterations 500] [--tolerance 1e-5]

How long (2 cores, quiet machine): the default (5 and 2.5 mm, 3 interleaved repeats) about 30-35
min, nearly all of it pyRadPlan's (per repeat ~1.5 min at 5 mm, ~6 min at 2.5 mm; Planner ~1 min
and ~2 min for its two columns) and ~5 GB peak memory (pyRadPlan at 2.5 mm). `--grid-mm 5` alone
takes ~8 min; the smoke check `--repeats 1 --grid-mm 5` ~3 min. 10 mm is not workable: the bixel
mapping's containment check (b) below needs a dose grid fine enough to project the PTV.
Take the timings on a quiet machine: the load average is printed before, after every repeat and
after.

pyRadPlan (matRad in Python) runs in benchmarks/.venv-pyradplan as a subprocess: it loads its
shipped TG119.mat (3 x 3 x 2.5 mm CT), generates the stf of 9 beams at 0, 40, ... 320 deg with
5 mm bixels, computes its dose influence on the `--grid-mm` dose grid and optimises with its shipped
objectives (PTV squared deviation from 50 Gy x 1000, Core overdose 25 Gy x 300, Body overdose
30 Gy x 100, on its overlap-priority voxel sets) with its default solver: ipyopt is not installed,
so scipy L-BFGS-B from x = 0, max_iter 500, tol 1e-5. Its first run also exports the dose grid,
the CT density and the structure masks on that grid, the voxel sets its optimiser used, its
isocentre, every bixel (ray) of its stf and each beam's dose for a fixed set of bixel weights.

Planner then plans on exactly those voxels with exactly pyRadPlan's bixels: the rays' beam's-eye-
view positions (matRad BEV: x lateral, y along the beam, z) are mapped to Planner's isocentre-
plane (u, v). The mapping is determined, not assumed: of the 8 signed assignments of (BEV x, BEV z)
to (u, v), exactly one must (a) put every ray at pyRadPlan's own patient-coordinate ray position
(ray_pos) through Planner's beam axes, (b) cover Planner's own projection of the PTV and lie inside
its projection of the PTV grown by 15 mm, for every beam, and (c) give per-beam doses that
correlate with pyRadPlan's, bixel for bixel, with weights tilted along BEV x and z so that a mirror
image cannot pass in this z-symmetric phantom (Pearson r over the body >= 0.95 for every beam);
otherwise the script stops.

Timed, interleaved over grids and engines (repeat 1 of every grid and engine, then repeat 2, ...),
`--repeats` times each, every run in its own subprocess so that peak memory (ru_maxrss read right
after the optimisation, whole process including imports) is measured alike. pyRadPlan's dose grid
is set to each `--grid-mm` (pln.prop_dose_calc dose_grid resolution, x = y = z; the exported
spacing is printed), and Planner plans on that grid's voxels:
  * pyRadPlan with its shipped objectives;
  * Planner with the same objectives on the same voxel sets and with pyRadPlan's stopping rule
    (max 500 iterations, relative objective tolerance 1e-5): the headline ratios, like for like;
  * Planner with its own TG-119 objectives (plugins/imrt_photon/plans.py, on whole structures as its
    planning step uses them): an extra column, for plan quality.
Printed: medians and p95 (nearest rank, so with 3 runs the maximum) of dose-influence time,
optimisation time, their sum and peak memory, with the ratios of the medians; the time Planner
takes until its objective first reaches pyRadPlan's final value; iteration counts and stop
messages; the shipped objective's value of each plan (one formula, the same masks; each engine's
plan on its own dose model); nproc and the load average before, after each repeat and after.

Plan quality is read from the honest DVH (Planner's sub-voxel DVH, planner.dose.structure_dvh;
issue 14): the structures are pyRadPlan's TG119.mat masks on its CT grid (3 x 3 x 2.5 mm) as boxes
(VoxelMaskShape), sampled below the dose voxel (<= 1 mm in-plane), and each plan's dose on the
shared dose grid is interpolated trilinearly at the samples: PTV D95, D10, D2, Core D10 and Body
D0.03cc, as optimised and normalised to honest PTV D95 = 50 Gy (as TG-119 plans are). Equal-or-
better plan quality is judged on these. The voxel-centre figures on the dose grid (what both
optimisers see) follow as a second, labelled block.

Planner's optimiser multiplies by its dose-influence matrix on all usable cores, and by its
transpose only over the rows where the gradient is non-zero, with no transpose stored
(plugins/imrt_photon/sparse_products.py); the worker reports the thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYRADPLAN_PYTHON = HERE / ".venv-pyradplan" / "bin" / "python"

PYRADPLAN_WORKER = r'''
import json, resource, sys, time
import numpy as np
import SimpleITK as sitk
t_import = time.perf_counter()
from pyRadPlan import (PhotonPlan, calc_dose_influence, fluence_optimization, generate_stf,
                       load_tg119)
t_import = time.perf_counter() - t_import
out, grid_mm, export = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "export"
ct, cst = load_tg119()
pln = PhotonPlan(machine="Generic")
pln.prop_stf = {"gantry_angles": list(range(0, 360, 40)), "couch_angles": [0.0] * 9,
                "bixel_width": 5.0}
pln.prop_dose_calc = {"dose_grid": {"resolution": {"x": grid_mm, "y": grid_mm, "z": grid_mm}}}
stf = generate_stf(ct, cst, pln)
t0 = time.perf_counter()
dij = calc_dose_influence(ct, cst, stf, pln)
t_dij = time.perf_counter() - t0
opt_info = {}
t0 = time.perf_counter()
w = fluence_optimization(ct, cst, stf, dij, pln, opt_info=opt_info)
t_opt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
info = opt_info.get("result_info", {})
from pyRadPlan.optimization.solvers import get_available_solvers
solvers = get_available_solvers()
s = solvers[next(iter(solvers))]()
result = {"dij_s": t_dij, "opt_s": t_opt, "import_s": t_import, "peak_rss_mb": peak,
          "bixels": int(dij.total_num_of_bixels),
          "iterations": int(opt_info.get("num_iter", -1)),
          "evaluations": int(info.get("nfev", -1)) if hasattr(info, "get") else -1,
          "message": str(info.get("message", "")) if hasattr(info, "get") else "",
          "objective": float(opt_info["obj_history"][-1]) if opt_info.get("obj_history") else None,
          "solver": f"{s.name} {getattr(s, 'method', '')}, max_iter {s.max_iter}, "
                    f"tol {s.abs_obj_tol:g} (minimize's tol: ftol = gtol); "
                    f"registered solvers {list(solvers)}"}
dose = dij.compute_result_dose_grid(w)["physical_dose"]
np.save(out + "_dose.npy", sitk.GetArrayFromImage(dose))  # [z, y, x]
if export:
    # structure masks and density on the dose grid (nearest neighbour from the CT grid)
    def to_dose_grid(img, interp):
        return sitk.GetArrayFromImage(sitk.Resample(img, dose, sitk.Transform(), interp, 0.0))
    hu = to_dose_grid(ct.cube_hu, sitk.sitkLinear)
    masks = {"mask_" + v.name: to_dose_grid(sitk.Cast(v.mask, sitk.sitkFloat32),
                                            sitk.sitkNearestNeighbor) > 0.5 for v in cst.vois}
    # the voxel sets pyRadPlan's optimiser uses: overlap priorities, then resampled to the dose grid
    opt_cst = cst.apply_overlap_priorities().resample_on_new_ct(ct.resample_to_grid(dij.dose_grid))
    opt_masks = {"opt_" + v.name: sitk.GetArrayFromImage(v.mask) > 0 for v in opt_cst.vois}
    assert all(m.shape == hu.shape for m in opt_masks.values()), "optimiser masks off the dose grid"
    # every bixel of the stf, in dij column order (beam, ray)
    beam_of, angle, bev, pos = [], [], [], []
    for i, b in enumerate(stf.beams):
        for r in b.rays:
            beam_of.append(i); angle.append(float(b.gantry_angle))
            bev.append(np.asarray(r.ray_pos_bev, float)); pos.append(np.asarray(r.ray_pos, float))
    beam_of, bev = np.asarray(beam_of), np.asarray(bev)
    assert np.array_equal(np.asarray(dij.beam_num).ravel() - np.min(dij.beam_num), beam_of)
    ray_of = np.concatenate([np.arange(len(b.rays)) for b in stf.beams])
    assert np.array_equal(np.asarray(dij.ray_num).ravel() - np.min(dij.ray_num), ray_of)
    # each beam's dose with weights tilted along BEV x and z (to check Planner's bixels against:
    # a mirrored bixel gets the other side's weight, even in this z-symmetric phantom)
    tilt = np.zeros(len(beam_of))
    for i in range(len(stf.beams)):
        x, z = bev[beam_of == i, 0], bev[beam_of == i, 2]
        tilt[beam_of == i] = (1.5 + x / np.abs(x).max()) * (1.5 + z / np.abs(z).max())
    per_beam = np.stack([sitk.GetArrayFromImage(dij.compute_result_dose_grid(
        np.where(beam_of == i, tilt, 0.0))["physical_dose"]) for i in range(len(stf.beams))])
    # the structures as pyRadPlan holds them: masks on its CT grid (3 x 3 x 2.5 mm), for the
    # sub-voxel (honest) DVH
    ct_masks = {"ctmask_" + v.name: sitk.GetArrayFromImage(v.mask) > 0 for v in cst.vois}
    ct_shape = sitk.GetArrayFromImage(ct.cube_hu).shape
    assert all(m.shape == ct_shape for m in ct_masks.values()), "structure masks off the CT grid"
    np.savez_compressed(out + ".npz", hu=hu, origin=np.asarray(dose.GetOrigin()),
                        ct_origin=np.asarray(ct.cube_hu.GetOrigin()),
                        ct_spacing=np.asarray(ct.cube_hu.GetSpacing()),
                        ct_direction=np.asarray(ct.cube_hu.GetDirection()), **ct_masks,
                        spacing=np.asarray(dose.GetSpacing()),
                        direction=np.asarray(dose.GetDirection()),
                        iso=np.asarray(stf.beams[0].iso_center, dtype=float),
                        sad=float(stf.beams[0].sad), bixel_width=float(stf.beams[0].bixel_width),
                        bixel_beam=beam_of, bixel_gantry=np.asarray(angle),
                        ray_pos_bev=bev, ray_pos=np.asarray(pos), tilt_weights=tilt,
                        beam_dose=per_beam.astype(np.float32), **masks, **opt_masks)
print(json.dumps(result))
'''

PLANNER_WORKER = r'''
import json, resource, sys, time
sys.path.insert(0, sys.argv[3])
import numpy as np
from planner.core.volume import PlanningVolume, VoxelGrid
from plugins.imrt_photon.pencil_beam import (BeamSettings, Bixel, beam_axes, dose_influence,
                                             grow_mask_mm, target_bixels)
from plugins.imrt_photon.optimise import Objective, OptimisationSettings, optimise_fluence
from plugins.imrt_photon.plans import TG119_OBJECTIVES
# pyRadPlan's shipped TG119.mat objectives, in Planner's terms (squared deviation = min + max)
SHIPPED = (Objective("PTV", "min_dose", 50.0, 1000.0), Objective("PTV", "max_dose", 50.0, 1000.0),
           Objective("Core", "max_dose", 25.0, 300.0), Objective("Body", "max_dose", 30.0, 100.0))
npz, out, mode, iterations, tolerance, mapping = (sys.argv[1], sys.argv[2], sys.argv[4],
                                                  int(sys.argv[5]), float(sys.argv[6]), sys.argv[7])
d = np.load(npz)
to_xyz = lambda a: np.ascontiguousarray(np.transpose(a, (2, 1, 0)))
assert np.allclose(d["direction"], np.eye(3).ravel()), "dose grid is not axis-aligned"
shape = to_xyz(d["hu"]).shape
axes = [d["origin"][i] + d["spacing"][i] * np.arange(shape[i]) for i in range(3)]
# relative electron density from HU (water 0 HU = 1); air outside the body = 0
density = np.clip(1.0 + to_xyz(d["hu"]) / 1000.0, 0.0, None).astype(np.float32)
masks = {"PTV": to_xyz(d["mask_OuterTarget"]), "Core": to_xyz(d["mask_Core"]),
         "Body": to_xyz(d["mask_BODY"])}
density[~masks["Body"]] = 0.0
phantom = PlanningVolume(VoxelGrid(*axes), density, masks, tuple(float(v) for v in d["iso"]))
beam_of, gantry = d["bixel_beam"], d["bixel_gantry"]
angles = tuple(float(gantry[beam_of == i][0]) for i in range(int(beam_of.max()) + 1))
width = float(d["bixel_width"])
settings = BeamSettings(gantry_angles_deg=angles, bixel_width_mm=width)
AXIS = {"x": 0, "y": 1, "z": 2}

def bixels_for(m):
    """Planner bixels from pyRadPlan's rays; m = e.g. "+x,+z": u = +BEV x, v = +BEV z."""
    (su, au), (sv, av) = [(1.0 if t[0] == "+" else -1.0, AXIS[t[1]]) for t in m.split(",")]
    bev = d["ray_pos_bev"]
    return tuple(Bixel(int(b), angles[b], float(su * p[au]), float(sv * p[av]))
                 for b, p in zip(beam_of, bev))

if mode == "check":
    sad = float(d["sad"])
    candidates = [f"{su}{a},{sv}{b}" for a, b in (("x", "z"), ("z", "x"))
                  for su in "+-" for sv in "+-"]
    core = {i: {(round(b.u_mm / width), round(b.v_mm / width)) for b in
                target_bixels(phantom, masks["PTV"], a, i, settings, sad)}
            for i, a in enumerate(angles)}
    grown = grow_mask_mm(phantom, masks["PTV"], 15.0)
    wide = {i: {(round(b.u_mm / width), round(b.v_mm / width)) for b in
                target_bixels(phantom, grown, a, i, settings, sad)}
            for i, a in enumerate(angles)}
    report = {}
    for m in candidates:
        bix = bixels_for(m)
        # (a) pyRadPlan's own patient-coordinate ray position vs Planner's beam axes
        world = max(float(np.linalg.norm(b.u_mm * beam_axes(b.gantry_deg)[1]
                                          + b.v_mm * beam_axes(b.gantry_deg)[2] - p))
                    for b, p in zip(bix, d["ray_pos"]))
        # (b) coverage of Planner's own projection of the PTV, containment in the grown one
        cells = {i: {(round(b.u_mm / width), round(b.v_mm / width)) for b in bix if b.beam == i}
                 for i in range(len(angles))}
        covers = min(len(core[i] & cells[i]) / len(core[i]) for i in cells)
        inside = min(len(cells[i] & wide[i]) / len(cells[i]) for i in cells)
        # (c) each beam's dose with pyRadPlan's tilted weights, bixel for bixel
        inf = dose_influence(phantom, settings=settings, bixels=bix)
        cols = np.array([b.beam for b in inf.bixels])
        body = d["mask_BODY"]
        tilt = d["tilt_weights"]
        r = [float(np.corrcoef(np.transpose(inf.dose_grid_gy(np.where(cols == i, tilt, 0.0), shape),
                                            (2, 1, 0))[body], d["beam_dose"][i][body])[0, 1])
             for i in range(len(angles))]
        report[m] = {"world_mm": world, "covers": covers, "inside": inside, "dose_r": min(r)}
    print(json.dumps({"candidates": report, "core_cells": sum(len(c) for c in core.values())}))
    sys.exit(0)

bixels = bixels_for(mapping)
if mode == "shipped":
    # the voxel sets pyRadPlan's optimiser used (overlap priorities: PTV > Core > Body)
    objectives = SHIPPED
    opt_masks = {"PTV": to_xyz(d["opt_OuterTarget"]), "Core": to_xyz(d["opt_Core"]),
                 "Body": to_xyz(d["opt_BODY"])}
else:
    objectives, opt_masks = TG119_OBJECTIVES, masks  # as Planner's planning step does
t0 = time.perf_counter()
inf = dose_influence(phantom, settings=settings, bixels=bixels)
t_dij = time.perf_counter() - t0
rows = {n: inf.rows_for(m) for n, m in opt_masks.items()}
stamps = []  # seconds since the optimisation started, after each iteration
t0 = time.perf_counter()
res = optimise_fluence(inf.dij, rows, objectives,
                       OptimisationSettings(max_iterations=iterations, relative_tolerance=tolerance),
                       progress=lambda k, f, x: stamps.append(time.perf_counter() - t0))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
dose = inf.dose_grid_gy(res.weights, shape)
np.save(out, np.transpose(dose, (2, 1, 0)))
from plugins.imrt_photon.sparse_products import default_threads
print(json.dumps({"dij_s": t_dij, "opt_s": res.seconds, "bixels": len(inf.bixels),
                  "threads": default_threads(),
                  "nnz": int(inf.dij.nnz), "iterations": res.iterations,
                  "objective": res.objective_history[-1] if res.objective_history else None,
                  "message": res.message, "peak_rss_mb": peak,
                  "history": list(res.objective_history), "stamps": stamps}))
'''


def run_json(cmd: list[str]) -> dict:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        sys.exit(f"{cmd[0]} {cmd[1]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def metrics(dose_zyx: np.ndarray, masks: dict[str, np.ndarray], scale: float = 1.0) -> dict:
    q = lambda name, v: float(np.quantile(dose_zyx[masks[name]] * scale, 1.0 - v))
    return {"PTV D95": q("OuterTarget", 0.95), "PTV D10": q("OuterTarget", 0.10),
            "Core D10": q("Core", 0.10)}


def normalised(dose_zyx, masks):
    return metrics(dose_zyx, masks, 50.0 / np.quantile(dose_zyx[masks["OuterTarget"]], 0.05))


def shipped_objective(dose_zyx: np.ndarray, opt: dict[str, np.ndarray]) -> float:
    """pyRadPlan's shipped TG119 objective (per-voxel means, overlap-priority voxel sets)."""
    ptv, core, body = dose_zyx[opt["OuterTarget"]], dose_zyx[opt["Core"]], dose_zyx[opt["BODY"]]
    return float(1000 * np.mean((ptv - 50) ** 2) + 300 * np.mean(np.maximum(core - 25, 0) ** 2)
                 + 100 * np.mean(np.maximum(body - 30, 0) ** 2))


def p95(values) -> float:
    """Nearest-rank 95th percentile (the maximum for fewer than 20 values)."""
    return float(np.percentile(values, 95, method="inverted_cdf"))


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def check_mapping(work: Path, npz: Path) -> tuple[str, list[str]]:
    """The one mapping of pyRadPlan's BEV ray positions to Planner's (u, v) that passes all checks."""
    check = run_json([sys.executable, str(work / "planner.py"), str(npz),
                      "-", str(ROOT), "check", "0", "0", "-"])
    lines, passing = [], []
    for m, c in check["candidates"].items():
        r = c["dose_r"]
        ok = c["world_mm"] < 0.01 and c["covers"] == 1.0 and c["inside"] == 1.0 and r >= 0.95
        passing += [m] if ok else []
        lines.append(f"  u,v = {m:6s} ray_pos residual {c['world_mm']:8.2f} mm, covers "
                     f"{100 * c['covers']:5.1f}% of Planner's PTV projection, "
                     f"{100 * c['inside']:5.1f}% inside PTV+15 mm, "
                     f"per-beam dose r >= {r:.3f}{'  <- passes' if ok else ''}")
    if len(passing) != 1:
        sys.exit("no unique mapping of pyRadPlan's bixels to Planner's (u, v):\n" + "\n".join(lines))
    return passing[0], lines


HONEST = (("PTV D95", "OuterTarget", "d95_gy"), ("PTV D10", "OuterTarget", "d10_gy"),
          ("Core D10", "Core", "d10_gy"), ("PTV D2", "OuterTarget", "d2_gy"),
          ("Body D0.03cc", "BODY", "d0_03cc_gy"))


def honest_points(data, doses: dict[str, np.ndarray]) -> tuple[dict[str, dict], str]:
    """Each plan's DVH points from Planner's sub-voxel DVH (planner.dose.structure_dvh): pyRadPlan's
    TG119.mat masks on its CT grid (3 x 3 x 2.5 mm) as boxes, sampled below the dose voxel, each
    plan's dose (on the shared dose grid) interpolated trilinearly at the samples."""
    sys.path.insert(0, str(ROOT))
    from planner.core.volume import VoxelGrid
    from planner.dose.structure_dvh import (StructureDvh, VoxelMaskShape, dose_at_samples_gy,
                                            sample_shape)

    assert np.allclose(data["ct_direction"], np.eye(3).ravel()), "CT grid is not axis-aligned"
    to_xyz = lambda a: np.ascontiguousarray(np.transpose(a, (2, 1, 0)))

    def grid(origin, spacing, shape_xyz):
        return VoxelGrid(*(origin[i] + spacing[i] * np.arange(shape_xyz[i]) for i in range(3)))

    ct_masks = {k[7:]: to_xyz(data[k]) for k in data.files if k.startswith("ctmask_")}
    ct_grid = grid(data["ct_origin"], data["ct_spacing"], next(iter(ct_masks.values())).shape)
    dose_grid = grid(data["origin"], data["spacing"], to_xyz(data["hu"]).shape)
    samples = {name: sample_shape(name, VoxelMaskShape(ct_masks[name], ct_grid), dose_grid.spacing_mm,
                                  "TG119.mat mask on pyRadPlan's CT grid")
               for name in {s for _, s, _ in HONEST}}
    out = {}
    for plan, dose_zyx in doses.items():
        dose = to_xyz(dose_zyx)
        pts = {name: StructureDvh(name, dose_at_samples_gy(smp, dose_grid, dose), smp.cell_cc).points()
               for name, smp in samples.items()}
        raw = {label: getattr(pts[s], attr) for label, s, attr in HONEST}
        scale = 50.0 / raw["PTV D95"]
        out[plan] = {"raw": raw, "normalised": {k: v * scale for k, v in raw.items()}}
    return out, "; ".join(smp.describe() for smp in samples.values())


def grid_report(grid_mm: float, work: Path, runs: dict[str, list[dict]], mapping: str,
                mapping_lines: list[str], args) -> None:
    """The table of one dose grid: times (median, p95), iterations, plan quality."""
    npz = work / "prp.npz"
    data = np.load(npz)
    masks = {k[5:]: data[k] for k in data.files if k.startswith("mask_")}
    opt = {k[4:]: data[k] for k in data.files if k.startswith("opt_")}
    doses = {"prp": np.load(work / "prp_dose.npy"),
             "shipped": np.load(work / "planner_shipped.npy"),
             "own": np.load(work / "planner_own.npy")}
    n = len(runs["prp"])
    prp, sh, own = runs["prp"][-1], runs["shipped"][-1], runs["own"][-1]  # the doses' runs
    assert prp["bixels"] == sh["bixels"] == own["bixels"], "bixel counts differ"
    obj = {k: shipped_objective(v, opt) for k, v in doses.items()}

    def to_target(r: dict) -> tuple[float, int] | None:
        """Dose influence + optimisation until Planner's objective first reaches pyRadPlan's final
        (seconds, iterations)."""
        k = next((i for i, f in enumerate(r["history"]) if f <= obj["prp"]), None)
        return None if k is None else (r["dij_s"] + r["stamps"][k], k + 1)

    spacing = " x ".join(f"{v:g}" for v in data["spacing"])
    print(f"\n=== {grid_mm:g} mm dose grid (pyRadPlan's dose grid as exported: {spacing} mm; "
          f"Planner plans on the same voxels) ===")
    print(f"TG-119 C-shape (pyRadPlan's TG119.mat), 9 beams 0..320 deg, 5 mm bixels")
    print(f"bixels: pyRadPlan {prp['bixels']}, Planner {sh['bixels']} (pyRadPlan's stf rays; "
          f"Planner dij nnz {sh['nnz']:,}, products on {sh.get('threads', '?')} threads)")
    print(f"bixel mapping, matRad BEV -> Planner (u, v): u, v = {mapping}; candidates:")
    print("\n".join(mapping_lines))
    print(f"pyRadPlan optimiser: {prp['solver']}; from x = 0")
    print(f"Planner optimiser: scipy L-BFGS-B, max_iter {args.iterations}, ftol "
          f"{args.tolerance:g}, gtol 1e-5 (scipy's default), maxcor 20; from PTV mean dose = 50 Gy")

    label = f"p95(of {n})"
    print(f"\n{'':30s}{'pyRadPlan':>22s}{'Planner, same obj.':>22s}{'ratio of':>10s}"
          f"{'Planner, TG-119 obj.':>22s}")
    print(f"{'':30s}" + f"{'median':>10s}{label:>12s}" * 2 + f"{'medians':>10s}"
          + f"{'median':>10s}{label:>12s}")
    series = {
        "dose influence [s]": lambda r: r["dij_s"],
        "optimisation [s]": lambda r: r["opt_s"],
        "dose influence + optim. [s]": lambda r: r["dij_s"] + r["opt_s"],
        "peak memory [MB]": lambda r: r["peak_rss_mb"],
    }
    for name, f in series.items():
        v = {k: [f(r) for r in rs] for k, rs in runs.items()}
        m = {k: float(np.median(x)) for k, x in v.items()}
        print(f"{name:30s}{m['prp']:10.2f}{p95(v['prp']):12.2f}{m['shipped']:10.2f}"
              f"{p95(v['shipped']):12.2f}{m['prp'] / m['shipped']:9.1f}x"
              f"{m['own']:10.2f}{p95(v['own']):12.2f}")
    per_it = {k: [1000 * r["opt_s"] / max(r["iterations"], 1) for r in rs] for k, rs in runs.items()}
    print(f"{'  optimisation per iteration [ms]':30s}{np.median(per_it['prp']):10.1f}{'':12s}"
          f"{np.median(per_it['shipped']):10.1f}{'':12s}"
          f"{np.median(per_it['prp']) / np.median(per_it['shipped']):9.1f}x"
          f"{np.median(per_it['own']):10.1f}")
    reach = [to_target(r) for r in runs["shipped"]]
    total_prp = float(np.median([r["dij_s"] + r["opt_s"] for r in runs["prp"]]))
    if all(t is not None for t in reach):
        secs = [t for t, _ in reach]
        print(f"{'  until pyRadPlan objective [s]':30s}{'':22s}{float(np.median(secs)):10.2f}"
              f"{p95(secs):12.2f}{total_prp / float(np.median(secs)):9.1f}x   (Planner at "
              f"iteration {', '.join(str(k) for _, k in reach)}; vs pyRadPlan's full run)")
    else:
        print(f"  Planner did not reach pyRadPlan's objective {obj['prp']:.1f} in "
              f"{sum(t is None for t in reach)} of {n} runs")
    its = {k: " ".join(str(r["iterations"]) for r in rs) for k, rs in runs.items()}
    print(f"{'iterations (each run)':30s}{its['prp']:>22s}{its['shipped']:>22s}{'':10s}"
          f"{its['own']:>22s}")
    print(f"stop: pyRadPlan {prp['message']!r}; Planner same obj. {sh['message']!r}; "
          f"Planner TG-119 obj. {own['message']!r}")

    print(f"\nplan quality (last run){'':7s}{'pyRadPlan':>12s}{'Pl. same':>12s}{'Pl. TG-119':>12s}")
    print(f"{'shipped objective, same masks':30s}{obj['prp']:12.1f}{obj['shipped']:12.1f}"
          f"{obj['own']:12.1f}")
    reported = [r["objective"] for r in runs["prp"]]
    print(f"{'  as the optimiser reported it':30s}{reported[-1] or float('nan'):12.1f}"
          f"{sh['objective']:12.1f}{'':>12s}   (pyRadPlan, each run: "
          + ", ".join(f"{x:.1f}" for x in reported if x is not None) + ")")
    honest, described = honest_points(data, doses)
    print("honest DVH (Planner's sub-voxel DVH, planner.dose.structure_dvh): structures = "
          "TG119.mat masks on the CT grid as boxes,\n  sampled below the dose voxel, dose "
          f"interpolated trilinearly at the samples ({described})")
    for title, key in (("  as optimised [Gy]", "raw"), ("  normalised honest PTV D95 = 50 Gy [Gy]",
                                                        "normalised")):
        print(title)
        for label in honest["prp"][key]:
            print(f"    {label:26s}" + "".join(f"{honest[k][key][label]:12.2f}"
                                             for k in ("prp", "shipped", "own")))
    hp, hs = honest["prp"]["normalised"], honest["shipped"]["normalised"]
    # lower is better for every point but D95, which normalisation makes equal
    verdict = [f"{k} {hs[k] - hp[k]:+.2f} Gy {'(equal or better)' if hs[k] <= hp[k] + 0.05 else '(WORSE)'}"
               for k in ("PTV D10", "Core D10", "PTV D2", "Body D0.03cc")]
    print("  Planner (same obj.) minus pyRadPlan, honest, normalised (equal = within 0.05 Gy): "
          + ", ".join(verdict))
    print("voxel centres on the dose grid (the optimisers' own view; not the judged figures)")
    for title, fn in (("  as optimised [Gy]", metrics),
                      ("  normalised voxel-centre PTV D95 = 50 Gy [Gy]", normalised)):
        mp = {k: fn(v, masks) for k, v in doses.items()}
        print(title)
        for key in mp["prp"]:
            print(f"    {key:26s}{mp['prp'][key]:12.2f}{mp['shipped'][key]:12.2f}"
                  f"{mp['own'][key]:12.2f}")
    print("TG-119 goals: PTV D95 >= 50, PTV D10 <= 55, Core D10 <= 25 (harder: 10) Gy; equal-or-better "
          "plan quality is judged on the honest (sub-voxel) figures")
    print("ratio = pyRadPlan median / Planner (same objectives) median; each engine's plan is "
          "evaluated on its own dose model")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3,
                    help="interleaved runs of each engine on each grid (median and p95 reported)")
    ap.add_argument("--grid-mm", type=float, nargs="+", default=[5.0, 2.5],
                    help="dose grid spacings, all in one interleaved run (default: 5 2.5)")
    ap.add_argument("--iterations", type=int, default=500,
                    help="Planner's L-BFGS-B iteration cap (default: pyRadPlan's, 500)")
    ap.add_argument("--tolerance", type=float, default=1e-5,
                    help="Planner's relative objective tolerance, scipy's ftol (default: "
                         "pyRadPlan's, 1e-5; Planner's own default is 1e-7)")
    args = ap.parse_args()
    if not PYRADPLAN_PYTHON.exists():
        sys.exit("run: bash benchmarks/pyradplan_env.sh")
    grids = list(dict.fromkeys(args.grid_mm))
    loads = [("before", load())]
    print(f"load average (1, 5, 15 min) before: {loads[0][1]}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="tg119_bench_"))
    works = {}
    for g in grids:
        works[g] = root / f"grid_{g:g}mm"
        works[g].mkdir()
        (works[g] / "prp.py").write_text(PYRADPLAN_WORKER)
        (works[g] / "planner.py").write_text(PLANNER_WORKER)
    runs = {g: {"prp": [], "shipped": [], "own": []} for g in grids}
    mapping = {g: ("", []) for g in grids}
    for i in range(args.repeats):
        for g in grids:  # repeat i of every grid and engine, then repeat i + 1
            work = works[g]
            print(f"run {i + 1} of {args.repeats}, {g:g} mm: pyRadPlan ...", flush=True)
            runs[g]["prp"].append(run_json([str(PYRADPLAN_PYTHON), str(work / "prp.py"),
                                            str(work / "prp"), str(g),
                                            "export" if i == 0 else "time"]))
            if i == 0:
                print(f"mapping pyRadPlan's bixels to Planner's (u, v), {g:g} mm ...", flush=True)
                mapping[g] = check_mapping(work, work / "prp.npz")
            for mode in ("shipped", "own"):
                print(f"run {i + 1} of {args.repeats}, {g:g} mm: Planner ({mode} objectives) ...",
                      flush=True)
                runs[g][mode].append(run_json([sys.executable, str(work / "planner.py"),
                                               str(work / "prp.npz"),
                                               str(work / f"planner_{mode}.npy"), str(ROOT), mode,
                                               str(args.iterations), str(args.tolerance),
                                               mapping[g][0]]))
        tag = "after" if i == args.repeats - 1 else f"after repeat {i + 1}"
        loads.append((tag, load()))
        print(f"load average (1, 5, 15 min) {tag}: {loads[-1][1]}", flush=True)

    print(f"\nmachine: nproc {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}); "
          f"load average (1, 5, 15 min): " + "; ".join(f"{t} {v}" for t, v in loads))
    print(f"grids {', '.join(f'{g:g} mm' for g in grids)}, {args.repeats} interleaved repeats "
          f"(repeat 1 of every grid and engine, then repeat 2, ...)")
    for g in grids:
        grid_report(g, works[g], runs[g], *mapping[g], args)
    if len(grids) > 1:
        print("\nsummary: dose influence + optimisation, medians [s]")
        for g in grids:
            tot = {k: float(np.median([r["dij_s"] + r["opt_s"] for r in rs]))
                   for k, rs in runs[g].items()}
            print(f"  {g:5g} mm  pyRadPlan {tot['prp']:8.1f}  Planner (same obj.) "
                  f"{tot['shipped']:8.1f}  ratio {tot['prp'] / tot['shipped']:5.1f}x  "
                  f"Planner (TG-119 obj.) {tot['own']:8.1f}")


if __name__ == "__main__":
    main()
