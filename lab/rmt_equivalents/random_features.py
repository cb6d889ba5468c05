"""R3: random-features ridge regression and its deterministic equivalent (double descent in N).

Features ``Σ = σ(WX) ∈ R^{N×n}`` with ``W ∈ R^{N×p}`` i.i.d. N(0, 1), data ``X ∈ R^{p×n}``,
``β = (1/n) Σ (ΣᵀΣ/n + γI)⁻¹ y``. With the kernel ``K = E_w[σ(Xᵀw)σ(wᵀX)]`` and ``ψ = N/n``,
the deterministic equivalent (Louart, Liao & Couillet 2018) uses

    δ = (1/n) tr K (ψK/(1 + δ) + γI)⁻¹,   K̄ = ψK/(1 + δ),   Q̄ = (K̄ + γI)⁻¹,
    Θ = 1 − (1/N) tr (K̄Q̄)²,

    E_train ≈ (γ²/n) yᵀQ̄ [ (1/N) tr(K̄Q̄²)/Θ · K̄ + I ] Q̄y,
    E_test  ≈ (1/n̂)‖ŷ − K̄_{X̂X}Q̄y‖² + (1/N) yᵀQ̄K̄Q̄y/Θ · (1/n̂)[tr K̄_{X̂X̂} − tr K̄_{X̂X}Q̄(I + γQ̄)K̄_{XX̂}],

every ``K̄_{··} = ψK_{··}/(1 + δ)``. Known kernels (closed forms for ``w ~ N(0, I_p)``):

- ``relu``: ``‖x‖‖z‖/(2π) · (ρ arccos(−ρ) + √(1 − ρ²))``, ``ρ = cos∠(x, z)`` (arc-cosine kernel);
- ``erf``: ``(2/π) arcsin(2xᵀz / √((1 + 2‖x‖²)(1 + 2‖z‖²)))``.

The fixed point in K's eigenbasis is ``f(δ) = δ − (1/n) Σ_i λ_i(1 + δ)/(ψλ_i + γ(1 + δ)) = 0``;
``f(0) < 0`` and ``f → +∞``, and it is solved by bracketing, so the positive root is the one
returned. See ``book/rmt_equivalents.md``, section R3.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

ACTIVATIONS = ("relu", "erf")


def check_activation(name: str) -> str:
    """Return ``name`` or raise ``ValueError`` for an activation without a known kernel."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} has no closed-form kernel here; known: {', '.join(ACTIVATIONS)}")
    return name


def kernel(X, Z=None, activation: str = "relu") -> np.ndarray:
    """``K(X, Z)_{ij} = E_w[σ(wᵀx_i) σ(wᵀz_j)]``, ``w ~ N(0, I_p)``, columns of ``X`` and ``Z`` as points."""
    check_activation(activation)
    X = np.asarray(X, float)
    Z = X if Z is None else np.asarray(Z, float)
    nx, nz = np.linalg.norm(X, axis=0), np.linalg.norm(Z, axis=0)
    dot = X.T @ Z
    if activation == "relu":
        denom = np.outer(nx, nz)
        rho = np.clip(dot / np.where(denom > 0, denom, 1.0), -1.0, 1.0)
        return denom / (2 * np.pi) * (rho * np.arccos(-rho) + np.sqrt(1 - rho**2))
    arg = 2 * dot / np.sqrt(np.outer(1 + 2 * nx**2, 1 + 2 * nz**2))
    return 2 / np.pi * np.arcsin(np.clip(arg, -1.0, 1.0))


def kernel_diag(X, activation: str = "relu") -> np.ndarray:
    """``K(x_i, x_i)`` for each column: ``‖x‖²/2`` (ReLU), ``(2/π) arcsin(2‖x‖²/(1 + 2‖x‖²))`` (erf)."""
    check_activation(activation)
    sq = np.sum(np.asarray(X, float) ** 2, axis=0)
    return sq / 2 if activation == "relu" else 2 / np.pi * np.arcsin(2 * sq / (1 + 2 * sq))


def solve_delta(kernel_eigs, psi: float, gamma: float) -> float:
    """The positive root ``δ`` of the RF fixed point (module docstring), by bracketing.

    Raises ``ValueError`` for ``ψ ≤ 0`` or ``γ < 0``, and for ``γ = 0`` with ``N ≤ rank K``
    (no finite δ: the ridgeless limit below or at the interpolation threshold).
    """
    lam = np.clip(np.asarray(kernel_eigs, float), 0.0, None)
    n = lam.size
    if not (np.isfinite(psi) and psi > 0):
        raise ValueError(f"the width ratio ψ = N/n must be positive, got {psi}")
    if not np.isfinite(gamma) or gamma < 0:
        raise ValueError(f"the ridge regularisation γ must be ≥ 0, got γ = {gamma}")
    if gamma == 0:
        rank = int(np.sum(lam > lam.max() * 1e-12))
        if psi * n <= rank:
            raise ValueError("γ = 0 with N ≤ rank K: the ridgeless fixed point has no finite root")
        return float(rank / (psi * n - rank))

    def f(d):
        return d - np.sum(lam * (1 + d) / (psi * lam + gamma * (1 + d))) / n

    hi = 1.0
    while f(hi) < 0:
        hi *= 4
        if hi > 1e300:
            raise RuntimeError("could not bracket the RF fixed point")
    return float(brentq(f, 0.0, hi, xtol=1e-14 * hi, rtol=1e-14, maxiter=1000))


class KernelSystem:
    """The kernels of one data set, diagonalised once and reused for every width ``N`` and γ.

    ``K = K(X, X) = V diag(λ) Vᵀ``, the test-train kernel in that basis ``K(X̂, X)V``, the
    labels in that basis ``Vᵀy``, and ``tr K(X̂, X̂)``.
    """

    def __init__(self, X, y, Xtest, ytest, activation: str = "relu"):
        check_activation(activation)
        self.y, self.ytest = np.asarray(y, float), np.asarray(ytest, float)
        evals, V = np.linalg.eigh(kernel(X, activation=activation))
        self.evals = np.clip(evals, 0.0, None)
        self.yv = V.T @ self.y
        self.KtxV = kernel(Xtest, X, activation) @ V
        self.trace_tt = float(np.sum(kernel_diag(Xtest, activation)))
        self.n, self.activation = self.y.size, activation

    def errors(self, N: int, gamma: float) -> dict:
        """``delta``, ``train`` and ``test`` MSE of the equivalent (module docstring) for ``N``, γ."""
        if N <= 0:
            raise ValueError(f"the number of random features N must be positive, got {N}")
        n, nt = self.n, self.ytest.size
        psi = N / n
        delta = solve_delta(self.evals, psi, gamma)
        kb = psi * self.evals / (1 + delta)     # eigenvalues of K̄
        qb = 1.0 / (kb + gamma)                 # eigenvalues of Q̄
        yv = self.yv
        theta = 1 - np.sum((kb * qb) ** 2) / N
        if theta <= 0:
            raise RuntimeError(f"Θ = {theta:.3g} ≤ 0: the equivalent is off its branch")
        # E_train = (γ²/n) yᵀQ̄[(1/N tr K̄Q̄²)/Θ · K̄ + I]Q̄y
        train = gamma**2 / n * np.sum(yv**2 * qb**2 * (np.sum(kb * qb**2) / N / theta * kb + 1))
        KbtV = psi / (1 + delta) * self.KtxV    # K̄_{X̂X} V
        bias = np.mean((self.ytest - KbtV @ (qb * yv)) ** 2)
        scale = np.sum(yv**2 * qb**2 * kb) / N / theta
        # tr K̄_{X̂X}Q̄(I + γQ̄)K̄_{XX̂}, in K's eigenbasis
        cross = np.sum(KbtV**2 * (qb * (1 + gamma * qb))[None, :])
        var = scale * (psi * self.trace_tt / (1 + delta) - cross) / nt
        return {"delta": delta, "train": float(train), "test": float(bias + var)}


def rf_equivalent(X, y, Xtest, ytest, N: int, gamma: float, activation: str = "relu") -> dict:
    """Train and test MSE of RF ridge regression from the deterministic equivalent.

    ``X (p×n)``, ``y (n,)``, ``Xtest (p×n̂)``, ``ytest (n̂,)``; ``N`` random features. Returns
    ``delta, train, test``. To sweep ``N`` and γ on one data set, build a :class:`KernelSystem`.
    """
    return KernelSystem(X, y, Xtest, ytest, activation).errors(N, gamma)


def gmm_data(p: int, n: int, rng: np.random.Generator, mean_norm: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Two-class Gaussian mixture: ``x = (±μ + z)/√p``, ``μ = mean_norm·e₁``, labels ±1 (balanced).

    Returns ``X (p×n)`` and ``y (n,)``.
    """
    y = np.where(np.arange(n) < n // 2, -1.0, 1.0)
    X = rng.standard_normal((p, n))
    X[0] += mean_norm * y
    return X / np.sqrt(p), y


def digits_data(n_train: int, n_test: int, seed: int) -> tuple[np.ndarray, ...]:
    """scikit-learn's bundled digits: centred, unit-norm columns, label ±1 for "digit < 5".

    A random split of ``n_train + n_test`` of the 1797 images. Returns ``X, y, Xtest, ytest``.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    if n_train + n_test > len(d.target):
        raise ValueError(f"load_digits has {len(d.target)} images, asked for {n_train + n_test}")
    A = d.data - d.data.mean(axis=0)
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    lab = np.where(d.target < 5, 1.0, -1.0)
    idx = np.random.default_rng(seed).permutation(len(lab))
    tr, te = idx[:n_train], idx[n_train:n_train + n_test]
    return A[tr].T, lab[tr], A[te].T, lab[te]
