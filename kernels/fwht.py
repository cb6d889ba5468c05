"""Fast Walsh–Hadamard transform (FWHT) along the last dimension.

The SRHT sketch of ``book/inversion_bias.md`` (section on the subsampled randomized
Hadamard transform) mixes the rows of a matrix with ``H D`` before sampling them; ``H``
is the Walsh–Hadamard matrix in Sylvester ordering,

.. math::

    H_1 = [1], \\qquad H_{2n} = \\begin{bmatrix} H_n & H_n \\\\ H_n & -H_n \\end{bmatrix},

so ``fwht(x)`` equals ``x @ scipy.linalg.hadamard(n)`` (``H`` is symmetric) but costs
``O(n log n)``: ``log2(n)`` stages of the butterfly ``(a, b) -> (a + b, a - b)``.
``H_n / sqrt(n)`` is orthogonal and its own inverse.

The module follows the arc of Triton's tutorials: the kernel :func:`_fwht_kernel`, the
thin wrapper :func:`fwht_triton`, the torch reference :func:`fwht_reference`, the public
:func:`fwht` that goes through :mod:`kernels.dispatch`, and the benchmark :func:`bench_fwht`.
"""

from __future__ import annotations

import math
import statistics

import torch
import triton
import triton.language as tl

from kernels import dispatch

#: Longest row one Triton program transforms in registers; longer rows are split as
#: ``H_{n1 n2} = H_{n1} (x) H_{n2}`` into two passes (see :func:`fwht_triton`).
MAX_N_PER_PROGRAM = 2**13
#: Elements (rows x n) one program holds when rows are short.
ELEMENTS_PER_PROGRAM = 2**12


@triton.jit
def _fwht_kernel(
    x_ptr,  # *[n_rows, N] input, contiguous rows
    out_ptr,  # *[n_rows, N] output, same layout; its dtype is the stored dtype
    n_rows,  # number of rows; the last block of rows is masked
    row_stride,  # elements between consecutive rows (N for contiguous input)
    N: tl.constexpr,  # row length, a power of two <= MAX_N_PER_PROGRAM
    LOG_N: tl.constexpr,  # log2(N), the number of butterfly stages
    BLOCK_ROWS: tl.constexpr,  # rows per program, a power of two
    ACC_DTYPE: tl.constexpr,  # tl.float32, or tl.float64 for float64 input
):
    pid = tl.program_id(0)
    rows = pid * BLOCK_ROWS + tl.arange(0, BLOCK_ROWS)
    cols = tl.arange(0, N)
    offsets = rows[:, None] * row_stride + cols[None, :]
    mask = rows[:, None] < n_rows
    x = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(ACC_DTYPE)
    # Constant-geometry (Pease) form: each stage pairs neighbours (x[2i], x[2i+1]) and
    # writes the sums to the first half, the differences to the second half,
    #   y[i] = x[2i] + x[2i+1],  y[N/2 + i] = x[2i] - x[2i+1];
    # this stage S satisfies S^LOG_N = H_N, so every stage has the same shapes.
    for _ in tl.static_range(LOG_N):
        a, b = tl.split(tl.reshape(x, (BLOCK_ROWS, N // 2, 2)))
        x = tl.reshape(tl.permute(tl.join(a + b, a - b), (0, 2, 1)), (BLOCK_ROWS, N))
    tl.store(out_ptr + offsets, x.to(out_ptr.dtype.element_ty), mask=mask)


def _check_input(x: torch.Tensor, who: str) -> int:
    """Raise ValueError unless ``x`` is a floating tensor whose last dim is a power of two."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{who}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 0:
        raise ValueError(f"{who}: expected at least one dimension, got a 0-d tensor")
    if not x.dtype.is_floating_point:
        raise ValueError(f"{who}: expected a floating-point dtype, got {x.dtype}")
    n = x.shape[-1]
    if n < 1 or n & (n - 1):
        raise ValueError(f"{who}: the last dimension must be a power of two, got n={n}")
    return n


def _launch_config(n_rows: int, n: int) -> tuple[int, int]:
    """``(BLOCK_ROWS, num_warps)`` for ``n_rows`` rows of length ``n``: ~4096 elements
    per program, ~16 of them per thread."""
    block_rows = max(1, min(ELEMENTS_PER_PROGRAM // n, triton.next_power_of_2(n_rows)))
    return block_rows, max(1, min(16, block_rows * n // 512))


def _launch(x2d: torch.Tensor) -> torch.Tensor:
    """One launch of :func:`_fwht_kernel` on contiguous ``[rows, n]``, n <= MAX_N_PER_PROGRAM."""
    n_rows, n = x2d.shape
    out = torch.empty_like(x2d)
    block_rows, num_warps = _launch_config(n_rows, n)
    acc = tl.float64 if x2d.dtype == torch.float64 else tl.float32
    grid = (triton.cdiv(n_rows, block_rows),)
    _fwht_kernel[grid](x2d, out, n_rows, x2d.stride(0), N=n, LOG_N=n.bit_length() - 1,
                       BLOCK_ROWS=block_rows, ACC_DTYPE=acc, num_warps=num_warps)
    return out


def _fwht_rows(x2d: torch.Tensor) -> torch.Tensor:
    n_rows, n = x2d.shape
    if n <= MAX_N_PER_PROGRAM:
        return _launch(x2d)
    # H_{n1 n2} = H_{n1} (x) H_{n2}: view each row as X[n1, n2] (row-major), then
    # H x = vec(H_{n1} X H_{n2}): transform the rows of X, then its columns.
    n2 = MAX_N_PER_PROGRAM
    n1 = n // n2
    y = _fwht_rows(x2d.reshape(-1, n2)).reshape(n_rows, n1, n2)
    y = _fwht_rows(y.transpose(1, 2).reshape(-1, n1)).reshape(n_rows, n2, n1)
    return y.transpose(1, 2).reshape(n_rows, n)


def fwht_triton(x: torch.Tensor) -> torch.Tensor:
    """Unnormalised Walsh–Hadamard transform along the last dimension, with Triton.

    Computes ``y = x H_n`` row by row, ``H_n`` in Sylvester ordering
    (``H_{2n} = [[H_n, H_n], [H_n, -H_n]]``), by ``log2(n)`` butterflies
    ``(a, b) -> (a + b, a - b)`` in registers; rows longer than
    :data:`MAX_N_PER_PROGRAM` take two passes, ``H_{n1 n2} = H_{n1} (x) H_{n2}``.
    See ``book/inversion_bias.md``, SRHT section.

    Parameters
    ----------
    x : torch.Tensor, shape (..., n)
        Floating dtype (float16, bfloat16, float32, float64); ``n`` a power of two. On a
        CUDA GPU, or on the CPU under ``TRITON_INTERPRET=1``. Half precision is
        accumulated in float32, float64 in float64.

    Returns
    -------
    torch.Tensor, shape (..., n)
        ``x @ H_n``, same dtype and device as ``x``. Not differentiable (no autograd).

    Raises
    ------
    ValueError
        If the dtype is not floating or ``n`` is not a power of two.
    RuntimeError
        If Triton cannot run on ``x.device`` (the message says why).
    """
    n = _check_input(x, "fwht_triton")
    ok, reason = dispatch.triton_available(x.device)
    if not ok:
        raise RuntimeError(f"fwht_triton cannot run here: {reason}")
    if x.numel() == 0:
        return x.clone()
    x2d = x.reshape(-1, n).contiguous()
    return _fwht_rows(x2d).reshape(x.shape)


def fwht_reference(x: torch.Tensor) -> torch.Tensor:
    """Unnormalised Walsh–Hadamard transform along the last dimension, in torch.

    The in-place FWHT written with tensors: for ``h = 1, 2, 4, ..., n/2`` pair entry
    ``i`` with ``i + h`` inside each block of ``2h`` and apply the butterfly
    ``(a, b) -> (a + b, a - b)``. After ``log2(n)`` stages ``y = x H_n`` with Sylvester
    ``H_{2n} = [[H_n, H_n], [H_n, -H_n]]``. ``O(n log n)`` work per row, any device,
    any dtype's precision (float64 stays float64). See ``book/inversion_bias.md``, SRHT
    section.

    Parameters
    ----------
    x : torch.Tensor, shape (..., n)
        Floating dtype; ``n`` a power of two.

    Returns
    -------
    torch.Tensor, shape (..., n)
        ``x @ H_n``, a new tensor with the dtype and device of ``x``.
    """
    n = _check_input(x, "fwht_reference")
    y = x.reshape(-1, n)
    h = 1
    while h < n:
        y = y.reshape(-1, n // (2 * h), 2, h)
        a, b = y[:, :, 0, :], y[:, :, 1, :]
        # the butterfly (a, b) -> (a + b, a - b) with stride h
        y = torch.stack((a + b, a - b), dim=2)
        h *= 2
    return y.reshape(x.shape) if n > 1 else x.clone()


def fwht(x: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """Walsh–Hadamard transform along the last dimension: Triton on a GPU, torch elsewhere.

    .. math::

        y = x H_n \\quad\\text{or, with normalize,}\\quad y = x H_n / \\sqrt{n},

    ``H_n`` the Sylvester–Hadamard matrix (``H_{2n} = [[H_n, H_n], [H_n, -H_n]]``), so
    ``fwht(x) == x @ scipy.linalg.hadamard(n)``. The normalised transform is orthogonal
    and an involution: ``fwht(fwht(x, True), True) == x``. Used by the SRHT sketch in
    ``book/inversion_bias.md``. ``kernels.dispatch.explain("fwht")`` says which
    implementation ran and why.

    Parameters
    ----------
    x : torch.Tensor, shape (..., n)
        Floating dtype; ``n`` a power of two.
    normalize : bool
        Divide by ``sqrt(n)`` so that the transform is orthogonal.

    Returns
    -------
    torch.Tensor, shape (..., n)
        Same dtype and device as ``x``.
    """
    n = _check_input(x, "fwht")
    y = dispatch.pick(fwht_triton, fwht_reference, x, name="fwht")(x)
    if normalize:
        y = y * (1.0 / math.sqrt(n))
    return y


def bench_fwht(sizes=tuple(2**k for k in range(8, 17)), rows: int = 4096, repeats: int = 50,
               dtype: torch.dtype = torch.float32) -> list[dict]:
    """Time :func:`fwht_triton` against :func:`fwht_reference` on the current GPU.

    Each timing is the median of ``repeats`` runs measured with CUDA events, after a
    warm-up call and with the L2 cache flushed before every run. Bandwidth counts one
    read and one write of ``x``: ``2 * rows * n * itemsize / time`` (the reference really
    moves ``log2(n)`` times more, which is why it is slower).

    Parameters
    ----------
    sizes : iterable of int
        Row lengths ``n``, powers of two.
    rows : int
        Number of rows transformed at once.
    repeats : int
        Timed runs per size and implementation.
    dtype : torch.dtype
        Floating dtype of the input.

    Returns
    -------
    list of dict
        One per size with keys ``n, rows, triton_ms, reference_ms, triton_gbps,
        reference_gbps, speedup`` (reference time / Triton time) and ``max_abs_err``
        (Triton against the reference, a sanity check).

    Raises
    ------
    RuntimeError
        Without a CUDA GPU on which Triton runs.
    """
    if not torch.cuda.is_available():
        raise RuntimeError("bench_fwht needs a CUDA GPU; torch.cuda.is_available() is False")
    ok, reason = dispatch.triton_available(torch.device("cuda"))
    if not ok:
        raise RuntimeError(f"bench_fwht cannot run Triton here: {reason}")
    flush = torch.empty(256 * 2**20, dtype=torch.int8, device="cuda")

    def median_ms(fn, x):
        fn(x)
        times = []
        for _ in range(repeats):
            flush.zero_()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn(x)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        return statistics.median(times)

    results = []
    for n in sizes:
        x = torch.randn(rows, n, device="cuda", dtype=dtype)
        err = (fwht_triton(x).double() - fwht_reference(x).double()).abs().max().item()
        t_triton, t_ref = median_ms(fwht_triton, x), median_ms(fwht_reference, x)
        moved_gb = 2 * x.numel() * x.element_size() / 1e9
        results.append(dict(n=n, rows=rows, triton_ms=t_triton, reference_ms=t_ref,
                            triton_gbps=moved_gb / (t_triton / 1e3),
                            reference_gbps=moved_gb / (t_ref / 1e3),
                            speedup=t_ref / t_triton, max_abs_err=err))
    return results
