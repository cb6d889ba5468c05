"""lab.forecast.panel and encoders: the two data paths cut the same targets, batched differently."""
import numpy as np
import pytest
import torch

from lab.forecast.encoders import ARCHITECTURES
from lab.forecast.model import Forecaster
from lab.forecast.panel import Panel, forking_batch, sample_forks, sample_windows, window_batch
from lab.forecast.train import TrainConfig, batch_loss, build_model, train

L, H = 6, 3


def _series(seed=0, lengths=(20, 9, 4, 31)):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(np.float32) for n in lengths]


def test_window_batch_holds_the_context_and_targets_of_each_fcd():
    series = _series()
    panel = Panel(series, L, H, pad=8)
    rows, fcds = np.array([0, 3, 1]), np.array([10, 2, 5])
    b = window_batch(panel, rows, fcds)
    for j, (r, t) in enumerate(zip(rows, fcds)):
        ctx = series[r][max(0, t - L):t]
        np.testing.assert_array_equal(b.x[j, L - len(ctx):, 0].numpy(), ctx)
        assert b.x[j, :L - len(ctx), 1].sum() == 0 and b.x[j, L - len(ctx):, 1].all()
        tgt = series[r][t:t + H]
        np.testing.assert_array_equal(b.y[j, 0, :len(tgt)].numpy(), tgt)
        assert b.mask[j, 0].sum() == len(tgt)


def test_forking_targets_equal_window_targets_at_every_fcd_of_the_block():
    panel = Panel(_series(1), L, H, pad=10)
    rows, starts, F = np.array([0, 3, 3, 1]), np.array([1, 4, -2, 2]), 5
    fb = forking_batch(panel, rows, starts, F)
    assert fb.x.shape == (4, L + F - 1, 2) and fb.y.shape == (4, F, H)
    for k in range(F):
        wb = window_batch(panel, rows, starts + k)
        torch.testing.assert_close(fb.y[:, k], wb.y[:, 0], rtol=0, atol=0)
        torch.testing.assert_close(fb.mask[:, k], wb.mask[:, 0], rtol=0, atol=0)
        # the window of FCD a+k is the block's slice [k, k+L)
        torch.testing.assert_close(fb.x[:, k:k + L], wb.x, rtol=0, atol=0)


def test_f1_forking_batch_is_the_window_batch():
    panel = Panel(_series(2), L, H, pad=4)
    rows, t = np.array([0, 1, 2, 3]), np.array([3, 1, 1, 20])
    fb, wb = forking_batch(panel, rows, t, 1), window_batch(panel, rows, t)
    for a, b in ((fb.x, wb.x), (fb.y, wb.y), (fb.mask, wb.mask)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_masks_drop_targets_past_the_end_and_invalid_fcds():
    panel = Panel([np.arange(10, dtype=np.float32)], L, H, pad=6)
    # FCDs -1..4 with start -1: t < 1 masked; t <= n - H = 7 valid
    b = forking_batch(panel, np.array([0]), np.array([-1]), 6)
    assert b.mask[0, :2].sum() == 0 and b.mask[0, 2:].all()
    # FCD 9: only y[9] exists, and t = 9 > n - H is outside training, but kept for evaluation
    assert forking_batch(panel, np.array([0]), np.array([9]), 1).mask.sum() == 0
    ev = forking_batch(panel, np.array([0]), np.array([9]), 1, train=False)
    assert ev.mask[0, 0].tolist() == [1, 0, 0] and ev.y[0, 0, 0] == 9


def test_forking_starts_cover_every_valid_fcd_equally_often():
    panel = Panel([np.zeros(12, np.float32)], L, H, pad=8)
    F = 4
    counts = np.zeros(20)
    for a in range(2 - F, int(panel.last_fcd[0]) + 1):  # every start sample_forks can draw
        b = forking_batch(panel, np.array([0]), np.array([a]), F)
        for k in range(F):
            if b.mask[0, k].any():
                counts[a + k] += 1
    assert set(counts[1:int(panel.last_fcd[0]) + 1]) == {F} and counts.sum() == F * panel.last_fcd[0]


def test_samplers_are_seeded():
    panel = Panel(_series(3), L, H, pad=8)
    a = sample_forks(panel, 5, 4, np.random.default_rng(0))
    b = sample_forks(panel, 5, 4, np.random.default_rng(0))
    torch.testing.assert_close(a.x, b.x)
    w = sample_windows(panel, 5, np.random.default_rng(0))
    assert w.x.shape == (5, L, 2) and w.y.shape == (5, 1, H)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_encoders_are_causal(arch):
    torch.manual_seed(0)
    model = Forecaster(arch, context=8, horizon=2, hidden=8, layers=2)
    x = torch.randn(2, 15, 2)
    y = x.clone()
    y[:, 9:] = torch.randn(2, 6, 2)  # change the future of step 8
    out_x, out_y = model(x), model(y)
    torch.testing.assert_close(out_x[:, :9], out_y[:, :9], rtol=0, atol=1e-6)
    assert not torch.allclose(out_x[:, 9:], out_y[:, 9:])


@pytest.mark.parametrize("arch", ["mlp", "cnn", "transformer"])
def test_one_pass_equals_a_window_forward_at_every_fcd(arch):
    series = _series(4, lengths=(40, 25, 33))
    panel = Panel(series, 8, H, pad=10)
    torch.manual_seed(1)
    model = Forecaster(arch, context=8, horizon=H, hidden=8, layers=2)
    assert model.encoder.receptive_field <= 8
    rows, starts, F = np.array([0, 1, 2]), np.array([3, 9, 1]), 7
    with torch.no_grad():
        fork = model(forking_batch(panel, rows, starts, F).x, last=F)
        for k in range(F):
            win = model(window_batch(panel, rows, starts + k).x, last=1)
            torch.testing.assert_close(fork[:, k], win[:, 0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_f1_forking_loss_and_gradients_equal_window_sampling(arch):
    panel = Panel(_series(5), L, H, pad=8)
    model = build_model(TrainConfig(arch, "forking", L, H, hidden=8))
    rows, t = np.array([0, 1, 3, 3]), np.array([5, 2, 1, 17])
    params = list(model.parameters())
    lw = batch_loss(model, window_batch(panel, rows, t), 1)
    lf = batch_loss(model, forking_batch(panel, rows, t, 1), 1)
    assert lw.item() == lf.item()
    for a, b in zip(torch.autograd.grad(lw, params), torch.autograd.grad(lf, params)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_training_is_seeded_and_learns_a_seasonal_pattern():
    t = np.arange(60)
    series = [np.sin(2 * np.pi * (t + p) / 4).astype(np.float32) for p in range(8)]
    panel = Panel(series, 8, 4, pad=8)
    cfg = TrainConfig("mlp", "forking", 8, 4, steps=60, batch=8, fcds=6, hidden=16, lr=1e-2, seed=3)
    m1, l1 = train(panel, cfg)
    m2, l2 = train(panel, cfg)
    np.testing.assert_array_equal(l1, l2)
    assert l1[-10:].mean() < 0.5 * l1[:5].mean()
    with pytest.raises(ValueError, match="unknown training scheme"):
        train(panel, TrainConfig("mlp", "bagging", 8, 4, steps=1))
