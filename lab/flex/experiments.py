"""Experiments of the FLEX chapter (``book/flex.md``), one function per section.

Every function takes a :class:`~lab.flex.config.Config` and returns plain dicts of numbers
(per-seed lists first) that the chapter records, plots and turns into claims. Data come from
:func:`lab.pde.trajectories` (cached); models from :func:`lab.flex.train.trained` (cached).
"""
from __future__ import annotations

import zlib

import numpy as np
import torch

from lab.pde import TrajectoryConfig, energy_spectrum, trajectories

from .config import VARIANTS, Config
from .data import FlowTasks
from .evaluate import rfne, sample_predictions, spread_skill, target_energy
from .train import baseline_specs, trained


def _tag(name: str) -> int:
    return zlib.crc32(name.encode()) % 100_000


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def trajectory_config(cfg: Config) -> TrajectoryConfig:
    return TrajectoryConfig(reynolds=tuple(sorted(set(cfg.reynolds_train) | set(cfg.reynolds_test))),
                            n_traj=cfg.n_traj, n_solver=cfg.n_solver, n_out=cfg.n_out, n_spinup=cfg.n_spinup,
                            t_refine=cfg.t_refine, t_spinup=cfg.t_spinup,
                            dt_snapshot=cfg.dt_snapshot, n_snapshots=cfg.n_snapshots, seed=cfg.seed)


def _subset(traj: dict, reynolds, trajs: slice) -> dict:
    idx = [traj["reynolds"].tolist().index(float(r)) for r in reynolds]
    return {"vorticity": traj["vorticity"][idx][:, trajs], "reynolds": traj["reynolds"][idx]}


def make_data(cfg: Config) -> dict:
    """Simulate (or load) the flows and cut them into task sets.

    ``train``: training Re, all trajectories but the last; ``test[Re]``: the last trajectory
    of every Re (an unseen initial condition; unseen Re for ``reynolds_test``); ``test_u[Re]``:
    the same test data as x-velocity (normalised by the training velocity's std).
    """
    tcfg = trajectory_config(cfg)
    traj = trajectories(tcfg, device())
    kw = dict(patch=cfg.patch, sr_factor=cfg.sr_factor, cond_frames=cfg.cond_frames, re_scale=cfg.re_scale)
    train = FlowTasks(_subset(traj, cfg.reynolds_train, slice(0, -1)), **kw)
    train_u = FlowTasks(_subset(traj, cfg.reynolds_train, slice(0, -1)), observable="u", **kw)
    test, test_u = {}, {}
    for re in tcfg.reynolds:
        held_out = _subset(traj, [re], slice(-1, None))
        test[re] = FlowTasks(held_out, std=train.std, **kw)
        test_u[re] = FlowTasks(held_out, std=train_u.std, observable="u", **kw)
    return {"traj": traj, "tcfg": tcfg, "train": train, "test": test, "test_u": test_u,
            "key": {"traj": tcfg.__dict__, "train_re": list(cfg.reynolds_train)}}


def target_energies(cfg: Config, data: dict) -> dict:
    """Residual against raw target energy for SR and FC on the training data."""
    size = max(4 * cfg.eval_samples, 64)
    return {task: target_energy(data["train"], task, size, seed=cfg.seed + _tag(task)) for task in ("sr", "fc")}


def model_specs(cfg: Config, img_size: int) -> dict:
    """The spec and target of every variant in ``cfg.variants`` (baselines matched in parameters)."""
    flex_spec = {"kind": "flex", "size": cfg.size}
    specs = {}
    matched = baseline_specs(flex_spec, img_size) if {"unet", "uvit"} & set(cfg.variants) else {}
    for name in cfg.variants:
        base, target = VARIANTS[name]
        spec = matched[name] if name in matched else {**base, "size": cfg.size}
        specs[name] = (spec, target)
    return specs


def train_models(cfg: Config, data: dict) -> dict:
    """Train (or load) every variant for every seed; ``{name: [(model, record) per seed]}``."""
    out = {}
    for name, (spec, target) in model_specs(cfg, cfg.patch).items():
        out[name] = [trained(spec, data["train"], data["key"], device=device(), steps=cfg.train_steps,
                             batch_size=cfg.batch_size, lr=cfg.lr, target=target, warmup=cfg.warmup,
                             seed=cfg.seed + k, desc=f"{name} seed {k}")
                     for k in range(cfg.n_seeds)]
    return out


def _eval_set(cfg, tasks: FlowTasks, task: str, tag: str) -> dict:
    return tasks.fixed_set(task, cfg.eval_samples, seed=cfg.seed + 7919 * _tag(tag))


def _in_dist(cfg, data, task):
    """The held-out evaluation batch at the training Reynolds numbers (concatenated)."""
    parts = [_eval_set(cfg, data["test"][re], task, f"{task}{re}") for re in cfg.reynolds_train]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def _score(model, batch, task, target, n_steps, seed, members=1):
    ens = sample_predictions(model, batch, task, target, n_steps, members=members, seed=seed)
    return ens, float(rfne(ens.mean(0), batch["x"]).mean())


def _score_runs(model_runs, batch, task, target, n_steps, seed) -> tuple[list[float], list[float]]:
    """Mean RFNE per seed's model, and per held-out sample RFNE averaged over the seeds: the
    paired values (same inputs for every model and the baseline) the claims' orderings use."""
    per_seed = [rfne(sample_predictions(m, batch, task, target, n_steps, seed=seed + k).mean(0), batch["x"])
                for k, (m, _) in enumerate(model_runs)]
    return [float(r.mean()) for r in per_seed], torch.stack(per_seed).mean(0).tolist()


def interpolation_baseline(batch: dict) -> float:
    """RFNE of the base alone: bicubic upsampling (SR) or persistence (FC)."""
    return float(rfne(batch["base"], batch["x"]).mean())


def baseline_cases(batch: dict) -> list[float]:
    """Per-sample RFNE of the base alone (:func:`interpolation_baseline` before the mean)."""
    return rfne(batch["base"], batch["x"]).tolist()


def steps_sweep(cfg: Config, data: dict, models: dict) -> dict:
    """RFNE against the number of sampling steps for the residual and raw models (one member)."""
    out = {"steps": list(cfg.steps_list), "baseline": {}}
    for task in ("sr", "fc"):
        batch = _in_dist(cfg, data, task)
        out["baseline"][task] = interpolation_baseline(batch)
        for name in [v for v in ("flex", "flex_raw") if v in models]:
            target = VARIANTS[name][1]
            out.setdefault(name, {})[task] = [[_score(m, batch, task, target, n, seed=cfg.seed + k)[1]
                                                for n in cfg.steps_list] for k, (m, _) in enumerate(models[name])]
    return out


def variant_table(cfg: Config, data: dict, models: dict) -> dict:
    """RFNE of every variant at ``n_steps`` on the held-out data, with parameter counts."""
    out = {"params": {}, "rfne": {}, "cases": {}, "baseline_cases": {}}
    for name, runs in models.items():
        out["params"][name] = runs[0][1]["params"]
        target = VARIANTS[name][1]
        scored = {task: _score_runs(runs, _in_dist(cfg, data, task), task, target, cfg.n_steps, cfg.seed)
                  for task in ("sr", "fc")}
        out["rfne"][name] = {task: means for task, (means, _) in scored.items()}
        out["cases"][name] = {task: cases for task, (_, cases) in scored.items()}
    out["baseline_cases"] = {task: baseline_cases(_in_dist(cfg, data, task)) for task in ("sr", "fc")}
    return out


def reynolds_sweep(cfg: Config, data: dict, models: dict) -> dict:
    """RFNE of the residual FLEX and of the interpolation baseline at every Reynolds number."""
    out = {"reynolds": list(data["tcfg"].reynolds), "seen": [r in cfg.reynolds_train for r in data["tcfg"].reynolds]}
    for task in ("sr", "fc"):
        model_rows, base_rows, model_cases, base_cases = [], [], [], []
        for re in out["reynolds"]:
            batch = _eval_set(cfg, data["test"][re], task, f"{task}{re}")
            base_rows.append(interpolation_baseline(batch))
            means, cases = _score_runs(models["flex"], batch, task, "residual", cfg.n_steps, cfg.seed)
            model_rows.append(means)
            model_cases.append(cases)
            base_cases.append(baseline_cases(batch))
        out[task] = {"model": model_rows, "baseline": base_rows, "model_cases": model_cases, "baseline_cases": base_cases}
    return out


def ensembles(cfg: Config, data: dict, models: dict) -> dict:
    """``members`` samples per held-out input: spread against error (:func:`spread_skill`)."""
    out = {}
    for task in ("sr", "fc"):
        batch = _in_dist(cfg, data, task)
        out[task] = [spread_skill(sample_predictions(m, batch, task, "residual", cfg.n_steps, members=cfg.members,
                                                     seed=cfg.seed + 100 + k), batch["x"])
                     for k, (m, _) in enumerate(models["flex"])]
    return out


def unseen_observable(cfg: Config, data: dict, models: dict) -> dict:
    """The vorticity-trained SR model applied to x-velocity fields, against bicubic."""
    parts = [_eval_set(cfg, data["test_u"][re], "sr", f"u{re}") for re in cfg.reynolds_train]
    batch = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    means, cases = _score_runs(models["flex"], batch, "sr", "residual", cfg.n_steps, cfg.seed)
    return {"baseline": interpolation_baseline(batch), "model": means, "model_cases": cases,
            "baseline_cases": baseline_cases(batch)}


def showcase(cfg: Config, data: dict, models: dict, re: float | None = None) -> dict:
    """Fields of one SR and one FC example (truth, base, residual and raw predictions, ensemble
    std) and the energy spectra of whole fields: truth, bicubic and FLEX super-resolved."""
    re = re if re is not None else cfg.reynolds_train[-1]
    out = {"re": re}
    for task in ("sr", "fc"):
        batch = _eval_set(cfg, data["test"][re], task, f"show{task}")
        one = {k: v[:1] for k, v in batch.items()}
        ens = sample_predictions(models["flex"][0][0], one, task, "residual", cfg.n_steps, members=cfg.members, seed=cfg.seed)
        row = {"truth": one["x"][0, 0], "base": one["base"][0, 0], "flex": ens[0, 0, 0], "std": ens.std(0)[0, 0]}
        if "flex_raw" in models:
            row["raw"] = sample_predictions(models["flex_raw"][0][0], one, task, "raw", cfg.n_steps, seed=cfg.seed)[0, 0, 0]
        out[task] = {k: v.numpy() for k, v in row.items()}
    # spectra: tile whole held-out fields with non-overlapping patches, super-resolve each
    test = data["test"][re]
    n, p = test.x.shape[-1], cfg.patch
    frames = test.x[0, 0, :: max(1, test.x.shape[2] // 4)][:4]  # a few snapshots [S, n, n]
    ups = test.up[0, 0, :: max(1, test.x.shape[2] // 4)][:4]
    tiles = lambda f: f.unfold(-2, p, p).unfold(-2, p, p).reshape(-1, 1, p, p)  # noqa: E731
    batch = {"x": tiles(frames), "base": tiles(ups), "cond": tiles(ups),
             "re": torch.full((tiles(frames).shape[0], 1), re / cfg.re_scale)}
    sr = sample_predictions(models["flex"][0][0], batch, "sr", "residual", cfg.n_steps, seed=cfg.seed)[0]
    g = n // p
    untile = lambda t: t.reshape(-1, g, g, p, p).permute(0, 1, 3, 2, 4).reshape(-1, n, n)  # noqa: E731
    k, e_true = energy_spectrum(frames * test.std)
    _, e_bicubic = energy_spectrum(ups * test.std)
    _, e_flex = energy_spectrum(untile(sr) * test.std)
    out["spectra"] = {"k": k.numpy(), "truth": e_true.numpy(), "bicubic": e_bicubic.numpy(), "flex": e_flex.numpy()}
    return out


def flow_statistics(data: dict) -> dict:
    """Per-Re vorticity std and the one-snapshot decorrelation ``‖x_{t+1} - x_t‖/‖x_t‖``."""
    w, re = data["traj"]["vorticity"], data["traj"]["reynolds"].tolist()
    lag = ((w[:, :, 1:] - w[:, :, :-1]).flatten(1).norm(dim=1) / w[:, :, :-1].flatten(1).norm(dim=1)).tolist()
    return {"reynolds": re, "std": w.flatten(1).std(dim=1).tolist(), "lag1": lag,
            "solver_steps": data["traj"]["steps"], "solver_seconds": data["traj"]["seconds"]}


def kernel_benchmark(cfg: Config) -> dict | None:
    """The fused group-norm kernel against torch, when ``cfg.bench_kernel`` and a GPU allow it."""
    if not (cfg.bench_kernel and torch.cuda.is_available()):
        return None
    from kernels.groupnorm_silu import bench_groupnorm_silu

    return {"rows": bench_groupnorm_silu()}


def mean_over_seeds(values) -> float:
    return float(np.mean(values))
