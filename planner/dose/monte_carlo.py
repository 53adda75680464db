"""Vectorised Monte Carlo photon transport in a water phantom for kilovoltage surface beams.

Geometry (all lengths in cm inside this module): a point source at z = −SSD on the central axis emits
photons isotropically into the cone that covers a circular field of diameter d at the phantom surface
(z = 0): a divergent beam, no collimator scatter, vacuum between source and surface (the spectrum,
fitted to a *measured* HVL, already carries the effect of air). The phantom is a water cylinder of
radius R and depth D (defaults 20 cm × 20 cm: larger than the ≥ 15 × 10 cm the backscatter needs at
≤ 100 kV); photons leaving it are discarded, photons leaving through the top never return.

Physics per interaction (data from planner.dose.attenuation): photoelectric absorption handled by
implicit capture (the photon weight is multiplied by the scattering probability, so every collision
scatters; Russian roulette ends low-weight photons without bias); incoherent scattering sampled from
Klein–Nishina (Kahn's rejection method, as in the MCNP manual) with rejection on the incoherent
scattering function S(q)/S_max — the binding correction that suppresses forward Compton scattering;
coherent (Rayleigh) scattering sampled from F²(q) (inverse cumulative in q²) with rejection on the
Thomson factor (1 + cos²θ)/2. Electrons are not transported: at ≤ 100 kV their ranges (< 0.15 mm) are
below the scoring resolution, so dose ≈ collision kerma = fluence × E × μen/ρ of water.

Scoring (all fluence-based, so every photon track contributes rather than rare local deposits):
  * primary (uncollided) kerma is computed exactly at every scoring point: spectrum × inverse square ×
    exp(−μ·path) × E·μen/ρ (and the filter transmission), so only the scatter carries noise;
  * scatter kerma by the track-length estimator: w·E·μen/ρ(E)·(track length)/volume, in cylinder bins
    of radius r_c and height h (0.5 mm) centred on the PDD depths (the first bin is [0, h/2]) and in
    annuli of slabs of height h centred on the profile depths;
  * `Scoring.score_primary_mc` also tallies uncollided photons with a plane-crossing estimator at the
    PDD depths (w·E·μen/ρ/|cos θz| per crossing inside r_c; 1/|cos| → 2/c for |cos| < c = 0.01), which is
    how the tests check the transport against exponential attenuation and the analytic primary;
  * the water backscatter factor B_w uses a next-event (point-detector) estimator at the surface point
    on the central axis: at every collision the expected kerma from photons scattered straight to that
    point (angular density of the sampled process × attenuation × 1/L²) is added. Inside a 0.05 mm
    radius 1/L² is replaced by its ball average 3/ε², which keeps the variance finite; bias < 0.01 %.
    Primary kerma at that point is computed exactly (inverse square), so
        B_w = (K_primary + K_scatter) / K_primary.
    An independent second estimate counts the backscattered photons crossing the surface plane within
    r ≤ r_c (w·E·μen/ρ/|cos θz| each, same grazing-angle fix): it averages over the disk, so for small
    fields it sits slightly below the point value.
PDD(z) = [K_primary(z) + K_scatter(z)] / [K_primary(0)·B_w] × 100 %, on the central axis (scatter
averaged within r_c = min(2 mm, 0.4 × field radius)); profiles are normalised the same way.
Statistical uncertainties are k = 1 standard errors from independent batches (batch method); every
batch has its own RNG stream derived from (seed, batch index), so results are deterministic for a seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from planner.core.errors import Cancelled
from planner.dose.attenuation import (ELECTRON_REST_ENERGY_KEV, HC_KEV_ANGSTROM, InteractionData,
                                      interaction_data, klein_nishina_per_electron_cm2_sr,
                                      thomson_per_electron_cm2_sr)
from planner.dose.spectrum import Spectrum

ENGINE_VERSION = "kv-mc-1.0"
KEV_PER_G_TO_GY = 1.602176634e-16 / 1e-3        # 1 keV/g in J/kg

ENERGY_CUTOFF_KEV = 5.0       # below: photon ended (mean free path < 0.3 mm in water; negligible kerma)
ROULETTE_WEIGHT = 0.02        # weights below this play Russian roulette ...
ROULETTE_SURVIVAL = 0.25      # ... surviving with this probability and weight / survival
GRAZING_COS = 0.01            # plane-crossing estimator: 1/|cos| → 2/c below this
NEE_EXCLUSION_CM = 0.005      # next-event estimator: 1/L² → 3/ε² inside this radius
CHUNK_PHOTONS = 40_000        # photons transported together (memory ~ tens of MB)


class CalculationCancelled(Cancelled):
    """Raised between batches when the caller's is_cancelled() says so."""


ProgressCallback = Callable[[float, str], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class RadialFilter:
    """A beam-shaping (e.g. flattening) filter: primary photons crossing it are attenuated.

    `thickness_cm` is the material path along the central ray at the field radius `radius_cm`
    (projected to the phantom surface); oblique rays get thickness / cos. No scatter from the filter
    is modelled. The attenuation coefficient comes from xraylib's CS_Total for `formula`.
    """

    formula: str
    density_g_cm3: float
    radius_cm: tuple[float, ...]
    thickness_cm: tuple[float, ...]

    def transmission(self, e_kev: np.ndarray, r_surface_cm: np.ndarray, cos_theta: np.ndarray) -> np.ndarray:
        mu = _filter_mu_per_cm(self.formula, self.density_g_cm3, np.asarray(e_kev, dtype=float))
        t = np.interp(r_surface_cm, self.radius_cm, self.thickness_cm)
        return np.exp(-mu * t / np.maximum(cos_theta, 1e-6))

    def cache_payload(self) -> dict:
        return {"formula": self.formula, "density_g_cm3": self.density_g_cm3,
                "radius_cm": list(self.radius_cm), "thickness_cm": list(self.thickness_cm)}


def _filter_mu_per_cm(formula: str, density: float, e_kev: np.ndarray) -> np.ndarray:
    import xraylib

    flat = np.asarray(e_kev, dtype=float).ravel()
    uniq, inv = np.unique(np.round(flat, 4), return_inverse=True)
    mu = np.array([xraylib.CS_Total_CP(formula, float(e)) for e in uniq]) * density
    return mu[inv].reshape(np.shape(e_kev))


@dataclass(frozen=True)
class SourceGeometry:
    ssd_cm: float
    field_diameter_cm: float
    flattening_filter: RadialFilter | None = None

    def __post_init__(self):
        if self.ssd_cm <= 0 or self.field_diameter_cm <= 0:
            raise ValueError("SSD and field diameter must be positive")

    @property
    def cos_half_angle(self) -> float:
        r = 0.5 * self.field_diameter_cm
        return self.ssd_cm / math.hypot(self.ssd_cm, r)

    @property
    def solid_angle_sr(self) -> float:
        return 2.0 * math.pi * (1.0 - self.cos_half_angle)


@dataclass(frozen=True)
class WaterPhantom:
    radius_cm: float = 20.0
    depth_cm: float = 20.0


@dataclass(frozen=True)
class Scoring:
    pdd_depths_cm: tuple[float, ...] = tuple(round(0.05 * k, 4) for k in range(61))   # 0–30 mm, 0.5 mm
    pdd_radius_cm: float = 0.2
    profile_depths_cm: tuple[float, ...] = (0.0, 0.2, 0.5)
    profile_bin_cm: float = 0.05
    profile_max_radius_cm: float | None = None        # default: field radius + 1 cm
    score_primary_mc: bool = False                    # also tally uncollided photons (verification)

    def disk_radius_cm(self, geometry: "SourceGeometry") -> float:
        """r_c: at most pdd_radius_cm and at most 40 % of the field radius (small fields stay central)."""
        return min(self.pdd_radius_cm, 0.4 * 0.5 * geometry.field_diameter_cm)


@dataclass(frozen=True)
class Estimate:
    value: float
    sigma: float          # k = 1 statistical standard error (batch method)


@dataclass(frozen=True)
class SimulationResult:
    n_photons: int
    n_batches: int
    seed: int
    geometry: SourceGeometry
    phantom: WaterPhantom
    scoring: Scoring
    backscatter_factor: Estimate                 # next-event estimator at the surface point
    backscatter_factor_disk: Estimate            # surface-crossing estimator over the r_c disk (cross-check)
    primary_surface_kerma_gy_per_photon: float   # water kerma free in air at the surface point, per emitted photon
    pdd_depths_cm: np.ndarray = field(repr=False)
    pdd_percent: np.ndarray = field(repr=False)
    pdd_sigma_percent: np.ndarray = field(repr=False)
    pdd_primary_relative: np.ndarray = field(repr=False)   # analytic uncollided kerma / its value at z = 0
    pdd_primary_mc_relative: np.ndarray | None = field(repr=False)   # same from the MC tally (if scored)
    pdd_radius_cm: float
    profile_depths_cm: np.ndarray = field(repr=False)
    profile_radii_cm: np.ndarray = field(repr=False)       # annulus centres
    profile_percent: np.ndarray = field(repr=False)        # [depth, radius], % of surface central-axis kerma
    profile_sigma_percent: np.ndarray = field(repr=False)
    seconds: float
    cross_sections: str


# ---------------------------------------------------------------------------------------------- sampling

def _sample_energies(spectrum: Spectrum, n: int, rng: np.random.Generator) -> np.ndarray:
    cdf = np.cumsum(spectrum.fluence)
    cdf /= cdf[-1]
    k = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)
    return spectrum.energies_kev[k] + (rng.random(n) - 0.5) * spectrum.bin_width_kev


def _rotate(u, v, w, cos_t, phi):
    """New direction after scattering by polar angle θ (cos_t) and azimuth phi about (u, v, w)."""
    sin_t = np.sqrt(np.clip(1.0 - cos_t * cos_t, 0.0, None))
    cp, sp = np.cos(phi), np.sin(phi)
    perp = np.sqrt(np.clip(1.0 - w * w, 0.0, None))
    near_pole = perp < 1e-8
    safe = np.where(near_pole, 1.0, perp)
    nu = u * cos_t + sin_t * (u * w * cp - v * sp) / safe
    nv = v * cos_t + sin_t * (v * w * cp + u * sp) / safe
    nw = w * cos_t - perp * sin_t * cp
    if near_pole.any():
        sgn = np.sign(w[near_pole])
        nu[near_pole] = sin_t[near_pole] * cp[near_pole]
        nv[near_pole] = sin_t[near_pole] * sp[near_pole]
        nw[near_pole] = sgn * cos_t[near_pole]
    norm = np.sqrt(nu * nu + nv * nv + nw * nw)
    return nu / norm, nv / norm, nw / norm


def sample_incoherent(e_kev: np.ndarray, data: InteractionData, rng: np.random.Generator) -> np.ndarray:
    """cos θ from Klein–Nishina (Kahn) × S(q)/S_max (rejection). Returns cos θ; E' follows from Compton."""
    n = e_kev.size
    out = np.empty(n)
    todo = np.arange(n)
    s_max = float(data.s_per_g.max())
    while todo.size:
        e = e_kev[todo]
        k = e / ELECTRON_REST_ENERGY_KEV
        r1, r2, r3, r4 = rng.random((4, todo.size))
        first = r1 <= (1.0 + 2.0 * k) / (9.0 + 2.0 * k)
        eta = np.where(first, 1.0 + 2.0 * k * r2, (1.0 + 2.0 * k) / (1.0 + 2.0 * k * r2))   # E/E'
        mu = 1.0 - (eta - 1.0) / k
        ok = np.where(first, r3 <= 4.0 * (1.0 / eta - 1.0 / (eta * eta)), r3 <= 0.5 * (mu * mu + 1.0 / eta))
        q = e / HC_KEV_ANGSTROM * np.sqrt(np.clip(0.5 * (1.0 - mu), 0.0, 1.0))
        ok &= r4 * s_max <= data.s_of_q(q)
        out[todo[ok]] = mu[ok]
        todo = todo[~ok]
    return out


def sample_coherent(e_kev: np.ndarray, data: InteractionData, rng: np.random.Generator) -> np.ndarray:
    """cos θ from F²(q) (inverse cumulative in q²) with (1 + cos²θ)/2 rejection."""
    n = e_kev.size
    out = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        q2max = (e_kev[todo] / HC_KEV_ANGSTROM) ** 2
        a_max = np.interp(q2max, data.q2_grid, data.f2_cumulative)
        r1, r2 = rng.random((2, todo.size))
        q2 = np.interp(r1 * a_max, data.f2_cumulative, data.q2_grid)
        mu = np.clip(1.0 - 2.0 * q2 / q2max, -1.0, 1.0)
        ok = r2 <= 0.5 * (1.0 + mu * mu)
        out[todo[ok]] = mu[ok]
        todo = todo[~ok]
    return out


# ---------------------------------------------------------------------------------------------- tallies

class _Tallies:
    """Scatter kerma by track length (finite variance), uncollided kerma by plane crossing (verification).

    PDD: scattered-photon track length inside the cylinder of radius r_c within depth bins of width h
    centred on the PDD depths (the first bin is [0, h/2]); profiles: track length inside slabs of the same
    thickness at the profile depths, distributed over annuli at stratified points along each track piece
    (4 points with one random offset: an unbiased estimate of the track length per annulus).
    """

    SUBPOINTS = 4

    def __init__(self, scoring: Scoring, disk_radius_cm: float, profile_edges_cm: np.ndarray,
                 rng: np.random.Generator):
        self.pdd_z = np.asarray(scoring.pdd_depths_cm, dtype=float)
        self.bin_edges = _depth_bin_edges(self.pdd_z)
        self.prof_slabs = [_slab(z, self.pdd_z) for z in scoring.profile_depths_cm]
        self.r_c = disk_radius_cm
        self.primary_too = scoring.score_primary_mc
        self.edges = profile_edges_cm
        self.rng = rng
        self.pdd_primary = np.zeros(self.pdd_z.size)        # plane crossing, uncollided, disk (keV/g·cm²)
        self.pdd_scatter = np.zeros(self.pdd_z.size)        # track length, scattered, cylinder bin (keV/g·cm³)
        self.profile = np.zeros((len(self.prof_slabs), profile_edges_cm.size - 1))
        self.nee = 0.0
        self.surface_scatter = 0.0                          # plane crossing at z = 0, scattered, disk

    def score(self, x, y, z0, z1, u, v, w, s, kerma_factor, scattered):
        if self.primary_too and (~scattered).any():
            p = ~scattered
            self._primary_planes(x[p], y[p], z0[p], z1[p], u[p], v[p], w[p], kerma_factor[p])
        if not scattered.any():
            return
        x, y, z0, z1, u, v, w, s, k = (a[scattered] for a in (x, y, z0, z1, u, v, w, s, kerma_factor))
        out = (z1 == 0.0) & (w < 0)          # leaving through the surface: crossing the z = 0 plane
        if out.any():
            xe, ye = x[out] + u[out] * s[out], y[out] + v[out] * s[out]
            aw = np.abs(w[out])
            inv_cos = np.where(aw < GRAZING_COS, 2.0 / GRAZING_COS, 1.0 / aw)
            self.surface_scatter += float(np.sum(np.where(xe * xe + ye * ye <= self.r_c ** 2,
                                                          k[out] * inv_cos, 0.0)))
        wz = np.where(np.abs(w) < 1e-12, np.where(w < 0, -1e-12, 1e-12), w)
        self._cylinder(x, y, z0, z1, u, v, wz, s, k)
        for j, (zl, zh) in enumerate(self.prof_slabs):
            self._slab_annuli(j, zl, zh, x, y, z0, z1, u, v, wz, s, k)

    def _primary_planes(self, x, y, z0, z1, u, v, w, k):
        lo, hi = np.minimum(z0, z1), np.maximum(z0, z1)
        zp = self.pdd_z[None, :]
        crosses = (lo[:, None] <= zp) & (zp <= hi[:, None]) & (w[:, None] != 0)
        t = (zp - z0[:, None]) / np.where(w == 0, 1.0, w)[:, None]
        r2 = (x[:, None] + u[:, None] * t) ** 2 + (y[:, None] + v[:, None] * t) ** 2
        inv_cos = np.where(np.abs(w) < GRAZING_COS, 2.0 / GRAZING_COS, 1.0 / np.maximum(np.abs(w), 1e-300))
        self.pdd_primary += np.where(crosses & (r2 <= self.r_c ** 2), (k * inv_cos)[:, None], 0.0).sum(axis=0)

    def _cylinder(self, x, y, z0, z1, u, v, w, s, k):
        near = np.minimum(z0, z1) <= self.bin_edges[-1]
        a = u * u + v * v
        b = x * u + y * v
        c = x * x + y * y - self.r_c ** 2
        disc = b * b - a * c
        near &= (disc > 0) | ((a == 0) & (c <= 0))
        if not near.any():
            return
        x, y, z0, u, v, w, s, k, a, b, c, disc = (
            q[near] for q in (x, y, z0, u, v, w, s, k, a, b, c, disc))
        root = np.sqrt(np.clip(disc, 0.0, None))
        moving = a > 0
        safe_a = np.where(moving, a, 1.0)
        t1 = np.where(moving, (-b - root) / safe_a, 0.0)
        t2 = np.where(moving, (-b + root) / safe_a, s)
        t1, t2 = np.clip(t1, 0.0, s), np.clip(t2, 0.0, s)
        inside = t2 > t1
        if not inside.any():
            return
        z0, w, k, t1, t2 = z0[inside], w[inside], k[inside], t1[inside], t2[inside]
        g = np.clip((self.bin_edges[None, :] - z0[:, None]) / w[:, None], t1[:, None], t2[:, None])
        lengths = np.abs(np.diff(g, axis=1))
        self.pdd_scatter += k @ lengths

    def _slab_annuli(self, j, zl, zh, x, y, z0, z1, u, v, w, s, k):
        hit = (np.minimum(z0, z1) <= zh) & (np.maximum(z0, z1) >= zl)
        if not hit.any():
            return
        x, y, z0, u, v, w, s, k = (q[hit] for q in (x, y, z0, u, v, w, s, k))
        ta = np.clip((zl - z0) / w, 0.0, s)
        tb = np.clip((zh - z0) / w, 0.0, s)
        t_lo, t_hi = np.minimum(ta, tb), np.maximum(ta, tb)
        length = t_hi - t_lo
        m = self.SUBPOINTS
        offset = self.rng.random(x.size)
        frac = (np.arange(m)[None, :] + offset[:, None]) / m
        t = t_lo[:, None] + frac * length[:, None]
        r = np.hypot(x[:, None] + u[:, None] * t, y[:, None] + v[:, None] * t)
        weights = np.repeat(k * length / m, m)
        h, _ = np.histogram(r.ravel(), bins=self.edges, weights=weights)
        self.profile[j] += h


def _depth_bin_edges(pdd_z: np.ndarray) -> np.ndarray:
    """Bins centred on the PDD depths, bounded by midpoints; the first starts at the surface."""
    mid = 0.5 * (pdd_z[1:] + pdd_z[:-1])
    last = pdd_z[-1] + 0.5 * (pdd_z[-1] - pdd_z[-2]) if pdd_z.size > 1 else pdd_z[-1] + 0.025
    first = max(0.0, pdd_z[0] - 0.5 * (pdd_z[1] - pdd_z[0])) if pdd_z.size > 1 else 0.0
    return np.concatenate([[first], mid, [last]])


def _slab(z_cm: float, pdd_z: np.ndarray) -> tuple[float, float]:
    """Profile slab: the PDD bin width (default 0.5 mm) centred on z, clipped at the surface."""
    h = float(pdd_z[1] - pdd_z[0]) if pdd_z.size > 1 else 0.05
    return max(0.0, z_cm - 0.5 * h), z_cm + 0.5 * h


# ---------------------------------------------------------------------------------------------- transport

def _distance_to_boundary(x, y, z, u, v, w, phantom: WaterPhantom):
    """Distance along (u,v,w) to leave the cylinder; also whether the exit is through the top (z = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        dz = np.where(w < 0, -z / w, np.where(w > 0, (phantom.depth_cm - z) / w, np.inf))
        a = u * u + v * v
        b = x * u + y * v
        c = x * x + y * y - phantom.radius_cm ** 2
        disc = np.sqrt(np.clip(b * b - a * c, 0.0, None))
        dr = np.where(a > 0, (-b + disc) / np.where(a > 0, a, 1.0), np.inf)
    dr = np.maximum(dr, 0.0)
    top = (w < 0) & (dz <= dr)
    return np.minimum(dz, dr), top


def _transport_chunk(n: int, spectrum: Spectrum, geometry: SourceGeometry, phantom: WaterPhantom,
                     data: InteractionData, tallies: _Tallies, rng: np.random.Generator) -> None:
    rho = data.material.density_g_cm3
    e = _sample_energies(spectrum, n, rng)
    # Isotropic emission into the cone: cos θ uniform in [cos α, 1].
    cos_t = 1.0 - rng.random(n) * (1.0 - geometry.cos_half_angle)
    sin_t = np.sqrt(1.0 - cos_t * cos_t)
    phi = 2.0 * np.pi * rng.random(n)
    u, v, w = sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t
    x = geometry.ssd_cm * u / w
    y = geometry.ssd_cm * v / w
    z = np.zeros(n)
    wt = np.ones(n)
    if geometry.flattening_filter is not None:
        wt = wt * geometry.flattening_filter.transmission(e, np.hypot(x, y), cos_t)
    scattered = np.zeros(n, dtype=bool)

    while e.size:
        i, f = data.index(e)
        mu_t = data.lookup(data.total_cm2_g, i, f) * rho
        mu_en = data.lookup(data.energy_absorption_cm2_g, i, f)
        s = -np.log1p(-rng.random(e.size)) / mu_t
        s_b, top = _distance_to_boundary(x, y, z, u, v, w, phantom)
        escape = s >= s_b
        seg = np.where(escape, s_b, s)
        z1 = np.where(escape & top, 0.0, z + w * seg)
        tallies.score(x, y, z, z1, u, v, w, seg, wt * e * mu_en, scattered)

        keep = ~escape
        x = x[keep] + u[keep] * seg[keep]
        y = y[keep] + v[keep] * seg[keep]
        z = np.clip(z1[keep], 0.0, phantom.depth_cm)
        u, v, w, e, wt = u[keep], v[keep], w[keep], e[keep], wt[keep]
        i, f = i[keep], f[keep]
        if not e.size:
            break
        sig_t = data.lookup(data.total_cm2_g, i, f)
        sig_inc = data.lookup(data.incoherent_cm2_g, i, f)
        sig_coh = data.lookup(data.coherent_cm2_g, i, f)

        tallies.nee += _next_event_kerma(x, y, z, u, v, w, e, wt, sig_t, data, rho)

        # Implicit capture: survive photoabsorption with the scattering probability.
        wt = wt * (sig_inc + sig_coh) / sig_t
        incoherent = rng.random(e.size) * (sig_inc + sig_coh) < sig_inc
        mu = np.empty(e.size)
        mu[incoherent] = sample_incoherent(e[incoherent], data, rng)
        mu[~incoherent] = sample_coherent(e[~incoherent], data, rng)
        e = np.where(incoherent, e / (1.0 + e / ELECTRON_REST_ENERGY_KEV * (1.0 - mu)), e)
        u, v, w = _rotate(u, v, w, mu, 2.0 * np.pi * rng.random(e.size))
        scattered = np.ones(e.size, dtype=bool)

        low = wt < ROULETTE_WEIGHT
        if low.any():
            survive = rng.random(e.size) < ROULETTE_SURVIVAL
            wt = np.where(low & survive, wt / ROULETTE_SURVIVAL, wt)
            alive = ~low | survive
        else:
            alive = np.ones(e.size, dtype=bool)
        alive &= e >= ENERGY_CUTOFF_KEV
        x, y, z, u, v, w, e, wt, scattered = (a[alive] for a in (x, y, z, u, v, w, e, wt, scattered))


def _next_event_kerma(x, y, z, u, v, w, e, wt, sig_t, data: InteractionData, rho: float) -> float:
    """Expected water kerma (keV/g) at the surface point (0,0,0) from the next flight after this collision."""
    dist2 = x * x + y * y + z * z
    dist = np.sqrt(dist2)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos_p = np.where(dist > 0, -(u * x + v * y + w * z) / dist, 1.0)
    cos_p = np.clip(cos_p, -1.0, 1.0)
    inv_d2 = np.where(dist < NEE_EXCLUSION_CM, 3.0 / NEE_EXCLUSION_CM ** 2, 1.0 / np.maximum(dist2, 1e-300))
    q = e / HC_KEV_ANGSTROM * np.sqrt(np.clip(0.5 * (1.0 - cos_p), 0.0, 1.0))
    e_c = e / (1.0 + e / ELECTRON_REST_ENERGY_KEV * (1.0 - cos_p))
    dcs_inc = klein_nishina_per_electron_cm2_sr(e, cos_p) * data.s_of_q(q)
    dcs_coh = thomson_per_electron_cm2_sr(cos_p) * data.f2_of_q(q)
    i_c, f_c = data.index(e_c)
    i_e, f_e = data.index(e)
    att_c = np.exp(-data.lookup(data.total_cm2_g, i_c, f_c) * rho * dist)
    att_e = np.exp(-data.lookup(data.total_cm2_g, i_e, f_e) * rho * dist)
    k_c = e_c * data.lookup(data.energy_absorption_cm2_g, i_c, f_c)
    k_e = e * data.lookup(data.energy_absorption_cm2_g, i_e, f_e)
    contrib = wt / sig_t * (dcs_inc * att_c * k_c + dcs_coh * att_e * k_e) * inv_d2
    return float(contrib.sum())


def primary_kerma_kev_per_g(spectrum: Spectrum, geometry: SourceGeometry, data: InteractionData,
                            r_cm, z_cm) -> np.ndarray:
    """Exact uncollided water kerma (keV/g per photon emitted into the cone) at points (r, z) in the phantom.

    A point is reached by primaries only if its ray from the source enters the surface inside the field;
    fluence there is 1/(Ω·distance²), attenuated by exp(−μ·z/cos θ) in water and by the filter.
    """
    r = np.atleast_1d(np.asarray(r_cm, dtype=float))
    z = np.atleast_1d(np.asarray(z_cm, dtype=float))
    r, z = np.broadcast_arrays(r, z)
    depth_from_source = geometry.ssd_cm + z
    dist2 = depth_from_source ** 2 + r ** 2
    cos_t = depth_from_source / np.sqrt(dist2)
    r_entry = r * geometry.ssd_cm / depth_from_source
    inside = r_entry <= 0.5 * geometry.field_diameter_cm * (1.0 + 1e-12)
    e = spectrum.energies_kev[None, :]
    mu = data.at("total_cm2_g", spectrum.energies_kev)[None, :] * data.material.density_g_cm3
    k = spectrum.fluence[None, :] * e * data.at("energy_absorption_cm2_g", spectrum.energies_kev)[None, :]
    att = np.exp(-mu * (z / cos_t)[:, None])
    if geometry.flattening_filter is not None:
        att = att * geometry.flattening_filter.transmission(
            np.broadcast_to(e, att.shape), np.broadcast_to(r_entry[:, None], att.shape),
            np.broadcast_to(cos_t[:, None], att.shape))
    per_point = np.sum(k * att, axis=1) / (geometry.solid_angle_sr * dist2)
    return np.where(inside, per_point, 0.0).reshape(r.shape)


def primary_surface_kerma_kev_per_g(spectrum: Spectrum, geometry: SourceGeometry, data: InteractionData) -> float:
    """Water kerma free in air at the central-axis surface point per photon emitted into the cone (exact)."""
    return float(primary_kerma_kev_per_g(spectrum, geometry, data, 0.0, 0.0)[0])


def _annulus_primary(spectrum, geometry, data, edges_cm, z_cm, sub=16) -> np.ndarray:
    """Area-average of the exact primary kerma over each annulus (the field edge is a step)."""
    r_in, r_out = edges_cm[:-1, None], edges_cm[1:, None]
    frac = (np.arange(sub) + 0.5)[None, :] / sub
    r = np.sqrt(r_in ** 2 + frac * (r_out ** 2 - r_in ** 2))
    k = primary_kerma_kev_per_g(spectrum, geometry, data, r.ravel(), np.full(r.size, z_cm))
    return k.reshape(r.shape).mean(axis=1)


def _stats(per_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = per_batch.shape[0]
    return per_batch.mean(axis=0), per_batch.std(axis=0, ddof=1) / math.sqrt(n)


def simulate(spectrum: Spectrum, geometry: SourceGeometry, n_photons: int = 1_000_000, seed: int = 1,
             n_batches: int = 10, phantom: WaterPhantom = WaterPhantom(), scoring: Scoring = Scoring(),
             progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None,
             ) -> SimulationResult:
    """Transport n_photons (split in n_batches independent batches) and score PDD, profiles and B_w."""
    if n_batches < 2:
        raise ValueError("at least 2 batches are needed for an uncertainty")
    if n_photons < n_batches:
        raise ValueError("fewer photons than batches")
    t0 = time.perf_counter()
    data = interaction_data("water")
    r_max = scoring.profile_max_radius_cm or 0.5 * geometry.field_diameter_cm + 1.0
    edges = np.arange(0.0, r_max + 0.5 * scoring.profile_bin_cm, scoring.profile_bin_cm)
    r_c = scoring.disk_radius_cm(geometry)
    pdd_z = np.asarray(scoring.pdd_depths_cm, dtype=float)
    prof_z = np.asarray(scoring.profile_depths_cm, dtype=float)
    k_primary_axis = primary_kerma_kev_per_g(spectrum, geometry, data, np.zeros_like(pdd_z), pdd_z)
    k_primary = primary_surface_kerma_kev_per_g(spectrum, geometry, data)
    k_primary_profile = np.array([_annulus_primary(spectrum, geometry, data, edges, z) for z in prof_z])
    disk_area = math.pi * r_c ** 2
    bin_volume = disk_area * np.diff(_depth_bin_edges(pdd_z))
    slab_thickness = np.array([zh - zl for zl, zh in (_slab(z, pdd_z) for z in prof_z)])
    annulus_volume = math.pi * (edges[1:] ** 2 - edges[:-1] ** 2)[None, :] * slab_thickness[:, None]

    per_batch = []
    sizes = [n_photons // n_batches + (1 if b < n_photons % n_batches else 0) for b in range(n_batches)]
    for b, n_b in enumerate(sizes):
        if is_cancelled is not None and is_cancelled():
            raise CalculationCancelled(f"cancelled after {b} of {n_batches} batches")
        rng = np.random.default_rng([seed, b])
        tallies = _Tallies(scoring, r_c, edges, rng)
        done = 0
        while done < n_b:
            m = min(CHUNK_PHOTONS, n_b - done)
            _transport_chunk(m, spectrum, geometry, phantom, data, tallies, rng)
            done += m
        per_batch.append({
            "pdd_primary": tallies.pdd_primary / (n_b * disk_area),
            "pdd_scatter": tallies.pdd_scatter / (n_b * bin_volume),
            "profile": tallies.profile / (n_b * annulus_volume),
            "nee": tallies.nee / n_b,
            "surface": tallies.surface_scatter / (n_b * disk_area),
        })
        if progress is not None:
            progress((b + 1) / n_batches, f"Monte Carlo batch {b + 1} of {n_batches}")

    prim_mc = np.array([p["pdd_primary"] for p in per_batch])
    scat = np.array([p["pdd_scatter"] for p in per_batch])
    prof = np.array([p["profile"] for p in per_batch]) + k_primary_profile[None]
    nee = np.array([p["nee"] for p in per_batch])
    surface = np.array([p["surface"] for p in per_batch])

    # The surface value is the best-determined number (next-event estimator at the surface point), so it
    # normalises the PDD and profiles (the track-length bin [0, h/2] is replaced by it).
    total = scat + k_primary_axis[None, :]
    total[:, 0] = k_primary + nee
    _, bw_s = _stats(1.0 + nee / k_primary)
    _, bwd_s = _stats(1.0 + surface / k_primary)
    _, pdd_s = _stats(100.0 * total / total[:, :1])
    _, prof_s = _stats(100.0 * prof / total[:, :1, None])
    total_mean = total.mean(axis=0)
    prim_mc_mean = prim_mc.mean(axis=0)
    return SimulationResult(
        n_photons=n_photons, n_batches=n_batches, seed=seed, geometry=geometry, phantom=phantom,
        scoring=scoring,
        backscatter_factor=Estimate(float(1.0 + nee.mean() / k_primary), float(bw_s)),
        backscatter_factor_disk=Estimate(float(1.0 + surface.mean() / k_primary), float(bwd_s)),
        primary_surface_kerma_gy_per_photon=k_primary * KEV_PER_G_TO_GY,
        pdd_depths_cm=pdd_z, pdd_percent=100.0 * total_mean / total_mean[0], pdd_sigma_percent=pdd_s,
        pdd_primary_relative=k_primary_axis / k_primary_axis[0],
        pdd_primary_mc_relative=(prim_mc_mean / prim_mc_mean[0]) if scoring.score_primary_mc else None,
        pdd_radius_cm=r_c,
        profile_depths_cm=prof_z, profile_radii_cm=0.5 * (edges[1:] + edges[:-1]),
        profile_percent=100.0 * prof.mean(axis=0) / total_mean[0], profile_sigma_percent=prof_s,
        seconds=time.perf_counter() - t0, cross_sections=data.source)
