"""MEMDET: the log-determinant of a matrix on disk, by a block factorisation under a memory cap.

Chapter: ``book/logdet_scaling.md``. With the matrix split into ``n_b × n_b`` blocks and
``[[A, B], [Bᵀ, C]]`` the split after the first block row,

    log|det M| = log|det A| + log|det(C − Bᵀ A⁻¹ B)|,

so a right-looking block recursion factors the diagonal block (Cholesky for ``assume="spd"``,
Bunch–Kaufman LDLᵀ for ``assume="sym"``), adds its log-determinant, solves the panel below it and
updates the trailing lower triangle by ``A_ij ← A_ij − L_ik L_jkᵀ`` (``L_ik D_k⁻¹ L_jkᵀ`` for
LDLᵀ). Blocks stream between the read-only input (a ``numpy.memmap`` or a ``.npy`` path) and one
scratch file of lower-triangle tiles; at most three blocks are in RAM at once (the update is an
in-place BLAS ``dgemm``, the panel solve an in-place ``dtrsm``). Columns of the trailing update
are visited in alternating directions, so the last panel block of one column is reused as the
first of the next (the paper's "space-filling" order).

For ``spd`` the Cholesky pivots give the log-determinant of *every* leading block,
``ℓ_k = Σ_{i≤k} 2 log L_ii``; for ``sym`` the Bunch–Kaufman pivots permute rows inside a block, so
leading log-determinants are exact at block edges only.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.linalg
from scipy.linalg import blas, lapack


class NotPositiveDefiniteError(ValueError):
    """The Cholesky path met a leading minor that is not positive; names the block and the row."""

    def __init__(self, block: int, row: int, n: int):
        self.block, self.row = block, row
        super().__init__(
            f"matrix is not positive definite: the Cholesky pivot of row {row} (of {n}) is not positive, "
            f"in diagonal block {block}; use assume='sym' for a symmetric indefinite matrix")


class NotSymmetricError(ValueError):
    """The input differs from its transpose by more than the tolerance."""


def num_blocks_from_memory(n: int, max_mem: float, itemsize: int = 8) -> int:
    """The paper's block count for an ``n × n`` matrix under a memory cap of ``max_mem`` bytes.

    With ``r = n √(β / c)`` (β = ``itemsize``, c = ``max_mem``): ``n_b = 1`` if ``r ≤ 1`` (it
    fits), ``2`` if ``r ≤ 2/√3`` (three half-size blocks fit), else ``⌈2r⌉`` (four blocks of side
    ``b ≈ n/(2r)`` fit: ``4 b² β ≤ c``).
    """
    if n < 1:
        raise ValueError(f"matrix size must be ≥ 1, got {n}")
    if not max_mem > 0:
        raise ValueError(f"memory cap must be positive, got {max_mem}")
    r = n * math.sqrt(itemsize / max_mem)
    if r <= 1:
        return 1
    if r <= 2 / math.sqrt(3):
        return 2
    return math.ceil(2 * r)


def block_edges(n: int, num_blocks: int) -> np.ndarray:
    """Edges ``0 = e_0 < … < e_{n_b} = n`` of ``n_b`` blocks of side ``⌈n/n_b⌉`` or one less."""
    return np.array([(k * n) // num_blocks for k in range(num_blocks + 1)])


@dataclass
class MemdetResult:
    """What :func:`memdet` returns.

    ``logabsdet``/``sign`` of the whole matrix; ``edge_logdets[k]`` = log|det| of the leading
    ``edges[k] × edges[k]`` block (``edge_logdets[0] = 0``); for ``spd`` also ``log_pivots``
    (``2 log L_ii`` per row), whose cumulative sum gives every leading log-determinant.
    """

    logabsdet: float
    sign: float
    edges: np.ndarray
    edge_logdets: np.ndarray
    log_pivots: np.ndarray | None
    num_blocks: int
    block_size: int
    fmas: int
    blocks_read: int
    blocks_written: int
    scratch_bytes: int
    seconds: float
    extra: dict = field(default_factory=dict)

    def leading_logdets(self) -> np.ndarray:
        """``ℓ_k`` for ``k = 1..n`` (``spd`` only): log det of the leading ``k × k`` block."""
        if self.log_pivots is None:
            raise ValueError("leading log-determinants of every size need the Cholesky path (assume='spd')")
        return np.cumsum(self.log_pivots)


def _open(A):
    if isinstance(A, (str, os.PathLike)):
        A = np.load(A, mmap_mode="r")
    if not isinstance(A, np.ndarray):
        raise TypeError(f"memdet takes a numpy array, a numpy.memmap or a .npy path, got {type(A).__name__}")
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"memdet needs a square matrix, got shape {A.shape}")
    if A.shape[0] == 0:
        raise ValueError("memdet needs a non-empty matrix")
    if A.dtype != np.float64:
        raise ValueError(f"memdet works in float64; got {A.dtype} (convert it on disk first)")
    return A


def _check_symmetric(A, edges, rtol):
    """Blockwise ``|A_ij − A_jiᵀ| ≤ rtol · max|A_ij|``, two blocks in RAM at a time."""
    nb = len(edges) - 1
    scale, worst, where = 0.0, 0.0, None
    for i in range(nb):
        for j in range(i + 1):
            lo = np.array(A[edges[i]:edges[i + 1], edges[j]:edges[j + 1]])
            up = np.array(A[edges[j]:edges[j + 1], edges[i]:edges[i + 1]]).T
            scale = max(scale, float(np.abs(lo).max()))
            gap = np.abs(lo - up)
            g = float(gap.max())
            if g > worst:
                r, c = np.unravel_index(int(gap.argmax()), gap.shape)
                worst, where = g, (int(edges[i] + r), int(edges[j] + c))
    if not np.isfinite(scale):
        raise ValueError("matrix has NaN or infinite entries")
    if worst > rtol * scale:
        raise NotSymmetricError(
            f"matrix is not symmetric: |A[{where[0]}, {where[1]}] − A[{where[1]}, {where[0]}]| = {worst:.3g} "
            f"exceeds {rtol:g} × max|A| = {rtol * scale:.3g}")


class _Tiles:
    """The working lower triangle: tile (i, j) comes from the input until first written, then from scratch."""

    def __init__(self, A, edges, scratch_dir):
        self.A, self.edges = A, edges
        nb = len(edges) - 1
        self.b = int(np.diff(edges).max())
        self.dir = tempfile.mkdtemp(prefix="memdet-", dir=scratch_dir)
        ntiles = nb * (nb + 1) // 2 if nb > 1 else 0
        self.scratch = (np.memmap(Path(self.dir) / "tiles.dat", dtype=A.dtype, mode="w+",
                                  shape=(ntiles, self.b, self.b)) if ntiles else None)
        self.written = np.zeros(ntiles, dtype=bool)
        self.reads = self.writes = 0
        self.bytes = ntiles * self.b * self.b * A.itemsize

    def _t(self, i, j):
        return i * (i + 1) // 2 + j

    def load(self, i, j) -> np.ndarray:
        """A fresh C-contiguous copy of tile (i, j), i ≥ j: one block of RAM."""
        e = self.edges
        self.reads += 1
        t = self._t(i, j)
        if self.scratch is not None and self.written[t]:
            return np.array(self.scratch[t, :e[i + 1] - e[i], :e[j + 1] - e[j]])
        return np.array(self.A[e[i]:e[i + 1], e[j]:e[j + 1]])

    def store(self, i, j, block) -> None:
        t = self._t(i, j)
        self.scratch[t, :block.shape[0], :block.shape[1]] = block
        self.written[t] = True
        self.writes += 1

    def close(self):
        if self.scratch is not None:
            self.scratch._mmap.close()
            self.scratch = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _column_order(k, nb):
    """Trailing-update visits: (j, [i…]) for j > k, alternating the direction of i."""
    for step, j in enumerate(range(k + 1, nb)):
        rows = list(range(j, nb))
        yield j, rows if step % 2 == 0 else rows[::-1]


def _resolve_blocks(n, itemsize, num_blocks, max_mem):
    if num_blocks is None and max_mem is None:
        return 1
    if num_blocks is None:
        nb = num_blocks_from_memory(n, max_mem, itemsize)
        while nb < n and nb > 1 and 3 * math.ceil(n / nb) ** 2 * itemsize > max_mem:
            nb += 1
    else:
        nb = int(num_blocks)
        if nb < 1:
            raise ValueError(f"num_blocks must be ≥ 1, got {num_blocks}")
    if nb > n:
        raise ValueError(f"{nb} blocks for a {n} × {n} matrix: blocks would be empty "
                         f"(memory cap {max_mem!r} bytes is smaller than three blocks of one entry)"
                         if num_blocks is None else f"num_blocks = {nb} exceeds the matrix size {n}")
    if max_mem is not None:
        b = math.ceil(n / nb)
        need = (1 if nb == 1 else 3) * b * b * itemsize
        if need > max_mem:
            raise ValueError(f"memory cap of {max_mem:,.0f} bytes is smaller than "
                             f"{'the whole matrix' if nb == 1 else 'three blocks'} of side {b} "
                             f"({need:,} bytes); raise max_mem or the number of blocks")
    return nb


def memdet(A, *, assume: str = "spd", num_blocks: int | None = None, max_mem: float | None = None,
           scratch_dir=None, check_symmetric: bool = True, sym_rtol: float = 1e-10) -> MemdetResult:
    """log|det A| of a symmetric float64 matrix (array, memmap or ``.npy`` path), out of core.

    Parameters
    ----------
    assume : ``"spd"`` (block Cholesky; raises :class:`NotPositiveDefiniteError` naming the block
        and row) or ``"sym"`` (block LDLᵀ with Bunch–Kaufman pivots inside each diagonal block).
    num_blocks : ``n_b``; when ``None``, chosen from ``max_mem`` by :func:`num_blocks_from_memory`
        (one block when both are ``None``).
    max_mem : memory cap in bytes; an explicit ``num_blocks`` whose three blocks exceed it raises.
    scratch_dir : where the scratch file goes (a fresh sub-folder, removed on exit or error).
    check_symmetric : compare ``A`` with ``Aᵀ`` blockwise first (one extra pass over the input).
    """
    if assume not in ("spd", "sym"):
        raise ValueError(f"assume must be 'spd' or 'sym', got {assume!r}")
    A = _open(A)
    n = A.shape[0]
    nb = _resolve_blocks(n, A.itemsize, num_blocks, max_mem)
    edges = block_edges(n, nb)
    if check_symmetric:
        _check_symmetric(A, edges, sym_rtol)
    t0 = time.perf_counter()
    tiles = _Tiles(A, edges, scratch_dir)
    try:
        run = _spd if assume == "spd" else _sym
        logdet, sign, edge_ld, pivots, fmas = run(tiles, edges, n)
    finally:
        tiles.close()
    return MemdetResult(logdet, sign, edges, edge_ld, pivots, nb, int(np.diff(edges).max()), fmas,
                        tiles.reads, tiles.writes, tiles.bytes, time.perf_counter() - t0)


def _trailing_update(tiles, k, nb, panel_of):
    """``A_ij ← A_ij − P_i Q_jᵀ`` over the lower triangle, three blocks in RAM (``P_i``, ``Q_j``, ``A_ij``)."""
    fmas, cached = 0, (None, None)
    for j, rows in _column_order(k, nb):
        Qj = panel_of(j, right=True)
        for i in rows:
            Pi = cached[1] if cached[0] == i else tiles.load(i, k)
            cached = (i, Pi)
            Aij = tiles.load(i, j)
            # A_ij − P_i Q_jᵀ in place: in Fortran terms A_ijᵀ ← A_ijᵀ − Q_j P_iᵀ
            blas.dgemm(-1.0, Qj.T, Pi.T, beta=1.0, c=Aij.T, trans_a=1, trans_b=0, overwrite_c=1)
            fmas += Aij.shape[0] * Aij.shape[1] * Pi.shape[1]
            tiles.store(i, j, Aij)
            del Aij
        del Qj
    return fmas


def _spd(tiles, edges, n):
    nb = len(edges) - 1
    pivots = np.empty(n)
    edge_ld = np.zeros(nb + 1)
    fmas = 0
    for k in range(nb):
        D = tiles.load(k, k)
        # dpotrf on the Fortran view Dᵀ (= D): its lower triangle becomes L_kk (stored as Dᵀ's)
        Lf, info = lapack.dpotrf(D.T, lower=1, overwrite_a=1, clean=0)
        if info > 0:
            raise NotPositiveDefiniteError(k, int(edges[k] + info - 1), n)
        s = Lf.shape[0]
        fmas += s ** 3 // 6
        # ℓ grows by 2 log L_ii for every row of the block
        pivots[edges[k]:edges[k + 1]] = 2 * np.log(np.diag(Lf))
        edge_ld[k + 1] = edge_ld[k] + pivots[edges[k]:edges[k + 1]].sum()
        for i in range(k + 1, nb):
            P = tiles.load(i, k)
            # L_ik = A_ik L_kkᵀ⁻¹, i.e. L_ikᵀ = L_kk⁻¹ A_ikᵀ, solved in place on the Fortran view
            blas.dtrsm(1.0, Lf, P.T, lower=1, overwrite_b=1)
            fmas += P.shape[0] * s * s // 2
            tiles.store(i, k, P)
            del P
        del D, Lf
        fmas += _trailing_update(tiles, k, nb, lambda j, right: tiles.load(j, k))
    return float(edge_ld[-1]), 1.0, edge_ld, pivots, fmas


def _ldl_logdet(d):
    """log|det| and sign of the block-diagonal (1×1 and 2×2 blocks) factor ``d`` of ``scipy.linalg.ldl``."""
    logdet, sign, i, s = 0.0, 1.0, 0, d.shape[0]
    while i < s:
        if i + 1 < s and d[i + 1, i] != 0:
            det = d[i, i] * d[i + 1, i + 1] - d[i + 1, i] * d[i, i + 1]
            i += 2
        else:
            det = d[i, i]
            i += 1
        if det == 0:
            return -math.inf, 0.0
        logdet += math.log(abs(det))
        sign *= math.copysign(1.0, det)
    return logdet, sign


def _sym(tiles, edges, n):
    nb = len(edges) - 1
    edge_ld = np.zeros(nb + 1)
    sign, fmas = 1.0, 0
    for k in range(nb):
        D = tiles.load(k, k)
        lu, d, perm = scipy.linalg.ldl(D, lower=True, overwrite_a=True, check_finite=False)
        ld, sg = _ldl_logdet(d)
        if sg == 0:
            raise ValueError(f"matrix is singular: a zero pivot in diagonal block {k} "
                             f"(rows {edges[k]}..{edges[k + 1] - 1})")
        edge_ld[k + 1], sign = edge_ld[k] + ld, sign * sg
        s = D.shape[0]
        fmas += s ** 3 // 6
        L = lu[perm]  # unit lower triangular after the Bunch–Kaufman row permutation
        del D, lu
        for i in range(k + 1, nb):
            W = tiles.load(i, k)
            # X_i = A_ik lu⁻ᵀ:  lu X_iᵀ = A_ikᵀ  ⇔  L X_iᵀ = (A_ikᵀ)[perm]
            X = scipy.linalg.solve_triangular(L, W.T[perm], lower=True, unit_diagonal=True,
                                              check_finite=False).T
            fmas += W.shape[0] * s * s // 2
            tiles.store(i, k, np.ascontiguousarray(X))
            del W, X
        del L
        dinv = np.linalg.inv(d)
        del d
        # A_ij ← A_ij − X_i d⁻¹ X_jᵀ: the right factor is V_j = X_j d⁻¹
        fmas += _trailing_update(tiles, k, nb, lambda j, right: np.ascontiguousarray(tiles.load(j, k) @ dinv))
    return float(edge_ld[-1]), sign, edge_ld, None, fmas
