"""A planning volume: the voxels an IMRT plan is computed on, whatever they came from.

A DICOM CT series with its RT Structure Set and the built-in TG-119 phantom both become this one
value, so the dose engine, the optimiser, the exports and the window never ask where the voxels
came from. Coordinates are the patient's (DICOM LPS, mm): x towards the patient's left, y
posterior, z superior; arrays are indexed [x, y, z].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class VoxelGrid:
    """Voxel centres along x, y and z in mm, each evenly spaced and increasing."""

    x_mm: np.ndarray
    y_mm: np.ndarray
    z_mm: np.ndarray

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        return tuple(float(a[1] - a[0]) if a.size > 1 else 1.0 for a in (self.x_mm, self.y_mm, self.z_mm))

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.x_mm.size, self.y_mm.size, self.z_mm.size)

    @property
    def origin_mm(self) -> np.ndarray:
        """The first voxel's centre."""
        return np.array([self.x_mm[0], self.y_mm[0], self.z_mm[0]])

    @property
    def voxel_volume_cm3(self) -> float:
        sx, sy, sz = self.spacing_mm
        return sx * sy * sz / 1000.0


@dataclass(frozen=True)
class DicomOrigin:
    """The patient's own structure set a CT volume was read with: an export references it (and the
    CT beside it) instead of writing copies of them resampled to the dose grid.

    `patient_study` holds the Patient and General Study attributes as read, keyed like
    planner.dicom.identity.PatientStudy's fields (plain strings: core knows no DICOM library).
    """

    structure_set_uid: str
    roi_numbers: tuple[tuple[str, int], ...]
    patient_study: tuple[tuple[str, str], ...]

    def roi_number(self, name: str) -> int | None:
        return dict(self.roi_numbers).get(name)


@dataclass(frozen=True, eq=False)
class PlanningVolume:
    """Relative electron density (water = 1) and structure masks on one grid.

    `masks` maps a structure's name (as its RT Structure Set calls it) to a boolean array of the
    grid's shape. `density` is what the dose engine traces rays through.
    """

    grid: VoxelGrid
    density: np.ndarray
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    isocentre_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    description: str = ""
    # The CT's Frame of Reference UID, when the voxels came from DICOM (RT exports must reuse it).
    frame_of_reference_uid: str | None = None
    # The CT series' Study Instance UID, for the same reason.
    study_instance_uid: str | None = None
    # The CT's patient (DICOM Patient's Name and Patient ID): an export must not change whose plan it is.
    patient_name: str = ""
    patient_id: str = ""
    # Set when the volume was read from a CT with its RT Structure Set; None for the phantom.
    dicom_origin: DicomOrigin | None = None
    # Each structure's shape below the voxel (planner.core.structure_geometry: the structure set's
    # polygons, or the phantom's analytic shapes), kept through resampling; the DVH samples these.
    # A structure without one is sampled as its mask's voxels.
    shapes: dict = field(default_factory=dict)

    def volume_cm3(self, name: str) -> float:
        return float(self.masks[name].sum()) * self.grid.voxel_volume_cm3
