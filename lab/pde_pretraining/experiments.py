"""The chapter's experiments (``book/pde_pretraining.md``); each returns plain arrays.

Pre-training variants (all on Poisson with ``e ∈ [1, 5]``):
``data`` (labels only), ``pde`` (residual only), ``hybrid`` (data + λ·residual, λ chosen on
in-distribution validation data), and ``hybrid-wide`` (its residual evaluated on unlabelled
sources with ``e ∈ [1, e_wide]``, beyond the labels). Evaluations: zero-shot on ``e ∈ [5, 10]``;
few-shot fine-tuning there and on Helmholtz with ``N`` labelled samples; 10% label noise.

Full tier only: :func:`dirichlet` trains Data/PDE/Hybrid on the same Poisson problem with zero
Dirichlet boundaries (finite-difference residual) and tests at shifted ``e``; :func:`matrix`
pre-trains Data and Hybrid on each of Poisson, advection–diffusion and Helmholtz and tests each
on all three, zero-shot and after few-shot fine-tuning (the 3×3 benchmark matrix).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from lab.pde_pretraining import train
from lab.pde_pretraining.train import FinetuneConfig, PretrainConfig

PRETRAINED = ("data", "pde", "hybrid", "hybrid-wide")


def channels(cfg) -> int:
    """The input layout: 7 channels when the matrix (advection–diffusion) runs, else the book's 5."""
    return 7 if getattr(cfg, "matrix", False) else 5


def base(cfg, seed: int) -> PretrainConfig:
    return PretrainConfig("data", seed=seed, n=cfg.n, count=cfg.count, steps=cfg.steps,
                          width=cfg.width, modes=cfg.modes, layers=cfg.layers, channels=channels(cfg))


def variant_config(cfg, name: str, seed: int, lam: float) -> PretrainConfig:
    b = base(cfg, seed)
    if name == "hybrid-wide":
        return replace(b, variant="hybrid", lam=lam, e_wide=cfg.e_wide)
    return replace(b, variant=name, lam=lam if name == "hybrid" else 1.0)


def choose_lambda(cfg) -> dict:
    """λ for the hybrid loss: the one with the lowest in-distribution validation error (seed 0)."""
    val = train.task_data("poisson-id", cfg.n_test, cfg.n, seed=50_000, channels=channels(cfg))
    errs = []
    for lam in cfg.lambdas:
        model, _ = train.pretrained(replace(base(cfg, cfg.seed), variant="hybrid", lam=float(lam)))
        errs.append(float(train.evaluate(model, val).mean()))
    return {"lambdas": np.array(cfg.lambdas, dtype=float), "val_error": np.array(errs),
            "chosen": float(cfg.lambdas[int(np.argmin(errs))])}


def pretraining(cfg, lam: float) -> dict:
    """In-distribution and zero-shot (shifted ``e``) errors per variant and seed: ``[seeds]`` arrays."""
    test_id = train.task_data("poisson-id", cfg.n_test, cfg.n, seed=60_000, channels=channels(cfg))
    test_ood = train.task_data("poisson-ood", cfg.n_test, cfg.n, seed=60_001, channels=channels(cfg))
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
    test = train.task_data("poisson-ood", 1, cfg.n, seed=80_000, channels=channels(cfg))
    preds = {}
    for v in PRETRAINED:
        model, _ = train.pretrained(variant_config(cfg, v, cfg.seed, lam))
        model.eval()
        p = model(test.inputs.to(next(model.parameters()).device)).detach()[0].cpu()
        preds[v] = (p - p.mean()).numpy()
    return {"f": test.f[0].numpy(), "u": test.u[0].numpy(), "pred": preds}


DIRICHLET_VARIANTS = ("data", "pde", "hybrid")


def step_costs(cfg) -> dict:
    """Seconds per FNO training step at the issue's size (64², batch 32, width 32, 12 modes) on this
    run's device: with the spectral contraction as training dispatches it (the Triton kernel on a
    GPU) and with ``torch.einsum`` (:func:`lab.pde_pretraining.train.step_time`)."""
    from lab.pde_pretraining import problems

    import torch

    dev = torch.device(problems.default_device())
    out = {"device": str(dev), "repeats": cfg.step_repeats,
           "dispatch_s": train.step_time(channels(cfg), repeats=cfg.step_repeats, device=dev)}
    if dev.type == "cuda":  # on the CPU the dispatcher runs the einsum already
        out["einsum_s"] = train.step_time(channels(cfg), repeats=cfg.step_repeats, contraction="einsum", device=dev)
    return out


def dirichlet(cfg, lam: float) -> dict:
    """The Dirichlet variant: Data/PDE/Hybrid pre-trained on Poisson with zero boundary values
    (``e ∈ [1, 5]``, finite-difference residual, everything else as in :func:`pretraining`), tested
    in distribution and zero-shot at ``e ∈ [5, 10]``: ``{variant: {"id", "ood": [seeds]}}``."""
    test_id = train.task_data("dirichlet-id", cfg.n_test, cfg.n, seed=60_000, channels=channels(cfg))
    test_ood = train.task_data("dirichlet-ood", cfg.n_test, cfg.n, seed=60_001, channels=channels(cfg))
    out = {v: {"id": [], "ood": []} for v in DIRICHLET_VARIANTS}
    for k in range(cfg.n_seeds):
        for v in DIRICHLET_VARIANTS:
            model, _ = train.pretrained(replace(variant_config(cfg, v, cfg.seed + k, lam), system="dirichlet"))
            out[v]["id"].append(float(train.evaluate(model, test_id).mean()))
            out[v]["ood"].append(float(train.evaluate(model, test_ood).mean()))
    return {v: {k2: np.array(x) for k2, x in d.items()} for v, d in out.items()}


MATRIX_SYSTEMS = ("poisson", "advdiff", "helmholtz")
MATRIX_TASKS = {"poisson": "poisson-id", "advdiff": "advdiff", "helmholtz": "helmholtz"}
MATRIX_VARIANTS = ("data", "hybrid")


def matrix(cfg, lam: float) -> dict:
    """The 3×3 benchmark matrix: pre-train (Data, Hybrid) on each system, test on each.

    Returns ``{"zero_shot"|"few_shot": {variant: [seeds, 3 (pre-train), 3 (test)]}}`` of mean
    relative L2 errors; few-shot fine-tunes on ``cfg.matrix_shots`` labelled samples of the test
    system for ``cfg.finetune_steps`` steps. The Poisson row's models are the main pre-training's.
    """
    ch = channels(cfg)
    tests = {s: train.task_data(MATRIX_TASKS[s], cfg.n_test, cfg.n, seed=60_010 + i, channels=ch)
             for i, s in enumerate(MATRIX_SYSTEMS)}
    shape = (cfg.n_seeds, len(MATRIX_SYSTEMS), len(MATRIX_SYSTEMS))
    zero = {v: np.zeros(shape) for v in MATRIX_VARIANTS}
    few = {v: np.zeros(shape) for v in MATRIX_VARIANTS}
    for k in range(cfg.n_seeds):
        seed = cfg.seed + k
        for v in MATRIX_VARIANTS:
            for i, src in enumerate(MATRIX_SYSTEMS):
                pre = replace(variant_config(cfg, v, seed, lam), system=src)
                model, _ = train.pretrained(pre)
                for j, dst in enumerate(MATRIX_SYSTEMS):
                    zero[v][k, i, j] = float(train.evaluate(model, tests[dst]).mean())
                    ft = FinetuneConfig(pre, MATRIX_TASKS[dst], cfg.matrix_shots, seed=seed, steps=cfg.finetune_steps)
                    few[v][k, i, j] = train.finetuned_error(ft, base(cfg, seed), MATRIX_TASKS[dst], cfg.n_test,
                                                            test_seed=70_000)
    return {"systems": list(MATRIX_SYSTEMS), "shots": cfg.matrix_shots, "zero_shot": zero, "few_shot": few}
