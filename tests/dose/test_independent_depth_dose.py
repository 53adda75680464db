"""Planner's kV and eBx central-axis depth dose against ompMC, an independent coupled photon–electron Monte Carlo.

Referee: ompMC 0.4.0 (Doerner & Caprile, Med Phys 44:6672, 2017; EGSnrc-derived physics, the matRad team; GPL-3),
run with .venv-reference/bin/python as a subprocess (tests/reference/ompmc_pdd.py) so it never enters Planner's
environment or process. ompMC's answers are recorded in tests/reference/ompmc_recorded.json under the digest of
what they depend on, and ompMC runs again whenever a request differs (tests/reference/record_ompmc.py re-records
them). It shares nothing with Planner's engine but the beam description: the spectrum (SpekPy,
fitted to the HVL), the SSD and field, the eBx flattening filter's transmission per annulus (Planner's own
RadialFilter attenuation: an input here, not something this test checks), and the phantom.
ompMC: water H2O521ICRU (PEGS4 521icru), ECUT 0.521 MeV total (10 keV kinetic), PCUT 0.010 MeV, range rejection
below 100 keV kinetic only where an electron cannot leave its region, free-electron Compton, XCOM photoelectric
and Rayleigh; dose by analog energy deposition. Planner: photon transport with bound Compton (S(q)) and Rayleigh,
dose = collision kerma (primary exact, scatter by track length). See tests/reference/ompmc_pdd.py.

Same beam in both codes: the spectrum of planner.dose.spectrum.fitted_spectrum with every bin below 10 keV removed
(TRIMMED IN BOTH). Why trim rather than add the sub-10 keV primary to ompMC analytically: ompMC's data stop
photon transport at 10 keV (a source photon below it deposits its energy where it enters, i.e. in the first
slab), and the analytic route would take the 1–10 keV water coefficients from xraylib, the tables Planner itself
uses (physics-data §2.5 stops at 10 keV): that part of the "independent" reference would be Planner's own data.
Trimming keeps the referee wholly ompMC's physics, and compares transport, which is what can go wrong. What is
not compared: Planner's primary kerma of photons below 10 keV (1.9 % of the 50 kV photons, 0.7 % of its energy
fluence; 0.18 % / 0.05 % at 70 kV) — exact exponential attenuation in Planner, absorbed within ~2 mm.

Scoring geometry, identical in both: the central-axis cylinder r ≤ 2 mm (Planner's r_c for these fields), depth
windows whose edges are edges of Planner's 0.5 mm scoring bins; each window's dose is the mean over it. Both
depth doses are normalised to the window 0.25–1.75 mm (centred on 1 mm) and compared window by window.
ompMC's source lights the field disc uniformly per area; Planner's point source is isotropic with a filter, so the
field is split into annuli, each run in ompMC with its own (filtered) spectrum behind an annulus mask and weighted
by its solid angle times its filter transmission — this also spends the histories where the axis dose needs them
(the disc r ≤ 2 mm gives all of the axis primary).

Tolerance: −3σ ≤ Planner/ompMC − 1 ≤ BINDING_ALLOWANCE (1 %) + 3σ, per window and for the mean over each depth
range, σ the k = 1 statistical uncertainty of the ratio from both codes (ompMC's batch uncertainties propagated;
Planner's from 8 independent runs). The 1 % is the one known physics difference between the codes, bound vs
free-electron Compton scattering, measured below; it can only put Planner above ompMC. What that reaches with
these photon numbers (about 65 CPU-seconds with the spectrum fits, so 30–35 s on two idle cores): per window
−1.3 … −3.3 % / +2.3 … +4.3 % for the kV cones, −3.1 … −4.6 % / +4.1 … +5.6 % for eBx; on a range mean
−1.2 … −2.2 % / +2.2 … +3.2 % (kV cones), −2.9 … −3.3 % / +3.9 … +4.3 % (eBx). Untrimmed, the issue's
50 kV comparison differed by 3–7 %; Planner's own 50 kV PDD moves by that much (−3.2 to −6.9 % from 2 mm on)
when the sub-10 keV bins are restored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from planner.dose.monte_carlo import Scoring, SourceGeometry, WaterPhantom, simulate
from planner.dose.spectrum import Spectrum, fitted_spectrum
from plugins.ebx_surface.applicator_model import applicator_model
from plugins.superficial_kv.machine_data import SUPERFICIAL_UNIT

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_PYTHON = ROOT / ".venv-reference" / "bin" / "python"
OMPMC_SCRIPT = ROOT / "tests" / "reference" / "ompmc_pdd.py"
REFERENCE_PINS = ROOT / "tests" / "reference" / "requirements.txt"
# ompMC's answers to this module's requests, as ompMC gave them (tests/reference/record_ompmc.py writes it), each
# under the digest of its request, the script and the reference environment's pins. A request whose digest is
# not there (a spectrum, SSD or filter changed) is run in ompMC as before; the file only saves the ~60 CPU-seconds
# of recomputing an unchanged reference. Never hand-edited.
OMPMC_RECORDED = ROOT / "tests" / "reference" / "ompmc_recorded.json"
DEMO_COMMISSIONING = ROOT / "resources" / "commissioning" / "demo-superficial-unit.json"
MISSING_REFERENCE = ("the reference Monte Carlo environment .venv-reference (ompMC) is missing: "
                     "run scripts/setup.sh")

SPECTRUM_CUT_KEV = 10.0          # ompMC's PCUT (the AP of its 521icru data); both codes get the spectrum above it
CONE_ID = "cone-20mm"            # Ø 20 mm, as in the measurement
EBX_APPLICATOR = ("esteya-class", "applicator-30mm")   # 69.5 kV; the largest field, so the thickest filter
WINDOW_EDGES_MM = (0.25, 0.75, 1.75, 2.75, 4.25, 6.25, 8.75, 11.25, 15.25, 20.25)
NORMALISATION_WINDOWS = 2        # the first two windows: 0.25–1.75 mm, centred on 1 mm
PHANTOM = WaterPhantom()         # Planner's 20 cm radius × 20 cm water cylinder, for both codes

PLANNER_RUNS = 8                 # independent runs (seeds 1–8): their spread is Planner's σ
PLANNER_PHOTONS_PER_RUN = 50_000
OMPMC_INNER_HISTORIES = 200_000  # the disc r ≤ 2 mm: all of the axis primary
OMPMC_OUTER_HISTORIES = 400_000  # the rest of the field (only scatter reaches the axis), spread by area
OMPMC_SPLIT = 20                 # ompMC's photon splitting at the source (its default)
OMPMC_BATCHES = 10
OMPMC_SEEDS = (97, 33)           # ompMC's default Philox seeds; results do not depend on the thread count


@dataclass(frozen=True)
class Beam:
    id: str
    label: str
    spectrum: Spectrum                 # trimmed at SPECTRUM_CUT_KEV, the same for both codes
    geometry: SourceGeometry           # SSD, field diameter, flattening filter (eBx)
    annuli_cm: tuple[float, ...]       # ompMC source parts on the surface: 0, r_c, ..., field radius


def trimmed(spectrum: Spectrum, cut_kev: float = SPECTRUM_CUT_KEV) -> Spectrum:
    """The spectrum without the bins that lie below cut_kev (bin lower edge < cut), renormalised to sum 1."""
    keep = spectrum.energies_kev - 0.5 * spectrum.bin_width_kev >= cut_kev - 1e-9
    fluence = spectrum.fluence[keep]
    energies, fluence = spectrum.energies_kev[keep], fluence / fluence.sum()
    return dataclasses.replace(spectrum, energies_kev=energies, fluence=fluence,
                               mean_energy_kev=float(np.sum(energies * fluence)),
                               provenance=spectrum.provenance + (f"bins below {cut_kev:g} keV removed",))


def demo_ssd_cm(energy_id: str, cone_id: str) -> float:
    entries = json.loads(DEMO_COMMISSIONING.read_text())["entries"]
    (entry,) = [e for e in entries if e["energy"] == energy_id and e["cone"] == cone_id]
    return float(entry["ssd_cm"]["value"])


def superficial_beams(cache_folder) -> list[Beam]:
    """50, 70, 100 kV of the shipped superficial unit: Ø 20 mm cone at the demo commissioning's SSD."""
    out = []
    cone = SUPERFICIAL_UNIT.applicator(CONE_ID)
    for energy in SUPERFICIAL_UNIT.energies:
        geometry = SourceGeometry(demo_ssd_cm(energy.id, CONE_ID), cone.diameter_mm / 10.0)
        spectrum = fitted_spectrum(energy.kvp, energy.hvl_mm_al, cache_folder=cache_folder)
        label = f"{energy.id} Ø{cone.diameter_mm:g} mm SSD {geometry.ssd_cm:g} cm"
        out.append(Beam(energy.id, label, trimmed(spectrum), geometry, (0.0, 0.2, geometry.field_diameter_cm / 2)))
    return out


def ebx_beam(cache_folder) -> Beam:
    """The eBx applicator model: its SSD, field, flattening filter and the spectrum its Monte Carlo is given."""
    model = applicator_model(*EBX_APPLICATOR, cache_folder=cache_folder)
    # As applicator_beam_data: the spectrum fitted to the pre-filter HVL; the filter acts per ray.
    spectrum = fitted_spectrum(model.kvp, model.pre_filter_hvl_mm_al, model.anode_angle_deg, cache_folder=cache_folder)
    radius = model.field_diameter_mm / 20.0
    label = f"eBx {model.machine_id} {model.applicator_id} {model.kvp:g} kV SSD {model.ssd_cm:g} cm"
    return Beam("eBx", label, trimmed(spectrum), model.geometry, (0.0, 0.2, 0.5, 0.8, 1.1, radius))


# ------------------------------------------------------------------------------------------------- ompMC side

def source_parts(beam: Beam) -> tuple[list[dict], np.ndarray]:
    """ompMC source parts (one per annulus) and their weights: photons through each annulus per emitted photon.

    Planner's source is isotropic into the cone, so an annulus gets the share of the cone's solid angle it
    subtends; a filter passes φ(E)·T(E, ρ, θ) of it. Both are averaged over 16 sub-rings per annulus (solid-angle
    weighted), which gives the annulus its spectrum. Within an annulus ompMC spreads photons uniformly per area
    where the isotropic source falls as cos³θ: < 0.7 % across a whole Ø 20 mm cone at SSD 15 cm, < 4.2 % across
    one eBx annulus at SSD 6 cm (whose scatter is ≤ 6 % of the axis dose), so a second-order effect on the axis.
    """
    g = beam.geometry
    e = beam.spectrum.energies_kev
    phi = beam.spectrum.fluence
    parts, weights = [], []
    r_c = Scoring().disk_radius_cm(g)
    outer_area = np.pi * (beam.annuli_cm[-1] ** 2 - beam.annuli_cm[1] ** 2)
    for a, b in zip(beam.annuli_cm[:-1], beam.annuli_cm[1:]):
        rho = np.linspace(a, b, 17)
        cos_edges = g.ssd_cm / np.hypot(g.ssd_cm, rho)
        d_omega = (cos_edges[:-1] - cos_edges[1:]) / (1.0 - g.cos_half_angle)
        mid = 0.5 * (rho[1:] + rho[:-1])
        cos_mid = g.ssd_cm / np.hypot(g.ssd_cm, mid)
        if g.flattening_filter is None:
            transmission = np.ones((mid.size, e.size))
        else:
            transmission = g.flattening_filter.transmission(
                np.broadcast_to(e[None, :], (mid.size, e.size)), np.broadcast_to(mid[:, None], (mid.size, e.size)),
                np.broadcast_to(cos_mid[:, None], (mid.size, e.size)))
        per_bin = phi * (d_omega[:, None] * transmission).sum(axis=0)
        if a == 0.0:
            assert b == r_c, "the inner part must be the scoring disc"
            histories = OMPMC_INNER_HISTORIES
        else:
            share = np.pi * (b * b - a * a) / outer_area
            histories = int(round(OMPMC_OUTER_HISTORIES * share / ((b * b - a * a) / (b * b))))
        parts.append({"weights": (per_bin / per_bin.sum()).tolist(), "inner_radius_cm": a, "outer_radius_cm": b,
                      "n_histories": histories})
        weights.append(per_bin.sum())
    return parts, np.array(weights)


def _sig(values, digits: int = 8):
    """Round to `digits` significant digits: the request, hence its digest, does not depend on the last bits a
    machine's BLAS gives the fitted spectrum (ompMC is run on exactly these rounded numbers)."""
    if isinstance(values, (list, tuple, np.ndarray)):
        return [_sig(v, digits) for v in values]
    return float(f"{float(values):.{digits}g}")


def ompmc_request(beam: Beam, parts: list[dict]) -> dict:
    sources = [{"weights": _sig(p["weights"]), "inner_radius_cm": _sig(p["inner_radius_cm"]),
                "outer_radius_cm": _sig(p["outer_radius_cm"]), "n_histories": int(p["n_histories"])} for p in parts]
    return {"energies_kev": _sig(beam.spectrum.energies_kev), "bin_width_kev": _sig(beam.spectrum.bin_width_kev),
            "ssd_cm": _sig(beam.geometry.ssd_cm), "scoring_radius_cm": _sig(Scoring().disk_radius_cm(beam.geometry)),
            "depth_edges_cm": _sig([0.0] + [w / 10.0 for w in WINDOW_EDGES_MM]),
            "phantom_radius_cm": _sig(PHANTOM.radius_cm), "phantom_depth_cm": _sig(PHANTOM.depth_cm),
            "n_batches": OMPMC_BATCHES, "seeds": list(OMPMC_SEEDS), "n_split": OMPMC_SPLIT, "sources": sources}


def request_digest(request: dict) -> str:
    """What ompMC's answer depends on: the request, the script that runs ompMC, and the pinned reference packages."""
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode())
    digest.update(OMPMC_SCRIPT.read_bytes())
    digest.update(REFERENCE_PINS.read_bytes())
    return digest.hexdigest()


def recorded_ompmc() -> dict[str, dict]:
    """digest → ompMC's result, from OMPMC_RECORDED (empty when the file is absent)."""
    if not OMPMC_RECORDED.exists():
        return {}
    return {digest: entry["result"] for digest, entry in json.loads(OMPMC_RECORDED.read_text())["results"].items()}


def ompmc_windows(result: dict, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dose per emitted photon in each window (skipping the 0–0.25 mm slabs) and its k=1 relative σ."""
    dose = np.zeros(len(WINDOW_EDGES_MM) - 1)
    var = np.zeros_like(dose)
    for part, w in zip(result["parts"], weights):
        d = w * np.asarray(part["mev_per_g_per_history"][1:]) / part["open_fraction"]
        dose += d
        var += (d * np.asarray(part["relative_uncertainty"][1:])) ** 2
    return dose, np.sqrt(var) / dose


# ----------------------------------------------------------------------------------------------- Planner side

def window_means(depths_mm: np.ndarray, pdd: np.ndarray) -> np.ndarray:
    """Mean of Planner's 0.5 mm bins lying inside each window (the windows' edges are bin edges)."""
    out = []
    for lo, hi in zip(WINDOW_EDGES_MM[:-1], WINDOW_EDGES_MM[1:]):
        inside = (depths_mm > lo) & (depths_mm < hi)
        out.append(pdd[inside].mean())
    return np.array(out)


def normalised(windows: np.ndarray) -> np.ndarray:
    widths = np.diff(WINDOW_EDGES_MM)[:NORMALISATION_WINDOWS]
    return windows / (np.sum(windows[:NORMALISATION_WINDOWS] * widths) / widths.sum())


def normalisation_sigma(rel_sigma: np.ndarray) -> float:
    widths = np.diff(WINDOW_EDGES_MM)[:NORMALISATION_WINDOWS]
    return float(np.sqrt(np.sum((widths * rel_sigma[:NORMALISATION_WINDOWS]) ** 2)) / widths.sum())


def planner_runs(beam: Beam) -> np.ndarray:
    """Normalised window doses of PLANNER_RUNS independent runs (rows): their spread is Planner's statistics."""
    runs = []
    for seed in range(1, PLANNER_RUNS + 1):
        r = simulate(beam.spectrum, beam.geometry, n_photons=PLANNER_PHOTONS_PER_RUN, seed=seed, n_batches=2,
                     phantom=PHANTOM)
        runs.append(normalised(window_means(r.pdd_depths_cm * 10.0, r.pdd_percent)))
    return np.array(runs)


@dataclass(frozen=True)
class Comparison:
    label: str
    depths_mm: np.ndarray            # window centres
    planner_runs: np.ndarray         # [run, window], normalised
    ompmc: np.ndarray                # normalised window doses
    ompmc_window_sigma: np.ndarray   # k = 1 relative σ of each window's dose before normalisation
    ompmc_norm_sigma: float          # k = 1 relative σ of the normalisation dose
    seconds_ompmc: float

    @property
    def planner(self) -> np.ndarray:
        return self.planner_runs.mean(axis=0)

    @property
    def residual(self) -> np.ndarray:
        """Planner / ompMC − 1 per window."""
        return self.planner / self.ompmc - 1.0

    @property
    def sigma(self) -> np.ndarray:
        """k = 1 σ of each residual: Planner's run spread, ompMC's window and normalisation σ (taken independent,
        which overestimates σ for the normalisation windows themselves)."""
        planner = self.planner_runs.std(axis=0, ddof=1) / np.sqrt(len(self.planner_runs)) / self.planner
        return np.sqrt(planner ** 2 + self.ompmc_window_sigma ** 2 + self.ompmc_norm_sigma ** 2)

    def range_mean(self, lo_mm: float, hi_mm: float) -> tuple[float, float]:
        """Mean residual over the windows centred in [lo, hi], and its k = 1 σ (shared normalisation counted once)."""
        w = (self.depths_mm >= lo_mm) & (self.depths_mm <= hi_mm)
        per_run = (self.planner_runs[:, w] / self.ompmc[w]).mean(axis=1) - 1.0
        planner = per_run.std(ddof=1) / np.sqrt(len(per_run))
        ompmc = np.hypot(np.sqrt(np.sum(self.ompmc_window_sigma[w] ** 2)) / w.sum(), self.ompmc_norm_sigma)
        return float(self.residual[w].mean()), float(np.hypot(planner, ompmc))


def _start_ompmc(requests: list[dict], folder: Path, tag: str):
    request, result, log = (folder / f"{n}-{tag}" for n in ("request.json", "result.json", "log.txt"))
    request.write_text(json.dumps(requests))
    with open(log, "w") as log_file:
        proc = subprocess.Popen([str(REFERENCE_PYTHON), str(OMPMC_SCRIPT), str(request), str(result)],
                                stdout=log_file, stderr=subprocess.STDOUT, cwd=folder,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
    return proc, result, log


def compare_all(cache_folder, rerun_ompmc: bool = False) -> tuple[dict[str, Comparison], dict[str, tuple[dict, dict]]]:
    """ompMC in two single-core subprocesses (100 + 50 kV; 70 kV + eBx) while Planner runs here; then compare.

    A beam whose request ompMC has answered before (OMPMC_RECORDED) is not run again unless `rerun_ompmc`.
    The first subprocess starts as soon as the superficial spectra are fitted, so the eBx model and
    Planner's runs overlap ompMC on the other core. Also returns, per beam, ompMC's request and result.
    """
    if not REFERENCE_PYTHON.exists():
        pytest.fail(MISSING_REFERENCE)
    recorded = {} if rerun_ompmc else recorded_ompmc()
    kv_50, kv_70, kv_100 = superficial_beams(cache_folder)
    requests, results, procs = {}, {}, []
    with tempfile.TemporaryDirectory(prefix="ompmc-") as tmp:

        def start(group: list[Beam], tag: str) -> None:
            for beam in group:
                requests[beam.id] = ompmc_request(beam, sources[beam.id][0])
                if request_digest(requests[beam.id]) in recorded:
                    results[beam.id] = recorded[request_digest(requests[beam.id])]
            to_run = [beam for beam in group if beam.id not in results]
            if to_run:
                procs.append((to_run, _start_ompmc([requests[b.id] for b in to_run], Path(tmp), tag)))

        sources = {b.id: source_parts(b) for b in (kv_100, kv_50)}
        start([kv_100, kv_50], "a")
        try:
            ebx = ebx_beam(cache_folder)
            sources.update({b.id: source_parts(b) for b in (kv_70, ebx)})
            start([kv_70, ebx], "b")
            cases = [kv_50, kv_70, kv_100, ebx]
            planner = {b.id: planner_runs(b) for b in cases}
        finally:
            codes = [proc.wait(timeout=900) for _, (proc, _, _) in procs]
        for (members, (_, result, log)), code in zip(procs, codes):
            if code != 0:
                pytest.fail(f"ompMC failed (exit {code}): {log.read_text()[-2000:]}")
            results.update({b.id: res for b, res in zip(members, json.loads(result.read_text()))})
    centres = 0.5 * (np.array(WINDOW_EDGES_MM[:-1]) + np.array(WINDOW_EDGES_MM[1:]))
    out = {}
    for beam in cases:
        res = results[beam.id]
        o_dose, o_rel = ompmc_windows(res, sources[beam.id][1])
        out[beam.id] = Comparison(beam.label, centres, planner[beam.id], normalised(o_dose), o_rel,
                                  normalisation_sigma(o_rel), res["seconds"])
    return out, {b.id: (requests[b.id], results[b.id]) for b in cases}


# ------------------------------------------------------------------------------------------------------ tests

BEAM_IDS = ("50kV", "70kV", "100kV", "eBx")
# Known physics difference, one-sided: ompMC scatters photons off free electrons (Klein–Nishina), Planner off
# bound ones (× S(q)). Measured with Planner itself, run once with free-electron Compton data (σ_incoh and μen
# from Klein–Nishina, S = Z): its normalised PDD fell by 0.5–1.0 % at 5–18 mm (100 kV 0.7–1.0 %,
# 70 kV 0.3–1.1 %, 50 kV and eBx ≤ 0.7 %, each ± 0.4 % statistics) and by ≤ 0.3 % above 2 mm. So Planner may
# sit up to 1 % ABOVE ompMC from binding alone, never below.
BINDING_ALLOWANCE = 0.010
K_SIGMA = 3.0                 # coverage factor on the combined k = 1 statistical σ
# The statistics these photon numbers give (measured: k = 1 σ of a window's ratio 0.43–1.09 % for the kV
# cones, 1.03–1.53 % for the eBx applicator); bounded here so that fewer photons cannot silently widen the test.
MAX_WINDOW_SIGMA = {"50kV": 0.012, "70kV": 0.012, "100kV": 0.012, "eBx": 0.018}
RANGES_MM = ((0.5, 1.25), (2.0, 6.0), (7.0, 20.0))   # window centres: surface, shallow, deep


@pytest.fixture(scope="session")
def comparisons(dose_cache_dir) -> dict[str, Comparison]:
    return compare_all(dose_cache_dir)[0]


def _table(c: Comparison) -> str:
    return "; ".join(f"{z:g} mm: {100 * r:+.2f} % (σ {100 * s:.2f} %)"
                     for z, r, s in zip(c.depths_mm, c.residual, c.sigma))


def test_reference_environment_is_installed_and_kept_apart():
    """ompMC (GPL-3) lives in .venv-reference only: CI runs scripts/setup.sh, which makes it."""
    assert REFERENCE_PYTHON.exists(), MISSING_REFERENCE
    assert importlib.util.find_spec("ompmc") is None, "ompMC must not be installed in Planner's environment"


def test_both_codes_get_the_same_spectrum_without_photons_below_10_kev():
    s = fitted_spectrum(50.0, 0.52)
    t = trimmed(s)
    assert t.energies_kev.min() - 0.5 * t.bin_width_kev >= SPECTRUM_CUT_KEV - 1e-9
    assert abs(t.fluence.sum() - 1.0) < 1e-12
    # What is left out: SpekPy's 50 kV (HVL 0.52 mm Al) spectrum has 1.9 % of its photons and 0.7 % of its energy
    # fluence below 10 keV (the figure).
    below = s.energies_kev < SPECTRUM_CUT_KEV
    assert 0.006 < np.sum((s.energies_kev * s.fluence)[below]) / np.sum(s.energies_kev * s.fluence) < 0.008


@pytest.mark.parametrize("beam", BEAM_IDS)
def test_depth_dose_agrees_with_ompmc_window_by_window(comparisons, beam):
    """Every window from 0.25 to 20.25 mm: −3σ ≤ Planner/ompMC − 1 ≤ 1 % (binding) + 3σ.

    Measured residuals (Planner/ompMC − 1 over the nine windows centred 0.5 … 17.75 mm; seeds as set here):
      50 kV   −0.11 … +1.74 %   (largest at 17.75 mm, σ 0.67 %)
      70 kV   −0.50 … +1.15 %   (largest at 10 mm, σ 0.72 %)
      100 kV  −0.97 … +2.59 %   (largest at 10 mm, σ 0.95 %: Planner above ompMC from 2 mm on)
      eBx     −1.14 … +1.16 %   (σ 1.0–1.5 %: the larger, filtered field at SSD 6 cm)
    """
    c = comparisons[beam]
    assert np.all(c.sigma <= MAX_WINDOW_SIGMA[beam]), f"{c.label}: statistics worse than designed: {_table(c)}"
    low, high = -K_SIGMA * c.sigma, BINDING_ALLOWANCE + K_SIGMA * c.sigma
    outside = (c.residual < low) | (c.residual > high)
    assert not outside.any(), f"{c.label}: Planner/ompMC − 1 outside −3σ … 1 % + 3σ: {_table(c)}"


@pytest.mark.parametrize("beam", BEAM_IDS)
@pytest.mark.parametrize("lo_mm, hi_mm", RANGES_MM)
def test_depth_dose_agrees_with_ompmc_on_average_over_each_depth_range(comparisons, beam, lo_mm, hi_mm):
    """The mean residual over a depth range averages the window noise down (σ 0.4–0.7 % for the kV cones,
    1.0–1.1 % for eBx; the shared normalisation does not average), so a systematic error of 2–3 % over a range
    cannot hide inside the wider per-window tolerance.

    Measured mean residuals (windows centred 0.5–1.25 / 2.25–5.25 / 7.5–17.75 mm):
      50 kV +0.05 / +0.22 / +1.14 %;  70 kV −0.07 / +0.27 / +0.56 %;  100 kV −0.23 / +1.62 / +1.54 %;
      eBx −0.21 / +0.15 / −0.17 %.
    """
    c = comparisons[beam]
    mean, sigma = c.range_mean(lo_mm, hi_mm)
    assert -K_SIGMA * sigma <= mean <= BINDING_ALLOWANCE + K_SIGMA * sigma, (
        f"{c.label}, {lo_mm:g}–{hi_mm:g} mm: mean Planner/ompMC − 1 = {100 * mean:+.2f} % "
        f"(σ {100 * sigma:.2f} %); {_table(c)}")
