"""Time-dependent systems for the full tier: heat, advection and Burgers (``book/pde_pretraining.md``).

Each sample maps an initial condition ``u0(x)`` and a coefficient ``c`` (diffusivity ``D``,
speed ``β`` or viscosity ``ν``) to the space–time field ``u(t, x)`` on ``T × n`` points,
``t ∈ [0, t_end]``; the FNO sees the field as a 2-D image with channels ``(u0, c/c_max)``,
zero-padded in ``t`` (which is not periodic). The residual loss is label-free,

    L_PDE = mean_b ‖r_b‖² / (T ‖F(u0_b)‖²) + ‖û_b(0) − u0_b‖² / ‖u0_b‖²,

with ``r`` from :func:`lab.pde.evolution1d.residual` (spectral in ``x``, centred in ``t``) and
``F(u0)`` the right-hand side at ``t = 0`` (the scale of ``u_t``), plus an initial-condition term.
Pre-training ranges and the shifted test ranges are in :data:`RANGES`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from lab.cache import cached
from lab.pde import evolution1d
from lab.pde_pretraining import losses
from lab.pde_pretraining.fno import FNO2d
from lab.pde_pretraining.problems import default_device
from lab.pde_pretraining.train import _cpu_state, _draw, _fit

SYSTEMS = ("heat", "advection", "burgers")
#: coefficient ranges: (training low, training high, shifted-test high); the test is (high, shifted]
RANGES = {"heat": (0.001, 0.005, 0.01), "advection": (0.2, 0.6, 1.0), "burgers": (0.02, 0.05, 0.1)}
T_END = 0.2


@dataclass
class Fields:
    inputs: torch.Tensor  # [N, 2, T, n]
    u: torch.Tensor  # [N, T, n]
    u0: torch.Tensor  # [N, n]
    coeff: torch.Tensor  # [N]
    dt: float
    system: str
    zero_mean = False

    def __len__(self) -> int:
        return self.u.shape[0]

    def subset(self, idx) -> "Fields":
        return Fields(self.inputs[idx], self.u[idx], self.u0[idx], self.coeff[idx], self.dt, self.system)

    def to(self, device) -> "Fields":
        return Fields(self.inputs.to(device), self.u.to(device), self.u0.to(device), self.coeff.to(device),
                      self.dt, self.system)


def generate(system: str, count: int, n: int, steps: int, seed: int, lo: float, hi: float) -> Fields:
    """``count`` solutions with coefficients ``U[lo, hi]`` on ``steps`` times in ``[0, T_END]``."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown time-dependent system {system!r}; choose from {', '.join(SYSTEMS)}")
    g = torch.Generator().manual_seed(seed)
    u0 = evolution1d.initial_conditions(count, n, seed, modes=4)
    if system == "burgers":  # Cole–Hopf and the solver's conservation both want zero mean
        u0 = u0 - u0.mean(-1, keepdim=True)
    c = lo + (hi - lo) * torch.rand(count, generator=g, dtype=torch.float64)
    t = torch.linspace(0, T_END, steps, dtype=torch.float64)
    if system == "heat":
        u = evolution1d.heat(u0, c, t)
    elif system == "advection":
        u = evolution1d.advection(u0, c, t)
    else:
        u = evolution1d.burgers(u0, c, t, dt=2e-4)
    scale = RANGES[system][2]
    inputs = torch.stack([u0[:, None, :].expand(-1, steps, -1), (c / scale)[:, None, None].expand(-1, steps, n)], 1)
    return Fields(inputs.float(), u.float(), u0.float(), c.float(), float(t[1] - t[0]), system)


def rhs(system: str, u0: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``F(u0)`` with ``u_t = F(u)``: the scale the residual is measured against."""
    k = evolution1d.wavenumbers(u0.shape[-1], dtype=u0.dtype).to(u0.device)
    uh = torch.fft.rfft(u0)
    ux = torch.fft.irfft(1j * k * uh, n=u0.shape[-1])
    uxx = torch.fft.irfft(-(k**2) * uh, n=u0.shape[-1])
    c = c[:, None]
    return {"heat": c * uxx, "advection": -c * ux, "burgers": -u0 * ux + c * uxx}[system]


#: the space–time residual (spectral in ``x``, centred in ``t``), on the field's device
residual = evolution1d.residual


def residual_loss(pred: torch.Tensor, batch: Fields) -> torch.Tensor:
    r = residual(batch.system, pred, batch.coeff, batch.dt)
    scale = rhs(batch.system, batch.u0, batch.coeff).pow(2).sum(-1).clamp_min(1e-12)
    res = (r.pow(2).sum(dim=(-2, -1)) / (r.shape[1] * scale)).mean()
    ic = ((pred[:, 0] - batch.u0).pow(2).sum(-1) / batch.u0.pow(2).sum(-1).clamp_min(1e-12)).mean()
    return res + ic


@dataclass(frozen=True)
class TimeConfig:
    system: str
    variant: str  # "data", "pde", "hybrid"
    seed: int = 0
    n: int = 64
    t_steps: int = 32
    count: int = 256
    steps: int = 200
    batch: int = 16
    lam: float = 1.0
    width: int = 16
    modes: int = 8
    layers: int = 4
    lr: float = 3e-3


def _build(cfg: TimeConfig) -> dict:
    lo, hi, _ = RANGES[cfg.system]
    data = generate(cfg.system, cfg.count, cfg.n, cfg.t_steps, 10_000 + cfg.seed, lo, hi)
    model = FNO2d(2, cfg.width, cfg.modes, cfg.layers, seed=cfg.seed, pad=cfg.t_steps // 4).to(default_device())

    def loss_fn(b):
        pred = model(b.inputs)
        if cfg.variant == "data":
            return losses.data_loss(pred, b.u)
        if cfg.variant == "pde":
            return residual_loss(pred, b)
        return losses.data_loss(pred, b.u) + cfg.lam * residual_loss(pred, b)

    if cfg.variant not in losses.VARIANTS:
        raise ValueError(f"unknown variant {cfg.variant!r}; choose from {', '.join(losses.VARIANTS)}")
    _fit(model, _draw(data, cfg.batch), loss_fn, cfg.steps, cfg.lr, cfg.seed, f"{cfg.system} {cfg.variant}")
    return {"state": _cpu_state(model)}


def trained(cfg: TimeConfig) -> FNO2d:
    rec = cached("pde_pretraining/timedep", asdict(cfg), lambda: _build(cfg))
    model = FNO2d(2, cfg.width, cfg.modes, cfg.layers, seed=cfg.seed, pad=cfg.t_steps // 4).to(default_device())
    model.load_state_dict(rec["state"])
    return model


@torch.no_grad()
def shifted_error(model: FNO2d, cfg: TimeConfig, count: int = 64) -> float:
    """Mean relative L2 error at coefficients beyond the training range, ``(hi, shifted]``."""
    _, hi, top = RANGES[cfg.system]
    test = generate(cfg.system, count, cfg.n, cfg.t_steps, 90_000, hi, top)
    model.eval()
    dev = next(model.parameters()).device
    return float(losses.relative_l2(model(test.inputs.to(dev)), test.u.to(dev)).mean())


def trio(seeds: list[int], **sizes) -> dict:
    """Zero-shot error at shifted coefficients, Data against Hybrid, per system: ``[seeds]`` arrays."""
    out = {}
    for system in SYSTEMS:
        out[system] = {}
        for variant in ("data", "hybrid"):
            errs = []
            for s in seeds:
                cfg = TimeConfig(system, variant, seed=s, **sizes)
                errs.append(shifted_error(trained(cfg), cfg))
            out[system][variant] = torch.tensor(errs).numpy()
    return out
