"""Tier presets for the random-matrix chapter (``book/rmt_equivalents.md``).

``smoke`` runs every experiment at small size in seconds; ``book`` uses the dossier's sizes
(MP at p = 1000, ridge up to n = 1600, RF with n = 512 over 20 widths, the CK at n = 1600, GD
to t = 1000), about a minute of one CPU core; ``full`` is sized for one GPU (MP at p = 2·10⁴, RF
with n = 4096 and N up to 12k over 20 seeds, a 3-layer CK at n = 10⁴, ridge at p = 10⁴, the
finite-size rate up to p = 16000); `lab gpu --list` says whether its run is committed.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import at_least, between, each, greater_than, nonempty, one_of, resolve_config, strictly_increasing

RF_GRID = (0.1, 0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0)


@dataclass(frozen=True)
class Config:
    """Every knob of :mod:`lab.rmt_equivalents.experiments`, by result (R1 … R5)."""

    scale: str
    seed: int = 0
    n_seeds: int = 3
    device: str = "cpu"
    # R1: MP at p = mp_p for each ratio, Wigner at wigner_n, resolvent on x + i·eta
    mp_p: int = 1000
    mp_c: tuple = (0.1, 0.5)
    wigner_n: int = 2000
    resolvent_eta: float = 0.1
    # theory-simulation gap against size (resolvent at c = 0.5)
    gap_p: tuple = (125, 250, 500, 1000, 2000)
    # R2: ridge under a power-law spectrum; ridgeless under Σ = I
    ridge_p: int = 1000
    ridge_power: float = 1.5
    ridge_noise: float = 0.1
    ridge_lam: float = 1e-3
    ridge_n: tuple = (50, 200, 400, 800, 1600)
    ridge_reps: int = 10
    ridgeless_n: int = 400
    ridgeless_gamma: tuple = (0.2, 0.4, 0.6, 0.8, 0.9, 1.1, 1.2, 1.5, 2.0, 3.0)
    ridgeless_noise: float = 0.25
    # R3: random features on the two-class mixture, and on load_digits (illustration)
    rf_p: int = 256
    rf_n: int = 512
    rf_psi: tuple = RF_GRID
    rf_gamma: tuple = (1e-7, 1e-2)
    rf_seeds: int = 5
    rf_activations: tuple = ("relu", "erf")
    digits_n: int = 512
    digits_psi: tuple = (0.25, 0.5, 0.8, 0.95, 1.0, 1.05, 1.25, 1.5, 2.0, 3.0)
    # R4: conjugate kernel
    ck_p: int = 800
    ck_n: int = 1600
    ck_N: int = 2400
    ck_seeds: int = 2
    deep_ck_n: int = 0  # 3-layer CK at this n (0: skipped; the full tier)
    deep_ck_layers: int = 3
    # R5: gradient descent
    gd_p: int = 400
    gd_n: int = 800
    gd_noise: float = 0.25
    gd_eta: float = 0.5
    gd_steps: int = 1000
    gd_reps: int = 20
    # peers
    peer: bool = True


_PRESETS = {
    "smoke": dict(n_seeds=2, mp_p=200, mp_c=(0.5,), wigner_n=400, gap_p=(100, 200, 400),
                  ridge_n=(200, 400), ridge_reps=2, ridge_p=400, ridgeless_n=100, ridgeless_gamma=(0.5, 0.9, 1.1, 2.0),
                  rf_p=64, rf_n=128, rf_psi=(0.5, 1.0, 2.0), rf_seeds=3, rf_activations=("relu",),
                  digits_n=128, digits_psi=(0.5, 1.0, 2.0), ck_p=200, ck_n=400, ck_N=600, ck_seeds=1,
                  gd_p=200, gd_n=400, gd_steps=100, gd_reps=2, peer=False),
    "book": dict(),
    "full": dict(n_seeds=5, device="cuda", mp_p=20_000, wigner_n=20_000,
                 gap_p=(500, 1000, 2000, 4000, 8000, 16000), ridge_p=10_000,
                 ridge_n=(500, 1000, 2000, 4000, 8000, 16000), rf_n=4096, rf_p=2048, rf_seeds=20,
                 digits_n=800, ck_p=5000, ck_n=10_000, ck_N=15_000, deep_ck_n=10_000, gd_p=4000, gd_n=8000),
}

CHECKS = {
    "n_seeds": at_least(1), "device": one_of("cpu", "cuda"),
    "mp_p": at_least(10), "mp_c": nonempty & each(greater_than(0)), "wigner_n": at_least(10),
    "resolvent_eta": greater_than(0), "gap_p": nonempty & each(at_least(10)) & strictly_increasing,
    "ridge_p": at_least(2), "ridge_power": greater_than(0), "ridge_noise": at_least(0), "ridge_lam": at_least(0),
    "ridge_n": nonempty & each(at_least(2)) & strictly_increasing, "ridge_reps": at_least(1),
    "ridgeless_n": at_least(10), "ridgeless_gamma": nonempty & each(greater_than(0)), "ridgeless_noise": at_least(0),
    "rf_p": at_least(2), "rf_n": at_least(4), "rf_psi": nonempty & each(greater_than(0)),
    "rf_gamma": nonempty & each(greater_than(0)), "rf_seeds": at_least(1),
    "rf_activations": nonempty & each(one_of("relu", "erf")),
    "digits_n": between(8, 898), "digits_psi": nonempty & each(greater_than(0)),
    "ck_p": at_least(2), "ck_n": at_least(4), "ck_N": at_least(2), "ck_seeds": at_least(1),
    "deep_ck_n": at_least(0), "deep_ck_layers": at_least(1),
    "gd_p": at_least(2), "gd_n": at_least(4), "gd_noise": at_least(0), "gd_eta": greater_than(0),
    "gd_steps": at_least(10), "gd_reps": at_least(1),
}


def resolve(scale: str = "book", **overrides):
    """Configuration of tier ``scale`` with every override that is not ``None`` applied.

    Raises ``ParameterError`` for a value out of range (a ratio c ≤ 0, a negative
    regularisation, an activation without a known kernel, ...), naming the parameter.
    """
    cfg = resolve_config(Config, _PRESETS, scale, overrides, CHECKS)
    if cfg.gd_p >= cfg.gd_n:
        from lab.tiers import ParameterError
        raise ParameterError("gd_p", cfg.gd_p, f"fewer than gd_n = {cfg.gd_n} (the GD risk needs c = p/n < 1)")
    return cfg
