"""R4: the conjugate kernel's linear (Gaussian) equivalent.

For ``ξ ~ N(0, 1)`` let ``a₀ = Eσ(ξ)``, ``a₁ = Eξσ(ξ)``, ``ν = Eσ(ξ)²``. For data with unit-norm
columns, ``σ(WX)`` (``W`` i.i.d. N(0, 1)) has the same spectral functionals as

    a₀ 11ᵀ + a₁ WX + √(ν − a₀² − a₁²) Z,      Z i.i.d. N(0, 1) independent of W,

so ``(1/N)σ(WX)ᵀσ(WX)`` has a spike near ``n a₀²`` (from the mean ``a₀``) on a bulk given by the
linear part, and ``E[K] ≈ a₀²11ᵀ + a₁²XᵀX + (ν − a₀² − a₁²)I``. Layer by layer, the same holds
for a deep (random, untrained) network. See ``book/rmt_equivalents.md``, section R4.
"""
from __future__ import annotations

import numpy as np
from scipy.integrate import quad
from scipy.special import erf

#: Closed forms for ξ ~ N(0, 1): ReLU a₀ = 1/√(2π), a₁ = 1/2, ν = 1/2; erf a₀ = 0,
#: a₁ = 2/√(3π), ν = (2/π) arcsin(2/3).
CLOSED_FORMS = {
    "relu": {"a0": 1 / np.sqrt(2 * np.pi), "a1": 0.5, "nu": 0.5},
    "erf": {"a0": 0.0, "a1": 2 / np.sqrt(3 * np.pi), "nu": 2 / np.pi * np.arcsin(2 / 3)},
}
_FUNCS = {"relu": lambda x: np.maximum(x, 0.0), "erf": erf, "tanh": np.tanh}


def gaussian_coefficients(activation: str) -> dict:
    """``a0, a1, nu`` and the noise variance ``nu − a0² − a1²`` by adaptive quadrature.

    ``E g(ξ) = ∫ g(x) φ(x) dx`` on ``(−∞, 0]`` and ``[0, ∞)`` separately (ReLU's kink sits at
    0, where Gauss–Hermite converges slowly). Works for ``relu, erf, tanh`` (tanh has no closed
    form; the quadrature is its definition). Raises ``ValueError`` for an unknown activation.
    """
    if activation not in _FUNCS:
        raise ValueError(f"activation {activation!r} has no linear equivalent here; known: {', '.join(_FUNCS)}")
    f = _FUNCS[activation]

    def mean(g):
        phi = lambda x: g(x) * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)  # noqa: E731
        return quad(phi, -np.inf, 0, epsabs=1e-13)[0] + quad(phi, 0, np.inf, epsabs=1e-13)[0]

    a0, a1, nu = mean(f), mean(lambda x: x * f(x)), mean(lambda x: f(x) ** 2)
    return {"a0": a0, "a1": a1, "nu": nu, "noise": nu - a0**2 - a1**2}


def expected_ck(X, coeffs: dict) -> np.ndarray:
    """``a₀²11ᵀ + a₁²XᵀX + (ν − a₀² − a₁²)I`` for unit-norm columns of ``X``."""
    X = np.asarray(X, float)
    n = X.shape[1]
    return coeffs["a0"] ** 2 * np.ones((n, n)) + coeffs["a1"] ** 2 * X.T @ X + \
        (coeffs["nu"] - coeffs["a0"] ** 2 - coeffs["a1"] ** 2) * np.eye(n)


def unit_columns(p: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian data ``X ∈ R^{p×n}`` with columns scaled to norm exactly 1."""
    X = rng.standard_normal((p, n))
    return X / np.linalg.norm(X, axis=0, keepdims=True)


def bulk_quantile_gap(eig_a, eig_b, n_spikes: int = 1) -> dict:
    """Mean and largest ``|λ_a,(i) − λ_b,(i)|`` over the sorted bulk (top ``n_spikes`` dropped)."""
    a, b = np.sort(eig_a), np.sort(eig_b)
    if a.shape != b.shape:
        raise ValueError("the two spectra must have the same size")
    ga = np.abs(a[: a.size - n_spikes] - b[: b.size - n_spikes])
    return {"mean": float(ga.mean()), "max": float(ga.max()), "range": (float(a[0]), float(a[-1 - n_spikes]))}
