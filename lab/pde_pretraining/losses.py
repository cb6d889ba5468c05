"""Data, residual and hybrid losses (``book/pde_pretraining.md``).

With predictions ``û_b`` (fields), targets ``u_b``, sources ``f_b`` and operator symbols ``σ_b``:

- data:      ``L_data = mean_b ‖û_b − u_b‖² / ‖u_b‖²``;
- residual:  ``L_PDE = mean_b ‖σ_b F[û_b] − F[f_b]‖² / ‖F[f_b]‖²`` (spectral, exact on a periodic
  grid; no label needed), plus the scale-free mean-zero penalty ``mean_b (mean û_b)² / mean(û_b²)``
  where the operator annihilates constants (Poisson), since the residual cannot see the mean;
- preconditioned residual (option): each Fourier coefficient of the residual divided by
  ``max(|k|, 2π)``, so that low-frequency errors, which ``σ ∝ |k|²`` shrinks, are not under-weighted;
- hybrid:    ``L_hyb = L_data + λ L_PDE``;
- on the Dirichlet variant (non-periodic, no symbol) the residual is the finite-difference one,
  ``mean_b ‖A_b û_b − f_b‖² / ‖f_b‖²`` with ``A_b`` the 9-point stencil of
  :mod:`lab.pde_pretraining.dirichlet`; the spectral residual refuses a non-periodic batch.

Norms over the rfft2 half-plane double-count nothing that matters for a ratio of norms of the same
kind (both numerator and denominator use the same weights).
"""
from __future__ import annotations

import math

import torch

VARIANTS = ("data", "pde", "hybrid")


def relative_l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample ``‖pred − target‖ / ‖target‖`` (the chapter's error metric)."""
    num = (pred - target).pow(2).sum(dim=(-2, -1)).sqrt()
    return num / target.pow(2).sum(dim=(-2, -1)).sqrt().clamp_min(1e-12)


def data_loss(pred: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    return relative_l2(pred, u).pow(2).mean()


def residual_loss(pred: torch.Tensor, f: torch.Tensor, symbol: torch.Tensor, zero_mean: bool,
                  precondition: bool = False) -> torch.Tensor:
    """The spectral residual loss (periodic grids only: ``symbol`` is the operator's Fourier symbol)."""
    if symbol is None:
        raise ValueError("the spectral residual needs a periodic grid and its operator symbol; this batch has "
                         "none (a non-periodic, Dirichlet grid?): use fd_residual_loss")
    fh = torch.fft.rfft2(f)
    r = symbol * torch.fft.rfft2(pred) - fh
    if precondition:
        n = f.shape[-1]
        ky = torch.fft.fftfreq(n, 1.0 / n, device=f.device)[:, None]
        kx = torch.fft.rfftfreq(n, 1.0 / n, device=f.device)[None, :]
        w = 1.0 / (2 * math.pi * (kx**2 + ky**2).sqrt()).clamp_min(2 * math.pi)
        r, fh = r * w, fh * w
    if zero_mean:  # σ(0) = 0: the mean mode carries no residual
        r = r.clone()
        r[..., 0, 0] = 0
        fh = fh.clone()
        fh[..., 0, 0] = 0
    loss = (r.abs().pow(2).sum(dim=(-2, -1)) / fh.abs().pow(2).sum(dim=(-2, -1)).clamp_min(1e-12)).mean()
    if zero_mean:
        scale = pred.pow(2).mean(dim=(-2, -1)).clamp_min(1e-12)
        loss = loss + (pred.mean(dim=(-2, -1)).pow(2) / scale).mean()
    return loss


def fd_residual_loss(pred: torch.Tensor, f: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """``mean_b ‖A_b û_b − f_b‖² / ‖f_b‖²`` with the Dirichlet finite-difference operator."""
    from lab.pde_pretraining import dirichlet

    r = dirichlet.residual(pred, f, K)
    return (r.pow(2).sum(dim=(-2, -1)) / f.pow(2).sum(dim=(-2, -1)).clamp_min(1e-12)).mean()


def spectral_residual(pred: torch.Tensor, batch, precondition: bool = False) -> torch.Tensor:
    """:func:`residual_loss` on a batch; a batch on a non-periodic grid is refused by name."""
    if getattr(batch, "boundary", "periodic") != "periodic":
        raise ValueError(f"the spectral residual assumes a periodic grid, but this batch has {batch.boundary} "
                         "boundaries: use the finite-difference residual (fd_residual_loss)")
    return residual_loss(pred, batch.f, batch.symbol, batch.zero_mean, precondition)


def pde_residual(pred: torch.Tensor, batch, precondition: bool = False) -> torch.Tensor:
    """The residual loss the batch's grid calls for: spectral (periodic) or finite-difference (Dirichlet)."""
    if getattr(batch, "boundary", "periodic") == "dirichlet":
        if precondition:
            raise ValueError("the preconditioned residual is spectral; the Dirichlet variant has no such option")
        return fd_residual_loss(pred, batch.f, batch.K)
    return spectral_residual(pred, batch, precondition)


def loss(variant: str, pred, batch, lam: float = 1.0, precondition: bool = False,
         unlabelled=None, pred_unlabelled=None) -> torch.Tensor:
    """The loss of ``variant`` on a labelled batch (and, for residual terms, an unlabelled one).

    ``unlabelled`` (with ``pred_unlabelled``) lets the residual see coefficients outside the
    labelled range: the "wide" pre-training variants of the chapter.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown loss variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if variant == "data":
        return data_loss(pred, batch.u)
    src = unlabelled if unlabelled is not None else batch
    p = pred_unlabelled if unlabelled is not None else pred
    res = pde_residual(p, src, precondition)
    if variant == "pde":
        return res
    return data_loss(pred, batch.u) + lam * res
