"""The configuration of one model of the family, knobs and training together (hashed for the cache).

Every design knob of ``book/tsfm_biases.md`` is one field: ``scaling`` (``"mean"`` as Chronos,
``"instance"`` as Chronos-Bolt), ``patch`` (k), ``embedding`` (``"quantized"`` bins on
``[-bin_limit, bin_limit]`` or the continuous ``"residual"`` block on [patch, mask]), ``loss``
(``"ce"`` over the same bins, ``"quantile"`` pinball on :data:`QUANTILES`, ``"l2"``) and
``decoding`` (``"direct"``: one pass to all H steps; ``"autoregressive"``: one patch per pass).
:func:`mini_bolt` is the Bolt-like preset the copula chapter trains.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

SCALINGS = ("mean", "instance")
EMBEDDINGS = ("quantized", "residual")
LOSSES = ("ce", "quantile", "l2")
DECODINGS = ("direct", "autoregressive")
#: Chronos-Bolt's nine quantile levels
QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class TSFMConfig:
    """One model: architecture knobs, then the trainer's (all of it determines the weights).

    ``context`` must be a multiple of ``patch``; in autoregressive decoding ``horizon`` must be
    too (one pass forecasts one patch). ``n_bins`` uniform bins cover ``[-bin_limit, bin_limit]``
    of the scaled series (Chronos: 4094 + 2 special tokens on [-15, 15]).
    """

    context: int = 64
    horizon: int = 16
    patch: int = 8
    scaling: str = "instance"
    embedding: str = "residual"
    loss: str = "quantile"
    decoding: str = "direct"
    quantiles: tuple = QUANTILES
    n_bins: int = 512
    bin_limit: float = 15.0
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 64
    # trainer
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    table_lr_mult: float = 10.0  # the quantized lookup table's learning rate, in units of lr
    weight_decay: float = 0.0
    clip: float = 1.0
    seed: int = 0

    def __post_init__(self):
        validate(self)

    @property
    def n_patches(self) -> int:
        return self.context // self.patch

    def replace(self, **changes) -> "TSFMConfig":
        return replace(self, **changes)


def _choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose from {', '.join(choices)}")


def validate(cfg: TSFMConfig) -> None:
    """Raise ``ValueError`` naming the knob for any configuration the model cannot build."""
    _choice("scaling", cfg.scaling, SCALINGS)
    _choice("embedding", cfg.embedding, EMBEDDINGS)
    _choice("loss", cfg.loss, LOSSES)
    _choice("decoding", cfg.decoding, DECODINGS)
    for name in ("context", "horizon", "patch", "n_bins", "d_model", "n_layers", "n_heads", "d_ff",
                 "steps", "batch_size"):
        v = getattr(cfg, name)
        if not isinstance(v, int) or v < (0 if name == "steps" else 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if cfg.context < cfg.patch:
        raise ValueError(f"context {cfg.context} is shorter than one patch (patch size {cfg.patch})")
    if cfg.context % cfg.patch:
        raise ValueError(f"patch size {cfg.patch} does not divide the context length {cfg.context}")
    if cfg.decoding == "autoregressive" and cfg.horizon % cfg.patch:
        raise ValueError(f"autoregressive decoding forecasts whole patches: patch size {cfg.patch} "
                         f"does not divide the horizon {cfg.horizon}")
    if cfg.d_model % cfg.n_heads:
        raise ValueError(f"d_model {cfg.d_model} is not a multiple of n_heads {cfg.n_heads}")
    if not cfg.quantiles or not all(0 < q < 1 for q in cfg.quantiles):
        raise ValueError(f"quantile levels must lie in (0, 1), got {cfg.quantiles!r}")
    if not cfg.table_lr_mult > 0 or not cfg.lr > 0:
        raise ValueError(f"lr and table_lr_mult must be positive, got {cfg.lr!r} and {cfg.table_lr_mult!r}")
    if not cfg.bin_limit > 0:
        raise ValueError(f"bin_limit must be positive, got {cfg.bin_limit!r}")


def mini_bolt(**changes) -> TSFMConfig:
    """The Bolt-like preset: instance norm, patch 8, ResidualBlock embedding, direct 9-quantile head."""
    base = TSFMConfig(context=64, horizon=16, patch=8, scaling="instance", embedding="residual",
                      loss="quantile", decoding="direct")
    return replace(base, **changes)
