"""Seeded training of the small decoders, cached by a hash of their configuration.

:func:`trained` is the entry point chapters use::

    spec = TrainSpec(corpus="shakespeare", model=ModelConfig(vocab=65, dim=128, n_layers=2), steps=300)
    model, info = trained(spec)        # trains once, then loads from the cache

The cache key is the whole :class:`TrainSpec` (corpus, model shape, optimiser, steps, seed and
the device type, since CPU and GPU runs differ in the last bits), hashed by
:func:`lab.cache.cached` into ``$LAB_CACHE_DIR/llm/<hash>.pt`` (default
``~/.cache/labbook/llm/``). The entry holds the CPU state dict, the loss curve and the
training time. Same spec, same weights: the data order and the initialisation draw from
generators seeded by ``spec.seed``. Bump :data:`VERSION` when a change to this file or to the
model changes what training produces.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from lab.cache import cached
from lab.llm import corpora
from lab.llm.model import ModelConfig, Transformer
from lab.progress import progress

VERSION = 1


@dataclass(frozen=True)
class TrainSpec:
    """Everything that determines a trained model. ``model.vocab`` must match the corpus."""

    corpus: str
    model: ModelConfig
    steps: int = 300
    batch: int = 16
    seq: int = 128
    lr: float = 3e-3
    warmup: int = 30
    weight_decay: float = 0.1
    seed: int = 0
    vocab_cap: int = 4096  # wikitext2 only
    device: str = field(default_factory=lambda: "cuda" if torch.cuda.is_available() else "cpu")
    #: early stopping: hold out this share of the training split (its tail), score it every
    #: ``eval_every`` steps and keep the weights with the lowest held-out loss; stop after
    #: ``patience`` scores without improvement. 0 turns it off (train for ``steps``).
    holdout: float = 0.0
    eval_every: int = 50
    patience: int = 4

    def cache_key(self) -> dict:
        """The spec as a dict; the early-stopping fields only when it is on, so that specs
        without it keep the cache entries they had before it existed."""
        d = asdict(self)
        if not self.holdout:
            for k in ("holdout", "eval_every", "patience"):
                d.pop(k)
        return d

    def corpus_data(self) -> corpora.Corpus:
        return corpora.load(self.corpus, **({"vocab_cap": self.vocab_cap} if self.corpus == "wikitext2" else {}))


def lr_at(step: int, spec: TrainSpec) -> float:
    """Linear warm-up, then cosine decay to 10% of ``spec.lr``."""
    if step < spec.warmup:
        return spec.lr * (step + 1) / spec.warmup
    frac = (step - spec.warmup) / max(1, spec.steps - spec.warmup)
    return spec.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def train(spec: TrainSpec, corpus: corpora.Corpus | None = None, show_progress: bool = True) -> dict:
    """Train from scratch; returns ``{"state": CPU state dict, "losses": [...], "seconds": float}``.

    AdamW on the next-token cross-entropy over random windows of ``spec.seq + 1`` tokens of the
    training split (no weight decay on norm gains). With ``spec.holdout`` the split's tail is
    held out (up to 16 windows) and the returned state is the one with the lowest held-out loss
    (early stopping; ``held_losses`` lists ``(step, loss)``, ``best_step`` the step kept).
    """
    tf32 = torch.backends.cuda.matmul.allow_tf32
    try:
        return _train(spec, corpus, show_progress)
    finally:  # TF32 is for this training only: evaluation afterwards keeps full float32 matmuls
        torch.backends.cuda.matmul.allow_tf32 = tf32


def _train(spec: TrainSpec, corpus: corpora.Corpus | None, show_progress: bool) -> dict:
    corpus = corpus or spec.corpus_data()
    if spec.model.vocab != len(corpus.vocab):
        raise ValueError(f"model vocab {spec.model.vocab} != corpus {spec.corpus} vocab {len(corpus.vocab)}")
    device = torch.device(spec.device)
    if device.type == "cuda":  # TF32 matmuls on the GPU: the full tier's training budget is minutes
        torch.backends.cuda.matmul.allow_tf32 = True
    gen = torch.Generator().manual_seed(spec.seed)
    torch.manual_seed(spec.seed)
    model = Transformer(spec.model).init_weights(gen).to(device)
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": spec.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=spec.lr, betas=(0.9, 0.95))
    data = corpus.train
    held = None
    if spec.holdout:
        if not 0 < spec.holdout < 0.5 or spec.eval_every < 1 or spec.patience < 1:
            raise ValueError(f"early stopping needs 0 < holdout < 0.5, eval_every >= 1 and patience >= 1; "
                             f"got {spec.holdout}, {spec.eval_every}, {spec.patience}")
        cut = int(len(data) * (1 - spec.holdout))
        data, tail = data[:cut], data[cut:]
        n_held = min(16, (len(tail) - 1) // (spec.seq + 1))
        if n_held < 1:
            raise ValueError(f"the held-out tail ({len(tail)} tokens) is shorter than one window of {spec.seq + 1}")
        held = tail[: n_held * (spec.seq + 1)].view(n_held, spec.seq + 1).to(device)
    losses, held_losses, t0 = [], [], time.perf_counter()
    best = (math.inf, -1, None)  # held-out loss, step, CPU state
    steps = progress(range(spec.steps), desc=f"training {spec.corpus} d={spec.model.dim}") if show_progress else range(spec.steps)
    for step in steps:
        starts = torch.randint(0, len(data) - spec.seq - 1, (spec.batch,), generator=gen)
        windows = torch.stack([data[s:s + spec.seq + 1] for s in starts.tolist()]).to(device)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, spec)
        logits = model(windows[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), windows[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if held is not None and ((step + 1) % spec.eval_every == 0 or step + 1 == spec.steps):
            held_losses.append((step + 1, _held_out_loss(model, held)))
            if held_losses[-1][1] < best[0]:
                best = (held_losses[-1][1], step + 1, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
            elif len(held_losses) - 1 - [s for s, _ in held_losses].index(best[1]) >= spec.patience:
                break
    out = {"losses": losses, "seconds": time.perf_counter() - t0}
    if held is not None:
        out.update(state=best[2], held_losses=held_losses, best_step=best[1], best_held_loss=best[0])
    else:
        out["state"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return out


@torch.no_grad()
def _held_out_loss(model, windows: torch.Tensor) -> float:
    """Mean next-token cross-entropy on the held-out windows (the model is put back in training mode)."""
    model.eval()
    logits = model(windows[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), windows[:, 1:].reshape(-1)).item()
    model.train()
    return loss


def trained(spec: TrainSpec, show_progress: bool = True) -> tuple[Transformer, dict]:
    """The model ``spec`` describes, trained once and then loaded from the user cache.

    Returns the model (float32, eval mode, on CPU) and ``info`` with ``losses``, ``seconds``
    (training time when it was built) and ``spec`` (as a dict).
    """
    entry = cached("llm", {"spec": spec.cache_key()}, lambda: train(spec, show_progress=show_progress), version=VERSION)
    model = Transformer(spec.model)
    model.load_state_dict(entry["state"])
    info = {"losses": entry["losses"], "seconds": entry["seconds"], "spec": asdict(spec)}
    info.update({k: entry[k] for k in ("held_losses", "best_step", "best_held_loss") if k in entry})
    return model.eval(), info
