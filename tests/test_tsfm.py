"""lab.tsfm: quantizer, patching, scaling, the three losses, heads' shapes, cache, bad input."""
import math

import numpy as np
import pytest
import torch

from lab import tsfm
from lab.tsfm.losses import ce_loss, l2_loss, pinball_loss
from lab.tsfm.patching import patchify
from lab.tsfm.scaling import Quantizer, context_stats


def test_quantizer_round_trip_within_half_a_bin_and_clips_outside():
    q = Quantizer(512, 15.0)
    x = torch.empty(5000, dtype=torch.float64).uniform_(-15, 15)
    back = q.dequantize(q.quantize(x), dtype=torch.float64)
    assert (back - x).abs().max() <= q.width / 2 + 1e-12
    ids = torch.arange(512)
    assert torch.equal(q.quantize(q.dequantize(ids, dtype=torch.float64)), ids)
    assert q.quantize(torch.tensor([-100.0, 100.0])).tolist() == [0, 511]
    assert q.quantize(torch.tensor([float("nan")])).item() == 512


def test_patchify_left_pads_with_nan_and_masks_it():
    x = torch.arange(1.0, 11.0)[None]  # 10 values, k = 4: two padded slots
    x[0, 5] = float("nan")
    values, mask = patchify(x, 4)
    assert values.shape == mask.shape == (1, 3, 4)
    assert mask[0, 0].tolist() == [0, 0, 1, 1] and values[0, 0].tolist() == [0, 0, 1, 2]
    assert mask[0, 1].tolist() == [1, 1, 1, 0] and values[0, 1].tolist() == [3, 4, 5, 0]
    assert mask[0, 2].tolist() == [1, 1, 1, 1]


def test_context_stats_match_numpy_over_observed_values():
    rng = np.random.default_rng(0)
    x = rng.normal(3, 2, (4, 20))
    x[0, :5] = np.nan
    t = torch.tensor(x)
    loc, scale = context_stats(t, "instance")
    np.testing.assert_allclose(loc[:, 0], np.nanmean(x, 1), rtol=1e-12)
    np.testing.assert_allclose(scale[:, 0], np.nanstd(x, 1), rtol=1e-12)
    loc, scale = context_stats(t, "mean")
    assert torch.all(loc == 0)
    np.testing.assert_allclose(scale[:, 0], np.nanmean(np.abs(x), 1), rtol=1e-12)


def test_pinball_loss_is_bolts_formula_with_its_gradient():
    """2|(y - q)(1{y <= q} - tau)| summed over levels, averaged over observed steps; fwd and grad."""
    torch.manual_seed(0)
    B, H, Q = 3, 7, 9
    taus = tsfm.QUANTILES
    q = torch.randn(B, H, Q, dtype=torch.float32, requires_grad=True)
    y = torch.randn(B, H)
    mask = (torch.rand(B, H) < 0.7).float()
    loss = pinball_loss(q, y, mask, taus)
    loss.backward()
    q64, y64, m64 = q.detach().double().requires_grad_(True), y.double(), mask.double()
    t = torch.tensor(taus, dtype=torch.float64)
    ref = (2 * ((y64[..., None] - q64) * ((y64[..., None] <= q64).double() - t)).abs() * m64[..., None]).sum() / m64.sum()
    ref.backward()
    assert math.isclose(loss.item(), ref.item(), rel_tol=1e-5)
    torch.testing.assert_close(q.grad.double(), q64.grad, rtol=1e-5, atol=1e-6)


def test_l2_and_ce_losses_match_their_formulas():
    torch.manual_seed(1)
    pred, y = torch.randn(4, 6), torch.randn(4, 6)
    mask = torch.ones(4, 6)
    mask[0, :3] = 0
    ref = ((pred - y) ** 2)[mask > 0].mean()
    assert torch.allclose(l2_loss(pred, y, mask), ref)
    qz = Quantizer(32, 3.0)
    logits = torch.randn(4, 6, 32)
    ids = qz.quantize(y)
    ref = -(logits.log_softmax(-1).gather(-1, ids[..., None])[..., 0])[mask > 0].mean()
    assert torch.allclose(ce_loss(logits, y, mask, qz), ref, atol=1e-6)


@pytest.mark.parametrize("embedding", ["quantized", "residual"])
@pytest.mark.parametrize("loss", ["quantile", "l2", "ce"])
@pytest.mark.parametrize("decoding", ["direct", "autoregressive"])
def test_heads_give_the_horizon_and_levels(embedding, loss, decoding):
    cfg = tsfm.TSFMConfig(context=16, horizon=8, patch=4, embedding=embedding, loss=loss, decoding=decoding,
                          d_model=8, n_heads=2, d_ff=16, n_bins=32, n_layers=1)
    m = tsfm.build_model(cfg)
    ctx = np.random.default_rng(0).normal(size=(3, 13))  # shorter than the context: padded
    q = m.predict_quantiles(ctx)
    assert q.shape == (3, 8, 9) and torch.isfinite(q).all()
    assert torch.all(q[..., 1:] >= q[..., :-1])
    assert m.forecast(ctx, point="sample", seed=0).shape == (3, 8)


def test_autoregressive_rollout_starts_from_the_one_step_prediction():
    cfg = tsfm.TSFMConfig(context=16, horizon=8, patch=4, loss="l2", decoding="autoregressive", d_model=8,
                          n_heads=2, d_ff=16, n_layers=1)
    m = tsfm.build_model(cfg)
    ctx = torch.randn(2, 16)
    xs, loc, scale = m.scale(ctx)
    first = m.outputs(xs)[:, -1, :, 0] * scale + loc
    torch.testing.assert_close(m.forecast(ctx)[:, :4], first)


def test_training_is_seeded_and_cached_by_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path))
    corpus = tsfm.synthetic_corpus("mixed_frequency", 8, 64, seed=0)
    cfg = tsfm.mini_bolt(context=16, horizon=8, d_model=8, n_heads=2, d_ff=16, n_layers=1, steps=3, batch_size=4)
    a = tsfm.train(cfg, corpus, show_progress=False)
    b = tsfm.train(cfg, corpus, show_progress=False)
    assert not a.train_stats["from_cache"] and b.train_stats["from_cache"]
    fresh = tsfm.train(cfg, corpus, show_progress=False, use_cache=False)
    for (n, p), q in zip(a.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(p, q), n
    assert not tsfm.train(cfg.replace(seed=1), corpus, show_progress=False).train_stats["from_cache"]
    other = tsfm.synthetic_corpus("mixed_frequency", 8, 64, seed=1)
    assert not tsfm.train(cfg, other, show_progress=False).train_stats["from_cache"]
    assert len(list(tmp_path.joinpath("tsfm").glob("*.pt"))) == 3


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="does not divide the context"):
        tsfm.TSFMConfig(context=20, patch=8)
    with pytest.raises(ValueError, match="unknown embedding"):
        tsfm.TSFMConfig(embedding="linear")
    with pytest.raises(ValueError, match="unknown loss"):
        tsfm.TSFMConfig(loss="mae")
    with pytest.raises(ValueError, match="shorter than one patch"):
        tsfm.TSFMConfig(context=4, patch=8)
    m = tsfm.build_model(tsfm.mini_bolt(context=16, horizon=8, d_model=8, n_heads=2, d_ff=16, n_layers=1))
    with pytest.raises(ValueError, match="shorter than one patch"):
        m.predict_quantiles(np.ones(5))
    ctx = np.ones(16)
    ctx[3] = np.nan
    with pytest.raises(ValueError, match="where the mask says observed"):
        m.predict_quantiles(ctx, mask=np.ones(16))
    assert m.predict_quantiles(ctx).shape == (1, 8, 9)  # without a mask NaN means missing
    with pytest.raises(ValueError, match="no observed value"):
        m.predict_quantiles(np.full(16, np.nan))
    with pytest.raises(ValueError, match="unknown family"):
        tsfm.synthetic_corpus("brownian", 4, 16, seed=0)


def test_bimodal_walk_repeats_without_flips_and_alternates_with_certain_flips():
    from lab.tsfm.synthetic import bimodal_walk
    rng = np.random.default_rng(0)
    x = bimodal_walk(4, 32, rng, 0.0, period=8, noise=0.0)
    assert np.all(x[:, :8] == x[:, 8:16]) and np.all(x[:, :8] == x[:, 24:])
    y = bimodal_walk(4, 32, rng, 1.0, period=8, noise=0.0)
    assert np.all(y[:, :8] == 1 - y[:, 8:16])
    assert set(np.unique(x)) <= {0.0, 1.0}


def test_real_corpus_reads_m4_hourly_and_weekly():
    from lab import data
    ok, why = data.available("m4_hourly", download=False)
    if not ok:
        pytest.skip(why)
    c = tsfm.real_corpus(("m4_hourly", "m4_weekly"))
    assert len(c) == 414 + 359


def test_cpu_model_forecasts_the_same_after_a_cache_round_trip(tmp_path, monkeypatch):
    """A model trained with device "cpu" is stored on the CPU under the key it always had, and the
    model loaded back from the cache forecasts bit-identically."""
    from lab.cache import config_hash
    from lab.tsfm.train import VERSION
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path))
    cfg = tsfm.mini_bolt(context=16, horizon=8, d_model=8, n_layers=1, n_heads=2, d_ff=16, steps=3, batch_size=4)
    corpus = tsfm.synthetic_corpus("mixed_frequency", 6, 40, seed=1)
    fresh = tsfm.train(cfg, corpus, show_progress=False, device="cpu")
    assert not fresh.train_stats["from_cache"] and fresh.device.type == "cpu" and fresh.train_stats["device"] == "cpu"
    key = config_hash({"kind": "tsfm", "version": VERSION, "config": {"cfg": cfg, "corpus": corpus.key}})
    files = list(tmp_path.joinpath("tsfm").glob("*.pt"))
    assert [f.stem for f in files] == [key]  # the CPU key has no device in it (unchanged)
    stored = torch.load(files[0], weights_only=False)
    assert all(v.device.type == "cpu" for v in stored["state"].values())
    loaded = tsfm.train(cfg, corpus, show_progress=False, device=None)
    assert loaded.train_stats["from_cache"] and loaded.train_stats["losses"] == fresh.train_stats["losses"]
    ctx = np.random.default_rng(2).normal(size=(5, 16))
    for a, b in ((fresh.forecast(ctx), loaded.forecast(ctx)), (fresh.predict_quantiles(ctx), loaded.predict_quantiles(ctx))):
        assert a.device.type == "cpu" and torch.equal(a, b)
    # the same cfg trained without a device argument is the same model (the CPU default)
    again = tsfm.train(cfg, corpus, show_progress=False, use_cache=False)
    assert torch.equal(again.forecast(ctx), fresh.forecast(ctx))


def test_devices_are_checked(monkeypatch):
    from lab.tsfm.train import resolve_device
    assert resolve_device(None).type == "cpu" and resolve_device("cpu").type == "cpu"
    for bad in ("tpu", "gpu", 3):
        with pytest.raises(ValueError, match="device"):
            resolve_device(bad)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="no CUDA"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"


def test_sampled_forecast_uses_a_generator_on_the_models_device():
    cfg = tsfm.TSFMConfig(context=16, horizon=4, patch=4, embedding="quantized", loss="ce", n_bins=32, d_model=8,
                          n_layers=1, n_heads=2, d_ff=16)
    m = tsfm.build_model(cfg, device="cpu")
    ctx = np.random.default_rng(0).normal(size=(3, 16))
    a, b = m.forecast(ctx, point="sample", seed=5), m.forecast(ctx, point="sample", seed=5)
    assert a.shape == (3, 4) and torch.equal(a, b)


def test_chunked_forecasts_match_one_pass(monkeypatch):
    """A GPU model forecasts in chunks of ``cuda_chunk`` contexts; the chunks are put back in order
    (checked on the CPU by forcing chunks of 2)."""
    from lab.tsfm.model import TSFM
    for decoding in ("direct", "autoregressive"):
        cfg = tsfm.TSFMConfig(context=16, horizon=8, patch=4, decoding=decoding, d_model=8, n_layers=1, n_heads=2,
                              d_ff=16)
        m = tsfm.build_model(cfg)
        ctx = np.random.default_rng(3).normal(size=(5, 16))
        one_q, one_f = m.predict_quantiles(ctx), m.forecast(ctx)
        monkeypatch.setattr(TSFM, "_chunks", lambda self, n: [slice(i, i + 2) for i in range(0, n, 2)])
        assert torch.allclose(m.predict_quantiles(ctx), one_q, atol=1e-5)
        assert torch.allclose(m.forecast(ctx), one_f, atol=1e-5)
        monkeypatch.undo()
