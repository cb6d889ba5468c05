"""Masked multi-quantile loss: Triton kernel (interpreted on CPU) against the torch reference
and an independent float64 numpy computation, forward and backward."""
import os
import sys
import textwrap

import numpy as np
import pytest
import torch

from kernels import dispatch
from kernels.quantile_loss import quantile_loss, quantile_loss_reference, quantile_loss_triton
from compiled import run_without_interpreter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRITON_DEVICE = next((d for d in ("cpu", "cuda") if dispatch.triton_available(d)[0]), None)
needs_triton = pytest.mark.skipif(TRITON_DEVICE is None, reason="Triton runs neither interpreted nor on a GPU")


def _inputs(shape, seed, dtype=torch.float32, p_mask=0.7):
    rng = np.random.default_rng([7, seed, *shape])
    yhat = torch.from_numpy(rng.standard_normal(shape)).to(dtype)
    y = torch.from_numpy(rng.standard_normal(shape[:-1])).to(dtype)
    mask = torch.from_numpy(rng.random(shape[:-1]) < p_mask)
    taus = np.sort(rng.uniform(0.02, 0.98, shape[-1])).tolist()
    return yhat, y, mask, taus


def _numpy_loss_and_grad(yhat, y, mask, taus):
    """Loop-free but independent float64: loss and dL/dyhat from the definition."""
    yh, yy, m, t = yhat.double().numpy(), y.double().numpy(), mask.double().numpy(), np.array(taus)
    u = yy[..., None] - yh
    rho = np.where(u < 0, (t - 1) * u, t * u)
    denom = len(taus) * max(1.0, m.sum())
    return (rho * m[..., None]).sum() / denom, ((u < 0) - t) * m[..., None] / denom


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 5, 7, 3), (3, 16, 48, 9), (1, 1, 300, 5), (4, 3, 13, 2)])
def test_reference_matches_numpy(shape):
    yhat, y, mask, taus = _inputs(shape, 0, torch.float64)
    yhat.requires_grad_(True)
    loss = quantile_loss_reference(yhat, y, mask, taus)
    loss.backward()
    exp_loss, exp_grad = _numpy_loss_and_grad(yhat.detach(), y, mask, taus)
    assert loss.item() == pytest.approx(exp_loss, rel=1e-12)
    np.testing.assert_allclose(yhat.grad.numpy(), exp_grad, rtol=1e-12, atol=1e-15)


@needs_triton
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 5, 7, 3), (3, 16, 48, 9), (1, 1, 300, 5), (4, 3, 13, 2), (257, 1)])
def test_triton_forward_and_backward_match_numpy(shape):
    yhat, y, mask, taus = _inputs(shape, 1)
    yhat = yhat.to(TRITON_DEVICE).requires_grad_(True)
    loss = quantile_loss_triton(yhat, y.to(TRITON_DEVICE), mask.to(TRITON_DEVICE), taus)
    loss.backward()
    exp_loss, exp_grad = _numpy_loss_and_grad(yhat.detach().cpu(), y, mask, taus)
    assert loss.item() == pytest.approx(exp_loss, rel=1e-5, abs=1e-7)
    np.testing.assert_allclose(yhat.grad.cpu().double().numpy(), exp_grad, rtol=1e-5, atol=1e-8)


@needs_triton
def test_triton_handles_half_precision_non_contiguous_and_float_masks():
    yhat, y, mask, taus = _inputs((6, 10, 4), 2)
    big = torch.randn(6, 10, 8)
    big[..., ::2] = yhat
    view = big[..., ::2]
    assert not view.is_contiguous()
    ref = quantile_loss_reference(view.double(), y.double(), mask, taus)
    got = quantile_loss_triton(view.to(TRITON_DEVICE), y.to(TRITON_DEVICE), mask.float().to(TRITON_DEVICE), taus)
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)
    half = quantile_loss_triton(view.half().to(TRITON_DEVICE), y.half().to(TRITON_DEVICE), mask.to(TRITON_DEVICE), taus)
    assert half.dtype == torch.float16 and half.item() == pytest.approx(ref.item(), rel=2e-2)


@needs_triton
def test_fully_masked_grid_gives_zero_loss_and_zero_gradient():
    yhat, y, mask, taus = _inputs((2, 3, 4, 3), 3)
    yhat.requires_grad_(True)
    loss = quantile_loss_triton(yhat, y, torch.zeros_like(mask), taus)
    loss.backward()
    assert loss.item() == 0 and yhat.grad.abs().max() == 0


def test_public_loss_trains_like_the_reference_in_the_forking_layout():
    yhat, y, mask, taus = _inputs((4, 8, 6, 3), 4)
    a = yhat.clone().requires_grad_(True)
    b = yhat.clone().requires_grad_(True)
    quantile_loss(a, y, mask, taus).backward()
    quantile_loss_reference(b, y, mask, taus).backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("impl", [quantile_loss, quantile_loss_reference, quantile_loss_triton])
@pytest.mark.parametrize("args, message", [
    ((torch.zeros(2, 3), torch.zeros(3), torch.ones(3), [0.5, 0.9, 0.1]), "shape"),
    ((torch.zeros(2, 3), torch.zeros(2), torch.ones(2), [0.5, 0.9]), "quantile levels for 3"),
    ((torch.zeros(2, 2), torch.zeros(2), torch.ones(2), [0.5, 1.0]), r"\(0, 1\)"),
    ((torch.zeros(2, 2, dtype=torch.int64), torch.zeros(2), torch.ones(2), [0.1, 0.9]), "floating"),
])
def test_bad_input_raises_value_error_naming_the_problem(impl, args, message):
    with pytest.raises(ValueError, match=message):
        impl(*args)


def test_dispatcher_picks_reference_on_cpu_without_interpreter():
    code = textwrap.dedent("""
        import torch
        from kernels import dispatch
        from kernels.quantile_loss import quantile_loss, quantile_loss_reference
        yhat, y, m = torch.randn(2, 3, 4, 3), torch.randn(2, 3, 4), torch.ones(2, 3, 4)
        print("same", torch.equal(quantile_loss(yhat, y, m, [0.1, 0.5, 0.9]), quantile_loss_reference(yhat, y, m, [0.1, 0.5, 0.9])))
        print(dispatch.explain("quantile_loss"))
    """)
    out = run_without_interpreter(code)
    assert out.returncode == 0, out.stderr
    assert "same True" in out.stdout and "quantile_loss: torch reference (no CUDA device" in out.stdout


def test_kernels_compile_for_hopper():
    """Compile (no GPU needed) both kernels for sm_90 with the dtypes training uses."""
    code = textwrap.dedent("""
        import sys
        import triton
        try:
            from triton.backends.compiler import GPUTarget
            from triton.compiler import ASTSource
        except ImportError as exc:
            print("SKIP", exc); sys.exit(0)
        from kernels import quantile_loss as K
        for ptr, q in (("*fp32", 3), ("*bf16", 9)):
            common = dict(yhat_ptr=ptr, y_ptr=ptr, mask_ptr="*i1", tau_ptr="*fp32")
            tail = dict(Q="constexpr", BLOCK_Q="constexpr", BLOCK="constexpr")
            consts = dict(Q=q, BLOCK_Q=triton.next_power_of_2(q), BLOCK=K.BLOCK_ROWS)
            for kernel, sig in ((K._quantile_loss_fwd_kernel, {**common, "partial_ptr": "*fp32", "n_rows": "i32",
                                                                "n_programs": "i32", **tail}),
                                (K._quantile_loss_bwd_kernel, {**common, "grad_ptr": ptr, "gout_ptr": ptr,
                                                                "inv_ptr": "*fp32", "n_rows": "i32", **tail})):
                triton.compile(ASTSource(kernel, sig, consts), target=GPUTarget("cuda", 90, 32))
                print("compiled", kernel.__name__, ptr, q)
            sig = dict(partial_ptr="*fp32", loss_ptr=ptr, inv_ptr="*fp32", n_programs="i32", Q="constexpr",
                       BLOCK="constexpr")
            triton.compile(ASTSource(K._quantile_loss_finish_kernel, sig, dict(Q=q, BLOCK=K.BLOCK_PARTIALS)),
                           target=GPUTarget("cuda", 90, 32))
            print("compiled finish", ptr, q)
    """)
    out = run_without_interpreter(code)
    assert out.returncode == 0, out.stderr[-3000:]
    if out.stdout.startswith("SKIP"):
        pytest.skip(out.stdout)
    assert out.stdout.count("compiled") == 6, out.stdout


@needs_triton
def test_wrapper_never_syncs_with_the_host(monkeypatch):
    """On CPU: forward + backward call no .item(), float(), int(), bool() or .tolist() on a tensor
    from inside kernels/quantile_loss.py (each of those is a host sync on a GPU), and copy the
    levels to the device once, not per step."""
    import kernels.quantile_loss as K

    calls = []

    def spy(name, original):
        def wrapped(self, *a, **kw):
            if sys._getframe(1).f_code.co_filename == K.__file__:
                calls.append(name)
            return original(self, *a, **kw)
        return wrapped

    for name in ("item", "tolist", "__float__", "__int__", "__bool__", "__index__", "cpu", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, spy(name, getattr(torch.Tensor, name)))
    yhat, y, mask, taus = _inputs((3, 5, 7, 4), 9)
    K._LEVELS.clear()
    for _ in range(2):
        yhat.requires_grad_(True)
        yhat.grad = None
        quantile_loss_triton(yhat, y, mask, taus).backward()
    assert calls == []
    assert len(K._LEVELS) == 1  # one copy of the levels for two steps
    exp_loss, exp_grad = _numpy_loss_and_grad(yhat.detach(), y, mask, taus)
    np.testing.assert_allclose(yhat.grad.double().numpy(), exp_grad, rtol=1e-5, atol=1e-8)


@needs_triton
def test_upstream_gradient_is_read_on_the_device():
    yhat, y, mask, taus = _inputs((2, 4, 5, 3), 10)
    yhat.requires_grad_(True)
    (3.5 * quantile_loss_triton(yhat, y, mask, taus)).backward()
    _, exp_grad = _numpy_loss_and_grad(yhat.detach(), y, mask, taus)
    np.testing.assert_allclose(yhat.grad.double().numpy(), 3.5 * exp_grad, rtol=1e-5, atol=1e-8)


@needs_triton
def test_levels_as_a_tensor_are_checked():
    yhat, y, mask, taus = _inputs((2, 3, 3), 11)
    got = quantile_loss_triton(yhat, y, mask, torch.tensor(taus))
    ref = quantile_loss_reference(yhat.double(), y.double(), mask, taus)
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        quantile_loss_triton(yhat, y, mask, torch.tensor([0.2, 0.5, 1.5]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (sync debug mode, CUDA graphs)")
def test_gpu_step_has_no_sync_and_replays_in_a_cuda_graph():
    yhat, y, mask, taus = _inputs((64, 16, 48, 9), 12)
    yhat, y, mask = yhat.cuda().requires_grad_(True), y.cuda(), mask.cuda()

    def step():
        yhat.grad = None
        loss = quantile_loss_triton(yhat, y, mask, taus)
        loss.backward()
        return loss

    step()  # the one-time copy of the levels happens here
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    exp_loss, exp_grad = _numpy_loss_and_grad(yhat.detach().cpu(), y.cpu(), mask.cpu(), taus)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        step()
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        loss = step()
    yhat.data.copy_(yhat.data * 0.5)
    graph.replay()
    exp_loss, exp_grad = _numpy_loss_and_grad(yhat.detach().cpu(), y.cpu(), mask.cpu(), taus)
    assert loss.item() == pytest.approx(exp_loss, rel=1e-5)
    np.testing.assert_allclose(yhat.grad.cpu().double().numpy(), exp_grad, rtol=1e-5, atol=1e-8)
