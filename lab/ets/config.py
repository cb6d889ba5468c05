"""Tier presets for the ETS chapter (``book/ets.md``).

``smoke`` runs in seconds on the stochastic generator with the structural embedding; ``book``
trains the ``lab.llm`` policy, uses MiniLM clusters and runs the accuracy-against-KV study over
200 problems and 3 seeds (one thread, about two minutes with a cold cache); ``full`` is the GPU
throughput demonstration (prefix-shared tree attention over the recorded search trees at
model-like head sizes); `lab gpu --list` says whether its committed run is current.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import at_least, between, each, greater_than, nonempty, one_of, resolve_config


@dataclass(frozen=True)
class Config:
    """Every knob of :mod:`lab.ets.experiments`."""

    scale: str
    seed: int = 0
    n_seeds: int = 3
    problems: int = 200
    depth: int = 8
    widths: tuple = (16, 64)
    lambda_c: float = 1.0
    lambda_s: tuple = (1.5, 1.4)  # the paper's lambda_s for each width in ``widths``
    temperature: float = 0.2
    prm_noise: float = 2.0
    prm_margin: float = 2.0
    prompt_tokens: int = 100
    step_tokens: tuple = (20, 60)
    policy: str = "lm"
    policy_error: float = 0.25  # stochastic generator only
    lm_steps: int = 500
    pool_size: int = 16
    embedding: str = "minilm"
    heat_problems: int = 30
    heat_lambda_c: tuple = (0.0, 1.0, 2.0)
    heat_lambda_s: tuple = (0.0, 1.5, 3.0)
    timing_widths: tuple = (16, 64, 256)
    bootstrap: int = 2000
    # full tier: tree-attention decode throughput on a GPU
    full_heads: int = 32
    full_head_dim: int = 128
    full_block: int = 16
    full_trees: int = 32


_PRESETS = {
    "smoke": dict(n_seeds=3, problems=24, depth=5, widths=(8, 16), lambda_s=(1.5, 1.5), policy="stochastic",
                  embedding="structural", heat_problems=8, heat_lambda_c=(0.0, 1.0), heat_lambda_s=(0.0, 1.5),
                  timing_widths=(8, 16), bootstrap=300, full_heads=2, full_head_dim=16, full_block=4, full_trees=2),
    "book": dict(),
    "full": dict(),
}

CHECKS = {
    "seed": at_least(0),
    "n_seeds": at_least(1),
    "problems": at_least(1),
    "depth": at_least(2),
    "widths": nonempty & each(at_least(1)),
    "lambda_c": at_least(0),
    "lambda_s": nonempty & each(at_least(0)),
    "temperature": greater_than(0),
    "prm_noise": at_least(0),
    "prm_margin": greater_than(0),
    "prompt_tokens": at_least(0),
    "step_tokens": each(at_least(0)),
    "policy": one_of("lm", "stochastic"),
    "policy_error": between(0, 1),
    "lm_steps": at_least(1),
    "pool_size": at_least(1),
    "embedding": one_of("minilm", "structural"),
    "heat_problems": at_least(1),
    "heat_lambda_c": nonempty & each(at_least(0)),
    "heat_lambda_s": nonempty & each(at_least(0)),
    "timing_widths": nonempty & each(at_least(1)),
    "bootstrap": at_least(100),
    "full_heads": at_least(1),
    "full_head_dim": at_least(1),
    "full_block": at_least(1),
    "full_trees": at_least(1),
}


def resolve(scale: str = "book", **overrides) -> Config:
    """Configuration of tier ``scale`` with every override that is not ``None`` applied.

    Raises ``ParameterError`` for a knob out of range (a width below 1, a negative lambda, an
    unknown embedding ...) and ``ValueError`` when ``lambda_s`` does not give one value per width.
    """
    cfg = resolve_config(Config, _PRESETS, scale, overrides, CHECKS)
    if len(cfg.lambda_s) != len(cfg.widths):
        from lab.tiers import ParameterError
        raise ParameterError("lambda_s", list(cfg.lambda_s), f"one value per width ({len(cfg.widths)} widths)")
    if len(cfg.step_tokens) != 2 or cfg.step_tokens[0] > cfg.step_tokens[1]:
        from lab.tiers import ParameterError
        raise ParameterError("step_tokens", list(cfg.step_tokens), "a pair (lo, hi) with 0 <= lo <= hi")
    if any(int(w) != w for w in cfg.widths):
        from lab.tiers import ParameterError
        raise ParameterError("widths", list(cfg.widths), "whole numbers")
    return cfg
