"""lab.forking_sequences: tier presets, improvements and claim verdicts on hand-made results."""
import numpy as np
import pytest

from lab.claims import Claims
from lab.forking_sequences import claims as criteria
from lab.forking_sequences import config
from lab.forking_sequences.summary import improvements, paper_table, per_arch


def test_resolve_applies_presets_and_overrides_and_rejects_unknowns():
    assert config.resolve("book").datasets == ("tourism_quarterly", "m3_monthly")
    assert len(config.resolve("full").datasets) == 16
    cfg = config.resolve("smoke", steps=7, datasets=["m1_yearly"])
    assert cfg.steps == 7 and cfg.datasets == ("m1_yearly",)
    with pytest.raises(TypeError, match="unknown configuration knob"):
        config.resolve("book", learning_rate=1.0)
    with pytest.raises(ValueError, match="m9_hourly"):
        config.resolve("book", datasets=["m9_hourly"])
    with pytest.raises(ValueError, match="unknown scale"):
        config.resolve("huge")


def _cell(sfpc_w, sfpc_f, sfpc_fe, crps_w=1.0, crps_f=1.0, crps_fe=1.0, ev_f=1.0, ev_fe=0.5):
    def metrics(sfpc, scrps, ev):
        return dict(sfpc=[sfpc], scrps=[scrps], ev=[ev], ev_min_rel=[0.0])
    return {"window": {"raw": metrics(sfpc_w, crps_w, 1.0), "ens": metrics(sfpc_w, crps_w, 1.0)},
            "forking": {"raw": metrics(sfpc_f, crps_f, ev_f), "ens": metrics(sfpc_fe, crps_fe, ev_fe)}}


def test_improvements_are_percent_reductions_against_window_sampling():
    grid = {"metrics": {"a": {"mlp": _cell(10, 8, 4, crps_w=2.0, crps_f=1.5)},
                        "b": {"mlp": _cell(10, 12, 6)}}}
    imp = improvements(grid)
    np.testing.assert_allclose(imp["stability"]["mlp"], [[20.0], [-20.0]])
    np.testing.assert_allclose(imp["accuracy"]["mlp"], [[25.0], [0.0]])
    np.testing.assert_allclose(imp["ensembling"]["mlp"], [[50.0], [50.0]])
    assert per_arch(imp, "stability") == {"mlp": 0.0}
    assert "28.8%" in paper_table(imp)


def test_stability_claim_follows_the_sign_of_every_cell():
    grid = {"metrics": {"a": {"mlp": _cell(10, 8, 4), "rnn": _cell(10, 11, 4)},
                        "b": {"mlp": _cell(10, 9, 4), "rnn": _cell(10, 12, 4)}}}
    claims = Claims("forking_sequences", "smoke")
    criteria.stability_per_arch(claims, improvements(grid))
    status = {c.id: c.status.value for c in claims.items}
    assert status == {"fork-stability-mlp": "reproduced", "fork-stability-rnn": "not reproduced"}


def test_ensemble_claim_needs_lower_sfpc_lower_ev_and_small_crps_cost():
    ok = {"metrics": {"a": {"mlp": _cell(10, 8, 4, crps_fe=1.01)}}}
    costly = {"metrics": {"a": {"mlp": _cell(10, 8, 4, crps_fe=1.10)}}}
    for grid, expected in ((ok, "reproduced"), (costly, "partly reproduced")):
        claims = Claims("forking_sequences", "smoke")
        criteria.ensemble_stability(claims, improvements(grid))
        assert claims.items[0].status.value == expected


def test_gradient_variance_claim_reads_the_training_f():
    gv = {"fcds": [1, 4, 8], "ratio": {"mlp": [1.0, 0.6, 0.4], "cnn": [1.0, 0.9, 1.2]}}
    claims = Claims("forking_sequences", "smoke")
    criteria.gradient_variance(claims, gv, 8)
    assert claims.items[0].status.value == "partly reproduced" and claims.items[0].per_seed == [0.4, 1.2]
