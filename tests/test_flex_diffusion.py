"""v-prediction diffusion of ``lab.flex.diffusion``: schedule, identities, sampler, loss."""
import math

import pytest
import torch

from lab.flex.diffusion import (alpha_sigma, ddim_sample, ddim_step, diffusion_loss, logsnr_cosine,
                                predict_r_eps, v_target)


def _point_mass_denoiser(r0):
    """The exact v for data concentrated on r0: ε = (z - α r0)/σ, v = α ε - σ r0."""
    def v(z, t):
        a, s = alpha_sigma(t.double())
        return a * (z - a * r0) / s - s * r0
    return v


def test_logsnr_endpoints_and_monotone():
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    lam = logsnr_cosine(t)
    assert abs(lam[0].item() - 20) < 1e-9 and abs(lam[-1].item() + 20) < 1e-9
    assert (lam.diff() < 0).all()
    # the reference's closed form at an interior point, recomputed independently
    b = math.atan(math.exp(-10)); a = math.atan(math.exp(10)) - b
    assert math.isclose(logsnr_cosine(torch.tensor([0.3], dtype=torch.float64)).item(), -2 * math.log(math.tan(0.3 * a + b)))


def test_alpha_sigma_are_a_variance_preserving_pair():
    t = torch.rand(50, dtype=torch.float64)
    a, s = alpha_sigma(t)
    torch.testing.assert_close(a**2 + s**2, torch.ones_like(a), rtol=0, atol=1e-12)
    lam = logsnr_cosine(t).reshape(-1, 1, 1, 1)
    torch.testing.assert_close(torch.log(a**2 / s**2), lam, rtol=1e-9, atol=1e-9)


def test_r_and_eps_are_recovered_from_the_true_v():
    g = torch.Generator().manual_seed(0)
    r, eps = torch.randn(4, 1, 5, 5, generator=g, dtype=torch.float64), torch.randn(4, 1, 5, 5, generator=g, dtype=torch.float64)
    a, s = alpha_sigma(torch.tensor([0.01, 0.3, 0.7, 0.99], dtype=torch.float64))
    z = a * r + s * eps
    r_hat, eps_hat = predict_r_eps(z, v_target(r, eps, a, s), a, s)
    torch.testing.assert_close(r_hat, r, rtol=0, atol=1e-10)
    torch.testing.assert_close(eps_hat, eps, rtol=0, atol=1e-10)


@pytest.mark.parametrize("n_steps", [1, 2, 5])
def test_exact_denoiser_on_a_point_mass_returns_the_point(n_steps):
    g = torch.Generator().manual_seed(1)
    r0 = torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)
    noise = torch.randn(r0.shape, generator=g, dtype=torch.float64)
    torch.testing.assert_close(ddim_sample(_point_mass_denoiser(r0), noise, n_steps), r0, rtol=0, atol=1e-8)


def test_ddim_step_matches_its_closed_form():
    """With the exact point-mass denoiser, z' = α' r0 + σ' (z - α r0)/σ."""
    g = torch.Generator().manual_seed(2)
    r0, z = (torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64) for _ in range(2))
    t, t_next = torch.full((2,), 0.8, dtype=torch.float64), torch.full((2,), 0.35, dtype=torch.float64)
    z_next, r_hat = ddim_step(z, _point_mass_denoiser(r0)(z, t), t, t_next)
    a, s = alpha_sigma(t)
    a2, s2 = alpha_sigma(t_next)
    torch.testing.assert_close(z_next, a2 * r0 + s2 * (z - a * r0) / s, rtol=0, atol=1e-10)
    torch.testing.assert_close(r_hat, r0, rtol=0, atol=1e-10)


def test_sampler_uses_the_time_grid_k_over_n():
    seen = []

    def record(z, t):
        seen.append(t[0].item())
        return torch.zeros_like(z)

    ddim_sample(record, torch.zeros(1, 1, 2, 2), 4)
    assert seen == [1.0, 0.75, 0.5, 0.25]
    with pytest.raises(ValueError):
        ddim_sample(record, torch.zeros(1, 1, 2, 2), 0)


def test_loss_vanishes_for_the_exact_denoiser_and_not_otherwise():
    r0 = torch.randn(1, 1, 4, 4, dtype=torch.float64).expand(6, 1, 4, 4).contiguous()
    g = torch.Generator().manual_seed(3)
    exact = diffusion_loss(_point_mass_denoiser(r0[:1]), r0, generator=g)
    assert exact.item() < 1e-6
    assert diffusion_loss(lambda z, t: torch.zeros_like(z), r0, generator=g).item() > 0.1
    with pytest.raises(ValueError):
        diffusion_loss(lambda z, t: z, r0, criterion="huber")
