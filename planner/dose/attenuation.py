"""Photon interaction data for water and air, 1–200 keV, built once from xraylib's atomic data.

Data source: xraylib (Schoonjans T et al., "The xraylib library for X-ray–matter interactions. Recent
developments", Spectrochim Acta B 66:776–784, 2011; PyPI `xraylib`):
  - photoelectric cross-sections per element: `CS_Photo` (cm²/g);
  - atomic form factors F(q,Z): `FF_Rayl`; incoherent scattering functions S(q,Z): `SF_Compt`
    (tabulations of Hubbell et al., J Phys Chem Ref Data 4:471, 1975, as distributed with xraylib);
  - K-shell jump factors, fluorescence yields and Kα energies for the fluorescence-escape term of μen.
Element mass fractions of the materials are NIST's ("Water, Liquid"; "Air, Dry (near sea level)"), read
from xraylib's copy of the NIST compound list.

Why the scattering cross-sections are integrated here rather than taken from `CS_Compt`/`CS_Rayl`: the
Monte Carlo samples angles from Klein–Nishina × S(q) and Thomson × F²(q); integrating exactly those
differential cross-sections makes the interaction probabilities and the angular sampling (and the
next-event estimator's angular density) mutually consistent. The integrals agree with xraylib's own
`CS_Compt`/`CS_Rayl` and the totals with NIST XCOM (tests/dose/test_attenuation.py).

Why μen/ρ is computed rather than read from `CS_Energy`: xraylib 4.3.0's `CS_Energy` departs from the NIST
Hubbell–Seltzer μen/ρ by up to ~35 % between grid points (e.g. O at 30 keV; open issues
tschoonj/xraylib#176 and #255). We compute μen/ρ the way Hubbell & Seltzer define it for low-Z media:
photoelectric absorption minus K-fluorescence escape, plus the mean Compton energy transfer
∫ dσ_KN·S·(1 − E'/E); radiative losses of the secondary electrons (g < 0.1 % below 200 keV in water)
are neglected. It reproduces NIST's table (physics-data §2.5) within 0.1 % at 10–150 keV.

Conventions: energies in keV; q = sin(θ/2)·E/(hc) in Å⁻¹ (xraylib's momentum transfer); cross-sections
in cm²/g; Z per element.
"""

from __future__ import annotations

import functools
import importlib.metadata
from dataclasses import dataclass, field

import numpy as np

HC_KEV_ANGSTROM = 12.398419843320026          # CODATA 2018: h·c in keV·Å
ELECTRON_REST_ENERGY_KEV = 510.99895000       # CODATA 2018
CLASSICAL_ELECTRON_RADIUS_CM = 2.8179403262e-13  # CODATA 2018
AVOGADRO_PER_MOL = 6.02214076e23

E_MIN_KEV = 1.0
E_MAX_KEV = 200.0
E_STEP_KEV = 0.05
_Q_MIN_TABULATED = 1.0e-3      # xraylib's S(q) tables start here for Z > 1; below, S ∝ q²
_Q_MAX = 1.05 * E_MAX_KEV / HC_KEV_ANGSTROM


@dataclass(frozen=True)
class Material:
    name: str
    nist_name: str
    elements_z: tuple[int, ...]
    mass_fractions: tuple[float, ...]
    density_g_cm3: float


def _nist_material(name: str, nist_name: str) -> Material:
    import xraylib

    d = xraylib.GetCompoundDataNISTByName(nist_name)
    return Material(name, nist_name, tuple(int(z) for z in d["Elements"]),
                    tuple(float(w) for w in d["massFractions"]), float(d["density"]))


@functools.cache
def water() -> Material:
    return _nist_material("water", "Water, Liquid")


@functools.cache
def air() -> Material:
    return _nist_material("air", "Air, Dry (near sea level)")


def xraylib_version() -> str:
    return importlib.metadata.version("xraylib")


def klein_nishina_per_electron_cm2_sr(e_kev, cos_theta):
    """dσ_KN/dΩ per free electron at rest (cm²/sr)."""
    e = np.asarray(e_kev, dtype=float)
    mu = np.asarray(cos_theta, dtype=float)
    ratio = 1.0 / (1.0 + (e / ELECTRON_REST_ENERGY_KEV) * (1.0 - mu))   # E'/E
    return 0.5 * CLASSICAL_ELECTRON_RADIUS_CM ** 2 * ratio ** 2 * (ratio + 1.0 / ratio - (1.0 - mu * mu))


def thomson_per_electron_cm2_sr(cos_theta):
    mu = np.asarray(cos_theta, dtype=float)
    return 0.5 * CLASSICAL_ELECTRON_RADIUS_CM ** 2 * (1.0 + mu * mu)


def momentum_transfer_inv_angstrom(e_kev, cos_theta):
    return np.asarray(e_kev) / HC_KEV_ANGSTROM * np.sqrt(np.clip(0.5 * (1.0 - np.asarray(cos_theta)), 0.0, 1.0))


@dataclass(frozen=True)
class InteractionData:
    """Tabulated interaction data of one material, ready for fast lookup in the Monte Carlo.

    Energy grid: uniform, `E_STEP_KEV` steps from `E_MIN_KEV` to `E_MAX_KEV` (linear interpolation; the
    step is fine enough that the error is < 0.05 % for water above 5 keV).
    q grid: S_per_g(q) = Σ_i (w_i N_A / A_i) S_i(q) and F2_per_g(q) = Σ_i (w_i N_A / A_i) F_i(q)²
    (independent-atom approximation), so that dσ/dΩ per gram = (KN or Thomson per electron) × S or F².
    """

    material: Material
    energy_kev: np.ndarray = field(repr=False)
    photo_cm2_g: np.ndarray = field(repr=False)
    incoherent_cm2_g: np.ndarray = field(repr=False)
    coherent_cm2_g: np.ndarray = field(repr=False)
    total_cm2_g: np.ndarray = field(repr=False)
    energy_absorption_cm2_g: np.ndarray = field(repr=False)   # μen/ρ
    q_inv_angstrom: np.ndarray = field(repr=False)
    s_per_g: np.ndarray = field(repr=False)
    f2_per_g: np.ndarray = field(repr=False)
    q2_grid: np.ndarray = field(repr=False)                   # for Rayleigh sampling: q² and ∫F² d(q²)
    f2_cumulative: np.ndarray = field(repr=False)
    source: str

    def index(self, e_kev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower grid index and fractional position, for linear interpolation in all energy tables."""
        x = (np.asarray(e_kev, dtype=float) - E_MIN_KEV) / E_STEP_KEV
        x = np.clip(x, 0.0, len(self.energy_kev) - 1.000001)
        i = x.astype(np.intp)
        return i, x - i

    @staticmethod
    def lookup(table: np.ndarray, i: np.ndarray, frac: np.ndarray) -> np.ndarray:
        return table[i] + frac * (table[i + 1] - table[i])

    def at(self, table_name: str, e_kev) -> np.ndarray:
        i, f = self.index(e_kev)
        return self.lookup(getattr(self, table_name), i, f)

    def s_of_q(self, q) -> np.ndarray:
        return np.interp(q, self.q_inv_angstrom, self.s_per_g)

    def f2_of_q(self, q) -> np.ndarray:
        return np.interp(q, self.q_inv_angstrom, self.f2_per_g)

    def incoherent_dcs_cm2_g_sr(self, e_kev, cos_theta) -> np.ndarray:
        return klein_nishina_per_electron_cm2_sr(e_kev, cos_theta) * self.s_of_q(
            momentum_transfer_inv_angstrom(e_kev, cos_theta))

    def coherent_dcs_cm2_g_sr(self, e_kev, cos_theta) -> np.ndarray:
        return thomson_per_electron_cm2_sr(cos_theta) * self.f2_of_q(momentum_transfer_inv_angstrom(e_kev, cos_theta))


def _q_grid() -> np.ndarray:
    return np.concatenate([[0.0], np.geomspace(1e-4, _Q_MAX, 3000)])


def _atomic_s_f(z: int, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import xraylib

    s = np.zeros_like(q)
    f = np.empty_like(q)
    q0 = _Q_MIN_TABULATED
    s0 = xraylib.SF_Compt(z, q0)
    for k, qk in enumerate(q):
        f[k] = xraylib.FF_Rayl(z, float(qk))
        if qk >= q0:
            s[k] = xraylib.SF_Compt(z, float(qk))
        else:
            s[k] = s0 * (qk / q0) ** 2      # S(q) → 0 as q² for small q (sum rule)
    return s, f


def _integrate_dcs(e_kev: np.ndarray, dcs) -> np.ndarray:
    """σ(E) = 2π ∫ dσ/dΩ dcosθ, on a cosθ grid dense near 1 where F and S change fastest."""
    t = np.concatenate([[0.0], np.geomspace(1e-7, 2.0, 4000)])   # t = 1 − cosθ
    mu = 1.0 - t
    out = np.empty_like(e_kev)
    for k, e in enumerate(e_kev):
        out[k] = 2.0 * np.pi * np.trapezoid(dcs(e, mu), t)
    return out


def _fluorescence_escape_kev(z: int, e_kev: np.ndarray) -> np.ndarray:
    """Mean K-fluorescence energy escaping per photoabsorption in element z (keV)."""
    import xraylib

    try:
        edge = xraylib.EdgeEnergy(z, xraylib.K_SHELL)
        omega = xraylib.FluorYield(z, xraylib.K_SHELL)
        jump = xraylib.JumpFactor(z, xraylib.K_SHELL)
        line = xraylib.LineEnergy(z, xraylib.KA_LINE)
    except ValueError:
        return np.zeros_like(e_kev)
    p_k = 1.0 - 1.0 / jump if jump > 1 else 0.0
    return np.where(e_kev > edge, p_k * omega * line, 0.0)


@functools.cache
def interaction_data(material_name: str) -> InteractionData:
    """Tables for "water" or "air" (built in ~1 s, then cached for the process)."""
    import xraylib

    mat = {"water": water, "air": air}[material_name]()
    energy = np.arange(E_MIN_KEV, E_MAX_KEV + 0.5 * E_STEP_KEV, E_STEP_KEV)
    q = _q_grid()
    s_g = np.zeros_like(q)
    f2_g = np.zeros_like(q)
    photo = np.zeros_like(energy)
    photo_absorbed = np.zeros_like(energy)
    for z, w in zip(mat.elements_z, mat.mass_fractions):
        atoms_per_g = w * AVOGADRO_PER_MOL / xraylib.AtomicWeight(z)
        s, f = _atomic_s_f(z, q)
        s_g += atoms_per_g * s
        f2_g += atoms_per_g * f * f
        pe = np.array([xraylib.CS_Photo(z, float(e)) for e in energy]) * w
        photo += pe
        photo_absorbed += pe * (1.0 - _fluorescence_escape_kev(z, energy) / energy)

    def s_of(qq):
        return np.interp(qq, q, s_g)

    def f2_of(qq):
        return np.interp(qq, q, f2_g)

    coarse = np.geomspace(E_MIN_KEV, E_MAX_KEV, 240)
    inc = _integrate_dcs(coarse, lambda e, mu: klein_nishina_per_electron_cm2_sr(e, mu)
                         * s_of(momentum_transfer_inv_angstrom(e, mu)))
    coh = _integrate_dcs(coarse, lambda e, mu: thomson_per_electron_cm2_sr(mu)
                         * f2_of(momentum_transfer_inv_angstrom(e, mu)))
    # Mean Compton energy transfer: ∫ dσ_KN·S·(1 − E'/E) dΩ (binding energy deposited locally: low-Z media).
    tr = _integrate_dcs(coarse, lambda e, mu: klein_nishina_per_electron_cm2_sr(e, mu)
                        * s_of(momentum_transfer_inv_angstrom(e, mu))
                        * (1.0 - 1.0 / (1.0 + e / ELECTRON_REST_ENERGY_KEV * (1.0 - mu))))

    def loglog(y):
        return np.exp(np.interp(np.log(energy), np.log(coarse), np.log(y)))

    incoherent = loglog(inc)
    coherent = loglog(coh)
    mu_en = photo_absorbed + loglog(tr)
    q2 = q * q
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (f2_g[1:] + f2_g[:-1]) * np.diff(q2))])

    def ro(a):
        a = np.asarray(a, dtype=float)
        a.setflags(write=False)
        return a

    source = (f"xraylib {xraylib_version()} atomic data (CS_Photo; FF_Rayl and SF_Compt, Hubbell et al. 1975); "
              f"NIST composition '{mat.nist_name}'; scattering cross-sections and μen/ρ integrated in "
              f"planner.dose.attenuation")
    return InteractionData(
        material=mat, energy_kev=ro(energy), photo_cm2_g=ro(photo), incoherent_cm2_g=ro(incoherent),
        coherent_cm2_g=ro(coherent), total_cm2_g=ro(photo + incoherent + coherent),
        energy_absorption_cm2_g=ro(mu_en), q_inv_angstrom=ro(q), s_per_g=ro(s_g), f2_per_g=ro(f2_g),
        q2_grid=ro(q2), f2_cumulative=ro(cum), source=source)


def mass_attenuation_cm2_g(material_name: str, e_kev) -> np.ndarray:
    """Total μ/ρ (photoelectric + incoherent + coherent), cm²/g."""
    return interaction_data(material_name).at("total_cm2_g", e_kev)


def mass_energy_absorption_cm2_g(material_name: str, e_kev) -> np.ndarray:
    """μen/ρ, cm²/g (see module docstring for how it is obtained)."""
    return interaction_data(material_name).at("energy_absorption_cm2_g", e_kev)


def cross_sections_cm2_g(material_name: str, e_kev) -> dict[str, np.ndarray]:
    d = interaction_data(material_name)
    return {name: d.at(f"{name}_cm2_g", e_kev)
            for name in ("photo", "incoherent", "coherent", "total", "energy_absorption")}
