"""The chapter's experiments (``book/pde_pretraining.md``); each returns plain arrays.

Pre-training variants (all on Poisson with ``e ∈ [1, 5]``):
``data`` (labels only), ``pde`` (residual only), ``hybrid`` (data + λ·residual, λ chosen on
in-distribution validation data), and ``hybrid-wide`` (its residual evaluated on unlabelled
sources with ``e ∈ [1, e_wide]``, beyond the labels). Evaluations: zero-shot on ``e ∈ [5, 10]``;
few-shot fine-tuning there and on Helmholtz with ``N`` labelled samples; 10% label noise.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from lab.pde_pretraining import train
from lab.pde_pretraining.train import FinetuneConfig, PretrainConfig

PRETRAINED = ("data", "pde", "hybrid", "hybrid-wide")


def base(cfg, seed: int) -> PretrainConfig:
    return PretrainConfig("data", seed=seed, n=cfg.n, count=cfg.count, steps=cfg.steps,
                          width=cfg.width, modes=cfg.modes, layers=cfg.layers)


def variant_config(cfg, name: str, seed: int, lam: float) -> PretrainConfig:
    b = base(cfg, seed)
    if name == "hybrid-wide":
        return replace(b, variant="hybrid", lam=lam, e_wide=cfg.e_wide)
    return replace(b, variant=name, lam=lam if name == "hybrid" else 1.0)


def choose_lambda(cfg) -> dict:
    """λ for the hybrid loss: the one with the lowest in-distribution validation error (seed 0)."""
    val = train.task_data("poisson-id", cfg.n_test, cfg.n, seed=50_000)
    errs = []
    for lam in cfg.lambdas:
        model, _ = train.pretrained(replace(base(cfg, cfg.seed), variant="hybrid", lam=float(lam)))
        errs.append(float(train.evaluate(model, val).mean()))
    return {"lambdas": np.array(cfg.lambdas, dtype=float), "val_error": np.array(errs),
            "chosen": float(cfg.lambdas[int(np.argmin(errs))])}


def pretraining(cfg, lam: float) -> dict:
    """In-distribution and zero-shot (shifted ``e``) errors per variant and seed: ``[seeds]`` arrays."""
    test_id = train.task_data("poisson-id", cfg.n_test, cfg.n, seed=60_000)
    test_ood = train.task_data("poisson-ood", cfg.n_test, cfg.n, seed=60_001)
    out = {v: {"id": [], "ood": [], "samples_per_s": []} for v in PRETRAINED}
    for k in range(cfg.n_seeds):
        seed = cfg.seed + k
        for v in PRETRAINED:
            model, rec = train.pretrained(variant_config(cfg, v, seed, lam))
            out[v]["id"].append(float(train.evaluate(model, test_id).mean()))
            out[v]["ood"].append(float(train.evaluate(model, test_ood).mean()))
            out[v]["samples_per_s"].append(rec["samples_per_s"])
    return {v: {k2: np.array(x) for k2, x in d.items()} for v, d in out.items()}


def few_shot(cfg, lam: float, task: str, variants=("data", "pde", "hybrid", "scratch"), noise: float = 0.0,
             shots=None) -> dict:
    """Error after fine-tuning on ``N`` samples of ``task``: ``{variant: [seeds, len(shots)]}``."""
    shots = tuple(shots or cfg.shots)
    out = {v: np.zeros((cfg.n_seeds, len(shots))) for v in variants}
    for k in range(cfg.n_seeds):
        seed = cfg.seed + k
        for v in variants:
            pre = None if v == "scratch" else variant_config(cfg, v, seed, lam)
            for j, n_shots in enumerate(shots):
                ft = FinetuneConfig(pre, task, n_shots, seed=seed, noise=noise, steps=cfg.finetune_steps)
                out[v][k, j] = train.finetuned_error(ft, base(cfg, seed), task, cfg.n_test, test_seed=70_000)
    return {"shots": np.array(shots), "error": out}


def noise_robustness(cfg, lam: float, shots: int) -> dict:
    """Error with clean and with noisy (``cfg.noise``) fine-tuning labels, Data against Hybrid."""
    variants = ("data", "hybrid")
    clean = few_shot(cfg, lam, "poisson-ood", variants, 0.0, (shots,))["error"]
    noisy = few_shot(cfg, lam, "poisson-ood", variants, cfg.noise, (shots,))["error"]
    return {"shots": shots, "level": cfg.noise,
            "clean": {v: clean[v][:, 0] for v in variants}, "noisy": {v: noisy[v][:, 0] for v in variants},
            "increase": {v: noisy[v][:, 0] - clean[v][:, 0] for v in variants}}


def sample_fields(cfg, lam: float) -> dict:
    """One shifted-coefficient test sample with each variant's zero-shot prediction (seed ``cfg.seed``)."""
    test = train.task_data("poisson-ood", 1, cfg.n, seed=80_000)
    preds = {}
    for v in PRETRAINED:
        model, _ = train.pretrained(variant_config(cfg, v, cfg.seed, lam))
        model.eval()
        p = model(test.inputs).detach()[0]
        preds[v] = (p - p.mean()).numpy()
    return {"f": test.f[0].numpy(), "u": test.u[0].numpy(), "pred": preds}
