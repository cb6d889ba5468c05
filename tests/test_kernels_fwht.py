"""Fast Walsh–Hadamard transform: torch reference, Triton kernel and dispatcher.

The dense Sylvester matrix ``scipy.linalg.hadamard(n)`` in float64 is the independent
reference. ``tests/conftest.py`` sets ``TRITON_INTERPRET=1``, so the Triton kernel runs in
the interpreter on CPU tensors; checks that need the variable unset run in a subprocess.
"""

import logging
import math
import os
import sys
import types

import numpy as np
import pytest
import scipy.linalg
import torch

import kernels.fwht as fwht_module
from kernels import dispatch
from kernels.fwht import bench_fwht, fwht, fwht_reference, fwht_triton
from compiled import run_without_interpreter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _triton_device():
    for device in ("cpu", "cuda"):
        if dispatch.triton_available(device)[0]:
            return device
    return None


TRITON_DEVICE = _triton_device()
needs_triton = pytest.mark.skipif(
    TRITON_DEVICE is None, reason="Triton runs neither interpreted (TRITON_INTERPRET=1) nor on a GPU")


def _rng(*key):
    return np.random.default_rng([20250101, *key])


def _dense(x: torch.Tensor) -> np.ndarray:
    """x @ H_n with the dense Sylvester matrix, in float64."""
    n = x.shape[-1]
    return x.detach().cpu().double().numpy() @ scipy.linalg.hadamard(n).astype(np.float64)


def _random(shape, dtype=torch.float64, seed=0, device="cpu"):
    return torch.from_numpy(_rng(seed, *shape).standard_normal(shape)).to(dtype=dtype, device=device)


# --- torch reference -----------------------------------------------------------------

@pytest.mark.parametrize("lead", [(3,), (2, 5), (7,)])
@pytest.mark.parametrize("log2n", range(13))
def test_reference_matches_dense_hadamard(log2n, lead):
    x = _random((*lead, 2**log2n), seed=log2n)
    y = fwht_reference(x)
    assert y.dtype == torch.float64 and y.shape == x.shape
    np.testing.assert_allclose(y.numpy(), _dense(x), rtol=1e-10, atol=1e-10)


def test_reference_does_not_modify_or_alias_its_input():
    for n in (1, 8):
        x = _random((4, n))
        before = x.clone()
        y = fwht_reference(x)
        y += 1.0
        torch.testing.assert_close(x, before, rtol=0, atol=0)


# --- Triton kernel (interpreted on CPU under TRITON_INTERPRET=1) ----------------------

def _assert_close_to_dense(y: torch.Tensor, x: torch.Tensor, eps: float):
    n = x.shape[-1]
    # rounding grows like eps * |Hx| * (number of stages), |Hx| ~ sqrt(n) |x|
    atol = eps * math.sqrt(n) * max(1, math.log2(n)) * float(x.abs().max())
    np.testing.assert_allclose(y.detach().cpu().double().numpy(), _dense(x), rtol=0, atol=atol)


@needs_triton
@pytest.mark.parametrize("rows", [1, 3, 37])
@pytest.mark.parametrize("log2n", [0, 1, 4, 5, 8, 10, 12])
def test_triton_kernel_matches_dense_hadamard_float32(log2n, rows):
    x = _random((rows, 2**log2n), torch.float32, seed=100 + log2n, device=TRITON_DEVICE)
    y = fwht_triton(x)
    assert y.dtype == torch.float32 and y.shape == x.shape and y.device == x.device
    _assert_close_to_dense(y, x, eps=1e-6)


@needs_triton
@pytest.mark.parametrize("dtype, eps", [(torch.float64, 1e-14), (torch.float16, 2e-3),
                                        (torch.bfloat16, 1e-2)])
def test_triton_kernel_matches_dense_hadamard_in_other_dtypes(dtype, eps):
    x = _random((2, 3, 256), dtype, seed=7, device=TRITON_DEVICE)
    y = fwht_triton(x)
    assert y.dtype == dtype and y.shape == x.shape
    _assert_close_to_dense(y, x, eps=eps)


@needs_triton
@pytest.mark.parametrize("n, dtype, passes", [(2**15, torch.float32, 1), (2**16, torch.float32, 2),
                                              (2**14, torch.float64, 1), (2**15, torch.float64, 2)])
def test_triton_one_pass_limits_and_two_pass_beyond(n, dtype, passes, monkeypatch):
    # (the dense n x n matrix would take gigabytes: compare with the float64 reference,
    # itself pinned to the dense matrix above)
    launches = []
    for name in ("_launch", "_launch_cols"):
        original = getattr(fwht_module, name)
        monkeypatch.setattr(fwht_module, name, lambda *a, _o=original, _n=name: launches.append(_n) or _o(*a))
    x = _random((2, n), dtype, seed=n, device=TRITON_DEVICE)
    expected = fwht_reference(x.double()).cpu().numpy()
    eps = 1e-6 if dtype == torch.float32 else 1e-14
    np.testing.assert_allclose(fwht_triton(x).cpu().double().numpy(), expected, rtol=0,
                               atol=eps * math.sqrt(n) * math.log2(n) * float(x.abs().max()))
    assert launches == (["_launch"] if passes == 1 else ["_launch", "_launch_cols"])


@needs_triton
@pytest.mark.parametrize("log2n, rows, dtype", [(5, 5, torch.float32), (8, 1, torch.float32), (7, 37, torch.float32),
                                                (10, 3, torch.float32), (6, 4, torch.float64), (9, 2, torch.bfloat16)])
def test_triton_two_pass_split_matches_dense_hadamard(log2n, rows, dtype, monkeypatch):
    # rows longer than one program's limit use H_{n1 n2} = H_{n1} (x) H_{n2}; with the limit at 16
    # (8 in float64): one column pass for n <= 256 (64 in float64), nested transposes beyond
    monkeypatch.setattr(fwht_module, "MAX_N_PER_PROGRAM", 16)
    x = _random((rows, 2**log2n), dtype, seed=log2n, device=TRITON_DEVICE)
    y = fwht_triton(x)
    assert y.dtype == dtype and y.shape == x.shape
    _assert_close_to_dense(y, x, eps={torch.float32: 1e-6, torch.float64: 1e-14, torch.bfloat16: 1e-2}[dtype])


def test_column_pass_tiles_are_wide_enough_to_coalesce():
    assert fwht_module._cols_config(2, 2**15)[0] == 4096
    assert fwht_module._cols_config(64, 2**15)[0] == 128
    assert fwht_module._cols_config(2, 16)[0] == 16  # never wider than the rows
    assert fwht_module.max_n_one_pass(torch.float32) == 2**15 and fwht_module.max_n_one_pass(torch.float64) == 2**14


@needs_triton
def test_triton_kernel_accepts_non_contiguous_input():
    x = _random((6, 64), torch.float32, seed=3, device=TRITON_DEVICE)[::2, ::2]
    assert not x.is_contiguous()
    _assert_close_to_dense(fwht_triton(x), x, eps=1e-6)


# --- properties of the public transform ------------------------------------------------

@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("n", [1, 2, 64, 1024])
def test_normalized_fwht_is_its_own_inverse(n, dtype, tol):
    x = _random((5, n), dtype, seed=n)
    torch.testing.assert_close(fwht(fwht(x, normalize=True), normalize=True), x, rtol=tol, atol=tol)


@pytest.mark.parametrize("impl", [fwht_reference, pytest.param(fwht_triton, marks=needs_triton)])
@pytest.mark.parametrize("n", [2, 128, 4096])
def test_parseval_energy_scales_by_n(n, impl):
    device = TRITON_DEVICE if impl is fwht_triton else "cpu"
    x = _random((4, n), torch.float64, seed=n, device=device)
    energy = (impl(x) ** 2).sum(-1)
    torch.testing.assert_close(energy, n * (x**2).sum(-1), rtol=1e-12, atol=0)


def test_normalized_fwht_preserves_norm():
    x = _random((3, 512), torch.float64, seed=9)
    torch.testing.assert_close(fwht(x, normalize=True).norm(dim=-1), x.norm(dim=-1), rtol=1e-12, atol=0)


@pytest.mark.parametrize("impl", [fwht, fwht_reference, fwht_triton])
@pytest.mark.parametrize("bad, message", [
    (torch.zeros(3, 12), "power of two"),
    (torch.zeros(3, 0), "power of two"),
    (torch.ones(3, 8, dtype=torch.int64), "floating-point"),
    (torch.tensor(1.0), "at least one dimension"),
])
def test_bad_input_raises_value_error_naming_the_problem(impl, bad, message):
    with pytest.raises(ValueError, match=message):
        impl(bad)


# --- dispatcher ------------------------------------------------------------------------

@needs_triton
def test_dispatcher_runs_triton_under_the_interpreter_on_cpu():
    if TRITON_DEVICE != "cpu":
        pytest.skip("TRITON_INTERPRET is not set")
    x = _random((3, 32), torch.float32, seed=1)
    _assert_close_to_dense(fwht(x), x, eps=1e-6)
    assert dispatch.explain("fwht").startswith("fwht: Triton kernel")
    assert "TRITON_INTERPRET=1" in dispatch.explain("fwht")


def test_dispatcher_picks_reference_on_cpu_without_interpreter_and_says_why():
    result = run_without_interpreter("""
        import logging, torch
        logging.basicConfig(level=logging.INFO, format="LOG %(name)s %(levelname)s %(message)s")
        from kernels import dispatch
        from kernels.fwht import fwht, fwht_reference
        x = torch.randn(3, 16, dtype=torch.float64)
        ok, reason = dispatch.triton_available(x.device)
        print("available", ok)
        y = fwht(x)
        fwht(x)
        print("same", torch.equal(y, fwht_reference(x)))
        print("explain", dispatch.explain("fwht"))
    """)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "available False" in out and "same True" in out
    assert "explain fwht: torch reference (no CUDA device: the tensor is on cpu" in out
    logged = [line for line in result.stderr.splitlines() if line.startswith("LOG kernels")]
    assert len(logged) == 1 and "no CUDA device" in logged[0], result.stderr


def _fake_gpu(monkeypatch, capability, name):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: name)
    return types.SimpleNamespace(device=torch.device("cuda", 0))


def test_dispatcher_falls_back_on_a_pre_volta_gpu_with_a_warning(monkeypatch, caplog):
    x = _fake_gpu(monkeypatch, (6, 1), "Tesla P100")
    ok, reason = dispatch.triton_available(x.device)
    assert not ok and "compute capability 6.1" in reason and "Tesla P100" in reason

    def triton_impl(_):
        raise AssertionError("must not run on a pre-Volta GPU")

    with caplog.at_level(logging.INFO, logger="kernels"):
        impl = dispatch.pick(triton_impl, lambda _: "reference", x, name="fake_op_pascal")
        assert impl(x) == "reference"
    assert "compute capability 6.1" in dispatch.explain("fake_op_pascal")
    assert [r.levelno for r in caplog.records if "fake_op_pascal" in r.getMessage()] == [logging.WARNING]


def test_dispatcher_falls_back_when_triton_fails_to_compile(monkeypatch, caplog):
    x = _fake_gpu(monkeypatch, (9, 0), "NVIDIA H100")
    assert dispatch.triton_available(x.device) == (True, "NVIDIA H100 (cuda:0) has compute capability 9.0")
    CompilationError = type("CompilationError", (Exception,), {"__module__": "triton.compiler.errors"})

    def failing_compile(_):
        raise CompilationError("unsupported instruction\nlong traceback")

    with caplog.at_level(logging.INFO, logger="kernels"):
        assert dispatch.pick(failing_compile, lambda _: "reference", x, name="fake_op_hopper")(x) == "reference"
    assert "Triton failed on cuda:0 (CompilationError: unsupported instruction)" in dispatch.explain("fake_op_hopper")
    assert any(r.levelno == logging.WARNING for r in caplog.records)

    def own_bug(_):
        raise ZeroDivisionError("a bug in our wrapper must not be hidden")

    with pytest.raises(ZeroDivisionError):
        dispatch.pick(own_bug, lambda _: "reference", x, name="fake_op_bug")(x)


def test_triton_reported_unavailable_when_it_cannot_be_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "triton", None)
    ok, reason = dispatch.triton_available("cpu")
    assert not ok and "triton is not importable" in reason


# --- compiled kernel and benchmark -----------------------------------------------------

def test_fwht_kernel_compiles_for_hopper_without_spilling():
    """Compile (no GPU needed) the configurations the wrapper launches, for sm_90."""
    result = run_without_interpreter("""
        import os, re, subprocess, sys, tempfile
        import triton, triton.language as tl
        try:
            from triton.backends.compiler import GPUTarget
            from triton.compiler import ASTSource
        except ImportError as exc:
            print("SKIP", exc); sys.exit(0)
        from kernels import fwht as F
        cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends/nvidia/bin/cuobjdump")
        import torch
        for ptr, acc, dt in (("*fp32", tl.float32, torch.float32), ("*fp64", tl.float64, torch.float64),
                             ("*bf16", tl.float32, torch.bfloat16)):
            n2 = F.max_n_one_pass(dt)
            for n1 in (2, 64):  # the column pass of 2 * n2 and 64 * n2
                bc, nw = F._cols_config(n1, n2)
                sig = dict(x_ptr=ptr, out_ptr=ptr, N2="i32", col_blocks="i32", N1="constexpr", LOG_N1="constexpr",
                           BLOCK_COLS="constexpr", ACC_DTYPE="constexpr")
                kernel = triton.compile(ASTSource(F._fwht_cols_kernel, sig, dict(N1=n1, LOG_N1=n1.bit_length() - 1,
                                        BLOCK_COLS=bc, ACC_DTYPE=acc)), target=GPUTarget("cuda", 90, 32),
                                        options=dict(num_warps=nw))
                with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
                    f.write(kernel.asm["cubin"]); f.flush()
                    usage = subprocess.run([cuobjdump, "-res-usage", f.name], capture_output=True, text=True).stdout
                print("compiled cols", ptr, n1, "LOCAL", re.search(r"LOCAL:(\\d+)", usage).group(1))
            for n, rows in ((1, 37), (16, 37), (1024, 3), (F.max_n_one_pass(dt), 1)):
                block_rows, num_warps = F._launch_config(rows, n)
                signature = dict(x_ptr=ptr, out_ptr=ptr, n_rows="i32", row_stride="i32", N="constexpr",
                                 LOG_N="constexpr", BLOCK_ROWS="constexpr", ACC_DTYPE="constexpr")
                constexprs = dict(N=n, LOG_N=n.bit_length() - 1, BLOCK_ROWS=block_rows, ACC_DTYPE=acc)
                kernel = triton.compile(ASTSource(F._fwht_kernel, signature, constexprs),
                                        target=GPUTarget("cuda", 90, 32), options=dict(num_warps=num_warps))
                with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
                    f.write(kernel.asm["cubin"]); f.flush()
                    usage = subprocess.run([cuobjdump, "-res-usage", f.name], capture_output=True, text=True).stdout
                print("compiled", ptr, n, "LOCAL", re.search(r"LOCAL:(\\d+)", usage).group(1))
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    if result.stdout.startswith("SKIP"):
        pytest.skip(f"this Triton has no ASTSource/GPUTarget: {result.stdout}")
    compiled = [line for line in result.stdout.splitlines() if line.startswith("compiled")]
    assert len(compiled) == 18, result.stdout
    assert all(line.endswith("LOCAL 0") for line in compiled), result.stdout


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_compiled_kernel_matches_reference_on_gpu():
    result = run_without_interpreter("""
        import torch
        from kernels import dispatch
        from kernels.fwht import fwht, fwht_reference
        for n in (1, 16, 1024, 2**13, 2**15):
            for dtype in (torch.float32, torch.float64):
                x = torch.randn(37, n, device="cuda", dtype=dtype)
                ref = fwht_reference(x.double())
                err = ((fwht(x).double() - ref).abs().max() / ref.abs().max()).item()
                assert err < (1e-5 if dtype == torch.float32 else 1e-13), (n, dtype, err)
        print(dispatch.explain("fwht"))
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fwht: Triton kernel" in result.stdout, result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without CUDA")
def test_bench_fwht_needs_a_gpu():
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        bench_fwht([16], rows=4)
