"""PDE pre-training chapter: generators exact, residuals right, FNO shapes and invariance, losses."""
import math

import numpy as np

import pytest
import torch

from lab.pde import evolution1d, steady
from lab.pde_pretraining import checks, config, losses, problems
from lab.pde_pretraining.fno import FNO2d, n_parameters_formula
from lab.tiers import ParameterError


# --- generators --------------------------------------------------------------------------

@pytest.mark.parametrize("system", steady.SYSTEMS)
def test_fft_solutions_satisfy_their_spectral_operator(system):
    b = steady.generate(system, 6, 16, seed=3)
    assert steady.relative_residual(b).max() < 1e-10
    assert b.u.shape == b.f.shape == (6, 16, 16)


def test_poisson_solution_against_a_finite_difference_laplacian_at_fine_resolution():
    """Isotropic K = I: the spectral solution satisfies -κΔu = f to second order in h."""
    n = 64
    f = steady.gaussian_sources(1, n, torch.Generator().manual_seed(0))
    K = steady.diffusion_tensor(torch.tensor([1.0]), torch.tensor([0.0]))
    u = steady.solve_symbol(f, steady.poisson_symbol(K, n), zero_mean=True)
    h = 1.0 / n
    lap = (u.roll(1, -1) + u.roll(-1, -1) + u.roll(1, -2) + u.roll(-1, -2) - 4 * u) / h**2
    rel = (-steady.KAPPA * lap - f).norm() / f.norm()
    assert rel < 0.05  # O(h²) truncation of the 5-point stencil, not round-off


def test_diffusion_tensor_has_eigenvalues_one_and_e():
    K = steady.diffusion_tensor(torch.tensor([3.0]), torch.tensor([0.7]))[0]
    M = torch.tensor([[K[0], K[2]], [K[2], K[1]]])
    torch.testing.assert_close(torch.linalg.eigvalsh(M), torch.tensor([1.0, 3.0], dtype=M.dtype))


def test_advection_ratio_hits_its_target():
    b = steady.generate("advdiff", 4, 16, seed=1, ratio_range=(0.5, 0.5))
    K, v, lam = b.coeffs[:, :3], b.coeffs[:, 3:5], b.coeffs[:, 5]
    torch.testing.assert_close(steady.advection_ratio(b.f, K, v, lam), torch.full((4,), 0.5, dtype=torch.float64),
                               rtol=1e-6, atol=1e-6)


def test_helmholtz_rejects_near_resonance():
    b = steady.generate("helmholtz", 8, 16, seed=0)
    assert b.u.abs().amax(dim=(-2, -1)).max() <= 2.0


def test_bad_generator_input_is_named():
    with pytest.raises(ValueError, match="unknown system"):
        steady.generate("wave", 2, 16, 0)
    with pytest.raises(ValueError, match="even"):
        steady.generate("poisson", 2, 15, 0)
    with pytest.raises(ValueError, match="positive"):
        steady.generate("poisson", 2, 16, 0, e_range=(-1.0, 2.0))


def test_heat_and_advection_are_exact_and_burgers_matches_cole_hopf():
    u0 = evolution1d.initial_conditions(3, 64, 2, modes=3, p_abs=0, p_window=0)
    u0 = u0 - u0.mean(-1, keepdim=True)
    t = torch.tensor([0.0, 0.25], dtype=torch.float64)
    shifted = evolution1d.advection(u0, 1.0, torch.tensor([1.0 / 64 * 5], dtype=torch.float64))[:, 0]
    torch.testing.assert_close(shifted, u0.roll(5, -1), rtol=1e-10, atol=1e-10)  # a shift by 5 cells
    # heat: one Fourier mode decays at exactly e^{-D k² t}
    x = torch.arange(64, dtype=torch.float64) / 64
    mode = torch.sin(2 * math.pi * 3 * x)[None]
    out = evolution1d.heat(mode, 0.01, t)[:, 1]
    torch.testing.assert_close(out, mode * math.exp(-0.01 * (2 * math.pi * 3) ** 2 * 0.25))
    assert (evolution1d.burgers(u0, 0.1, t, dt=5e-4) - evolution1d.burgers_cole_hopf(u0, 0.1, t)).abs().max() < 1e-6


def test_time_dependent_residual_vanishes_for_true_solutions():
    td = checks.time_dependent(64, seed=1)
    assert td["heat_residual"] < 1e-5 and td["advection_residual"] < 1e-4
    # and is large for a wrong coefficient
    u0 = evolution1d.initial_conditions(2, 64, 0)
    tt = torch.linspace(0, 0.05, 101, dtype=torch.float64)
    sol = evolution1d.heat(u0, 0.01, tt)
    wrong = evolution1d.residual("heat", sol, torch.full((2,), 0.02, dtype=torch.float64), float(tt[1]))
    right = evolution1d.residual("heat", sol, torch.full((2,), 0.01, dtype=torch.float64), float(tt[1]))
    assert wrong.abs().max() > 100 * right.abs().max()


# --- residual loss ------------------------------------------------------------------------

def test_residual_loss_is_zero_at_truth_with_a_finite_difference_gradient():
    r = checks.residual_at_truth(16, 4, seed=0)
    assert r["loss_at_truth"] < 1e-10 and r["gradient_gap"] < 1e-6


def test_residual_loss_sees_errors_and_the_mean():
    s = problems.poisson(4, 16, seed=0)
    exact = losses.residual_loss(s.u, s.f, s.symbol, s.zero_mean)
    assert exact < 1e-8  # float32 round-off
    assert losses.residual_loss(s.u + 0.1, s.f, s.symbol, s.zero_mean) > 1e-3  # a constant shift: the mean penalty
    assert losses.residual_loss(1.1 * s.u, s.f, s.symbol, s.zero_mean) == pytest.approx(0.01, rel=1e-3)
    assert losses.residual_loss(1.1 * s.u, s.f, s.symbol, s.zero_mean, precondition=True) == pytest.approx(0.01, rel=1e-3)


def test_data_and_hybrid_losses_follow_their_formulas():
    s = problems.poisson(3, 16, seed=1)
    pred = 0.9 * s.u
    assert losses.data_loss(pred, s.u) == pytest.approx(0.01, rel=1e-4)
    hyb = losses.loss("hybrid", pred, s, lam=2.0)
    assert hyb == pytest.approx(float(losses.data_loss(pred, s.u) + 2.0 * losses.residual_loss(pred, s.f, s.symbol, True)), rel=1e-5)
    with pytest.raises(ValueError, match="unknown loss variant"):
        losses.loss("physics", pred, s)


def test_noisy_labels_have_the_stated_level():
    s = problems.poisson(64, 16, seed=2)
    noisy = s.with_noisy_labels(0.1, seed=0)
    rel = ((noisy.u - s.u).pow(2).mean(dim=(-2, -1)) / s.u.pow(2).mean(dim=(-2, -1))).sqrt()
    assert rel.mean() == pytest.approx(0.1, rel=0.05)


# --- the FNO --------------------------------------------------------------------------------

def test_fno_shapes_parameter_count_and_resolution_invariance():
    model = FNO2d(5, width=8, modes=3, layers=2, seed=0)
    assert model.n_parameters() == n_parameters_formula(5, 8, 3, 2)
    a = torch.randn(2, 5, 16, 16)
    assert model(a).shape == (2, 16, 16)
    # a band-limited input sampled at 16² and 32² gives the same function (the operator is grid-free)
    s = problems.poisson(1, 32, seed=0)
    fh = torch.fft.rfft2(s.inputs)
    keep = torch.zeros_like(fh)
    keep[..., :3, :3] = fh[..., :3, :3]
    keep[..., -2:, :3] = fh[..., -2:, :3]
    smooth32 = torch.fft.irfft2(keep, s=(32, 32))
    smooth16 = smooth32[..., ::2, ::2]
    with torch.no_grad():
        out32, out16 = model(smooth32), model(smooth16)
    assert (out32[..., ::2, ::2] - out16).abs().max() < 0.05 * out32.abs().max() + 1e-4


def test_fno_refuses_more_modes_than_the_grid_holds():
    with pytest.raises(ValueError, match="modes"):
        FNO2d(5, width=4, modes=9, layers=1)(torch.randn(1, 5, 16, 16))


def test_config_checks_ranges_before_a_run():
    assert config.resolve("smoke").n == 16
    with pytest.raises(ParameterError, match="n_seeds"):
        config.resolve("smoke", n_seeds=0)
    with pytest.raises(ParameterError, match="shots"):
        config.resolve("smoke", shots=[])
    with pytest.raises(ValueError, match="modes"):
        config.resolve("smoke", n=8, modes=6)
    with pytest.raises(ParameterError, match="noise"):
        config.resolve("smoke", noise=-0.1)


def test_smoke_exact_claims_are_reproduced():
    from lab.claims import Claims, Status
    from lab.pde_pretraining import claims as criteria

    claims = Claims("pde_pretraining", "smoke")
    criteria.generator_exact(claims, checks.generator_residuals(16, 4, 0), checks.time_dependent(64, 0))
    criteria.residual_zero_at_truth(claims, checks.residual_at_truth(16, 4, 0))
    assert all(c.status is Status.REPRODUCED for c in claims.items)
    # and the exactness claim can fail: a residual of 1e-6 is not exact
    bad = Claims("pde_pretraining", "smoke")
    criteria.generator_exact(bad, {"poisson": 1e-6}, {"burgers_vs_cole_hopf": 0.0})
    assert bad.items[0].status is Status.NOT_REPRODUCED


# --- the time-dependent systems of the full tier ------------------------------------------

def test_time_dependent_residual_loss_is_small_at_truth_and_large_elsewhere():
    from lab.pde_pretraining import timedep

    for system in timedep.SYSTEMS:
        lo, hi, _ = timedep.RANGES[system]
        f = timedep.generate(system, 4, 32, 64, seed=0, lo=lo, hi=hi)
        assert f.inputs.shape == (4, 2, 64, 32) and f.u.shape == (4, 64, 32)
        at_truth = float(timedep.residual_loss(f.u.double(), timedep.Fields(
            f.inputs, f.u.double(), f.u0.double(), f.coeff.double(), f.dt, system)))
        wrong = float(timedep.residual_loss(torch.zeros_like(f.u), f))
        assert at_truth < 0.05 * wrong, (system, at_truth, wrong)


def test_time_dependent_trio_runs_at_toy_size_and_is_judged():
    from lab.claims import Claims, Status
    from lab.pde_pretraining import claims as criteria
    from lab.pde_pretraining import timedep
    from lab.pde_pretraining.fno import FNO2d

    assert FNO2d(2, 4, 2, 1, pad=3)(torch.randn(2, 2, 8, 16)).shape == (2, 8, 16)
    trio = timedep.trio([0], n=16, t_steps=8, count=8, steps=2, width=4, modes=2, layers=1)
    assert set(trio) == set(timedep.SYSTEMS) and trio["heat"]["data"].shape == (1,)
    claims = Claims("pde_pretraining", "smoke")
    criteria.time_dependent_trio(claims, trio)  # one seed: each ordering not checkable -> fraction fails
    assert claims.items[0].status is not Status.REPRODUCED
    fake = {s: {"hybrid": torch.tensor([0.1, 0.11, 0.12]).numpy(), "data": torch.tensor([0.2, 0.21, 0.22]).numpy()}
            for s in timedep.SYSTEMS}
    ok = Claims("pde_pretraining", "book")
    criteria.time_dependent_trio(ok, fake)
    assert ok.items[0].status is Status.REPRODUCED
    none = Claims("pde_pretraining", "book")
    criteria.time_dependent_trio(none, None)
    assert none.items[0].status is Status.NOT_CHECKABLE


# --- advection–diffusion, the benchmark matrix and the Dirichlet variant (full tier) ---------

def test_fast_advdiff_generator_matches_the_steady_one():
    ref = steady.generate("advdiff", 6, 16, seed=5)
    ours = problems.advdiff_batch(6, 16, seed=5)
    torch.testing.assert_close(ours.coeffs, ref.coeffs, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(ours.u, ref.u, rtol=1e-9, atol=1e-12)
    assert steady.relative_residual(ours).max() < 1e-10


def test_advdiff_samples_use_the_seven_channel_layout_and_vanish_at_truth():
    s = problems.advdiff(4, 16, seed=0)
    assert s.inputs.shape == (4, 7, 16, 16) and s.symbol.is_complex() and s.zero_mean
    assert float(losses.pde_residual(s.u, s)) < 1e-8
    p = problems.poisson(2, 16, seed=0, channels=7)
    assert p.inputs.shape == (2, 7, 16, 16) and p.inputs[:, 5:].abs().max() == 0
    torch.testing.assert_close(p.inputs[:, :5], problems.poisson(2, 16, seed=0).inputs)
    with pytest.raises(ValueError, match="7-channel"):
        problems.advdiff(2, 16, seed=0, channels=5)


def test_full_preset_turns_on_the_full_tier_pieces_and_new_knobs_are_checked():
    full = config.resolve("full")
    assert full.dirichlet and full.matrix and full.time_dependent and full.n_seeds >= 3
    book = config.resolve("book")
    assert not (book.dirichlet or book.matrix or book.time_dependent)
    with pytest.raises(ParameterError, match="matrix_shots"):
        config.resolve("smoke", matrix_shots=0)
    with pytest.raises(ParameterError, match="dirichlet"):
        config.resolve("smoke", dirichlet="yes")
    assert 0 < config.FULL_TIER_SECONDS <= 300


def test_dirichlet_and_matrix_experiments_run_at_toy_size_and_are_judged(tmp_path, monkeypatch):
    """The full tier's code path at smoke size: every model, evaluation and claim."""
    import matplotlib

    matplotlib.use("Agg")
    from lab.claims import Claims, Status
    from lab.pde_pretraining import claims as criteria
    from lab.pde_pretraining import experiments, figures

    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path))
    # the torch reference of the spectral contraction (the kernel has its own interpreter tests;
    # interpreting it for the ~80 toy models here would take a minute)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    cfg = config.resolve("smoke", n_seeds=3, steps=2, finetune_steps=2, n=16, count=8, width=4, modes=2,
                         dirichlet=True, matrix=True, matrix_shots=4)
    lam = experiments.choose_lambda(cfg)["chosen"]
    pre = experiments.pretraining(cfg, lam)
    dr = experiments.dirichlet(cfg, lam)
    mx = experiments.matrix(cfg, lam)
    assert set(dr) == {"data", "pde", "hybrid"} and dr["hybrid"]["ood"].shape == (3,)
    assert mx["few_shot"]["hybrid"].shape == (3, 3, 3) and np.isfinite(mx["zero_shot"]["data"]).all()
    claims = Claims("pde_pretraining", "smoke")
    criteria.nonperiodic_bc_harder(claims, pre, dr)
    criteria.matrix_transfer(claims, mx)
    assert all(c.status is not Status.NOT_CHECKABLE for c in claims.items)  # 3 seeds: judged
    figures.benchmark_matrix(mx)
    figures.dirichlet_gap(pre, dr)
    off = Claims("pde_pretraining", "book")
    criteria.nonperiodic_bc_harder(off, pre, None)
    criteria.matrix_transfer(off, None)
    assert all(c.status is Status.NOT_CHECKABLE for c in off.items)


def test_nonperiodic_claim_needs_a_periodic_benefit_and_a_smaller_dirichlet_gap():
    from lab.claims import Claims, Status
    from lab.pde_pretraining import claims as criteria

    a = lambda *x: np.array(x)  # noqa: E731
    pre = {"data": {"ood": a(0.30, 0.31, 0.32)}, "hybrid": {"ood": a(0.20, 0.21, 0.215)}}
    shrinks = {"data": {"ood": a(0.40, 0.41, 0.42)}, "hybrid": {"ood": a(0.39, 0.405, 0.41)}}
    grows = {"data": {"ood": a(0.40, 0.41, 0.42)}, "hybrid": {"ood": a(0.20, 0.20, 0.21)}}
    no_benefit = {"data": pre["hybrid"], "hybrid": pre["data"]}
    for dr, p, want in ((shrinks, pre, Status.REPRODUCED), (grows, pre, Status.NOT_REPRODUCED),
                        (shrinks, no_benefit, Status.NOT_REPRODUCED)):
        c = Claims("pde_pretraining", "full")
        criteria.nonperiodic_bc_harder(c, p, dr)
        assert c.items[0].status is want


def test_step_time_restores_the_contraction_and_names_a_bad_choice():
    from lab.pde_pretraining import fno, train as tr

    before = fno.spectral_contract
    t = tr.step_time(5, n=16, batch=2, width=4, modes=3, layers=1, repeats=1, warmup=0,
                     contraction="einsum", device="cpu")
    assert t > 0 and fno.spectral_contract is before
    with pytest.raises(ValueError, match="contraction"):
        tr.step_time(5, n=16, batch=2, width=4, modes=3, layers=1, contraction="fft")
    assert fno.spectral_contract is before
