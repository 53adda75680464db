#!/usr/bin/env python3
"""Write the thoracic-spine phantom as a CT series with its RT Structure Set, and an earlier course's
RT Dose for it (synthetic, issue 18).

Run: ``.venv/bin/python scripts/make_spine_phantom.py OUT_DIR [--grid-mm 2.5]``. Writes
  OUT_DIR/ct/                  CT0001.dcm… and rtstruct.dcm: ``planner imrt --ct OUT_DIR/ct``
  OUT_DIR/prior/               RTDOSE_prior.dcm, 30 Gy in 10 fractions over the cord, on the CT's
                               frame of reference, and RTPLAN_prior.dcm, the RT Plan it references,
                               which records the 10 fractions (``--prior-fractions 10``)
  OUT_DIR/prior_other_frame/   the same course on another frame of reference and study, which a
                               re-irradiation plan on this CT must refuse
The phantom and the prior dose's model are plugins/imrt_photon/spine_phantom.py. UIDs come from a
fixed seed and the dates are fixed, so a second run gives byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from pydicom import dcmread

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # allow running without an editable install
    sys.path.insert(0, str(REPO_ROOT))

from planner.dicom.ct_series_writer import write_ct_series  # noqa: E402
from planner.dicom.identity import ExportIdentity, PatientStudy, dicom_date, dicom_time  # noqa: E402
from planner.dicom.prior_dose import PriorCourse, write_prior_course  # noqa: E402
from planner.imaging.dicom_writer import seeded_uid  # noqa: E402
from plugins.imrt_photon.spine_phantom import (PRIOR_FRACTIONS, PRIOR_TOTAL_DOSE_GY, prior_dose_gy,  # noqa: E402
                                               spine_phantom)

PATIENT_NAME = "SPINE^Thoracic phantom"
PATIENT_ID = "SPINE-PHANTOM"
UID_SEED = "planner-spine-phantom-v1"
CREATED = dt.datetime(2024, 9, 2, 10, 0, 0)
PRIOR_CREATED = dt.datetime(2024, 3, 4, 9, 0, 0)     # the earlier course: six months before the CT
DEFAULT_GRID_MM = 2.5
STUDY_DESCRIPTION = "Thoracic spine phantom (synthetic, not a patient)"
PRIOR_COURSE = PriorCourse("Prior T-spine", PRIOR_TOTAL_DOSE_GY, PRIOR_FRACTIONS,
                           "Analytic AP/PA pair over the cord (plugins/imrt_photon/spine_phantom.py), synthetic.")


@dataclass(frozen=True)
class SpineCase:
    ct_folder: Path
    ct_files: tuple[Path, ...]       # CT slices in z order, then rtstruct.dcm
    prior_plan: Path
    prior_dose: Path
    other_frame_plan: Path
    other_frame_dose: Path


def _patient_study(study_uid: str, when: dt.datetime) -> PatientStudy:
    return PatientStudy(patient_name=PATIENT_NAME, patient_id=PATIENT_ID, patient_birth_date="", patient_sex="",
                        study_instance_uid=study_uid, study_date=dicom_date(when), study_time=dicom_time(when),
                        study_id="1", accession_number="", referring_physician_name="",
                        study_description=STUDY_DESCRIPTION)


def write_spine_case(out: Path, grid_mm: float = DEFAULT_GRID_MM) -> SpineCase:
    """Write the CT, its structure set and both earlier-course variants under ``out`` (replacing earlier ones)."""
    out = Path(out)
    seed = f"{UID_SEED}-{grid_mm:g}mm"
    frame, study = seeded_uid(seed, "frame-of-reference"), seeded_uid(seed, "study")
    volume = replace(spine_phantom(grid_mm), frame_of_reference_uid=frame, study_instance_uid=study)
    ct_files = write_ct_series(volume, out / "ct", PATIENT_NAME, PATIENT_ID, uid_seed=seed, created=CREATED,
                               overwrite=True, study_description=STUDY_DESCRIPTION,
                               series_description=f"Thoracic spine phantom {grid_mm:g} mm (synthetic)")
    structure_set_uid = str(dcmread(ct_files[-1], stop_before_pixels=True).SOPInstanceUID)
    dose = prior_dose_gy(volume.grid)
    same = ExportIdentity(_patient_study(study, CREATED), frame, None, PRIOR_CREATED)
    plan, rt_dose = write_prior_course(out / "prior", PRIOR_COURSE, dose, volume.grid, same,
                                       plan_uid=seeded_uid(seed, "prior-plan"), dose_uid=seeded_uid(seed, "prior-dose"),
                                       heterogeneity_correction="WATER", structure_set_uid=structure_set_uid,
                                       overwrite=True)
    # another scan's frame and study: nothing of this CT's structure set can be referenced there
    other = ExportIdentity(_patient_study(seeded_uid(seed, "other-study"), PRIOR_CREATED),
                           seeded_uid(seed, "other-frame-of-reference"), None, PRIOR_CREATED)
    other_plan, other_dose = write_prior_course(
        out / "prior_other_frame", PRIOR_COURSE, dose, volume.grid, other,
        plan_uid=seeded_uid(seed, "other-prior-plan"), dose_uid=seeded_uid(seed, "other-prior-dose"),
        heterogeneity_correction="WATER", overwrite=True)
    return SpineCase(out / "ct", tuple(ct_files), plan, rt_dose, other_plan, other_dose)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (created if missing)")
    parser.add_argument("--grid-mm", type=float, default=DEFAULT_GRID_MM,
                        help="voxel size of the CT and the prior dose (2.5 or 5 put the structures' ends on slices)")
    args = parser.parse_args(argv)
    if not args.grid_mm > 0:
        parser.error(f"--grid-mm must be positive, got {args.grid_mm:g}")
    case = write_spine_case(args.out, args.grid_mm)
    print(f"wrote {len(case.ct_files) - 1} CT slices and rtstruct.dcm into {case.ct_folder}")
    print(f"wrote the earlier course ({PRIOR_COURSE.summary}) on the CT's frame: {case.prior_dose} "
          f"(its fractions in {case.prior_plan.name}; on the command line --prior-fractions {PRIOR_FRACTIONS})")
    print(f"wrote the same course on another frame of reference: {case.other_frame_dose}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
