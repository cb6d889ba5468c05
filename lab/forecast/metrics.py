"""Accuracy and stability metrics of forecasts made at consecutive forecast creation dates.

Forecasts of one series form a grid ``[F, H]`` (FCD ``k``, horizon ``h``; stride 1), so the
target date of entry ``(k, h)`` is ``k + h``. :func:`regroup_by_date` turns it into ``[S, H]``,
``S = F + H - 1``, whose row ``d`` lists the forecasts of date ``d`` and whose column ``h`` is
the one made ``h + 1`` steps ahead (NaN where no FCD of the grid made it). Consecutive
columns are pairs of forecasts of the same date made one FCD apart: ``before = [:, h + 1]``
(earlier FCD), ``update = [:, h]`` (later FCD). Definitions follow the paper's reference code
(``book/forking_sequences.md``):

.. math::

    \\mathrm{sFPC} = 200\\cdot\\operatorname{mean}_{\\rm pairs}
        \\frac{|\\hat y^{\\rm upd} - \\hat y^{\\rm bef}|}{|\\hat y^{\\rm upd}| + |\\hat y^{\\rm bef}| + \\epsilon},

    \\mathrm{EV} = \\frac{\\sum_{\\rm pairs} \\rho_{.5}(\\hat y^{\\rm upd} - \\hat y^{\\rm bef})
        - [\\rho_{.5}(y - \\hat y^{\\rm bef}) - \\rho_{.5}(y - \\hat y^{\\rm upd})]}{\\sum_{\\rm pairs} |y|},

    \\mathrm{sCRPS} \\approx \\frac{2}{|\\mathcal Q|}\\frac{\\sum_\\tau \\sum \\rho_\\tau(y - \\hat y_\\tau)}{\\sum |y|},

sFPC and EV on the median forecasts. All functions take numpy arrays with leading batch axes.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-8


def pinball(y: np.ndarray, q: np.ndarray, tau) -> np.ndarray:
    """``rho_tau(y - q) = u (tau - 1{u < 0})`` elementwise, ``u = y - q``."""
    u = y - q
    return u * (np.asarray(tau) - (u < 0))


def scaled_crps(y: np.ndarray, quantiles: np.ndarray, taus, mask: np.ndarray | None = None) -> float:
    """Quantile approximation of the scaled CRPS: ``2/|Q| sum_tau sum rho_tau / sum |y|``.

    ``y [...]``, ``quantiles [..., Q]``; entries where ``mask`` is 0 (or ``y`` is NaN) are left out.
    """
    taus = np.asarray(taus, dtype=float)
    keep = ~np.isnan(y) if mask is None else (np.asarray(mask) > 0) & ~np.isnan(y)
    loss = pinball(y[keep][:, None], quantiles[keep], taus).sum()
    return float(2.0 / len(taus) * loss / np.abs(y[keep]).sum())


def regroup_by_date(grid: np.ndarray) -> np.ndarray:
    """``[..., F, H]`` by (FCD, horizon) to ``[..., F+H-1, H]`` by (target date, horizon)."""
    *lead, F, H = grid.shape
    out = np.full((*lead, F + H - 1, H), np.nan, dtype=float)
    for h in range(H):
        out[..., h:h + F, h] = grid[..., :, h]
    return out


def revision_pairs(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(before, update, date)`` for every pair of forecasts of one date made one FCD apart.

    ``grid [..., F, H]``; the arrays are flat over the pairs where both forecasts exist;
    ``date`` indexes rows of :func:`regroup_by_date` (flattened with the leading axes).
    """
    by_date = regroup_by_date(grid)
    before, update = by_date[..., 1:], by_date[..., :-1]
    # one flat index per (leading index, date) row of by_date
    rows = np.arange(int(np.prod(by_date.shape[:-1]))).reshape(by_date.shape[:-1])
    flat_date = np.broadcast_to(rows[..., None], before.shape)
    ok = ~np.isnan(before) & ~np.isnan(update)
    return before[ok], update[ok], flat_date[ok]


def sfpc(median_grid: np.ndarray) -> float:
    """Symmetric forecast percentage change (in %) between consecutive FCDs, on ``[..., F, H]``.

    Needs no ground truth; undefined (``ValueError``) for ``H = 1`` or ``F = 1``.
    """
    if median_grid.shape[-1] < 2 or median_grid.shape[-2] < 2:
        raise ValueError(f"sFPC needs F >= 2 FCDs and H >= 2 horizons, got grid {median_grid.shape}")
    before, update, _ = revision_pairs(median_grid)
    return float(200.0 * np.mean(np.abs(update - before) / (np.abs(update) + np.abs(before) + EPS)))


def excess_volatility_terms(median_grid: np.ndarray, y_by_date: np.ndarray) -> np.ndarray:
    """Per-pair excess volatility ``rho(upd - bef) - [rho(y - bef) - rho(y - upd)]`` (median).

    ``y_by_date [..., F+H-1]``: the target of each date of the grid. Every term is ``>= 0``
    by the triangle inequality ``|y - bef| <= |y - upd| + |upd - bef|``.
    """
    before, update, date = revision_pairs(median_grid)
    y = np.asarray(y_by_date, dtype=float).reshape(-1)[date]
    return pinball(update, before, 0.5) - (pinball(y, before, 0.5) - pinball(y, update, 0.5))


def excess_volatility(median_grid: np.ndarray, y_by_date: np.ndarray) -> float:
    """Excess volatility: summed per-pair terms over ``sum |y|`` of the pairs' targets."""
    before, update, date = revision_pairs(median_grid)
    y = np.asarray(y_by_date, dtype=float).reshape(-1)[date]
    return float(excess_volatility_terms(median_grid, y_by_date).sum() / np.abs(y).sum())


def targets_by_date(y_grid: np.ndarray) -> np.ndarray:
    """``[..., F, H]`` targets (``y_grid[k, h] = y[k + h]``) to ``[..., F+H-1]`` by date."""
    by_date = regroup_by_date(y_grid)
    return np.nanmax(np.where(np.isnan(by_date), -np.inf, by_date), axis=-1)
