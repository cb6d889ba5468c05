"""Pseudo-spectral Kolmogorov flow with linear drag, in vorticity form, batched in torch.

.. math::

    \\partial_t\\hat\\omega = \\underbrace{-(\\nu|k|^2+\\alpha)}_{L}\\,\\hat\\omega
    \\; \\underbrace{-\\,P_{2/3}\\,\\widehat{u\\cdot\\nabla\\omega}}_{N(\\hat\\omega)} \\; + \\hat f,
    \\qquad f = -k_f\\cos(k_f y).

The stiff linear part is treated by Crank–Nicolson and the advection by Heun's method
(second-order IMEX). Because the forcing sits with the explicit part and CN is exact for
constant inputs, the laminar state ``ω_L = -k_f/(ν k_f² + α) cos(k_f y)`` is a fixed point of
the discrete step, not only of the equation. The time step is CFL-adaptive. Several
Reynolds numbers can share one batch (``reynolds`` of shape ``[B]``). See ``book/flex.md``.
"""
from __future__ import annotations

import math

import torch

from .spectral import SpectralGrid


class KolmogorovFlow:
    """Kolmogorov flow on ``[0, 2π]²`` with ``n × n`` Fourier modes.

    Parameters
    ----------
    n : int
        Grid points per side.
    reynolds : float or sequence of float
        ``Re = 1/ν``; a sequence gives one viscosity per batch member ``[B]``.
    drag : float
        Linear drag ``α`` (0.1 in the common jax-cfd setup).
    k_forcing : int
        Forcing wavenumber ``k_f``.
    cfl : float
        Courant number of the adaptive step, ``dt = cfl · dx / max(|u| + |v|)``.
    dt_max : float
        Largest step (it also bounds the step when the flow is nearly at rest).
    device, dtype : where the state lives and its real precision.
    """

    def __init__(self, n: int, reynolds, drag: float = 0.1, k_forcing: int = 4, cfl: float = 0.5,
                 dt_max: float = 0.05, device="cpu", dtype=torch.float64):
        self.grid = SpectralGrid(n, device=device, dtype=dtype)
        re = torch.as_tensor(reynolds, dtype=dtype, device=device).reshape(-1)
        if torch.any(re <= 0):
            raise ValueError(f"Reynolds numbers must be positive, got {re.tolist()}")
        if not 0 < k_forcing <= self.grid.cutoff:
            raise ValueError(f"forcing wavenumber {k_forcing} is not resolved by n={n} (cutoff {self.grid.cutoff})")
        self.reynolds = re
        self.nu = (1.0 / re)[:, None, None]  # [B or 1, 1, 1]
        self.drag, self.k_forcing, self.cfl, self.dt_max = drag, k_forcing, cfl, dt_max
        self.linear = -(self.nu * self.grid.k2_raw + drag)  # L, [B or 1, n, n//2+1]
        y, _ = self.grid.coords
        self.forcing = -k_forcing * torch.cos(k_forcing * y)  # f = curl of F = (sin k_f y, 0)
        self.forcing_hat = self.grid.fft(self.forcing)
        g = self.grid
        self._inv_k2 = torch.where(g.k2_raw == 0, torch.zeros_like(g.k2), 1 / g.k2)
        self._ikx, self._iky = 1j * g.kx, 1j * g.ky

    # --- the equation ----------------------------------------------------------------
    def _advection(self, w_hat: torch.Tensor) -> tuple[torch.Tensor, float]:
        """``N(ω̂)`` and the largest ``|u| + |v|`` on the grid (for the CFL step)."""
        g = self.grid
        w_hat = w_hat * g.dealias
        psi_hat = w_hat * self._inv_k2
        # one batched inverse FFT for u = ∂_y ψ, v = -∂_x ψ, ∂_x ω and ∂_y ω
        u, v, wx, wy = g.ifft(torch.stack((self._iky * psi_hat, -self._ikx * psi_hat,
                                          self._ikx * w_hat, self._iky * w_hat)))
        speed = (u.abs() + v.abs()).max().item()
        return -g.fft(u * wx + v * wy) * g.dealias, speed

    def advection_hat(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``N(ω̂) = -P_{2/3} FFT(u ∂_x ω + v ∂_y ω)``, products formed on the grid."""
        return self._advection(w_hat)[0]

    def rhs_hat(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``∂_t ω̂ = L ω̂ + N(ω̂) + f̂``."""
        return self.linear * w_hat + self.advection_hat(w_hat) + self.forcing_hat

    def step(self, w_hat: torch.Tensor, dt: float, n0: torch.Tensor | None = None) -> torch.Tensor:
        """One Crank–Nicolson / Heun step of size ``dt`` (``n0``: ``N(ω̂)`` if already known).

        .. math::

            \\hat\\omega^* = \\frac{(1+\\tfrac{h}{2}L)\\hat\\omega_n + h(N_n + \\hat f)}{1-\\tfrac{h}{2}L},\\qquad
            \\hat\\omega_{n+1} = \\frac{(1+\\tfrac{h}{2}L)\\hat\\omega_n + h(\\tfrac12 N_n + \\tfrac12 N^* + \\hat f)}{1-\\tfrac{h}{2}L}.
        """
        explicit = (1 + 0.5 * dt * self.linear) * w_hat
        implicit = 1 / (1 - 0.5 * dt * self.linear)
        if n0 is None:
            n0 = self.advection_hat(w_hat)
        w_star = (explicit + dt * (n0 + self.forcing_hat)) * implicit
        n1 = self.advection_hat(w_star)
        return (explicit + dt * (0.5 * (n0 + n1) + self.forcing_hat)) * implicit * self.grid.dealias

    def cfl_dt(self, speed: float) -> float:
        """``cfl · dx / max(|u| + |v|)``, capped at ``dt_max``."""
        return min(self.dt_max, self.cfl * (2 * math.pi / self.grid.n) / max(speed, 1e-12))

    def stable_dt(self, w_hat: torch.Tensor) -> float:
        """The CFL step of state ``w_hat`` (one value for the whole batch)."""
        return self.cfl_dt(self._advection(w_hat)[1])

    def advance(self, w_hat: torch.Tensor, duration: float) -> tuple[torch.Tensor, int]:
        """Integrate for ``duration`` time units with adaptive steps ending exactly on it.

        The step is re-chosen before every step from the current velocity (the advection
        term of the first Heun stage provides it for free). Returns the state and the
        number of steps taken.
        """
        t, steps = 0.0, 0
        while t < duration - 1e-12:
            n0, speed = self._advection(w_hat)
            dt = min(self.cfl_dt(speed), duration - t)
            w_hat = self.step(w_hat, dt, n0)
            t, steps = t + dt, steps + 1
        if not torch.isfinite(w_hat).all():
            raise FloatingPointError("the Navier–Stokes state blew up; lower cfl or dt_max, or raise n")
        return w_hat, steps

    # --- special states and diagnostics -------------------------------------------------
    def laminar(self) -> torch.Tensor:
        """The steady laminar state ``ω_L = -k_f/(ν k_f² + α) cos(k_f y)``, shape ``[B, n, n]``."""
        y, _ = self.grid.coords
        amplitude = -self.k_forcing / (self.nu * self.k_forcing**2 + self.drag)
        return amplitude * torch.cos(self.k_forcing * y)

    def energy(self, w_hat: torch.Tensor) -> torch.Tensor:
        """Kinetic energy ``E = ½⟨|u|²⟩`` (spatial mean), per batch member."""
        u_hat, v_hat = self.grid.velocity_hat(w_hat)
        u, v = self.grid.ifft(u_hat), self.grid.ifft(v_hat)
        return 0.5 * (u**2 + v**2).mean(dim=(-2, -1))

    def energy_budget(self, w_hat: torch.Tensor) -> dict[str, torch.Tensor]:
        """The terms of ``dE/dt = ⟨u·F⟩ - ν⟨ω²⟩ - 2αE`` and ``dE/dt = ⟨ψ ∂_t ω⟩`` itself.

        Advection drops out of the energy balance exactly (``⟨ψ, u·∇ω⟩ = 0``, and the 2/3 rule
        keeps that true for the truncated system), so ``dEdt`` equals the sum of the other
        three terms up to round-off.
        """
        g = self.grid
        psi = g.ifft(g.stream_function(w_hat))
        u, _ = g.velocity(g.ifft(w_hat))
        y, _ = g.coords
        w = g.ifft(w_hat)
        return {
            "dEdt": (psi * g.ifft(self.rhs_hat(w_hat))).mean(dim=(-2, -1)),
            "injection": (u * torch.sin(self.k_forcing * y)).mean(dim=(-2, -1)),
            "viscous": -self.nu[:, 0, 0] * (w**2).mean(dim=(-2, -1)),
            "drag": -2 * self.drag * self.energy(w_hat),
        }
