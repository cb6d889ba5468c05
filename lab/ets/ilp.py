"""The ETS selection program and its brute-force check (``book/ets.md``, "The ETS program").

With binary ``x_i`` (keep candidate leaf ``i``), ``y_j`` (keep ancestor ``j``, root included; ``M``
of them) and ``c_k`` (cluster ``k`` of the newest steps is covered, ``K`` clusters),

.. math::

    \\max\\ \\sum_i O_i x_i - \\frac{\\lambda_c}{M+N}\\Big(\\sum_j y_j + \\sum_i x_i\\Big)
          + \\frac{\\lambda_s}{K}\\sum_k c_k

subject to ``y_j >= x_i`` for every leaf ``i`` below ``j``, ``y_j <= sum_{i below j} x_i``,
``sum_i x_i >= 1`` and ``c_k <= sum_{i in C_k} x_i``. ``O`` is the REBASE allocation normalised
to sum to one. Node cost is uniform (``1/(M+N)``) as in the reference code; ``cost="tokens"``
weights each node by its token count over the mean, a labelled extension. ``lambda_c = 0`` means
no node cost (the reference code substitutes a tiny *reward* ``+1e-4`` per node; we do not).
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from lab.ets.tree import Node, distinct_ancestors


@dataclass
class Program:
    """The data of one selection: outcome scores, ancestor sets, clusters, node costs."""

    O: np.ndarray  # (N,) outcome scores
    below: list[list[int]]  # for each ancestor j, the candidate indices below it
    clusters: np.ndarray | None  # (N,) cluster label of each candidate, or None (no coverage term)
    leaf_cost: np.ndarray  # (N,) cost weight of each candidate node
    anc_cost: np.ndarray  # (M,) cost weight of each ancestor
    lambda_c: float
    lambda_s: float
    anc_parent: list[int] | None = None  # index of each ancestor's parent (-1: the root)
    leaf_parent: list[int] | None = None  # index of each candidate's parent among the ancestors

    @property
    def N(self) -> int:
        return len(self.O)

    @property
    def M(self) -> int:
        return len(self.below)

    @property
    def K(self) -> int:
        return 0 if self.clusters is None else int(self.clusters.max()) + 1

    def objective(self, keep) -> float:
        """The objective at a keep-vector ``x`` with ``y`` and ``c`` at their optimal values."""
        x = np.asarray(keep, dtype=bool)
        y = np.array([x[b].any() for b in self.below], dtype=bool)
        value = float(self.O[x].sum())
        value -= self.lambda_c / (self.M + self.N) * float(self.anc_cost[y].sum() + self.leaf_cost[x].sum())
        if self.clusters is not None and self.lambda_s > 0:
            covered = len(set(self.clusters[x].tolist()))
            value += self.lambda_s / self.K * covered
        return value


def build_program(leaves: list[Node], outcome, *, lambda_c: float, lambda_s: float, clusters=None,
                  cost: str = "uniform") -> Program:
    """Assemble :class:`Program` for candidate ``leaves`` (see the module docstring)."""
    if lambda_c < 0 or lambda_s < 0:
        raise ValueError(f"lambda_c and lambda_s must be >= 0, got {lambda_c} and {lambda_s}")
    if cost not in ("uniform", "tokens"):
        raise ValueError(f"cost must be 'uniform' or 'tokens', got {cost!r}")
    O = np.asarray(outcome, dtype=float)
    if len(O) != len(leaves) or len(leaves) == 0:
        raise ValueError(f"{len(O)} outcome scores for {len(leaves)} candidates")
    index = {leaf.id: i for i, leaf in enumerate(leaves)}
    ancestors = distinct_ancestors(leaves)
    pos = {a.id: j for j, a in enumerate(ancestors)}
    below = [[] for _ in ancestors]
    for leaf in leaves:
        for a in leaf.ancestors():
            below[pos[a.id]].append(index[leaf.id])
    if cost == "uniform":
        leaf_cost, anc_cost = np.ones(len(leaves)), np.ones(len(ancestors))
    else:
        toks = np.array([n.tokens for n in (*ancestors, *leaves)], dtype=float)
        mean = toks.mean() if toks.mean() > 0 else 1.0
        anc_cost, leaf_cost = toks[:len(ancestors)] / mean, toks[len(ancestors):] / mean
    labels = None
    if clusters is not None:
        labels = np.unique(np.asarray(clusters), return_inverse=True)[1].astype(int)
        if len(labels) != len(leaves):
            raise ValueError(f"{len(labels)} cluster labels for {len(leaves)} candidates")
    anc_parent = [pos[a.parent.id] if a.parent is not None else -1 for a in ancestors]
    leaf_parent = [pos[leaf.parent.id] if leaf.parent is not None else -1 for leaf in leaves]
    if -1 in leaf_parent:
        raise ValueError("a candidate is the root itself; candidates are steps below the prompt")
    return Program(O, below, labels, leaf_cost, anc_cost, float(lambda_c), float(lambda_s),
                   anc_parent, leaf_parent)


def solve_milp(p: Program, relax_first: bool = False) -> tuple[np.ndarray, float, float]:
    """Solve with SciPy's ``milp`` (HiGHS). Returns (keep mask, objective, seconds).

    With ``relax_first`` the LP relaxation is solved first: when its ``x`` is integral, ``y`` and
    ``c`` at their best are too (``y_j = max x_i``, ``c_k = min(1, sum x_i)``), so the relaxed
    optimum is attained by an integral point and is the program's optimum; otherwise the MILP
    runs. On the chapter's trees the relaxation is integral about 19 times in 20.
    """
    t0 = time.perf_counter()
    N, M = p.N, p.M
    use_cov = p.clusters is not None and p.lambda_s > 0
    K = p.K if use_cov else 0
    nv = N + M + K
    c = np.zeros(nv)  # milp minimises: negate the objective
    c[:N] = -p.O + p.lambda_c / (M + N) * p.leaf_cost
    c[N:N + M] = p.lambda_c / (M + N) * p.anc_cost
    if use_cov:
        c[N + M:] = -p.lambda_s / K
    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0

    def add(entries, lower, upper):
        nonlocal r
        for col, val in entries:
            rows.append(r), cols.append(col), vals.append(val)
        lo.append(lower), hi.append(upper)
        r += 1

    for j, b in enumerate(p.below):
        add([(N + j, 1.0)] + [(i, -1.0) for i in b], -np.inf, 0.0)  # y_j <= sum x_i
        for i in b:
            add([(N + j, 1.0), (i, -1.0)], 0.0, np.inf)  # y_j >= x_i
    add([(i, 1.0) for i in range(N)], 1.0, np.inf)  # keep at least one
    if use_cov:
        for k in range(K):
            members = np.flatnonzero(p.clusters == k)
            add([(N + M + k, 1.0)] + [(i, -1.0) for i in members], -np.inf, 0.0)  # c_k <= sum x_i
    A = coo_matrix((vals, (rows, cols)), shape=(r, nv)).tocsr()
    constraints = LinearConstraint(A, lo, hi)
    if relax_first:
        res = milp(c, constraints=constraints, integrality=np.zeros(nv), bounds=Bounds(0, 1))
        if res.success:
            keep = res.x[:N] > 0.5
            value = p.objective(keep)
            if np.all(np.abs(res.x[:N] - keep) < 1e-9) and abs(value + res.fun) < 1e-9:
                return keep, value, time.perf_counter() - t0
    res = milp(c, constraints=constraints, integrality=np.ones(nv), bounds=Bounds(0, 1))
    if not res.success:
        raise RuntimeError(f"the ETS program did not solve: {res.message}")
    keep = res.x[:N] > 0.5
    return keep, p.objective(keep), time.perf_counter() - t0


def brute_force(p: Program, max_n: int = 16) -> tuple[np.ndarray, float]:
    """Enumerate every non-empty keep set; returns the best (first in enumeration order) and its value."""
    if p.N > max_n:
        raise ValueError(f"brute force over {p.N} candidates is 2^{p.N} sets; at most {max_n}")
    best, best_val = None, -np.inf
    for bits in itertools.product((False, True), repeat=p.N):
        if not any(bits):
            continue
        v = p.objective(bits)
        if v > best_val + 1e-12:
            best, best_val = np.array(bits), v
    return best, best_val


def solve_tree_dp(p: Program) -> tuple[np.ndarray, float, float]:
    """Exact optimum without the coverage term, by dynamic programming over the tree.

    Without ``c_k`` the program is a prize-collecting subtree: a kept leaf earns
    ``O_i - a·cost_i`` and every ancestor on a kept path costs ``a·cost_j`` once
    (``a = lambda_c/(M+N)``). With ``h(v)`` the best value of ``v``'s subtree when at least one
    leaf below ``v`` is kept, ``h(leaf) = O_i - a·cost_i`` and
    ``h(v) = -a·cost_v + sum_c max(0, h(c))`` if some child has ``h(c) > 0``, else
    ``-a·cost_v + max_c h(c)``; the optimum is ``h(root)`` (``sum x >= 1`` forces the root).
    Returns (keep mask, objective, seconds), like :func:`solve_milp`.
    """
    t0 = time.perf_counter()
    a = p.lambda_c / (p.M + p.N)
    if p.anc_parent is None or p.leaf_parent is None:
        raise ValueError("the tree DP needs the program's parent links (build it with build_program)")
    children: dict = {j: [] for j in range(p.M)}
    roots = [j for j in range(p.M) if p.anc_parent[j] < 0]
    for j in range(p.M):
        if p.anc_parent[j] >= 0:
            children[p.anc_parent[j]].append(("a", j))
    for i in range(p.N):
        children[p.leaf_parent[i]].append(("x", i))
    if len(roots) != 1:
        raise ValueError(f"the candidates must share one root, found {len(roots)}")
    h: dict = {}
    post, stack = [], [roots[0]]
    while stack:  # reversed pre-order of the ancestors: every child before its parent
        j = stack.pop()
        post.append(j)
        stack.extend(i for kind, i in children[j] if kind == "a")
    for j in reversed(post):
        for kind, i in children[j]:
            if kind == "x":
                h[("x", i)] = p.O[i] - a * p.leaf_cost[i]
        vals = [h[c] for c in children[j]]
        pos = sum(v for v in vals if v > 0)
        h[("a", j)] = -a * p.anc_cost[j] + (pos if pos > 0 else max(vals))
    keep = np.zeros(p.N, dtype=bool)
    stack = [("a", roots[0])]
    while stack:  # walk down: take every positive child, or the best one when none is positive
        kind, j = stack.pop()
        if kind == "x":
            keep[j] = True
            continue
        kids = children[j]
        take = [c for c in kids if h[c] > 0] or [max(kids, key=lambda c: h[c])]
        stack.extend(take)
    return keep, p.objective(keep), time.perf_counter() - t0


def solve(p: Program) -> tuple[np.ndarray, float, float]:
    """The tree DP when the coverage term is off, the MILP (relaxation first) otherwise."""
    if p.clusters is None or p.lambda_s == 0:
        return solve_tree_dp(p)
    return solve_milp(p, relax_first=True)
