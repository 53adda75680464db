"""kV surface-beam dose engine: fitted spectra, interaction data, Monte Carlo beam data, TG-61 tables.

Pure Python + NumPy (SpekPy for spectra, xraylib for atomic data); no Qt. Heavy imports (SpekPy,
xraylib, SciPy) happen inside functions, so importing this package is cheap.
"""

from planner.dose.beam_data import BeamData, CalculationCancelled, Profile, compute_beam_data
from planner.dose.tg61 import tg61_backscatter_factor, tg61_mu_en_ratio_water_air

__all__ = ["BeamData", "CalculationCancelled", "Profile", "compute_beam_data",
           "tg61_backscatter_factor", "tg61_mu_en_ratio_water_air"]
