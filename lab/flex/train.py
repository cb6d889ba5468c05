"""Build a model from a spec and train it multi-task (SR and FC halves of every batch).

``book/flex.md``, section "Training". The loss of a batch is the mean of the SR and the FC
halves' :func:`~lab.flex.diffusion.diffusion_loss` (L1 on ``v``, as the reference's
``train_mt.py``). The target is the residual ``x - base`` or, for the raw-target ablation, ``x``
itself. Adam with linear warm-up and cosine decay, gradient clipping at 1. Trained weights are
cached by the hash of (model spec, data config, training config) with :func:`lab.cache.cached`.
"""
from __future__ import annotations

import math
import time

import torch

from lab.cache import cached
from lab.progress import progress

from .backbone import FLEX, count_parameters
from .baselines import UNet, UViT, match_width, unet_like
from .backbone import get_size
from .data import FlowTasks
from .diffusion import diffusion_loss


def build_model(spec: dict, img_size: int) -> torch.nn.Module:
    """A model from a spec dict: ``kind`` in {flex, unet, uvit} and its keyword arguments.

    ``{"kind": "flex", "size": "tiny", "use_transformer": True, "weak": True, "strong": True}``;
    ``{"kind": "unet", "size": <BackboneSize fields or name>}``; ``{"kind": "uvit", "dim": .., "depth": ..,
    "patch": ..}``. A ``seed`` key seeds the initialisation.
    """
    spec = dict(spec)
    kind = spec.pop("kind")
    torch.manual_seed(spec.pop("seed", 0))
    if kind == "flex":
        return FLEX(img_size, **spec)
    if kind == "unet":
        return UNet(img_size, **spec)
    if kind == "uvit":
        return UViT(img_size, **spec)
    raise ValueError(f"unknown model kind {kind!r}; choose flex, unet or uvit")


def baseline_specs(flex_spec: dict, img_size: int) -> dict[str, dict]:
    """U-Net and U-ViT specs whose parameter counts are closest to the FLEX spec's.

    The U-Net scales FLEX's channels (by its deepest level, in steps of one group); the U-ViT
    (patch 4, depth ``size.depth`` rounded up to odd and at least 5) scales its width in steps of lcm(8, heads).
    """
    target = count_parameters(build_model(flex_spec, img_size))
    size = get_size(flex_spec.get("size", "tiny"))
    g = size.groups
    # the deepest level's width, in steps of one group: the count moves in steps of a few percent
    top = size.channels[-1]
    _, w_unet, _ = match_width(lambda w: UNet(img_size, unet_like(size, w, level=-1)),
                               [g * k for k in range(1, 2 * top // g + 1)], target)
    depth = max(5, size.depth | 1)
    patch = 4 if img_size >= 32 else 2
    step = math.lcm(8, size.heads)  # the width must split into heads
    _, w_vit, _ = match_width(lambda w: UViT(img_size, patch=patch, dim=w, depth=depth, heads=size.heads),
                              [step * k for k in range(1, 768 // step + 1)], target)
    unet_size = unet_like(size, w_unet, level=-1)
    return {
        "unet": {"kind": "unet", "size": unet_size},
        "uvit": {"kind": "uvit", "dim": w_vit, "depth": depth, "heads": size.heads, "patch": patch},
    }


def train(spec: dict, data: FlowTasks, *, steps: int, batch_size: int, lr: float, target: str = "residual",
          warmup: int = 20, seed: int = 0, device: str = "cpu", desc: str = "train") -> dict:
    """Train ``build_model(spec)`` for ``steps`` multi-task steps; returns state dict and losses.

    Parameters
    ----------
    target : ``"residual"`` (``x - base``) or ``"raw"`` (``x``).
    batch_size : total per step, split evenly between SR and FC.
    """
    if target not in ("residual", "raw"):
        raise ValueError(f"target must be 'residual' or 'raw', got {target!r}")
    model = build_model({**spec, "seed": seed}, data.patch).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
    # linear warm-up, then cosine decay to 0
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, (k + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * k / steps)))
    gen = torch.Generator().manual_seed(10_000 + seed)
    losses, t0 = [], time.perf_counter()
    model.train()
    for _ in progress(range(steps), desc=desc, leave=False):
        halves = {task: {k: v.to(device) for k, v in data.batch(task, batch_size // 2, gen).items()}
                  for task in ("sr", "fc")}
        r = torch.cat([b["x"] - b["base"] if target == "residual" else b["x"] for b in halves.values()])
        re = torch.cat([b["re"] for b in halves.values()])
        segments = [(task, b["cond"]) for task, b in halves.items()]
        # SR and FC halves share one pass through the shared encoder, Transformer and decoder
        loss = diffusion_loss(lambda z, t: model.forward_tasks(z, t, re, segments), r, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    return {"state": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "losses": losses,
            "seconds": time.perf_counter() - t0, "params": count_parameters(model)}


def trained(spec: dict, data: FlowTasks, data_key: dict, device: str = "cpu", **train_kw) -> tuple[torch.nn.Module, dict]:
    """:func:`train`, cached (kind ``flex_model``) by ``spec``, ``data_key`` and ``train_kw``;
    returns the model (eval mode, on ``device``) and the training record."""
    key = {"spec": spec, "data": data_key, "train": {k: v for k, v in train_kw.items() if k != "desc"},
           "patch": data.patch, "sr_factor": data.sr_factor, "std": round(data.std, 6)}
    record = cached("flex_model", key, lambda: train(spec, data, device=device, **train_kw))
    model = build_model({**spec, "seed": train_kw.get("seed", 0)}, data.patch)
    model.load_state_dict(record["state"])
    return model.to(device).eval(), record
