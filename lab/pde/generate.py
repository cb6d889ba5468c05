"""Trajectories of Kolmogorov flow over Reynolds numbers, generated in-process and cached.

Every trajectory starts from a random band-limited vorticity field, is spun up for
``t_spinup`` time units (discarded), then ``n_snapshots`` snapshots ``dt_snapshot`` apart are
stored after spectral truncation from the solver grid ``n_solver`` to ``n_out``
(:func:`~lab.pde.spectral.resample`): solving finer than we store keeps the stored fields
free of the grid-scale pile-up that a solver shows next to its de-aliasing cutoff. To save time,
the first ``t_spinup - t_refine`` units of the spin-up may run on a coarser grid ``n_spinup``;
the state is then zero-padded (exactly) onto the solver grid and runs ``t_refine`` more units
there, enough for the newly resolved small scales to fill in before anything is stored. All
Reynolds numbers and initial conditions are integrated together as one batch, so a GPU is
used when there is one. :func:`trajectories` caches the result under the hash of its
:class:`TrajectoryConfig` (:mod:`lab.cache`); the seed fully determines the initial fields.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from lab.cache import cached

from .navier_stokes import KolmogorovFlow
from .spectral import SpectralGrid, resample


@dataclass(frozen=True)
class TrajectoryConfig:
    """What determines a data set of trajectories (its cache key)."""

    reynolds: tuple = (250.0, 500.0)
    n_traj: int = 4  # trajectories (initial conditions) per Reynolds number
    n_solver: int = 64  # grid of the solver
    n_out: int = 64  # grid of the stored snapshots (spectral truncation)
    t_spinup: float = 20.0  # discarded transient, time units
    n_spinup: int = 0  # grid of the early spin-up (0: the solver grid throughout)
    t_refine: float = 0.0  # last part of the spin-up, run on the solver grid when n_spinup is coarser
    dt_snapshot: float = 0.5  # time between stored snapshots
    n_snapshots: int = 20
    drag: float = 0.1
    k_forcing: int = 4
    cfl: float = 0.5
    dt_max: float = 0.05
    ic_peak: float = 4.0  # wavenumber where the initial spectrum peaks
    ic_rms: float = 4.0  # root-mean-square initial vorticity
    dtype: str = "float32"  # solver precision ("float32" or "float64")
    seed: int = 0


def random_initial_vorticity(grid: SpectralGrid, batch: int, generator: torch.Generator,
                             peak: float = 4.0, rms: float = 4.0) -> torch.Tensor:
    """Band-limited random vorticity, ``[batch, n, n]`` with zero mean and the given rms.

    Random Gaussian Fourier coefficients with amplitude ``|k| exp(-(|k|/peak)²)`` (so the
    energy spectrum peaks near ``peak``), then de-aliased and normalised.
    """
    shape = (batch, grid.n, grid.n)
    noise = torch.randn(shape, generator=generator, dtype=grid.dtype).to(grid.device)
    k = grid.k2_raw.sqrt()
    w_hat = grid.fft(noise) * k * torch.exp(-(k / peak) ** 2) * grid.dealias
    w = grid.ifft(w_hat)
    w = w - w.mean(dim=(-2, -1), keepdim=True)
    return w * (rms / w.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt())


def simulate(cfg: TrajectoryConfig, device=None) -> dict:
    """Integrate every (Reynolds number, initial condition) pair of ``cfg`` as one batch.

    Returns
    -------
    dict
        ``vorticity``: float32 ``[len(reynolds), n_traj, n_snapshots, n_out, n_out]``;
        ``reynolds`` ``[R]``; ``times`` ``[n_snapshots]`` (after spin-up); ``steps`` (solver
        steps taken), ``seconds`` (wall time) and ``device``.
    """
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    reynolds = [float(r) for r in cfg.reynolds]
    re_batch = [r for r in reynolds for _ in range(cfg.n_traj)]
    n_spinup = cfg.n_spinup or cfg.n_solver
    if n_spinup > cfg.n_solver or cfg.n_out > cfg.n_solver or not 0 <= cfg.t_refine <= cfg.t_spinup:
        raise ValueError(f"need n_spinup, n_out <= n_solver and 0 <= t_refine <= t_spinup; got "
                         f"n_spinup={n_spinup}, n_out={cfg.n_out}, n_solver={cfg.n_solver}, t_refine={cfg.t_refine}, "
                         f"t_spinup={cfg.t_spinup}")
    t_coarse = cfg.t_spinup - cfg.t_refine if n_spinup < cfg.n_solver else 0.0
    make = lambda n: KolmogorovFlow(n, re_batch, drag=cfg.drag, k_forcing=cfg.k_forcing, cfl=cfg.cfl,  # noqa: E731
                                    dt_max=cfg.dt_max, device=device, dtype=getattr(torch, cfg.dtype))
    flow = make(n_spinup)
    gen = torch.Generator().manual_seed(cfg.seed)
    w0 = random_initial_vorticity(flow.grid, len(re_batch), gen, peak=cfg.ic_peak, rms=cfg.ic_rms)
    t0 = time.perf_counter()
    w_hat, steps = flow.advance(flow.grid.fft(w0), t_coarse)
    if n_spinup < cfg.n_solver:
        w = resample(flow.grid.ifft(w_hat), cfg.n_solver)  # zero-padding: exact for the coarse state
        flow = make(cfg.n_solver)
        w_hat = flow.grid.fft(w)
    w_hat, s = flow.advance(w_hat, cfg.t_spinup - t_coarse)
    steps += s
    frames = []
    for k in range(cfg.n_snapshots):
        if k:
            w_hat, s = flow.advance(w_hat, cfg.dt_snapshot)
            steps += s
        frames.append(resample(flow.grid.ifft(w_hat), cfg.n_out).float().cpu())
    seconds = time.perf_counter() - t0
    w = torch.stack(frames, dim=1).reshape(len(reynolds), cfg.n_traj, cfg.n_snapshots, cfg.n_out, cfg.n_out)
    return {"vorticity": w, "reynolds": torch.tensor(reynolds), "times": cfg.dt_snapshot * torch.arange(cfg.n_snapshots),
            "steps": steps, "seconds": seconds, "device": str(device)}


def trajectories(cfg: TrajectoryConfig, device=None) -> dict:
    """:func:`simulate`, cached by the configuration's hash (``lab.cache``, kind ``pde_kolmogorov``)."""
    return cached("pde_kolmogorov", asdict(cfg), lambda: simulate(cfg, device))
