"""REBASE, beam search, DVTS and ETS over one problem (``book/ets.md``, "The search loop").

The root is the prompt; each depth expands the selected nodes by one step each, with children
drawn from the policy's pool for the node's context. A node is terminal after the last
instruction, or when its step is malformed (no value to continue from); each terminal node
uses up one unit of the width. At every depth the non-terminal candidates go through the
method's selection, which decides how many children each gets, and the KV the candidates
need (:func:`lab.ets.tree.kv_size`) is added to the search's total. The answer is the weighted
majority vote of the completed solutions, each weighted by the PRM score of its last step.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from lab.ets.allocation import rebase_allocation
from lab.ets.clusters import cluster
from lab.ets.env import PRM, Problem, State, advance, hash_seed, path_key, step_tokens
from lab.ets.ilp import build_program, solve
from lab.ets.tree import Node, Tree, kv_size

METHODS = ("rebase", "beam", "dvts", "ets")


@dataclass
class SearchSettings:
    """Everything but the problem and the policy that decides a search."""

    method: str
    width: int
    lambda_c: float = 1.0
    lambda_s: float = 1.5
    temperature: float = 0.2
    prompt_tokens: int = 100
    step_tokens: tuple = (20, 60)
    cost: str = "uniform"

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown search method {self.method!r}; choose from {METHODS}")
        if not isinstance(self.width, (int, np.integer)) or self.width < 1:
            raise ValueError(f"width must be an integer >= 1, got {self.width!r}")
        if self.lambda_c < 0 or self.lambda_s < 0:
            raise ValueError(f"lambda_c and lambda_s must be >= 0, got {self.lambda_c} and {self.lambda_s}")
        if not self.temperature > 0:
            raise ValueError(f"softmax temperature must be > 0, got {self.temperature}")
        lo, hi = self.step_tokens
        if not 0 <= lo <= hi:
            raise ValueError(f"step_tokens must be (lo, hi) with 0 <= lo <= hi, got {self.step_tokens}")


@dataclass
class SearchResult:
    answer: int | None
    correct: bool
    kv_total: int
    kv_by_depth: list = field(default_factory=list)
    generated_tokens: int = 0
    nodes: int = 0
    solves: list = field(default_factory=list)  # (candidates N, ancestors M, clusters K, seconds) per ETS step
    tree: Tree | None = None


def weighted_vote(leaves: list[Node]) -> int | None:
    """The answer with the largest total last-step score (ties: the smaller answer)."""
    totals: dict = defaultdict(float)
    for leaf in leaves:
        totals[leaf.state.value] += leaf.score
    if not totals:
        return None
    return min(totals, key=lambda a: (-totals[a], a))


def _beam(scores, remaining):
    """Keep ceil(sqrt(W)) best, each with ceil(W / keep) children (W: the remaining width, as in the reference code)."""
    keep = math.ceil(math.sqrt(remaining))
    order = np.argsort(-np.asarray(scores), kind="stable")
    counts = np.zeros(len(scores), dtype=int)
    counts[order[:keep]] = math.ceil(remaining / keep)
    return counts


def search(problem: Problem, policy, prm: PRM, settings: SearchSettings, rng: np.random.Generator,
           embedder=None, keep_tree: bool = False) -> SearchResult:
    """Run one search; see the module docstring. ``embedder`` is needed by ETS with lambda_s > 0."""
    s = settings
    if s.method == "ets" and s.lambda_s > 0 and embedder is None:
        raise ValueError("ETS with lambda_s > 0 needs an embedder for its semantic clusters")
    tree = Tree(problem.text(), s.prompt_tokens)
    tree.root.state = State(0, problem.start, True)
    keys = {tree.root.id: hash_seed("problem", problem.id, problem.start, problem.ops)}
    advanced: dict = {}  # (state, text) -> state
    remaining = s.width
    frontier = [(tree.root, s.width)]
    sub_of: dict = {}  # DVTS: node id -> subtree
    sub_left: list = []
    completed, kv_by_depth, solves = [], [], []
    generated = 0
    for depth in range(1, problem.depth + 1):
        cands = []
        for node, n in frontier:
            pool = policy.pool((node.state.value, *problem.ops[node.state.depth]))
            for k in rng.integers(len(pool), size=n):
                text = pool[int(k)]
                if (node.state, text) not in advanced:
                    advanced[node.state, text] = advance(problem, node.state, text)
                state = advanced[node.state, text]
                key = path_key(keys[node.id], text)
                tokens = step_tokens(key, *s.step_tokens)
                child = tree.add(node, text, tokens, prm.score(problem, state), state)
                keys[child.id] = key
                if node.id in sub_of:
                    sub_of[child.id] = sub_of[node.id]
                generated += tokens
                cands.append(child)
        live = []
        for c in cands:
            if depth == problem.depth or c.state.value is None:
                remaining -= 1
                if c.id in sub_of:
                    sub_left[sub_of[c.id]] -= 1
                if c.state.value is not None:
                    completed.append(c)
            else:
                live.append(c)
        if remaining <= 0 or not live:
            break
        kv_by_depth.append(kv_size(live))
        scores = np.array([c.score for c in live])
        if s.method == "rebase":
            counts = rebase_allocation(scores, remaining, s.temperature)
        elif s.method == "beam":
            counts = _beam(scores, remaining)
        elif s.method == "dvts":
            counts = np.zeros(len(live), dtype=int)
            if depth == 1:  # split the first candidates into ceil(sqrt(W)) subtrees, in order
                n_sub = math.ceil(math.sqrt(s.width))
                idx = [i % len(live) for i in range(max(n_sub, len(live)))]
                sub_left = [s.width // n_sub] * n_sub
                for g, part in enumerate(np.array_split(np.array(idx), n_sub)):
                    for i in part:
                        sub_of.setdefault(live[i].id, g)
                    best = max(part, key=lambda i: scores[i])
                    counts[best] = max(counts[best], sub_left[g])
            else:  # each subtree continues its best child
                best: dict = {}
                for i, c in enumerate(live):
                    if c.parent.id not in best or scores[i] > scores[best[c.parent.id]]:
                        best[c.parent.id] = i
                for i in best.values():
                    counts[i] = max(0, sub_left[sub_of[live[i].id]])
        else:  # ets
            alloc = rebase_allocation(scores, remaining, s.temperature)
            outcome = alloc / alloc.sum()
            texts = [c.text for c in live]
            labels = None
            if s.lambda_s > 0 and len(live) > 1 and len(set(texts)) > 1:
                labels = cluster(embedder(texts))
            program = build_program(live, outcome, lambda_c=s.lambda_c, lambda_s=s.lambda_s,
                                    clusters=labels, cost=s.cost)
            keep, _, seconds = solve(program)
            solves.append((program.N, program.M, program.K, seconds))
            counts = rebase_allocation(scores, remaining, s.temperature, keep=keep)
        for c, n in zip(live, counts):
            c.kept = bool(n > 0)
        frontier = [(c, int(n)) for c, n in zip(live, counts) if n > 0]
    answer = weighted_vote(completed)
    return SearchResult(answer, answer == problem.answer, int(sum(kv_by_depth)), kv_by_depth, generated,
                        len(tree.nodes), solves, tree if keep_tree else None)
