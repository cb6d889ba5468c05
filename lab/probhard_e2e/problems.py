"""1-D PDE problems with analytic solutions and their conservation constraints.

Every problem is a family ``u(t, x; p)`` on a grid, with the conserved quantity computed by the
**same trapezoid quadrature** ``G`` that the constraint ``G u(t, .) = b(t)`` uses, so that the truth
is feasible to rounding (the dossier's recommendation; the reference code's closed-form PME mass
omits the scale ``s``).

- **heat**: ``u_t = k u_xx`` on ``x in [0, 2 pi]``, ``u = exp(-k t) sin x``, ``k ~ U[1, 5]``; mass 0.
- **PME** (porous medium): ``u = (m ReLU(t - s x))^{1/m}`` on ``[0, 1]^2``, ``m ~ U[2, 6]``,
  ``s`` log-uniform on ``[0.2, 5]``. It solves ``u_t = d/dx(s^{-2} u^m u_x)`` (the standard PME
  ``u_t = (u^m u_x')_x'`` in the scaled coordinate ``x' = s x``); the front sits at ``x = t/s``.
- **Stefan**: ``u = 1 - c1 erf(x / (2 sqrt t))`` for ``x <= alpha sqrt t``, else 0, with
  ``p* ~ U[0.1, 0.9]``, ``z1`` solving ``p* erf(z1) z1 exp(z1^2) = (1 - p*)/sqrt(pi)``,
  ``alpha = 2 z1``, ``c1 = (1 - p*)/erf(z1)``; it solves ``u_t = u_xx`` behind the front.

See ``book/probhard_e2e.md``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import erf

PROBLEMS = ("heat", "pme", "stefan")


@dataclass
class PDEData:
    """One family on a grid: ``u [F, nt, nx]``, parameters ``params [F, p]``, ``G [nx]``, ``b [F, nt]``."""

    name: str
    params: np.ndarray
    t: np.ndarray
    x: np.ndarray
    u: np.ndarray
    G: np.ndarray
    b: np.ndarray

    def features(self) -> np.ndarray:
        """MLP inputs per point ``[F, nt, nx, p + 2]``: normalised parameters, ``t``, ``x / L``."""
        F, nt, nx = self.u.shape
        p = normalised_params(self.name, self.params)
        P = np.broadcast_to(p[:, None, None, :], (F, nt, nx, p.shape[1]))
        T = np.broadcast_to(self.t[None, :, None, None], (F, nt, nx, 1))
        X = np.broadcast_to((self.x / self.x[-1])[None, None, :, None], (F, nt, nx, 1))
        return np.concatenate([P, T, X], -1)


def trapezoid_weights(x: np.ndarray) -> np.ndarray:
    """Weights ``G`` with ``G @ f(x) = trapezoid rule for int f dx`` on the (sorted) grid ``x``."""
    dx = np.diff(x)
    w = np.zeros_like(x)
    w[:-1] += dx / 2
    w[1:] += dx / 2
    return w


def heat_solution(k, t, x):
    """``exp(-k t) sin x``, broadcast over ``k [F, 1, 1]``, ``t [1, nt, 1]``, ``x [1, 1, nx]``."""
    return np.exp(-k * t) * np.sin(x)


def pme_solution(m, s, t, x):
    """``(m ReLU(t - s x))^{1/m}``."""
    return (m * np.maximum(t - s * x, 0.0)) ** (1.0 / m)


def stefan_constants(p_star: float) -> tuple[float, float]:
    """``(alpha, c1)`` of the Stefan solution for one ``p*`` (``z1`` by Brent's method)."""
    if not 0 < p_star < 1:
        raise ValueError(f"Stefan: p* must lie in (0, 1), got {p_star}")
    f = lambda z: p_star * erf(z) * z * np.exp(z * z) - (1 - p_star) / np.sqrt(np.pi)
    z1 = brentq(f, 1e-12, 10.0)
    return 2.0 * z1, (1 - p_star) / erf(z1)


def stefan_solution(p_star, t, x):
    """``1 - c1 erf(x / (2 sqrt t))`` behind the front ``x = alpha sqrt t``, 0 ahead of it."""
    out = np.empty(np.broadcast_shapes(np.shape(p_star), np.shape(t), np.shape(x)))
    ps = np.broadcast_to(p_star, out.shape[:1] + (1, 1))[:, 0, 0]
    for i, p in enumerate(ps):
        alpha, c1 = stefan_constants(float(p))
        tt, xx = np.broadcast_arrays(t[0], x[0])
        out[i] = np.where(xx <= alpha * np.sqrt(tt), 1 - c1 * erf(xx / (2 * np.sqrt(tt))), 0.0)
    return out


def sample_params(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Parameters ``[n, p]`` drawn from the dossier's ranges."""
    if name == "heat":
        return rng.uniform(1.0, 5.0, (n, 1))
    if name == "pme":
        return np.stack([rng.uniform(2.0, 6.0, n), np.exp(rng.uniform(np.log(0.2), np.log(5.0), n))], 1)
    if name == "stefan":
        return rng.uniform(0.1, 0.9, (n, 1))
    raise ValueError(f"unknown problem {name!r}; choose from {PROBLEMS}")


def normalised_params(name: str, params: np.ndarray) -> np.ndarray:
    """Parameters mapped to about ``[-1, 1]`` for the MLP."""
    if name == "heat":
        return (params - 3.0) / 2.0
    if name == "pme":
        return np.stack([(params[:, 0] - 4.0) / 2.0, np.log(params[:, 1]) / np.log(5.0)], 1)
    if name == "stefan":
        return (params - 0.5) / 0.4
    raise ValueError(f"unknown problem {name!r}; choose from {PROBLEMS}")


def grid(name: str, nx: int, nt: int) -> tuple[np.ndarray, np.ndarray]:
    """``(t, x)``: ``t`` on ``[0.05, 1]`` (``t = 0`` is trivial for PME and singular for Stefan)."""
    if nx < 3 or nt < 1:
        raise ValueError(f"a grid needs nx >= 3 and nt >= 1, got nx={nx}, nt={nt}")
    length = 2 * np.pi if name == "heat" else 1.0
    return np.linspace(0.05, 1.0, nt), np.linspace(0.0, length, nx)


def solution(name: str, params: np.ndarray, t: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``u [F, nt, nx]`` of problem ``name`` at parameters ``params [F, p]``."""
    T, X = t[None, :, None], x[None, None, :]
    if name == "heat":
        return heat_solution(params[:, 0, None, None], T, X)
    if name == "pme":
        return pme_solution(params[:, 0, None, None], params[:, 1, None, None], T, X)
    if name == "stefan":
        return stefan_solution(params[:, 0, None, None], T, X)
    raise ValueError(f"unknown problem {name!r}; choose from {PROBLEMS}")


def make_problem(name: str, n_functions: int, nx: int, nt: int, seed: int) -> PDEData:
    """A family of ``n_functions`` solutions with the mass ``b = G u`` from the constraint's quadrature."""
    if n_functions < 1:
        raise ValueError(f"n_functions must be >= 1, got {n_functions}")
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; choose from {PROBLEMS}")
    rng = np.random.default_rng([seed, PROBLEMS.index(name)])
    params = sample_params(name, n_functions, rng)
    t, x = grid(name, nx, nt)
    u = solution(name, params, t, x)
    G = trapezoid_weights(x)
    return PDEData(name, params, t, x, u, G, u @ G)


def fd_residual(name: str, param: np.ndarray, t: np.ndarray, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Finite-difference residual of the PDE at points ``(t, x)`` for one parameter vector.

    Central differences of step ``h`` in ``t`` and ``x`` of the analytic solution:
    heat ``u_t - k u_xx``; PME ``u_t - d/dx(s^{-2} u^m u_x)``; Stefan ``u_t - u_xx``.
    """
    P = np.asarray(param, dtype=float)[None]
    f = lambda tt, xx: solution(name, P, np.atleast_1d(tt), np.atleast_1d(xx))[0]
    T, X = np.meshgrid(t, x, indexing="ij")
    u = lambda tt, xx: np.vectorize(lambda a, c: f(a, c)[0, 0])(tt, xx)
    ut = (u(T + h, X) - u(T - h, X)) / (2 * h)
    if name in ("heat", "stefan"):
        k = P[0, 0] if name == "heat" else 1.0
        return ut - k * (u(T, X + h) - 2 * u(T, X) + u(T, X - h)) / h**2
    m, s = P[0]
    flux = lambda xx: u(T, xx) ** m * (u(T, xx + h / 2) - u(T, xx - h / 2)) / h / s**2
    return ut - (flux(X + h / 2) - flux(X - h / 2)) / h
