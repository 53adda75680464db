"""CT numbers (HU) to relative electron density (water = 1), and back, for photon dose on a CT.

Why this table: it is the default Hounsfield look-up table (HLUT) of pyRadPlan 0.5.0, the matRad
re-implementation the IMRT engine is benchmarked against, so the same CT gives both systems the same
densities. Source, copied number for number:
  pyRadPlan 0.5.0 (BSD-3-Clause, (c) 2024 DKFZ; licence text in plugins/imrt_photon/data/
  LICENSE-pyRadPlan), file ``pyRadPlan/ct/_hlut.py``, function ``default_hlut()``; first column HU,
  second column the value pyRadPlan uses for every radiation mode. Units of the second column, as
  matRad's HLUT files state them (matRad ``dicom/hlutLibrary/matRad_default.hlut`` header):
  "Relative electron densities (photons) or stopping power (particles)", i.e. dimensionless,
  relative to water. (matRad's dicom/hlutLibrary/matRad_default.hlut, -1024 HU 0.00324 to 3071 HU
  2.53061 in six points, is a different curve; we follow pyRadPlan's.)
It is a generic curve, not a scanner calibration: a clinic replaces it with its own CT's
commissioned curve before treating anyone.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HLUT_HU", "HLUT_RELATIVE_ELECTRON_DENSITY", "HLUT_SOURCE", "AIR_HU",
           "hu_to_relative_electron_density", "relative_electron_density_to_hu"]

HLUT_SOURCE = "pyRadPlan 0.5.0 default_hlut() (pyRadPlan/ct/_hlut.py, BSD-3 DKFZ): HU -> relative electron density"

# pyRadPlan 0.5.0, pyRadPlan/ct/_hlut.py, default_hlut(): hus[0] (HU) and hus[1] (relative to water).
HLUT_HU = np.array([-1024.0, -999.0, -90.0, -45.0, 0.0, 100.0, 350.0, 3000.0])
HLUT_RELATIVE_ELECTRON_DENSITY = np.array([0.001, 0.001, 0.95, 0.99, 1.0, 1.095, 1.199, 2.505])

# The CT number written for air (any density at or below the table's 0.001); reads back as 0.001.
AIR_HU = -1000.0


def hu_to_relative_electron_density(hu) -> np.ndarray:
    """Piecewise linear between the table's points (as pyRadPlan's np.interp does).

    Outside the table the value is clamped, never extrapolated: below -1024 HU (the table's first
    point; the table is flat at 0.001 from -1024 to -999 HU, so anything below -999 HU is air) the
    density is 0.001, and above 3000 HU it stays 2.505. Clamping the top matches pyRadPlan, so a CT
    with metal (HU > 3000) gets the same densities in both systems; such a CT needs a metal-artefact
    and high-density review anyway, which no curve replaces.
    """
    return np.interp(np.asarray(hu, dtype=np.float64), HLUT_HU, HLUT_RELATIVE_ELECTRON_DENSITY)


def relative_electron_density_to_hu(density) -> np.ndarray:
    """The inverse on the table's strictly increasing part (-999 HU upward), for writing a CT.

    A density at or below 0.001 (air, or the 0 of a phantom's surroundings) becomes AIR_HU and reads
    back as 0.001; above 2.505 it becomes 3000 HU (the clamp of the forward table). Between, the
    round trip is exact up to the caller's rounding to whole HU.
    """
    rho = np.asarray(density, dtype=np.float64)
    hu = np.interp(rho, HLUT_RELATIVE_ELECTRON_DENSITY[1:], HLUT_HU[1:])
    return np.where(rho <= HLUT_RELATIVE_ELECTRON_DENSITY[1], AIR_HU, hu)
