"""Experiments of the forking-sequences chapter (``book/forking_sequences.md``).

:func:`prepare` loads the datasets (skipping, with the reason, any that cannot be loaded);
:func:`run_grid` trains every (seed, dataset, architecture, scheme) under the same
optimizer-step budget, caching the weights in :mod:`lab.cache`, and evaluates each model on the
last ``2H - 1`` points of every series; :func:`equivalence`, :func:`gradient_variance` and
:func:`inference_times` are the structural checks. Results are dicts of floats and lists.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from lab import data
from lab.cache import cached
from lab.forecast import evaluate as ev
from lab.forecast import metrics
from lab.forecast.ensemble import causal_mean_ensemble
from lab.forecast.gradients import minibatch_gradients, total_variance
from lab.forecast.model import Forecaster
from lab.forecast.panel import Panel, forking_batch, window_batch
from lab.forecast.train import TrainConfig, batch_loss, build_model, train
from lab.progress import progress

from .config import Config, device as pick_device

INFERENCE_MODE = {"window": "windows", "forking": "one_pass"}


@dataclass
class Prepared:
    """One dataset ready for training and evaluation."""

    name: str
    horizon: int
    split: ev.EvalSplit
    train_panel: Panel
    eval_panel: Panel

    @property
    def context(self) -> int:
        return self.train_panel.context


def prepare(cfg: Config) -> tuple[dict[str, Prepared], dict[str, str]]:
    """``(prepared, skipped)``: datasets by name, and the reason for each one not loadable."""
    prepared, skipped = {}, {}
    for name in cfg.datasets:
        ok, why = data.available(name)
        if not ok:
            skipped[name] = why
            continue
        ds = data.load(name).subset(cfg.max_series, seed=cfg.seed)
        split = ev.split_for_evaluation(ds)
        H = ds.horizon
        L, pad = cfg.context_factor * H, max(cfg.fcds, 3 * H, max(cfg.grad_fcds))
        prepared[name] = Prepared(name, H, split, Panel(split.train, L, H, pad), Panel(split.full, L, H, pad))
    if not prepared:
        from lab.datafiles import MissingData

        raise MissingData("none of the requested datasets can be loaded: "
                          + "; ".join(f"{name}: {why}" for name, why in skipped.items()))
    return prepared, skipped


def train_config(cfg: Config, prep: Prepared, arch: str, scheme: str, seed: int) -> TrainConfig:
    return TrainConfig(arch=arch, scheme=scheme, context=prep.context, horizon=prep.horizon, steps=cfg.steps,
                       batch=cfg.batch, fcds=cfg.fcds, hidden=cfg.hidden, layers=cfg.layers, lr=cfg.lr, seed=seed)


def trained_model(cfg: Config, prep: Prepared, tc: TrainConfig, device: str) -> tuple[Forecaster, np.ndarray]:
    """The model of ``tc`` trained on ``prep`` (from the cache when it was trained before)."""
    key = dict(train=asdict(tc), dataset=prep.name, max_series=cfg.max_series, subset_seed=cfg.seed,
               device=torch.device(device).type)

    def build():
        model, losses = train(prep.train_panel, tc, device=device)
        return {"state": model.state_dict(), "losses": losses}

    stored = cached("forking_sequences_model", key, build)
    model = build_model(tc)
    model.load_state_dict(stored["state"])
    return model, stored["losses"]


def evaluate_model(model: Forecaster, prep: Prepared, scheme: str, device: str) -> dict:
    """Metrics on the ``H`` test FCDs, raw and causally ensembled (with ``H - 1`` warm-up FCDs)."""
    H, split = prep.horizon, prep.split
    first = split.first_test_fcd - (H - 1)
    grid = split.unscale(ev.forecast_grid(model, prep.eval_panel, first, 2 * H - 1, INFERENCE_MODE[scheme], device=device))
    y = split.unscale(ev.targets_grid(prep.eval_panel, first, 2 * H - 1))
    # forecasts from FCDs with no observed point (very short series) are not forecasts at all
    made = (first[:, None] + np.arange(2 * H - 1)) >= 1
    grid = np.where(made[:, :, None, None], grid, np.nan)
    ens = causal_mean_ensemble(grid)
    taus = model.quantiles.tolist()
    median = taus.index(0.5)
    y_test = y[:, H - 1:]
    y_dates = metrics.targets_by_date(y_test)
    out = {}
    for tag, g in (("raw", grid), ("ens", ens)):
        g_test = g[:, H - 1:]
        terms = metrics.excess_volatility_terms(g_test[..., median], y_dates)
        before, update, date = metrics.revision_pairs(g_test[..., median])
        size = np.abs(y_dates.reshape(-1)[date]) + np.abs(before) + np.abs(update)
        out[tag] = dict(scrps=metrics.scaled_crps(y_test, g_test, taus), sfpc=metrics.sfpc(g_test[..., median]),
                        ev=float(terms.sum() / np.abs(y_dates.reshape(-1)[date]).sum()),
                        ev_min_rel=float((terms / np.maximum(size, 1e-300)).min()))
    return out


def run_grid(cfg: Config, prepared: dict[str, Prepared]) -> dict:
    """Train and evaluate every (seed, dataset, arch, scheme); seeds outermost so that a time
    guard drops whole seeds last. ``metrics[dataset][arch][scheme][tag][metric]`` is a list
    over the seeds that ran."""
    device = pick_device(cfg)
    t0 = time.perf_counter()
    res = {"metrics": {}, "losses": {}, "skipped_time": [], "example": {}}
    seeds = [cfg.seed + k for k in range(cfg.n_seeds)]
    jobs = [(s, n) for s in seeds for n in prepared]
    for seed, name in progress(jobs, desc="train + evaluate"):
        if cfg.time_budget_s is not None and time.perf_counter() - t0 > cfg.time_budget_s:
            res["skipped_time"].append([seed, name])
            continue
        prep = prepared[name]
        for arch in cfg.archs:
            for scheme in ("window", "forking"):
                model, losses = trained_model(cfg, prep, train_config(cfg, prep, arch, scheme, seed), device)
                scores = evaluate_model(model, prep, scheme, device)
                cell = res["metrics"].setdefault(name, {}).setdefault(arch, {}).setdefault(scheme, {})
                for tag, vals in scores.items():
                    for metric, v in vals.items():
                        cell.setdefault(tag, {}).setdefault(metric, []).append(v)
                if seed == cfg.seed:
                    res["losses"].setdefault(name, {}).setdefault(arch, {})[scheme] = losses
    res["wall_s"] = time.perf_counter() - t0
    return res


def example_forecasts(cfg: Config, prep: Prepared, arch: str) -> dict:
    """P50 grids of one series (``cfg.example_series``) for the fan figure, forking model."""
    device = pick_device(cfg)
    model, _ = trained_model(cfg, prep, train_config(cfg, prep, arch, "forking", cfg.seed), device)
    H, i = prep.horizon, cfg.example_series
    first = prep.split.first_test_fcd - (H - 1)
    grid = prep.split.unscale(ev.forecast_grid(model, prep.eval_panel, first, 2 * H - 1, "one_pass", device=device))[i:i + 1]
    median = model.quantiles.tolist().index(0.5)
    y_full = prep.split.unscale(np.array([prep.split.full[i]]))[0]
    return dict(series=y_full, first_fcd=int(first[i]), horizon=H, raw=grid[0, H - 1:, :, median],
                ens=causal_mean_ensemble(grid)[0, H - 1:, :, median], arch=arch, dataset=prep.name)


def equivalence(cfg: Config, prep: Prepared, batch: int = 8) -> dict:
    """Untrained models: (i) ``F = 1`` forking batch vs window batch, loss and gradients;
    (ii) forking outputs at each of ``F`` FCDs vs a window forward at that FCD."""
    rng = np.random.default_rng([cfg.seed, 3])
    panel = prep.train_panel
    rows = rng.integers(len(panel), size=batch)
    fcds = rng.integers(1, panel.last_fcd[rows] + 1)
    out = {}
    for arch in cfg.archs:
        model = build_model(TrainConfig(arch, "forking", prep.context, prep.horizon, hidden=cfg.hidden,
                                        layers=cfg.layers, seed=cfg.seed))
        params = list(model.parameters())
        lw = batch_loss(model, window_batch(panel, rows, fcds), 1)
        gw = torch.autograd.grad(lw, params)
        lf = batch_loss(model, forking_batch(panel, rows, fcds, 1), 1)
        gf = torch.autograd.grad(lf, params)
        F = cfg.fcds
        with torch.no_grad():
            fork = model(forking_batch(panel, rows, fcds, F).x, last=F)
            win = torch.cat([model(window_batch(panel, rows, fcds + k).x, last=1) for k in range(F)], 1)
        out[arch] = dict(loss_gap=abs(lw.item() - lf.item()),
                         grad_gap=max((a - b).abs().max().item() for a, b in zip(gw, gf)),
                         fcd_gap=(fork - win).abs().max().item(),
                         receptive_field=model.encoder.receptive_field, context=prep.context)
    return out


def gradient_variance(cfg: Config, prep: Prepared) -> dict:
    """Total minibatch-gradient variance, forking with ``F`` in ``cfg.grad_fcds`` over window
    sampling, at the window-trained parameters of each architecture (seed ``cfg.seed``).
    The training ``F`` (``cfg.fcds``) is always among the measured values."""
    device = pick_device(cfg)
    fcd_list = sorted(set(cfg.grad_fcds) | {cfg.fcds})
    out = {"fcds": fcd_list, "ratio": {}, "window": {}}
    for arch in progress(cfg.archs, desc="gradient variance"):
        model, _ = trained_model(cfg, prep, train_config(cfg, prep, arch, "window", cfg.seed), device)
        base = total_variance(minibatch_gradients(model, prep.train_panel, "window", batch=cfg.batch, fcds=1,
                                                  draws=cfg.grad_draws, seed=cfg.seed, device=device))
        out["window"][arch] = base
        out["ratio"][arch] = [total_variance(minibatch_gradients(model, prep.train_panel, "forking", batch=cfg.batch,
                                                                 fcds=F, draws=cfg.grad_draws, seed=cfg.seed,
                                                                 device=device)) / base
                              for F in fcd_list]
    return out


def inference_times(cfg: Config, prep: Prepared) -> dict:
    """All ``H`` test FCDs: one encoder pass against ``H`` passes, per architecture."""
    device = pick_device(cfg)
    out = {}
    for arch in cfg.archs:
        model, _ = trained_model(cfg, prep, train_config(cfg, prep, arch, "forking", cfg.seed), device)
        out[arch] = ev.time_inference(model, prep.eval_panel, prep.split.first_test_fcd, prep.horizon,
                                      device=device, repeats=cfg.timing_repeats)
    return out
