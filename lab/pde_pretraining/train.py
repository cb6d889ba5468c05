"""Pre-training and fine-tuning the FNO, seeded and cached by configuration (``book/pde_pretraining.md``).

Pre-training draws batches from a labelled Poisson set (coefficients ``e ∈ [e_lo, e_hi]``) and,
for the "wide" variants, an unlabelled set whose residual covers ``e ∈ [e_lo, e_wide]``: the
residual needs no solution, so it can see coefficients the labels never cover. Fine-tuning
starts from a pre-trained model (or from scratch) and minimises the data loss on ``N`` labelled
samples of the new task. Adam with a cosine learning-rate decay throughout.

Models train on :func:`problems.default_device` (the GPU when there is one): each training set is
moved there once, batch indices are drawn by a seeded CPU generator and moved with it, and cached
state dicts are stored on the CPU. ``system`` selects the pre-training problem (Poisson by
default; advection–diffusion and Helmholtz for the 3×3 benchmark matrix; ``"dirichlet"`` for the
non-periodic variant), ``channels`` the input layout (:mod:`problems`).
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass, replace

import torch

from lab.cache import cached
from lab.pde_pretraining import losses, problems
from lab.pde_pretraining.fno import FNO2d
from lab.progress import progress


@dataclass(frozen=True)
class PretrainConfig:
    variant: str  # "data", "pde", "hybrid"
    seed: int = 0
    system: str = "poisson"  # "poisson", "advdiff", "helmholtz" or "dirichlet"
    channels: int = 5  # input layout: 5 (book tier), 7 (with advection–diffusion's velocity)
    n: int = 32
    count: int = 512
    e_lo: float = 1.0
    e_hi: float = 5.0
    e_wide: float | None = None  # residual on e ∈ [e_lo, e_wide] (unlabelled); None: the labelled set
    lam: float = 1.0
    precondition: bool = False
    steps: int = 200
    batch: int = 16
    lr: float = 3e-3
    width: int = 16
    modes: int = 6
    layers: int = 4


@dataclass(frozen=True)
class FinetuneConfig:
    pretrained: PretrainConfig | None  # None: from scratch
    task: str  # "poisson-ood" (e ∈ [5, 10]), "poisson-id", "helmholtz", "advdiff", "dirichlet-ood"
    shots: int
    seed: int = 0
    noise: float = 0.0
    steps: int = 60
    lr: float = 1e-3


def _cosine(step: int, steps: int, lr: float) -> float:
    return 0.5 * lr * (1 + math.cos(math.pi * step / steps))


def _fit(model: FNO2d, sample_batch, loss_fn, steps: int, lr: float, seed: int, desc: str) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []  # losses stay on the device until the end (no synchronisation per step)
    for step in progress(range(steps), desc=desc, leave=False):
        for group in opt.param_groups:
            group["lr"] = _cosine(step, steps, lr)
        opt.zero_grad()
        loss = loss_fn(sample_batch(g))
        loss.backward()
        opt.step()
        history.append(loss.detach())
    return torch.stack(history).cpu().tolist() if history else []


def _draw(samples, batch: int, device=None):
    """Batches of ``samples`` (moved to ``device`` once) with indices from a seeded CPU generator."""
    samples = samples.to(device or problems.default_device())

    def draw(g):
        idx = torch.randint(len(samples), (min(batch, len(samples)),), generator=g)
        return samples.subset(idx.to(samples.u.device))
    return draw


def _cpu_state(model: torch.nn.Module) -> dict:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def _model(in_channels: int, arch, seed: int) -> FNO2d:
    return FNO2d(in_channels, arch.width, arch.modes, arch.layers, seed=seed).to(problems.default_device())


@functools.lru_cache(maxsize=32)
def system_data(system: str, count: int, n: int, seed: int, e_range=(1.0, 5.0), channels: int = 5):
    """Labelled samples of a pre-training ``system`` (kept in memory for the run: the variants of
    one seed share their data, so each set is generated once; nothing mutates a Samples)."""
    if system == "poisson":
        return problems.poisson(count, n, seed, e_range=e_range, channels=channels)
    if system == "advdiff":
        return problems.advdiff(count, n, seed, e_range=e_range, channels=channels)
    if system == "helmholtz":
        return problems.helmholtz(count, n, seed, channels=channels)
    if system == "dirichlet":
        return problems.dirichlet(count, n, seed, e_range=e_range, channels=channels, device=problems.default_device())
    raise ValueError(f"unknown pre-training system {system!r}; choose poisson, advdiff, helmholtz or dirichlet")


def pretrain_data(cfg: PretrainConfig) -> tuple[problems.Samples, problems.Samples | None]:
    labelled = system_data(cfg.system, cfg.count, cfg.n, 10_000 + cfg.seed, (cfg.e_lo, cfg.e_hi), cfg.channels)
    wide = None
    if cfg.e_wide is not None and cfg.variant != "data":
        wide = system_data(cfg.system, cfg.count, cfg.n, 20_000 + cfg.seed, (cfg.e_lo, cfg.e_wide), cfg.channels)
    return labelled, wide


def _build_pretrained(cfg: PretrainConfig) -> dict:
    if cfg.variant not in losses.VARIANTS:
        raise ValueError(f"unknown pre-training variant {cfg.variant!r}; choose from {', '.join(losses.VARIANTS)}")
    labelled, wide = pretrain_data(cfg)
    model = _model(cfg.channels, cfg, cfg.seed)
    draw_l, draw_w = _draw(labelled, cfg.batch), (_draw(wide, cfg.batch) if wide is not None else None)

    def loss_fn(b):
        if draw_w is None:
            return losses.loss(cfg.variant, model(b.inputs), b, cfg.lam, cfg.precondition)
        # wide: the residual term runs on the unlabelled batch (drawn from the same generator)
        w = draw_w(torch.Generator().manual_seed(int(b.u.sum().item() * 1e6) % (2**31)))
        return losses.loss(cfg.variant, model(b.inputs), b, cfg.lam, cfg.precondition,
                           unlabelled=w, pred_unlabelled=model(w.inputs))

    clock = _clock(next(model.parameters()).device)
    t0 = clock()
    history = _fit(model, draw_l, loss_fn, cfg.steps, cfg.lr, cfg.seed, f"pre-train {cfg.variant}")
    cpu = clock() - t0
    return {"state": _cpu_state(model), "history": history, "cpu_s": cpu,
            "samples_per_s": cfg.steps * cfg.batch / max(cpu, 1e-9)}


def _clock(device: torch.device):
    """CPU seconds on the CPU; on a GPU, wall seconds read after synchronising (the CPU time of
    asynchronous launches says nothing about the work)."""
    if device.type != "cuda":
        return time.process_time

    def wall() -> float:
        torch.cuda.synchronize(device)
        return time.perf_counter()
    return wall


def step_time(in_channels: int, n: int = 64, batch: int = 32, width: int = 32, modes: int = 12, layers: int = 4,
              repeats: int = 3, warmup: int = 1, contraction: str = "dispatch", device=None) -> float:
    """Seconds per FNO training step (forward, relative-L2 loss, backward, Adam) at one size.

    The issue's size is the default: 64², batch 32, width 32, 12 modes, 4 layers. ``contraction``
    is ``"dispatch"`` (the Triton kernel where it runs, as training uses it) or ``"einsum"`` (the
    torch reference everywhere). CPU seconds on the CPU, synchronised wall seconds on a GPU;
    ``warmup`` steps first (compiles and autotuning), then the mean of ``repeats`` steps.
    """
    from kernels.spectral_contract import spectral_contract, spectral_contract_reference
    from lab.pde_pretraining import fno

    if contraction not in ("dispatch", "einsum"):
        raise ValueError(f"contraction must be 'dispatch' or 'einsum', got {contraction!r}")
    device = torch.device(device or problems.default_device())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, in_channels, n, n, generator=g).to(device)
    u = torch.randn(batch, n, n, generator=g).to(device)
    model = FNO2d(in_channels, width, modes, layers, seed=0).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    saved = fno.spectral_contract
    fno.spectral_contract = spectral_contract if contraction == "dispatch" else spectral_contract_reference
    try:
        def step():
            opt.zero_grad(set_to_none=True)
            loss = ((model(x) - u).pow(2).sum((1, 2)) / u.pow(2).sum((1, 2))).mean()
            loss.backward()
            opt.step()
        for _ in range(warmup):
            step()
        clock = _clock(device)
        t0 = clock()
        for _ in range(repeats):
            step()
        return (clock() - t0) / repeats
    finally:
        fno.spectral_contract = saved


def pretrained(cfg: PretrainConfig) -> tuple[FNO2d, dict]:
    """The pre-trained FNO of ``cfg`` (cached) and its training record."""
    rec = cached("pde_pretraining/pretrain", asdict(cfg), lambda: _build_pretrained(cfg))
    model = _model(cfg.channels, cfg, cfg.seed)
    model.load_state_dict(rec["state"])
    return model, rec


TASKS = ("poisson-ood", "poisson-id", "helmholtz", "advdiff", "dirichlet-id", "dirichlet-ood")


def task_data(task: str, count: int, n: int, seed: int, channels: int = 5) -> problems.Samples:
    """Samples of a test or fine-tuning task; ``-id`` is ``e ∈ [1, 5]``, ``-ood`` is ``e ∈ [5, 10]``."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    system, _, rng = task.partition("-")
    e_range = (5.0, 10.0) if rng == "ood" else (1.0, 5.0)
    return system_data(system, count, n, seed, tuple(e_range), channels)


def _build_finetuned(cfg: FinetuneConfig, arch: PretrainConfig) -> dict:
    if cfg.pretrained is not None:
        model, _ = pretrained(cfg.pretrained)
    else:
        model = _model(arch.channels, arch, cfg.seed)
    shots = task_data(cfg.task, cfg.shots, arch.n, seed=30_000 + cfg.seed, channels=arch.channels)
    if cfg.noise > 0:
        shots = shots.with_noisy_labels(cfg.noise, seed=40_000 + cfg.seed)
    # scratch models get the same number of steps as fine-tuned ones (a fixed budget)
    _fit(model, _draw(shots, 16), lambda b: losses.data_loss(model(b.inputs), b.u), cfg.steps, cfg.lr,
         cfg.seed, f"fine-tune {cfg.task} N={cfg.shots}")
    return {"state": _cpu_state(model)}


def finetuned(cfg: FinetuneConfig, arch: PretrainConfig) -> FNO2d:
    """The model after fine-tuning (cached); ``arch`` gives the architecture for scratch models."""
    rec = cached("pde_pretraining/finetune", {"cfg": asdict(cfg), "arch": asdict(replace(arch, variant="data", seed=0))},
                 lambda: _build_finetuned(cfg, arch))
    model = _model(arch.channels, arch, cfg.seed)
    model.load_state_dict(rec["state"])
    return model


def finetuned_error(cfg: FinetuneConfig, arch: PretrainConfig, task: str, n_test: int, test_seed: int) -> float:
    """Mean relative L2 error of the fine-tuned model on ``n_test`` samples of ``task`` (seed
    ``test_seed``). Only the number is cached (bytes, not the model's megabyte): fine-tuned models
    are many and each is used for this one evaluation."""
    def build():
        model = _model(arch.channels, arch, cfg.seed)
        model.load_state_dict(_build_finetuned(cfg, arch)["state"])
        test = task_data(task, n_test, arch.n, seed=test_seed, channels=arch.channels)
        return {"error": float(evaluate(model, test).mean())}

    key = {"cfg": asdict(cfg), "arch": asdict(replace(arch, variant="data", seed=0)),
           "test": [task, n_test, test_seed]}
    return cached("pde_pretraining/finetune_error", key, build)["error"]


@torch.no_grad()
def evaluate(model: FNO2d, samples: problems.Samples) -> torch.Tensor:
    """Per-sample relative L2 error on ``samples`` (the mean is removed for Poisson, whose
    solution is defined up to a constant)."""
    model.eval()
    dev = next(model.parameters()).device
    pred = model(samples.inputs.to(dev))
    if samples.zero_mean:
        pred = pred - pred.mean(dim=(-2, -1), keepdim=True)
    return losses.relative_l2(pred, samples.u.to(dev)).cpu()
