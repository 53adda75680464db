"""Arbiter for the IMRT second check's disagreement (issue 16): open-field dose per MU by Planner's pencil beam
and by the check's independent Monte Carlo, against published measured 6 MV output factors; the TG-119 plan's
segment sizes; the check itself on a plan folder, with the plan dose's sensitivity to the check region's place.

    .venv/bin/python benchmarks/imrt_second_check_arbiter.py pb [--fields 2 3 4 5 6 10 20 3x1]
    .venv/bin/python benchmarks/imrt_second_check_arbiter.py mc FIELD COLUMN HISTORIES [--cache FILE]
        # e.g. mc 3 1 2e6 ; mc 3x1 0.6x0.4 2e6 ; mc 20 3 4e6 (FIELD and COLUMN in cm, AxB = along x by along y)
    .venv/bin/python benchmarks/imrt_second_check_arbiter.py segments PLAN_FOLDER [--point X,Y,Z]
    .venv/bin/python benchmarks/imrt_second_check_arbiter.py check PLAN_FOLDER [--cache FILE] [--histories N] [--cached-only]
    .venv/bin/python benchmarks/imrt_second_check_arbiter.py table [--cache FILE]

Setup (both engines): square (or AxB) fields defined at the isocentre plane, water surface at the isocentre
(SSD 100 cm), central axis; doses per MU in each engine's own calibration (1 cGy/MU at d_max of 10 x 10 cm2,
SSD 100 cm). "10 cm" is the mean over 9-11 cm depth (MC: ten 2 mm slabs; PB: 1 mm voxels interpolated at 10.0
cm) and "d_max" is, for the MC, the mean of the slabs with centres 1.1-2.1 cm relative to the calibration run's
same mean (a parabola through noisy 1 cm2 columns is ill-conditioned), for the PB the maximum of its 1 mm
depth dose.

Monte Carlo: the worker of planner.review.imrt_second_check (ompMC, point source, Mohan 6 MV, no head
scatter), called through imrt_second_check.cached/run_worker with the calibration from mc_calibration; the
scoring voxel is a central column (COLUMN cm wide) in 2 mm slabs to 12 cm, then one slab to 30 cm; lateral
water 30 x 30 cm. Runs are cached by digest in --cache (default /tmp/w/arbiter/cache.json; make it a copy of
tests/reference/imrt_second_check_recorded.json so the calibration is reused). OMP_NUM_THREADS defaults to 2.

Published data (the only ones reached and quoted): Followill et al., "The Radiological Physics Center's standard
dataset for small field size output factors", J Appl Clin Med Phys 13(5):282-289 (2012),
doi:10.1120/jacmp.v13i5.3962, Table 2 (Elekta 6 MV, RPC-measured mean) and Table 3 (Siemens 6 MV), output
factors relative to 10 x 10 cm2. The depth/SSD of those measurements and whether the fields were jaw- or
MLC-defined are NOT stated in the table captions read here (the report's methods were not reachable).

Measured on 2026-12-03 (2 cores, loaded machine; 2-4 M histories per field, 1.5-4 min each): at 10 cm depth, relative
to 10 x 10, the pencil beam is within -1.3 ... -0.5 % of the RPC Elekta output factors for 2-6 cm squares, the Monte
Carlo (no head scatter) +4.3 ... +7.5 % above them; PB/MC at 10 cm is 0.975 for 10 x 10 (depth dose), 0.90-0.95 for
2-6 cm squares and 0.86 for a 3 x 1 cm2 strip (the width of one 10 mm leaf pair, what the TG-119 segments are made
of). The TG-119 check (5 mm grid) read -5.7 %, on the 2.5 mm grid (its own plan and point, 4 M histories) -4.1 +- 1.1 %.
(These used the inverse-variance mean of two 10 x 10 runs, 0.6674 cGy/MU at 10 cm, as the reference.)

Since then the check commissions its output itself (imrt_second_check.output_commissioning: k(c) = measured / MC
output factor, per segment). Re-measured on 2026-12-03 with its own runs (10 x 10: 12 M histories, 0.6742 cGy/MU at
10 cm +- 0.51 %): OF_MC 2/3/4/6 cm = 0.8406/0.8693/0.9085/0.9603 (+-0.9-1.1 % k=1), +3.2 ... +6.4 % above the RPC
Elekta values, k = 0.940/0.969/0.966/0.968 (10: 1). TG-119, 5 mm grid (3 M histories): MU-weighted mean k 0.959, 13 %
of the MU in segments below 2 cm, -2.1 +- 1.1 % (k=1 of the plan's run; +-1.3 % with the k table's statistics), agree.
2.5 mm grid (`check /tmp/w/arbiter/tg119_2p5mm --histories 4e6`, 620 s on a loaded machine): mean k 0.957, 12 % of
the MU outside 2-10 cm, plan 2.160 Gy, MC 2.194 Gy, -1.5 +- 1.2 % (k=1), agree.

Never run the test suite from here; this script writes only under /tmp unless told otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_CACHE = Path("/tmp/w/arbiter/cache.json")
OUT = Path("/tmp/w/arbiter")

# Followill et al., JACMP 13(5):282-289, 2012: RPC-measured mean output factors, 6 MV, relative to 10 x 10 cm2.
# Table 2 (Elekta) is the check's default commissioning, imrt_second_check.MEASURED_OUTPUT_FACTORS.
RPC_SIEMENS_6MV = {10.0: 1.000, 6.0: 0.914, 4.0: 0.855, 3.0: 0.820, 2.0: 0.764}   # Table 3 (sd 0.008/0.010/0.008/0.010)


def _field(spec: str) -> tuple[float, float]:
    return tuple(float(v) for v in spec.split("x")) if "x" in spec else (float(spec), float(spec))


# ------------------------------------------------------------------------------------------ pencil beam


def pencil_beam(fields: list[str]) -> dict:
    """Planner's engine as monitor_units.reference_field builds its field: 5 mm bixels of weight 1, gantry 0, water
    surface at the isocentre, full scatter to 150 mm; MU from monitor_units.reference_calibration."""
    from planner.core.volume import PlanningVolume, VoxelGrid
    from plugins.imrt_photon.beam_data import generic_6mv
    from plugins.imrt_photon.monitor_units import reference_calibration
    from plugins.imrt_photon.pencil_beam import BeamSettings, Bixel, dose_influence

    machine = generic_6mv()
    cal = reference_calibration(machine)
    step = 1.0
    depth = np.arange(step / 2, 120.0, step)
    grid = VoxelGrid(np.array([-step, 0.0, step]), depth, np.array([-step, 0.0, step]))
    rho = np.ones(grid.shape, np.float32)
    water = PlanningVolume(grid, rho, {"Body": rho > 0}, isocentre_mm=(0.0, 0.0, 0.0), description="water, SSD 100 cm")
    w = 5.0
    out = {}
    for spec in fields:
        fx, fy = (10 * v for v in _field(spec))
        nx, ny = int(round(fx / w / 2)), int(round(fy / w / 2))
        bixels = tuple(Bixel(0, 0.0, (i + 0.5) * w, (j + 0.5) * w) for i in range(-nx, nx) for j in range(-ny, ny))
        settings = BeamSettings(gantry_angles_deg=(0.0,), bixel_width_mm=w, full_radius_mm=150.0, tail_radius_mm=150.0)
        inf = dose_influence(water, settings=settings, machine=machine, bixels=bixels)
        per_mu = inf.dose_grid_gy(np.ones(len(bixels)), grid.shape)[1, :, 1] / cal.mu_per_unit_weight * 100  # cGy/MU
        i = int(np.argmax(per_mu))
        out[spec] = {"dmax_mm": float(depth[i]), "dmax_cGy_per_MU": float(per_mu[i]),
                     "d10_cGy_per_MU": float(np.interp(100.0, depth, per_mu))}
        print(spec, out[spec], flush=True)
    return out


# ------------------------------------------------------------------------------------------ Monte Carlo


def mc_request(spec: str, column: str, n_histories: int) -> dict:
    """The check's output-factor field (imrt_second_check.output_factor_request), also for AxB fields and columns."""
    from planner.review import imrt_second_check as isc

    return isc.open_field_request(_field(spec), _field(column), isc.output_factor_depth_bounds_cm(), n_histories)


def _axis(request: dict, result: dict):
    d = np.asarray(result["dose_per_unit_weight_gy"]) * float(np.sum(request["weights"]))
    z = 0.5 * (request["z_bounds"][:-1] + request["z_bounds"][1:])
    return z, d, np.asarray(result["relative_uncertainty"])


def _plateau_and_10(request: dict, result: dict):
    """(d_max plateau dose, its k=1, dose at 9-11 cm as the check's output factor takes it, its k=1)."""
    from planner.review import imrt_second_check as isc

    z, d, u = _axis(request, result)
    p = (z > 1.1 - 1e-9) & (z < 2.1 + 1e-9)
    return (d[p].mean(), np.sqrt(np.sum(u[p] ** 2)) / p.sum(), *isc._dose_at_depth(request, result))


def monte_carlo(spec: str, column: str, n_histories: int, cache: Path, run: bool = True) -> dict | None:
    from planner.review import imrt_second_check as isc

    def runner(req, progress, cancel):
        if not run:
            raise LookupError("not cached")
        return isc.run_worker(req, progress, cancel)

    cal = isc.mc_calibration(cache, runner)
    cal_req = isc.calibration_request()
    cp, cpu, c10, c10u = _plateau_and_10(cal_req, isc.cached(cal_req, cache, runner, lambda f: None, lambda: False))
    req = mc_request(spec, column, n_histories)
    try:
        res = isc.cached(req, cache, runner, lambda f: None, lambda: False)
    except LookupError:
        return None
    p, pu, t, tu = _plateau_and_10(req, res)
    return {"field": spec, "column": column, "histories": n_histories, "seconds": res["seconds"],
            "d10_cGy_per_MU": float(t / cal.dose_per_unit_weight_at_dmax_gy), "unc10_percent": 100 * float(tu),
            "dmax_rel_10x10": float(p / cp), "unc_dmax_percent": 100 * float(math.hypot(pu, cpu)),
            "calibration": {"dmax_mm": cal.dmax_mm, "pdd10_percent": cal.pdd10_percent,
                            "d10_cGy_per_MU_9_11cm": float(c10 / cal.dose_per_unit_weight_at_dmax_gy),
                            "unc10_percent": 100 * float(c10u)}}


# MC runs behind the table (field, scoring column, histories): k=1 at 10 cm 0.6-0.8 %
MC_RUNS = (("2", "0.6", 2e6), ("3", "1", 2e6), ("4", "1", 2e6), ("5", "1.5", 3e6), ("6", "1.5", 3e6),
           ("10", "2", 4e6), ("20", "3", 4e6), ("3x1", "0.6x0.4", 2e6))


def table(cache: Path) -> None:
    from planner.review.imrt_second_check import MEASURED_OUTPUT_FACTORS as RPC_ELEKTA_6MV

    pb = pencil_beam([s for s, _, _ in MC_RUNS])
    mc = {s: monte_carlo(s, c, int(n), cache, run=False) for s, c, n in MC_RUNS}
    some = next(v for v in mc.values() if v)
    # MC 10 x 10 at 10 cm: the calibration run (3 x 3 cm2 column) and, if run, this script's own 10 x 10 (2 x 2 cm2
    # column), inverse-variance weighted
    ests = [(some["calibration"]["d10_cGy_per_MU_9_11cm"], some["calibration"]["unc10_percent"])]
    if mc.get("10"):
        ests.append((mc["10"]["d10_cGy_per_MU"], mc["10"]["unc10_percent"]))
    wts = [1 / u ** 2 for _, u in ests]
    mc10 = sum(v * w for (v, _), w in zip(ests, wts)) / sum(wts)
    print("MC 10 x 10 at 10 cm estimates (cGy/MU, k=1 %):", ests, f"-> {mc10:.4f} +- {1 / math.sqrt(sum(wts)):.2f} %")
    pb10, pbm = pb["10"]["d10_cGy_per_MU"], pb["10"]["dmax_cGy_per_MU"]
    print(f"\n10 x 10: PB {pb10:.4f} cGy/MU at 10 cm (d_max {pb['10']['dmax_mm']:.1f} mm); MC {mc10:.4f} "
          f"(calibration d_max {some['calibration']['dmax_mm']:.1f} mm, PDD10 {some['calibration']['pdd10_percent']:.1f} %)")
    print(f"{'field cm':>8} | {'PB d10':>7} {'MC d10':>7} {'±k=1':>5} | {'PB/10':>6} {'MC/10':>6} {'Elekta':>6} {'Siemens':>7} | "
          f"{'PB/MC':>6} {'MC/El':>6} {'PB/El':>6} | {'PB dmax/10':>10} {'MC dmax/10':>10}")
    for s, _, _ in MC_RUNS:
        m = mc[s]
        fx, fy = _field(s)
        el = RPC_ELEKTA_6MV.get(fx) if fx == fy else None
        si = RPC_SIEMENS_6MV.get(fx) if fx == fy else None
        pr = pb[s]["d10_cGy_per_MU"] / pb10
        if m is None:
            print(f"{s:>8} | {pb[s]['d10_cGy_per_MU']:7.4f} {'-':>7} {'':>5} | {pr:6.3f} {'-':>6} "
                  f"{el or float('nan'):6.3f} {si or float('nan'):7.3f} | (MC not run)")
            continue
        mr = m["d10_cGy_per_MU"] / mc10
        print(f"{s:>8} | {pb[s]['d10_cGy_per_MU']:7.4f} {m['d10_cGy_per_MU']:7.4f} {m['unc10_percent']:4.1f}% | {pr:6.3f} {mr:6.3f} "
              f"{el or float('nan'):6.3f} {si or float('nan'):7.3f} | {pb[s]['d10_cGy_per_MU'] / m['d10_cGy_per_MU']:6.3f} "
              f"{(mr / el) if el else float('nan'):6.3f} {(pr / el) if el else float('nan'):6.3f} | "
              f"{pb[s]['dmax_cGy_per_MU'] / pbm:10.3f} {m['dmax_rel_10x10']:10.3f}")


# ------------------------------------------------------------------------------------------ the plan


def segments(folder: Path, point_mm=None) -> None:
    """Open area of every segment (cm2 at the isocentre plane, jaws applied), MU-weighted; with a point, the
    segments whose aperture covers the point's projection."""
    from planner.review import imrt_second_check as isc

    beams, _, _ = isc.read_plan(folder / "RTPLAN.dcm")
    rows = []
    for k, b in enumerate(beams):
        bd = b.boundaries_mm
        if point_mm is not None:
            g = math.radians(b.gantry_deg)
            ex, d = np.array([math.cos(g), math.sin(g), 0.0]), np.array([-math.sin(g), math.cos(g), 0.0])
            r = np.asarray(point_mm) - b.isocentre_mm
            scale = b.sad_mm / (b.sad_mm + r @ d)
            px, py = (r @ ex) * scale, r[2] * scale
            pair = int(np.searchsorted(bd, py) - 1)
        for s in b.segments[::2]:      # read_plan halves each step-and-shoot segment into two equal shapes
            across = isc._overlap(bd[:-1], bd[1:], *s.jaws_y_mm)
            left, right = np.maximum(s.left_mm, s.jaws_x_mm[0]), np.minimum(s.right_mm, s.jaws_x_mm[1])
            area = isc.segment_side_cm(b, s) ** 2
            at_point = bool(point_mm is not None and across[pair] > 0 and left[pair] <= px <= right[pair])
            rows.append((k, 2 * s.mu, area, at_point, (s.jaws_x_mm[1] - s.jaws_x_mm[0]) / 10,
                         (s.jaws_y_mm[1] - s.jaws_y_mm[0]) / 10))
    mu = np.array([r[1] for r in rows])
    area = np.array([r[2] for r in rows])
    order = np.argsort(area)
    cum = np.cumsum(mu[order]) / mu.sum()
    print(f"{len(rows)} segments, {mu.sum():.1f} MU per fraction, {len(beams)} beams; jaws x "
          f"{sorted({r[4] for r in rows})} cm, y {sorted({r[5] for r in rows})} cm")
    print("open area percentiles (segments) 0/10/25/50/75/90/100 %:", np.round(np.percentile(area, [0, 10, 25, 50, 75, 90, 100]), 1), "cm2")
    print(f"MU-weighted median open area {area[order][np.searchsorted(cum, 0.5)]:.1f} cm2; MU-weighted mean {np.average(area, weights=mu):.1f} cm2")
    for lo, hi in ((0, 4), (4, 9), (9, 16), (16, 25), (25, 49), (49, 400)):
        m = (area >= lo) & (area < hi)
        print(f"  {lo:>3}-{hi:<3} cm2: {m.sum():3d} segments, {100 * mu[m].sum() / mu.sum():5.1f} % of the MU")
    if point_mm is not None:
        at = np.array([r[3] for r in rows])
        print(f"point {tuple(point_mm)} mm: {at.sum()} segments open over its projection, {100 * mu[at].sum() / mu.sum():.1f} % "
              f"of the MU, their MU-weighted mean open area {np.average(area[at], weights=mu[at]):.1f} cm2")


def check(folder: Path, cache: Path, n_histories: int, cached_only: bool) -> None:
    """The check as planner.review.imrt_second_check makes it (output-commissioned), with its k table and the plan
    dose's sensitivity to the check region's place."""
    from planner.imaging.ct_series import load_ct_volume
    from planner.review import imrt_second_check as isc

    def runner(req, progress, cancel):
        if cached_only:
            raise SystemExit("not in the cache (--cached-only): " + isc._digest(req)[:12])
        return isc.run_worker(req, progress, cancel)

    result = isc.imrt_second_check(folder, cache_path=cache, runner=runner, n_histories=n_histories)
    print(result.message)
    c = result.output_correction.commissioning
    for row in zip(c.side_cm, c.measured, c.mc, c.mc_uncertainty_percent, c.k):
        print("  side {:4g} cm: OF measured {:.3f}, Monte Carlo {:.4f} (± {:.2f} % k=1), k {:.4f}".format(*row))
    print("point", result.point_mm, "-", result.point_choice, f"({result.n_histories} histories)")
    beams, fractions, _ = isc.read_plan(folder / "RTPLAN.dcm")
    grid = load_ct_volume(folder).grid
    axes = [np.asarray(grid.x_mm, float), np.asarray(grid.y_mm, float), np.asarray(grid.z_mm, float)]
    steps = [float(a[1] - a[0]) for a in axes]
    dose = isc._read_rt_dose(folder / "RTDOSE.dcm", *axes, fractions)
    idx = tuple(int(np.argmin(np.abs(a - c))) for a, c in zip(axes, result.point_mm))
    region = dose[isc._box(idx, steps, dose.shape)]
    print(f"plan dose in the region ({region.size} voxels): mean {region.mean():.4f}, min {region.min():.4f}, max "
          f"{region.max():.4f} Gy, spread {100 * (region.max() - region.min()) / region.mean():.1f} %")
    for ax in range(3):
        for step in (-1, 1):
            j = list(idx)
            j[ax] += step
            shifted = dose[isc._box(tuple(j), steps, dose.shape)].mean()
            print(f"  region moved {step:+d} voxel ({steps[ax]:g} mm) along {'xyz'[ax]}: plan mean "
                  f"{100 * (shifted / region.mean() - 1):+.2f} %")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("pb")
    p.add_argument("--fields", nargs="+", default=["2", "3", "4", "5", "6", "10", "20", "3x1"])
    p = sub.add_parser("mc")
    p.add_argument("field")
    p.add_argument("column")
    p.add_argument("histories", type=float)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p = sub.add_parser("segments")
    p.add_argument("folder", type=Path)
    p.add_argument("--point")
    p = sub.add_parser("check")
    p.add_argument("folder", type=Path)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--histories", type=float, default=3e6)
    p.add_argument("--cached-only", action="store_true")
    p = sub.add_parser("table")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    a = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    if a.what == "pb":
        pencil_beam(a.fields)
    elif a.what == "mc":
        print(json.dumps(monte_carlo(a.field, a.column, int(a.histories), a.cache)))
    elif a.what == "segments":
        segments(a.folder, [float(v) for v in a.point.split(",")] if a.point else None)
    elif a.what == "check":
        check(a.folder, a.cache, int(a.histories), a.cached_only)
    else:
        table(a.cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
