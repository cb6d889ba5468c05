"""2D incompressible Navier–Stokes on the periodic square: a shared PDE-data substrate.

Used by ``book/flex.md`` (turbulence super-resolution and forecasting) and meant for the
PDE pre-training chapter as well. Everything is torch, so it runs batched on the CPU or a GPU.

The equation is the vorticity form of Kolmogorov flow with linear drag on ``[0, 2π]²``,

.. math::

    \\partial_t\\omega + u\\cdot\\nabla\\omega = \\nu\\Delta\\omega - \\alpha\\omega + f,
    \\qquad f(y) = -k_f\\cos(k_f y),\\qquad \\nu = 1/Re,

with velocity ``u = (∂_y ψ, -∂_x ψ)`` from the stream function ``-Δψ = ω``. The forcing is
the curl of the body force ``F = (sin k_f y, 0)``.

Modules
-------
spectral       the Fourier grid: wavenumbers, 2/3 de-aliasing mask, Poisson inversion,
               velocity, transforms between grids
navier_stokes  :class:`KolmogorovFlow`: right-hand side, Crank–Nicolson/Heun IMEX step with a
               CFL-adaptive time step, laminar state, energy and its budget
generate       random band-limited initial conditions and cached trajectories over Reynolds
               numbers (:func:`trajectories`)
spectra        the radially binned energy spectrum ``E(k)``
"""
from .generate import TrajectoryConfig, random_initial_vorticity, simulate, trajectories
from .navier_stokes import KolmogorovFlow
from .spectra import energy_spectrum
from .spectral import SpectralGrid

__all__ = ["KolmogorovFlow", "SpectralGrid", "TrajectoryConfig", "energy_spectrum",
           "random_initial_vorticity", "simulate", "trajectories"]
