"""The RT ROI Interpreted Type (EXTERNAL, PTV, ORGAN, …) of each structure of the RT Structure Set a
CT volume was read with.

Why apart: a clinical protocol's structures are matched by name and type (planner.core.protocols.
matching), and the volume keeps only its structure set's UID; the IMRT window and ``planner imrt
--protocol`` read the types the same way, from the same file.
"""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from planner.core.volume import PlanningVolume
from planner.imaging.ct_series import CtSeriesError


def roi_interpreted_types(volume: PlanningVolume, folder, rtstruct=None) -> dict[str, str]:
    """{ROI name: RT ROI Interpreted Type ("" when not given)} of the structure set ``volume`` was read
    with: ``rtstruct`` when given, else the file in ``folder`` whose SOP Instance UID the volume
    records. Raises CtSeriesError when the volume has no structure set or its file is not there."""
    origin = volume.dicom_origin
    if origin is None:
        raise CtSeriesError(f"{folder}: no RT Structure Set with the CT, so no structures for the protocol")
    candidates = [Path(rtstruct)] if rtstruct else sorted(p for p in Path(folder).iterdir() if p.is_file())
    for path in candidates:
        try:
            ds = dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError):
            continue
        if str(ds.get("SOPInstanceUID", "")) == origin.structure_set_uid:
            names = {int(r.ROINumber): str(r.ROIName) for r in ds.get("StructureSetROISequence", [])}
            return {names[int(o.ReferencedROINumber)]: str(o.get("RTROIInterpretedType", "") or "")
                    for o in ds.get("RTROIObservationsSequence", []) if int(o.ReferencedROINumber) in names}
    raise CtSeriesError(f"the RT Structure Set {origin.structure_set_uid} the CT was read with is not in {folder}")
