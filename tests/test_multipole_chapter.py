"""The Multipole Attention chapter's configuration and claims at the smoke tier."""
import pytest

from lab.claims import Claims
from lab.claims.status import Status
from lab.multipole_attention import claims as criteria
from lab.multipole_attention import config, experiments
from lab.tiers import ParameterError


@pytest.mark.parametrize("knob,value,match", [
    ("budgets", [0, 64], "budgets"), ("budgets", [64, 99999], "budgets"), ("model_budgets", [4, 1000], "model_budgets"),
    ("n_seeds", 0, "n_seeds"), ("contexts", [], "contexts"), ("lookup_position", None, None),
])
def test_resolve_rejects_bad_values_by_name(knob, value, match):
    if match is None:
        assert config.resolve("smoke", **{knob: value}).lookup_position == 64
        return
    with pytest.raises(ParameterError, match=match):
        config.resolve("smoke", **{knob: value})


def test_resolve_accepts_the_parameters_cell_knobs():
    cfg = config.resolve("book", seed=1, n_seeds=None, contexts=None, budgets=None, model_budgets=None, n_text=None,
                         lookup_position=None)
    assert cfg.seed == 1 and cfg.contexts == (4096, 16384) and cfg.interval == 128 and cfg.sink == 10
    assert cfg.centroid_fraction == 0.0625 and min(cfg.budgets) == 64 and max(cfg.budgets) == 1024
    with pytest.raises(ValueError, match="scale"):
        config.resolve("huge")


def test_exact_and_structural_claims_reproduce_at_smoke():
    cfg = config.resolve("smoke")
    claims = Claims("multipole_attention", "smoke")
    ident = experiments.identities(cfg, cfg.seed)
    from lab.llm.llama2c import stories260k
    model, _ = stories260k()
    seqs = experiments.sample_text(model, cfg.n_text, cfg.text_len, cfg.seed)
    acc = experiments.model_accuracy(model, seqs, cfg)
    assert acc["counts_ok"] and acc["updates"] > 0
    sweeps = {n: experiments.budget_sweep(cfg, n, range(cfg.n_seeds)) for n in cfg.contexts}
    criteria.budget_covers_all(claims, ident, acc["cache_gap"])
    criteria.singleton_exact(claims, ident)
    criteria.lse_merge(claims, ident)
    criteria.budget_respected(claims, sweeps, {n: r["budgets"] for n, r in sweeps.items()})
    for c in claims.items:
        assert c.kind in ("exact", "structural")
        assert c.status is Status.REPRODUCED, (c.id, c.rule)


def test_ordering_claims_need_three_seeds():
    cfg = config.resolve("smoke", n_seeds=2)
    claims = Claims("multipole_attention", "smoke")
    criteria.replacement_helps(claims, experiments.budget_sweep(cfg, cfg.contexts[0], range(2)))
    assert claims.items[0].status is Status.NOT_CHECKABLE
