"""The simulations each equivalent is compared with, in torch (CPU here; the full tier on a GPU).

Every function draws its randomness from a ``torch.Generator`` seeded by the caller and
computes in ``dtype`` (float64 by default: the ridgeless and small-γ solves need it) on
``device``. See ``book/rmt_equivalents.md``.
"""
from __future__ import annotations

import numpy as np
import torch

from lab.rmt_equivalents.random_features import check_activation


def _gen(seed: int, device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


def activation_fn(name: str):
    """The activation as a torch function (``relu``, ``erf``, ``tanh``)."""
    if name == "tanh":
        return torch.tanh
    check_activation(name)
    return torch.relu if name == "relu" else torch.erf


def wishart_eigs(p: int, n: int, seed: int, *, device="cpu", dtype=torch.float64, chunk: int = 16384) -> np.ndarray:
    """Eigenvalues of ``XXᵀ/n`` for ``X ∈ R^{p×n}`` with i.i.d. N(0, 1) entries.

    ``XXᵀ`` is accumulated over blocks of ``chunk`` columns, so ``X`` itself never has to fit
    in memory (the full tier's p = 2·10⁴, c = 0.1 has n = 2·10⁵).
    """
    g = _gen(seed, device)
    S = torch.zeros(p, p, device=device, dtype=dtype)
    for start in range(0, n, chunk):
        Xc = torch.randn(p, min(chunk, n - start), generator=g, device=device, dtype=dtype)
        S += Xc @ Xc.T
    return torch.linalg.eigvalsh(S / n).cpu().numpy()


def covariance_wishart_eigs(cov_eigs, n: int, seed: int, *, device="cpu", dtype=torch.float64) -> np.ndarray:
    """Eigenvalues of ``C^{1/2}XXᵀC^{1/2}/n`` for a diagonal ``C`` with entries ``cov_eigs``."""
    s = torch.as_tensor(np.asarray(cov_eigs, float), device=device, dtype=dtype)
    X = torch.randn(s.numel(), n, generator=_gen(seed, device), device=device, dtype=dtype) * s.sqrt()[:, None]
    return torch.linalg.eigvalsh(X @ X.T / n).cpu().numpy()


def wigner_eigs(n: int, seed: int, *, device="cpu", dtype=torch.float64) -> np.ndarray:
    """Eigenvalues of a symmetric Gaussian matrix with off-diagonal variance ``1/n``."""
    A = torch.randn(n, n, generator=_gen(seed, device), device=device, dtype=dtype)
    return torch.linalg.eigvalsh((A + A.T) / np.sqrt(2 * n)).cpu().numpy()


def ridge_excess_risk(cov_eigs, beta, n: int, lam: float, noise: float, seed: int, *,
                      device="cpu", dtype=torch.float64) -> float:
    """One draw of ``(β̂ − β*)ᵀΣ(β̂ − β*)`` for ridge on ``n`` samples from ``N(0, diag(cov_eigs))``.

    ``β̂ = (XᵀX/n + λI)⁻¹Xᵀy/n``, solved in the smaller of the primal (p×p) and dual (n×n)
    forms; ``λ = 0`` gives the minimum-norm interpolator (pseudo-inverse).
    """
    g = _gen(seed, device)
    s = torch.as_tensor(np.asarray(cov_eigs, float), device=device, dtype=dtype)
    b = torch.as_tensor(np.asarray(beta, float), device=device, dtype=dtype)
    p = s.numel()
    X = torch.randn(n, p, generator=g, device=device, dtype=dtype) * s.sqrt()[None, :]
    y = X @ b + np.sqrt(noise) * torch.randn(n, generator=g, device=device, dtype=dtype)
    if lam == 0:
        bh = torch.linalg.lstsq(X, y[:, None], driver="gelsd" if X.device.type == "cpu" else None).solution[:, 0]
    elif p <= n:
        bh = torch.linalg.solve(X.T @ X / n + lam * torch.eye(p, device=device, dtype=dtype), X.T @ y / n)
    else:  # (XᵀX/n + λI)⁻¹Xᵀ/n = Xᵀ(XXᵀ + nλI)⁻¹
        bh = X.T @ torch.linalg.solve(X @ X.T + n * lam * torch.eye(n, device=device, dtype=dtype), y)
    d = bh - b
    return float((d * s * d).sum())


def rf_errors(X, y, Xtest, ytest, N: int, gammas, seed: int, activation: str = "relu", *,
              device="cpu", dtype=torch.float64) -> dict:
    """Train and test MSE of RF ridge regression for one draw of ``W`` (``N×p``), every γ.

    ``β = (1/n)Σ(ΣᵀΣ/n + γI)⁻¹y`` with ``Σ = σ(WX)``; returns arrays ``train``, ``test`` over ``gammas``.
    """
    act = activation_fn(activation)
    Xt = torch.as_tensor(X, device=device, dtype=dtype)
    Xh = torch.as_tensor(Xtest, device=device, dtype=dtype)
    yt = torch.as_tensor(y, device=device, dtype=dtype)
    yh = torch.as_tensor(ytest, device=device, dtype=dtype)
    n = Xt.shape[1]
    W = torch.randn(N, Xt.shape[0], generator=_gen(seed, device), device=device, dtype=dtype)
    S, Sh = act(W @ Xt), act(W @ Xh)
    G = S.T @ S / n
    cross = Sh.T @ S / n  # n̂ × n
    eye = torch.eye(n, device=device, dtype=dtype)
    train, test = [], []
    for gam in gammas:
        alpha = torch.linalg.solve(G + gam * eye, yt)  # (ΣᵀΣ/n + γI)⁻¹y; Σβ at the data is G·alpha
        train.append(float(((yt - G @ alpha) ** 2).mean()))
        test.append(float(((yh - cross @ alpha) ** 2).mean()))
    return {"train": np.array(train), "test": np.array(test)}


def ck_spectra(X, N: int, seed: int, coeffs: dict, activation: str = "relu", *,
               device="cpu", dtype=torch.float64) -> dict:
    """Eigenvalues of ``(1/N)σ(WX)ᵀσ(WX)`` and of its Gaussian equivalent, same ``W``.

    The equivalent features are ``a₀11ᵀ + a₁WX + √(ν − a₀² − a₁²) Z`` with an independent
    Gaussian ``Z`` (section R4 of the chapter); ``coeffs`` holds ``a0, a1, nu``.
    """
    g = _gen(seed, device)
    Xt = torch.as_tensor(X, device=device, dtype=dtype)
    W = torch.randn(N, Xt.shape[0], generator=g, device=device, dtype=dtype)
    WX = W @ Xt
    F = activation_fn(activation)(WX)
    noise = float(np.sqrt(max(coeffs["nu"] - coeffs["a0"] ** 2 - coeffs["a1"] ** 2, 0.0)))
    Z = torch.randn(WX.shape, generator=g, device=device, dtype=dtype)
    L = coeffs["a0"] + coeffs["a1"] * WX + noise * Z
    return {"empirical": torch.linalg.eigvalsh(F.T @ F / N).cpu().numpy(),
            "equivalent": torch.linalg.eigvalsh(L.T @ L / N).cpu().numpy()}


def gd_risk_curve(p: int, n: int, noise: float, eta: float, steps: int, seed: int, *,
                  device="cpu", dtype=torch.float64) -> np.ndarray:
    """``‖β_t − β*‖²`` for ``t = 0..steps`` of gradient descent on least squares, one draw.

    ``β₀ = 0``, ``β_{t+1} = β_t − η(Σ̂β_t − Xy/n)``, ``X ∈ R^{p×n}`` i.i.d. N(0, 1),
    ``y = Xᵀβ* + ε``, ``β*`` uniform on the unit sphere, ``Var ε = σ²`` (isotropic, so the
    excess risk is ``‖β_t − β*‖²``). The iteration is run step by step.
    """
    g = _gen(seed, device)
    X = torch.randn(p, n, generator=g, device=device, dtype=dtype)
    b = torch.randn(p, generator=g, device=device, dtype=dtype)
    b /= b.norm()
    y = X.T @ b + np.sqrt(noise) * torch.randn(n, generator=g, device=device, dtype=dtype)
    S, r = X @ X.T / n, X @ y / n
    beta = torch.zeros(p, device=device, dtype=dtype)
    out = torch.empty(steps + 1, device=device, dtype=dtype)
    out[0] = (beta - b).pow(2).sum()
    for t in range(1, steps + 1):
        beta = beta - eta * (S @ beta - r)
        out[t] = (beta - b).pow(2).sum()
    return out.cpu().numpy()
