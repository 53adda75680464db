"""6 MV photon beam data: the SVD pencil-beam kernel of Bortfeld, Schlegel & Rhein (Med Phys
20(2):311-318, 1993) as tabulated for matRad's generic 6 MV machine (Wieser et al., Med Phys
44(6):2556-2568, 2017).

Data file: data/photons_generic_6mv_svd.npz, extracted by data/extract_generic_photon_machine.py from
pyRadPlan 0.5.0 (PyPI `pyradplan`), file pyRadPlan/data/machines/photons_Generic.mat (machine
meta: created 22-Apr-2026, "kernels normalised 1/mm^2"), BSD 3-Clause licence, Copyright (c) 2024
DKFZ (text in data/LICENSE-pyRadPlan). Every 5th of its 501 SSD columns (500-1000 mm) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA_FILE = Path(__file__).with_name("data") / "photons_generic_6mv_svd.npz"


@dataclass(frozen=True)
class SvdKernelMachine:
    """Bortfeld's model: D(d, r) = (SAD/l)^2 sum_c beta_c/(beta_c - m) (e^{-m d} - e^{-beta_c d})
    [F (x) G_penumbra (x) K_c](r), d radiological depth, r lateral distance at the isocentre plane.
    """

    betas_per_mm: np.ndarray  # (3,) build-up coefficients of the three kernel components
    m_per_mm: float  # effective primary attenuation coefficient
    kernel_ssd_mm: np.ndarray  # (n_ssd,)
    kernel_radius_mm: np.ndarray  # (n_r,), 0.5 mm steps
    kernels_per_mm2: np.ndarray  # (n_ssd, 3, n_r)
    penumbra_fwhm_at_iso_mm: float
    sad_mm: float
    source: str

    def kernels_at_ssd(self, ssd_mm: float) -> np.ndarray:
        """(3, n_r) kernels tabulated nearest to ssd_mm (as matRad picks the central ray's SSD)."""
        i = int(np.argmin(np.abs(self.kernel_ssd_mm - ssd_mm)))
        return self.kernels_per_mm2[i].astype(float)

    def depth_factors(self, depth_mm: np.ndarray) -> np.ndarray:
        """(3, n) beta/(beta - m) (e^{-m d} - e^{-beta d}): Bortfeld 1993 eq. for the depth terms."""
        b = self.betas_per_mm[:, None]
        m = self.m_per_mm
        d = np.asarray(depth_mm, dtype=float)[None, :]
        return b / (b - m) * (np.exp(-m * d) - np.exp(-b * d))


@lru_cache(maxsize=1)
def generic_6mv() -> SvdKernelMachine:
    with np.load(DATA_FILE) as d:
        return SvdKernelMachine(
            betas_per_mm=d["betas_per_mm"].astype(float),
            m_per_mm=float(d["m_per_mm"]),
            kernel_ssd_mm=d["kernel_ssd_mm"].astype(float),
            kernel_radius_mm=d["kernel_radius_mm"].astype(float),
            kernels_per_mm2=d["kernels_per_mm2"],
            penumbra_fwhm_at_iso_mm=float(d["penumbra_fwhm_at_iso_mm"]),
            sad_mm=float(d["sad_mm"]),
            source=str(d["source"]),
        )
