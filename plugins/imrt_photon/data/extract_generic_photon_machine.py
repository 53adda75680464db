"""Writes photons_generic_6mv_svd.npz from pyRadPlan's photons_Generic.mat (run in the pyRadPlan venv).

    benchmarks/.venv-pyradplan/bin/python plugins/imrt_photon/data/extract_generic_photon_machine.py

Kept so the data file can be regenerated and audited; Planner itself reads only the .npz.
"""

from importlib import resources
from pathlib import Path

import numpy as np
import pymatreader
import pyRadPlan

SSD_STEP = 5  # keep every 5th tabulated SSD (1 mm apart in the source): kernels vary slowly with SSD

src = resources.files("pyRadPlan") / "data" / "machines" / "photons_Generic.mat"
machine = pymatreader.read_mat(str(src))["machine"]
data, meta = machine["data"], machine["meta"]
kernel = data["kernel"]
ssd_mm = np.asarray(kernel["SSD"], dtype=float)[::SSD_STEP]
kernels = np.stack([np.asarray(kernel[f"kernel{i}"], dtype=float)[::SSD_STEP] for i in (1, 2, 3)],
                   axis=1)  # [ssd, component, radius]
np.savez_compressed(
    Path(__file__).with_name("photons_generic_6mv_svd.npz"),
    betas_per_mm=np.asarray(data["betas"], dtype=float),
    m_per_mm=np.float64(data["m"]),
    kernel_ssd_mm=ssd_mm,
    kernel_radius_mm=np.asarray(data["kernelPos"], dtype=float),
    kernels_per_mm2=kernels.astype(np.float32),
    primary_fluence_radius_mm=np.asarray(data["primaryFluence"])[:, 0].astype(float),
    primary_fluence_relative=np.asarray(data["primaryFluence"])[:, 1].astype(float),
    penumbra_fwhm_at_iso_mm=np.float64(data["penumbraFWHMatIso"]),
    sad_mm=np.float64(meta["SAD"]),
    scd_mm=np.float64(meta["SCD"]),
    source=np.str_(f"pyRadPlan {pyRadPlan.__version__} pyRadPlan/data/machines/photons_Generic.mat, "
                   f"machine.meta.created_on {meta['created_on']}: {meta['description']}"),
)
print("written; source pyRadPlan", pyRadPlan.__version__)
