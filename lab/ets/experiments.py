"""The ETS chapter's experiments (``book/ets.md``); each returns plain dicts of numpy arrays.

All searches of one (problem, seed, width) draw their children from the same generator seed,
so the methods differ only in their selection; the PRM and the problems are fixed by
``cfg.seed``, the search seeds are ``cfg.seed + k`` for ``k < n_seeds``.
"""
from __future__ import annotations

import time

import numpy as np

from lab.ets.clusters import EmbeddingModelError, MiniLMEmbedder, StructuralEmbedder, make_embedder
from lab.ets.env import PRM, make_problems, parse_step, apply_op
from lab.ets.policy import LMPolicy, LMSpec, StochasticPolicy
from lab.ets.search import SearchSettings, search
from lab.progress import progress


def make_policy(cfg):
    if cfg.policy == "lm":
        return LMPolicy(LMSpec(steps=cfg.lm_steps, pool_size=cfg.pool_size, seed=cfg.seed))
    return StochasticPolicy(cfg.policy_error, cfg.pool_size, cfg.seed)


def policy_quality(policy, contexts) -> dict:
    """Share of pooled steps that are correct and that are malformed, over ``contexts``."""
    ok = bad = total = 0
    for ctx in contexts:
        for text in policy.pool(ctx):
            parsed = parse_step(text)
            total += 1
            if parsed is None:
                bad += 1
            elif parsed[1:4] == ctx and parsed[4] == apply_op(*ctx):
                ok += 1
    return {"step_accuracy": ok / total, "malformed": bad / total, "samples": total}


def embedder_for(cfg, policy, contexts):
    """The configured embedder; MiniLM embeds every pooled step text once (cached on disk).

    When the MiniLM package is not installed, the structural embedding stands in and a message
    naming the install command says so (``emb.fallback`` holds it); any other failure to load
    MiniLM raises :class:`lab.ets.clusters.EmbeddingModelError`.
    """
    t0 = time.process_time()
    try:
        emb = make_embedder(cfg.embedding)
    except EmbeddingModelError as exc:
        if "package is missing" not in str(exc):
            raise
        emb = StructuralEmbedder()
        emb.fallback = f"MiniLM unavailable, structural clusters used instead: {exc}"
        print(emb.fallback)
    if isinstance(emb, MiniLMEmbedder):
        emb.prefetch({t for ctx in contexts for t in policy.pool(ctx)})
        emb.save()
    return emb, time.process_time() - t0


def methods(cfg, width_index: int) -> list[tuple[str, SearchSettings]]:
    """The methods at one width; ETS's lambda_s is the paper's for that width.

    "ETS λ=0" is the program's corner lambda_c = lambda_s = 0: it keeps exactly the candidates
    REBASE gives children to, then re-applies the allocation to them alone (the reference code's
    last step), which isolates what that re-allocation does.
    """
    w, ls = int(cfg.widths[width_index]), float(cfg.lambda_s[width_index])
    common = dict(width=w, temperature=cfg.temperature, prompt_tokens=cfg.prompt_tokens,
                  step_tokens=tuple(cfg.step_tokens))
    return [("REBASE", SearchSettings("rebase", **common)),
            ("beam", SearchSettings("beam", **common)),
            ("DVTS", SearchSettings("dvts", **common)),
            ("ETS λ=0", SearchSettings("ets", lambda_c=0.0, lambda_s=0.0, **common)),
            ("ETS λs=0", SearchSettings("ets", lambda_c=cfg.lambda_c, lambda_s=0.0, **common)),
            ("ETS", SearchSettings("ets", lambda_c=cfg.lambda_c, lambda_s=ls, **common))]


def problem_contexts(problems) -> set:
    """Every context a correct derivation of ``problems`` passes through."""
    return {(p.chain[d], *p.ops[d]) for p in problems for d in range(p.depth)}


def accuracy_vs_kv(cfg, policy, embedder, show_progress: bool = True) -> dict:
    """Every method at every width over ``problems`` x ``n_seeds``: correctness and KV per search."""
    problems = make_problems(cfg.problems, cfg.depth, cfg.seed)
    prm = PRM(cfg.prm_noise, cfg.prm_margin, seed=cfg.seed)
    out = {"widths": list(cfg.widths), "methods": {}, "answers": np.array([p.answer for p in problems])}
    jobs = [(wi, name, st) for wi in range(len(cfg.widths)) for name, st in methods(cfg, wi)]
    for wi, name, st in (progress(jobs, desc="searches") if show_progress else jobs):
        shape = (cfg.n_seeds, len(problems))
        rec = {"correct": np.zeros(shape, bool), "kv": np.zeros(shape), "generated": np.zeros(shape),
               "kv_by_depth": np.zeros((cfg.n_seeds, len(problems), cfg.depth)), "solves": [],
               "width": int(cfg.widths[wi]), "settings": dict(method=st.method, lambda_c=st.lambda_c, lambda_s=st.lambda_s)}
        for k in range(cfg.n_seeds):
            for j, p in enumerate(problems):
                rng = np.random.default_rng([cfg.seed + k, p.id, st.width])
                r = search(p, policy, prm, st, rng, embedder)
                rec["correct"][k, j], rec["kv"][k, j], rec["generated"][k, j] = r.correct, r.kv_total, r.generated_tokens
                rec["kv_by_depth"][k, j, :len(r.kv_by_depth)] = r.kv_by_depth
                rec["solves"].extend(r.solves)
        rec["solves"] = np.array(rec["solves"], dtype=float).reshape(-1, 4)
        out["methods"][(st.width, name)] = rec
    return out


def bootstrap_mean_ci(values: np.ndarray, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` (seeds x problems) and its percentile interval, resampling problems."""
    v = np.asarray(values, dtype=float)
    per_problem = v.mean(axis=0)
    rng = np.random.default_rng([seed, 0xB007])
    idx = rng.integers(0, len(per_problem), size=(n_boot, len(per_problem)))
    boots = per_problem[idx].mean(axis=1)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return float(per_problem.mean()), float(lo), float(hi)


def bootstrap_ratio_ci(num: np.ndarray, den: np.ndarray, n_boot: int, seed: int, level: float = 0.95):
    """sum(num)/sum(den) over seeds x problems and its percentile interval, resampling problems."""
    a, b = np.asarray(num, float).sum(axis=0), np.asarray(den, float).sum(axis=0)
    rng = np.random.default_rng([seed, 0xB008])
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))
    boots = a[idx].sum(axis=1) / b[idx].sum(axis=1)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return float(a.sum() / b.sum()), float(lo), float(hi)


def lambda_grid(cfg, policy, embedder) -> dict:
    """Accuracy and KV (relative to REBASE) of ETS over lambda_c x lambda_s at the first width,
    and ETS at the paper's lambdas with the structural embedding instead of ``embedder``."""
    problems = make_problems(cfg.heat_problems, cfg.depth, cfg.seed)
    prm = PRM(cfg.prm_noise, cfg.prm_margin, seed=cfg.seed)
    w = int(cfg.widths[0])
    common = dict(width=w, temperature=cfg.temperature, prompt_tokens=cfg.prompt_tokens, step_tokens=tuple(cfg.step_tokens))

    seeds = [cfg.seed + k for k in range(cfg.n_seeds)]

    def run(st, emb=embedder):
        res = [search(p, policy, prm, st, np.random.default_rng([s, p.id, w]), emb) for s in seeds for p in problems]
        return np.mean([r.correct for r in res]), np.sum([r.kv_total for r in res]), res

    base_acc, base_kv, _ = run(SearchSettings("rebase", **common))
    acc = np.zeros((len(cfg.heat_lambda_c), len(cfg.heat_lambda_s)))
    kv_ratio = np.zeros_like(acc)
    for i, lc in enumerate(cfg.heat_lambda_c):
        for j, ls in enumerate(cfg.heat_lambda_s):
            a, kv, _ = run(SearchSettings("ets", lambda_c=lc, lambda_s=ls, **common))
            acc[i, j], kv_ratio[i, j] = a, base_kv / kv
    structural = []
    for emb in (embedder, StructuralEmbedder()):
        a, kv, res = run(SearchSettings("ets", lambda_c=cfg.lambda_c, lambda_s=float(cfg.lambda_s[0]), **common), emb)
        structural.append((float(a), float(base_kv / kv),
                           float(np.mean([np.mean([s[2] for s in r.solves]) if r.solves else 0 for r in res]))))
    return {"lambda_c": np.array(cfg.heat_lambda_c), "lambda_s": np.array(cfg.heat_lambda_s), "accuracy": acc,
            "kv_reduction": kv_ratio, "rebase_accuracy": base_acc, "width": w, "problems": len(problems), "seeds": len(seeds),
            "embeddings": {"configured": structural[0], "structural": structural[1]}}


def drawn_trees(cfg, policy, embedder, problem_index: int = 0) -> dict:
    """One problem searched by REBASE and by ETS at the first width, trees kept for drawing."""
    p = make_problems(problem_index + 1, cfg.depth, cfg.seed)[problem_index]
    prm = PRM(cfg.prm_noise, cfg.prm_margin, seed=cfg.seed)
    out = {"problem": p}
    for name, st in methods(cfg, 0):
        if name in ("REBASE", "ETS"):
            out[name] = search(p, policy, prm, st, np.random.default_rng([cfg.seed, p.id, st.width]), embedder, keep_tree=True)
    return out


def solve_times(cfg, policy, embedder, problems: int = 4) -> dict:
    """ETS program size (N + M) and solve seconds at each of ``timing_widths``."""
    probs = make_problems(problems, cfg.depth, cfg.seed)
    prm = PRM(cfg.prm_noise, cfg.prm_margin, seed=cfg.seed)
    out = {}
    for w in cfg.timing_widths:
        st = SearchSettings("ets", int(w), lambda_c=cfg.lambda_c, lambda_s=float(cfg.lambda_s[0]),
                            temperature=cfg.temperature, prompt_tokens=cfg.prompt_tokens, step_tokens=tuple(cfg.step_tokens))
        rows = []
        for p in probs:
            rows.extend(search(p, policy, prm, st, np.random.default_rng([cfg.seed, p.id, int(w)]), embedder).solves)
        out[int(w)] = np.array(rows, dtype=float).reshape(-1, 4)
    return out
