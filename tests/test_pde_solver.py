"""The pseudo-spectral Kolmogorov-flow solver of ``lab.pde`` against closed forms and invariants."""
import math

import numpy as np
import pytest
import torch

from lab.pde import KolmogorovFlow, SpectralGrid, energy_spectrum, random_initial_vorticity
from lab.pde.generate import TrajectoryConfig, simulate
from lab.pde.spectral import resample


def _turbulent(flow, seed=0, t=1.0):
    w = random_initial_vorticity(flow.grid, len(flow.reynolds), torch.Generator().manual_seed(seed))
    w_hat, _ = flow.advance(flow.grid.fft(w), t)
    return w_hat


def test_poisson_inversion_is_exact_on_fourier_modes():
    grid = SpectralGrid(32)
    y, x = grid.coords
    for kx, ky in [(1, 0), (0, 3), (2, 5), (-4, 7), (10, -10)]:
        psi = torch.sin(kx * x + ky * y + 0.3)
        w = (kx**2 + ky**2) * psi  # -Δψ = ω
        psi_back = grid.ifft(grid.stream_function(grid.fft(w)))
        torch.testing.assert_close(psi_back, psi, rtol=0, atol=1e-12)
        u, v = grid.velocity(w)
        torch.testing.assert_close(u, ky * torch.cos(kx * x + ky * y + 0.3), rtol=0, atol=1e-11)  # u = ∂_y ψ
        torch.testing.assert_close(v, -kx * torch.cos(kx * x + ky * y + 0.3), rtol=0, atol=1e-11)  # v = -∂_x ψ


def test_dealias_mask_is_the_two_thirds_rule():
    grid = SpectralGrid(64)
    assert grid.cutoff == 21 and 3 * grid.cutoff < 64
    kept = grid.dealias.bool()
    assert kept[(grid.kx.abs() <= 21) & (grid.ky.abs() <= 21)].all()
    assert not kept[(grid.kx.abs() > 21) | (grid.ky.abs() > 21)].any()


@pytest.mark.parametrize("re", [40.0, 1000.0])
def test_laminar_kolmogorov_state_is_a_fixed_point_of_equation_and_step(re):
    flow = KolmogorovFlow(32, [re], drag=0.1, k_forcing=4)
    w_lam = flow.laminar()
    y, _ = flow.grid.coords
    torch.testing.assert_close(w_lam[0], -4 / (16 / re + 0.1) * torch.cos(4 * y))
    w_hat = flow.grid.fft(w_lam)
    assert (flow.rhs_hat(w_hat).abs().max() / flow.forcing_hat.abs().max()).item() < 1e-12
    after = flow.step(w_hat, 0.07)
    assert ((after - w_hat).abs().max() / w_hat.abs().max()).item() < 1e-12


def test_energy_budget_closes_instantaneously():
    flow = KolmogorovFlow(48, [300.0, 2000.0])
    terms = flow.energy_budget(_turbulent(flow))
    gap = terms["dEdt"] - terms["injection"] - terms["viscous"] - terms["drag"]
    assert (gap.abs() / terms["drag"].abs()).max() < 1e-10
    assert (terms["viscous"] < 0).all() and (terms["drag"] < 0).all()


def test_energy_budget_integrates_over_time():
    """E(T) - E(0) equals the time integral of the budget (trapezoid, small steps)."""
    flow = KolmogorovFlow(32, [200.0])
    w_hat = _turbulent(flow, t=0.5)
    e0, dt, rates = flow.energy(w_hat), 2e-3, []
    for _ in range(100):
        b = flow.energy_budget(w_hat)
        rates.append(b["injection"] + b["viscous"] + b["drag"])
        w_hat = flow.step(w_hat, dt)
    b = flow.energy_budget(w_hat)
    rates.append(b["injection"] + b["viscous"] + b["drag"])
    integral = dt * (sum(rates) - 0.5 * (rates[0] + rates[-1]))
    change = flow.energy(w_hat) - e0
    assert (abs(change - integral) / abs(change)).item() < 1e-3


def test_step_is_second_order_in_time():
    flow = KolmogorovFlow(32, [300.0])
    w0 = _turbulent(flow, t=0.5)

    def run(dt, T=0.2):
        w = w0
        for _ in range(round(T / dt)):
            w = flow.step(w, dt)
        return flow.grid.ifft(w)

    ref, dt = run(0.00125), 0.02
    e1, e2 = (run(dt) - ref).abs().max().item(), (run(dt / 2) - ref).abs().max().item()
    assert 3.0 < e1 / e2 < 5.0  # ratio 4 for a second-order scheme


def test_advection_conserves_energy_and_enstrophy():
    flow = KolmogorovFlow(32, [500.0])
    w_hat = _turbulent(flow, t=0.3) * flow.grid.dealias
    n = flow.grid.ifft(flow.advection_hat(w_hat))
    psi = flow.grid.ifft(flow.grid.stream_function(w_hat))
    w = flow.grid.ifft(w_hat)
    assert abs((psi * n).mean().item()) < 1e-12 * (psi.abs().mean() * n.abs().mean()).item() * 1e3
    assert abs((w * n).mean().item()) < 1e-10 * (w.abs().mean() * n.abs().mean()).item()


def test_different_reynolds_numbers_in_one_batch_match_separate_runs():
    both = KolmogorovFlow(32, [100.0, 700.0])
    w = random_initial_vorticity(both.grid, 2, torch.Generator().manual_seed(3))
    w_hat = both.grid.fft(w)
    for _ in range(5):
        w_hat = both.step(w_hat, 0.01)
    alone = KolmogorovFlow(32, [700.0])
    w1 = alone.grid.fft(w[1:])
    for _ in range(5):
        w1 = alone.step(w1, 0.01)
    torch.testing.assert_close(w_hat[1:], w1, rtol=1e-12, atol=1e-12)


def test_resample_is_exact_for_band_limited_fields_and_spectrum_sums_to_energy():
    grid = SpectralGrid(64)
    y, x = grid.coords
    w = torch.cos(3 * x - 2 * y) + 0.5 * torch.sin(5 * y)
    small = resample(w, 32)
    torch.testing.assert_close(small, w[::2, ::2], rtol=0, atol=1e-12)
    torch.testing.assert_close(resample(small, 64), w, rtol=0, atol=1e-12)
    flow = KolmogorovFlow(64, [500.0])
    w_hat = _turbulent(flow, t=0.2)
    k, e = energy_spectrum(flow.grid.ifft(w_hat)[0])
    assert math.isclose(e.sum().item(), flow.energy(w_hat).item(), rel_tol=1e-6)


def _dft_coefficient(w, kx, ky):
    """``mean(w · exp(-i(kx x + ky y)))`` by a direct sum over the grid (no FFT, no index bookkeeping)."""
    n = w.shape[-1]
    x = np.arange(n) * 2 * np.pi / n
    phase = np.exp(-1j * (kx * x[None, :] + ky * x[:, None]))
    return (w.numpy() * phase).mean()


def test_spectral_truncation_keeps_the_retained_fourier_modes_exactly():
    # a rough random field (energy up to the grid scale), not band-limited
    w = torch.randn(48, 48, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    small = resample(w, 20)
    for kx, ky in [(0, 0), (1, 0), (0, -3), (4, 7), (-9, 9), (9, -2)]:  # |k_i| < 20/2: retained
        assert abs(_dft_coefficient(small, kx, ky) - _dft_coefficient(w, kx, ky)) < 1e-12
    assert abs(_dft_coefficient(small, 10, 3)) < 1e-12  # the coarse Nyquist mode is dropped
    assert math.isclose(small.mean().item(), w.mean().item(), abs_tol=1e-14)
    # it is the orthogonal projection: the discarded part has no component along the kept one
    back = resample(small, 48)
    assert abs(((w - back) * back).mean().item()) < 1e-12
    assert (w - back).pow(2).mean() > 0.5 * w.pow(2).mean()  # and the rough field did lose energy


def test_stored_snapshots_are_the_spectral_truncation_of_the_solver_fields():
    kw = dict(reynolds=(300.0,), n_traj=2, n_solver=32, t_spinup=0.2, dt_snapshot=0.05, n_snapshots=2, dtype="float64")
    fine, coarse = simulate(TrajectoryConfig(n_out=32, **kw), "cpu"), simulate(TrajectoryConfig(n_out=16, **kw), "cpu")
    torch.testing.assert_close(coarse["vorticity"], resample(fine["vorticity"].double(), 16).float(), rtol=0, atol=1e-5)


def test_coarse_spinup_then_refinement_is_seeded_and_stays_finite():
    cfg = TrajectoryConfig(reynolds=(500.0,), n_traj=2, n_solver=32, n_spinup=16, t_refine=0.1, n_out=16,
                           t_spinup=0.3, dt_snapshot=0.1, n_snapshots=2, dtype="float64")
    a, b = simulate(cfg, "cpu"), simulate(cfg, "cpu")
    assert a["vorticity"].shape == (1, 2, 2, 16, 16)
    torch.testing.assert_close(a["vorticity"], b["vorticity"], rtol=0, atol=0)
    # the refinement happened on the fine grid: a run kept coarse throughout differs
    c = simulate(TrajectoryConfig(**{**cfg.__dict__, "n_solver": 16, "n_spinup": 0}), "cpu")
    assert not torch.allclose(a["vorticity"], c["vorticity"], atol=1e-6)
    with pytest.raises(ValueError, match="n_spinup"):
        simulate(TrajectoryConfig(**{**cfg.__dict__, "n_spinup": 64}), "cpu")


def test_simulate_is_seeded_and_shaped():
    cfg = TrajectoryConfig(reynolds=(200.0, 400.0), n_traj=2, n_solver=32, n_out=16, t_spinup=0.3,
                           dt_snapshot=0.1, n_snapshots=3, dtype="float64")
    a, b = simulate(cfg, "cpu"), simulate(cfg, "cpu")
    assert a["vorticity"].shape == (2, 2, 3, 16, 16)
    torch.testing.assert_close(a["vorticity"], b["vorticity"], rtol=0, atol=0)
    assert np.isfinite(a["vorticity"].numpy()).all()


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="even"):
        SpectralGrid(31)
    with pytest.raises(ValueError, match="positive"):
        KolmogorovFlow(32, [-1.0])
    with pytest.raises(ValueError, match="not resolved"):
        KolmogorovFlow(16, [100.0], k_forcing=8)
