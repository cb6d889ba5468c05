"""The seeded trainer: AdamW on random windows of a corpus, cached by configuration hash.

``train(cfg, corpus)`` returns a trained :class:`~lab.tsfm.model.TSFM`; the weights are stored
by :func:`lab.cache.cached` under a hash of ``cfg`` (seed included) and the corpus's content key,
so the second call with the same arguments loads them. Each step draws ``cfg.batch_size``
windows of ``context + horizon`` values; the loss is :func:`lab.tsfm.losses.window_loss`.
The quantized embedding's lookup table trains at ``table_lr_mult`` times the learning rate: each
row moves only when its bin occurs, and at the base rate tiny quantized models collapsed to a
constant forecast within the book tier's steps. ``model.train_stats`` holds the loss curve and the throughput (samples/s, CPU seconds) measured
when the model was trained.

``device`` (``"cpu"``, ``"cuda"``, ``"auto"`` = CUDA when available, or a ``torch.device``) is
where the model trains and forecasts. The model is initialised on the CPU from ``cfg.seed`` and
then moved, and every batch is drawn on the CPU by the same numpy generator and then moved, so a
CPU run is bit-identical to the CPU-only trainer and a CUDA run starts from the same weights and
sees the same windows. The cached state dict is always stored on the CPU; the cache key is
``{cfg, corpus}`` for a CPU model (unchanged) and adds the device type otherwise, since a GPU's
float arithmetic trains to different weights.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from lab.cache import cached
from lab.progress import progress

from .config import TSFMConfig
from .corpus import Corpus
from .losses import window_loss
from .model import TSFM, build_model

#: bump when the trainer or the model's forward changes what a configuration trains to
VERSION = 3


def resolve_device(device=None) -> torch.device:
    """``None``/``"cpu"`` → CPU; ``"auto"`` → CUDA when available, else CPU; ``"cuda"`` must be available."""
    if device is None:
        return torch.device("cpu")
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}; choose from auto, cpu, cuda") from exc
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; choose from auto, cpu, cuda")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but torch finds no CUDA device (use 'auto' or 'cpu')")
    return dev


def _fit(cfg: TSFMConfig, corpus: Corpus, show_progress: bool, device: torch.device = torch.device("cpu")) -> dict:
    model = build_model(cfg).to(device)  # initialised on the CPU from cfg.seed, then moved
    rng = np.random.default_rng(cfg.seed)
    # a lookup table's row is updated only when its bin occurs, so it gets a larger step
    table = [model.embed.table.weight] if cfg.embedding == "quantized" else []
    rest = [p for p in model.parameters() if not any(p is t for t in table)]
    groups = [{"params": rest}] + ([{"params": table}] if table else [])
    max_lr = [cfg.lr] + ([cfg.lr * cfg.table_lr_mult] if table else [])
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=max(cfg.steps, 1), pct_start=0.1)
    length = cfg.context + cfg.horizon
    losses = []
    t0, c0 = time.perf_counter(), time.process_time()
    steps = range(cfg.steps)
    if show_progress:
        steps = progress(steps, desc=f"train {cfg.embedding}/k={cfg.patch}/{cfg.loss}/seed {cfg.seed}", leave=False)
    model.train()
    for _ in steps:
        window = torch.from_numpy(corpus.windows(rng, cfg.batch_size, length, min_target=cfg.horizon // 2 or 1))
        window = window.to(device, non_blocking=True)
        loss = window_loss(model, window)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        sched.step()
        losses.append(loss.detach())
    losses = [float(v) for v in (torch.stack(losses).cpu() if losses else [])]  # one host sync, not one per step
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}  # cached on the CPU
    return dict(state=state, losses=losses, wall_s=wall, cpu_s=cpu,
                samples=cfg.steps * cfg.batch_size, threads=torch.get_num_threads(), device=device.type)


def train(cfg: TSFMConfig, corpus: Corpus, *, show_progress: bool = True, use_cache: bool = True,
          device=None) -> TSFM:
    """A model of ``cfg`` trained on ``corpus`` (loaded from the cache when trained before), on ``device``.

    ``device``: ``None`` or ``"cpu"`` (default), ``"cuda"``, ``"auto"`` (CUDA when available);
    the returned model lives there.
    """
    if not isinstance(corpus, Corpus):
        raise TypeError(f"train() needs a lab.tsfm.Corpus, got {type(corpus).__name__}")
    fresh = []

    def build():
        fresh.append(True)
        return _fit(cfg, corpus, show_progress, dev)

    dev = resolve_device(device)
    key = {"cfg": cfg, "corpus": corpus.key}
    if dev.type != "cpu":  # a CPU model's key is what it always was
        key["device"] = dev.type
    result = cached("tsfm", key, build, version=VERSION) if use_cache else build()
    model = TSFM(cfg)
    model.load_state_dict(result["state"])
    model.to(dev)
    model.eval()
    samples = result["samples"]
    model.train_stats = dict(losses=result["losses"], wall_s=result["wall_s"], cpu_s=result["cpu_s"],
                             samples=samples, samples_per_cpu_s=samples / max(result["cpu_s"], 1e-9),
                             samples_per_s=samples / max(result["wall_s"], 1e-9),
                             threads=result["threads"], device=result.get("device", "cpu"), from_cache=not fresh)
    return model
