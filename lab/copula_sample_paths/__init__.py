"""``lab.copula_sample_paths``: correlated forecast paths from a multi-step quantile model.

The chapter ``book/copula_sample_paths.md`` (Baron et al. 2025, arXiv 2510.02224). A multi-step
model gives per-step quantiles ``q_h(α_m)``; a Gaussian copula with latent correlation
``R_{hh'} = ρ^{|h-h'|}`` joins them into sample paths in one forward pass:

    z ~ N(0, R),  u_h = Φ(z_h),  ỹ_h = F_h^{-1}(u_h)

Modules: :mod:`.iqf` (the interpolated quantile function with tails), :mod:`.copula` (latent
samplers: AR(1) recursion, Cholesky, any R; ρ estimators), :mod:`.scores` (CRPS, energy and
variogram scores, aggregate CRPS), :mod:`.samplers` (independent, copula and autoregressive
sampling through a :class:`lab.tsfm.TSFM`, counting model calls), :mod:`.experiments`,
:mod:`.figures`, :mod:`.config`, :mod:`.claims`.
"""
from .copula import (ar1_latent, cholesky_latent, estimate_rho, exact_ar1_correlation, latent_normals,
                     sample_paths, toeplitz)
from .iqf import check_grid, inverse_quantile
from .scores import aggregate_crps, crps_gaussian, crps_samples, energy_score, variogram_score

__all__ = ["inverse_quantile", "check_grid", "ar1_latent", "cholesky_latent", "latent_normals", "toeplitz",
           "exact_ar1_correlation", "estimate_rho", "sample_paths", "crps_samples", "crps_gaussian",
           "energy_score", "variogram_score", "aggregate_crps"]
