"""How the cord's near-maximum (D0.03cc) on Planner's DVH depends on the lattice it is sampled on:
the measurement behind the planning margin of a plan scaled to its limits
(plugins/imrt_photon/protocol_plan.py, LIMITS_MARGIN).

Run: ``.venv/bin/python scripts/near_max_lattice.py CASE_DIR [--grid-mm 2.5]`` on a spine case written
by ``scripts/make_spine_phantom.py CASE_DIR --grid-mm 2.5``. It plans spine-sbrt-16gy-1fx with the
case's earlier course (as ``planner imrt`` does, without leaf sequencing), then reads the cord's
D0.03cc and D0.35cc on lattices of 0.5 (Planner's), 0.25, 0.125 and 0.0625 mm, the dose interpolated
as Planner's DVH interpolates it. Measured 2026-12-04 at 2.5 mm (2 min): D0.03cc 8.870, 8.989, 8.933,
8.939 Gy: the 0.5 mm reading 0.8 % below the converged one.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from planner.dicom.prior_dose_read import read_prior_course
from planner.dose import structure_dvh
from planner.dose.structure_dvh import StructureDvh, dose_at_samples_gy
from planner.imaging.ct_series import load_ct_volume, resample_volume
from planner.imaging.structure_types import roi_interpreted_types
from planner.core.protocols.protocol import load_protocol
from plugins.imrt_photon import planning
from plugins.imrt_photon.protocol_plan import protocol_plan

LATTICES_MM = (0.5, 0.25, 0.125, 0.0625)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", type=Path)
    parser.add_argument("--grid-mm", type=float, default=2.5)
    args = parser.parse_args()
    ct = args.case / "ct"
    volume = resample_volume(load_ct_volume(str(ct)), args.grid_mm)
    prior = read_prior_course(args.case / "prior" / "RTDOSE_prior.dcm", args.case / "prior" / "RTPLAN_prior.dcm")
    chosen = protocol_plan(volume, load_protocol("spine-sbrt-16gy-1fx"), roi_interpreted_types(volume, ct), prior=prior)
    volume, plan = chosen.volume, replace(chosen.plan, max_iterations=300)
    influence = planning.compute_dose_influence(volume, plan)
    result = planning.optimise_plan(volume, influence, plan, background=chosen.reirradiation,
                                    normalisation=chosen.normalisation)
    dose = planning.dose_grid_gy(volume, influence, result.dose_rows_gy)
    cord = chosen.mapping["SpinalCord"]
    shape = volume.shapes[cord]
    print(f"{cord} on the {args.grid_mm:g} mm dose grid; {result.normalisation_text}")
    for finest in LATTICES_MM:
        structure_dvh.FINEST_SAMPLE_SPACING_MM = finest
        t0 = time.perf_counter()
        samples = structure_dvh.sample_shape(cord, shape, volume.grid.spacing_mm, "contours",
                                             z_unit_mm=getattr(shape, "slab_mm", None), max_points=10**9)
        dvh = StructureDvh(cord, dose_at_samples_gy(samples, volume.grid, dose), samples.cell_cc)
        print(f"lattice {finest:6.4f} mm  {samples.inside.size:>11,} samples  {samples.volume_cc:6.3f} cc  "
              f"D0.03cc {dvh.dose_at_volume_cc_gy(0.03):7.3f} Gy  D0.35cc {dvh.dose_at_volume_cc_gy(0.35):7.3f} Gy  "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
