"""lab.tsfm_biases: stable ranks, geometry diagnostics, scores, configuration, smoke-tier claims."""
import math

import numpy as np
import pytest

from lab.claims import Claims
from lab.tiers import ParameterError
from lab.tsfm_biases import claims as tclaims, config, experiments, geometry, metrics, theory


def test_stable_ranks_match_their_definitions():
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal(7), rng.standard_normal(5)
    assert np.allclose(theory.stable_ranks(np.outer(u, v), center=False), (1.0, 1.0))
    assert np.allclose(theory.stable_ranks(np.eye(6), center=False), (math.sqrt(6), 6.0))
    A = rng.standard_normal((40, 10))
    s = np.linalg.svd(A - A.mean(0), compute_uv=False)
    assert np.allclose(theory.stable_ranks(A), (np.sqrt((s**2).sum()) / s[0], (s**2).sum() / s[0] ** 2))


def test_band_patches_stay_in_their_band():
    rng = np.random.default_rng(1)
    V = theory.band_patches(64, 256, 0.2, 0.22, rng, m=2)
    spec = (np.abs(np.fft.rfft(V, axis=1)) ** 2).sum(0)
    f = np.fft.rfftfreq(256)
    assert spec[(f > 0.18) & (f < 0.24)].sum() > 0.95 * spec.sum()


def test_geometry_diagnostics_on_known_vectors():
    E = np.array([[1.0, 0.0], [0.0, 2.0], [2.0, 0.0], [-1.0, 0.0]])
    D = geometry.diagnostics(E)
    assert np.isclose(D["theta"][0, 1], np.pi / 2) and np.isclose(D["theta"][0, 2], 0) and np.isclose(D["theta"][0, 3], 0)
    assert np.isclose(D["dist"][0, 2], 1 / 3) and np.isclose(D["dist"][0, 3], 1.0)
    x = np.linspace(0, 1, 11)
    assert np.isclose(geometry.locality_slope(x, 0.7 * np.abs(x[:, None] - x[None])), 0.7)


def test_band_errors_put_a_high_frequency_error_in_the_high_band():
    t = np.arange(32)
    err = np.sin(2 * np.pi * 12 / 32 * t)[None]
    e = metrics.band_errors(err, np.zeros_like(err))
    assert e[2] > 0 and np.allclose(e[:2], 0, atol=1e-20)
    assert np.isclose(e.sum(), (err**2).sum() / 2, rtol=1e-10)  # Parseval over the one-sided spectrum


def test_projection_error_sees_only_the_small_frequency():
    t = np.arange(32)
    small = 0.1 * np.sin(2 * np.pi * 6 / 32 * t)[None]
    big = np.sin(2 * np.pi * 2 / 32 * t)[None]
    assert np.isclose(metrics.projection_error(big + small + big, big + small, small, 6 / 32), 0, atol=1e-12)
    assert np.isclose(metrics.projection_error(big, big + small, small, 6 / 32), 1.0)


def test_regression_score_and_exact_predictors():
    assert metrics.regression_score(np.array([0.0, 1.0])) == 0 and metrics.regression_score(np.array([0.5])) == 0.5
    rng = np.random.default_rng(2)
    s = np.where(rng.random((20000, 1)) < 0.3, 1.0, 0.0) + 0.01 * rng.standard_normal((20000, 3))
    pred = metrics.closed_form_predictors(s)
    assert np.allclose(pred["l2"], 0.3, atol=0.02) and np.allclose(pred["ce"], 0.0) and np.allclose(pred["quantile"], 0, atol=0.02)


def test_config_rejects_bad_knobs():
    with pytest.raises(ParameterError, match="patches"):
        config.resolve("book", patches=[3, 16])
    with pytest.raises(ParameterError, match="walk_p"):
        config.resolve("book", walk_p=[0.1, 0.6])
    with pytest.raises(TypeError):
        config.resolve("book", wings=3)
    with pytest.raises(ParameterError, match="device"):
        config.resolve("book", device="tpu")
    full = config.resolve("full")
    assert full.d_model == 128 and full.n_layers == 4 and full.n_seeds >= 3 and full.device == "auto"
    assert config.resolve("smoke").device == config.resolve("book").device == "cpu"
    assert 0 < config.FULL_TIER_SECONDS <= 240


def test_full_tier_model_builds_at_its_size():
    from lab import tsfm
    full = config.resolve("full")
    m = tsfm.build_model(experiments.model_config(full, "residual", 16, 0))
    assert 5e5 < m.n_parameters() < 2e6
    assert m.predict_quantiles(np.random.default_rng(0).normal(size=(1, full.context))).shape == (1, full.horizon, 9)
    # the full tier's training path, at smoke size: two steps of the full-width model
    corpus = tsfm.synthetic_corpus("kernel_synth", 4, full.context + full.horizon, seed=0)
    trained = tsfm.train(experiments.model_config(full, "quantized", 16, 0).replace(steps=2, batch_size=2), corpus,
                         show_progress=False, use_cache=False)
    assert len(trained.train_stats["losses"]) == 2 and all(np.isfinite(trained.train_stats["losses"]))


def test_smoke_tier_exact_and_structural_claims_reproduce():
    cfg = config.resolve("smoke")
    th = experiments.theorem1(cfg)
    cf = experiments.closed_form_regression(cfg)
    c = Claims("tsfm_biases", "smoke")
    tclaims.stablerank_band(c, th)
    tclaims.stablerank_disjoint(c, th)
    tclaims.rtm_closed_form(c, cf, cfg.closed_form_samples)
    assert [x.status.value for x in c.items] == ["reproduced"] * 3, [x.rule for x in c.items]


def test_full_tier_code_path_at_toy_size_on_the_cpu(tmp_path, monkeypatch):
    """Every experiment of the full tier, with its device knob set to "cpu" and toy sizes: the models
    train and forecast through the device path and every result comes back as numpy."""
    import torch
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path))
    cfg = config.resolve("full", device="cpu", n_seeds=1, d_model=8, n_layers=1, n_heads=2, d_ff=16, n_bins=32,
                         steps=2, batch_size=4, corpus_series=3, corpus_length=96, real_series=4, n_test=4,
                         walk_steps=2, walk_series=8, closed_form_samples=50, ratios=(1, 4), gaps=(1, 4))
    assert experiments.device(cfg) == "cpu"
    models = experiments.train_grid(cfg, show_progress=False)
    assert all(m.device.type == "cpu" and m.train_stats["device"] == "cpu" for m in models.values())
    sp = experiments.spectral_experiment(cfg, models)
    geo = experiments.geometry_experiment(cfg, models)
    att = experiments.attention_experiment(cfg, models)
    sc = experiments.small_component_experiment(cfg, models)
    out = experiments.outlier_experiment(cfg, models)
    walk = experiments.train_walk_models(cfg, show_progress=False)
    rg = experiments.regression_experiment(cfg, walk)
    for arr in (*sp["errors"].values(), *geo["slope"].values(), att["residual"]["entropy"], *sc["scale"].values(),
                *out["attention"].values(), *rg["scores"].values()):
        assert isinstance(arr, np.ndarray) and np.isfinite(arr).all()
    # "auto" follows CUDA's availability (the full tier's default)
    auto = config.resolve("full", device="auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert experiments.device(auto) == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert experiments.device(auto) == "cuda"
