"""lab.flex.evaluate: RFNE, spread/skill, the Spearman correlations and the target energies
against values computed by hand on small tensors (``book/flex.md``, "Uncertainty")."""
import math

import pytest
import torch

from lab.flex.evaluate import rfne, spread_skill, target_energy


def test_rfne_is_the_relative_frobenius_error_per_sample():
    target = torch.tensor([[[[3.0, 4.0]]], [[[1.0, 0.0]]]])  # [B=2, 1, 1, 2]
    pred = torch.tensor([[[[0.0, 0.0]]], [[[1.0, 1.0]]]])
    # ‖0 − (3, 4)‖ / ‖(3, 4)‖ = 5/5; ‖(1, 1) − (1, 0)‖ / ‖(1, 0)‖ = 1/1
    assert rfne(pred, target).tolist() == pytest.approx([1.0, 1.0])
    assert rfne(2 * target, target).tolist() == pytest.approx([1.0, 1.0])
    assert rfne(1.5 * target, target).tolist() == pytest.approx([0.5, 0.5])


def _ensemble():
    # M = 2 members, B = 2 samples, one channel, 1 x 2 pixels: [M, B, 1, 1, 2]
    m0 = torch.tensor([[[[0.0, 0.0]]], [[[0.0, 0.0]]]])
    m1 = torch.tensor([[[[1.0, 2.0]]], [[[3.0, 4.0]]]])
    truth = torch.tensor([[[[0.5, 1.5]]], [[[1.5, 4.0]]]])
    return torch.stack([m0, m1]), truth


def test_spread_skill_matches_hand_computation():
    ens, truth = _ensemble()
    out = spread_skill(ens, truth)
    # member means (0.5, 1 | 1.5, 2); unbiased variances (a−b)²/2 = 0.5, 2, 4.5, 8 (mean 3.75);
    # errors of the mean |mean − truth| = 0, 0.5, 0, 2 (mean square 1.0625); factor (M+1)/M = 3/2
    assert out["spread_skill"] == pytest.approx(math.sqrt(1.5 * 3.75 / 1.0625))
    # per-pixel std ranks 1, 2, 3, 4 against error ranks 1.5, 3, 1.5, 4: r = 3 / sqrt(5 · 4.5)
    assert out["spearman_pixel"] == pytest.approx(3 / math.sqrt(22.5))
    # two samples, mean std and RFNE both larger for the second: rank correlation 1
    assert out["spearman_sample"] == pytest.approx(1.0)
    # RFNE of the mean: 0.5/sqrt(2.5) and 2/sqrt(18.25); member 0 predicts zeros: RFNE 1
    assert out["rfne_mean"] == pytest.approx((0.5 / math.sqrt(2.5) + 2 / math.sqrt(18.25)) / 2)
    assert out["rfne_member"] == pytest.approx(1.0)


def test_spearman_falls_when_spread_is_anti_correlated_with_error():
    ens, _ = _ensemble()
    # errors largest where the spread is smallest: a perfectly reversed ranking
    truth = ens.mean(0) + torch.tensor([[[[4.0, 3.0]]], [[[2.0, 1.0]]]])
    assert spread_skill(ens, truth)["spearman_pixel"] == pytest.approx(-1.0)


class _Fixed:
    """A stand-in for FlowTasks that returns one fixed batch."""

    def __init__(self, x, base):
        self.x, self.base = x, base

    def fixed_set(self, task, size, seed):
        return {"x": self.x, "base": self.base}


def test_target_energy_matches_hand_computation():
    x = torch.tensor([[[[1.0, -1.0], [2.0, 0.0]]]])  # E x² = (1 + 1 + 4 + 0)/4 = 1.5
    base = torch.tensor([[[[1.0, -1.0], [1.0, 1.0]]]])  # r = x − base = (0, 0, 1, −1): E r² = 0.5
    out = target_energy(_Fixed(x, base), "sr", 1, 0)
    assert out["r2"] == pytest.approx(0.5) and out["x2"] == pytest.approx(1.5)
    assert out["ratio"] == pytest.approx(1 / 3)
    # E‖v‖² = α² + σ² E r² with α² + σ² = 1; the cosine schedule's logSNR runs from +20 to −20
    # symmetrically, so α²(t) + α²(1−t) = 1 and E_t α² = 1/2 on the symmetric grid:
    # ratio = (1 + E r²) / (1 + E x²)
    assert out["v_ratio"] == pytest.approx((1 + 0.5) / (1 + 1.5), rel=1e-6)
    # at t = 1, α² = sigmoid(−20) ≈ 2e-9: the ratio of the targets themselves
    assert out["v_ratio_t1"] == pytest.approx(1 / 3, rel=1e-6)


def test_target_energy_is_one_for_a_zero_base():
    x = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    out = target_energy(_Fixed(x, torch.zeros_like(x)), "fc", 3, 0)
    assert out["ratio"] == pytest.approx(1.0) and out["v_ratio"] == pytest.approx(1.0)
