"""lab.claims: statuses follow the criterion, spreads are computed, and claims round-trip."""
import json
import math

import pytest

from lab.claims import Claim, Claims, Status, claims_html, rules

OK = rules.tolerance(0.0, tol=1e-9)
FAIL = rules.tolerance(1.0, tol=1e-9)


def _claims():
    c = Claims("inversion_bias", tier="book")
    c.judge("a", "x is small", paper_value="0.1", paper_source="Table 1", criterion="x < 0.2",
            verdict=rules.bounds([0.1, 0.12, 0.14], upper=0.2), ours=[0.1, 0.12, 0.14])
    c.judge("b", "y beats z", paper_value="+0.07 vs +0.95", paper_source="Fig. 2", criterion="y < z",
            verdict=rules.fraction([True, True, False], what="bit-widths"), ours=0.5, note="holds at 4 bits, not at 2 bits")
    c.judge("c", "w", paper_value="1", paper_source="Eq. 3", criterion="w = 1",
            verdict=rules.tolerance([2.0, 2.0], target=1, tol=1e-9), ours=[2.0, 2.0])
    c.not_checkable("d", "MNIST ranking", paper_value="ARLev first", paper_source="Fig. 3",
                    criterion="ordering", reason="MNIST is not available offline")
    return c


def test_status_kind_and_rule_come_from_the_verdict():
    items = _claims().items
    assert [c.status for c in items] == [Status.REPRODUCED, Status.PARTLY, Status.NOT_REPRODUCED, Status.NOT_CHECKABLE]
    assert [c.kind for c in items] == ["structural", "fraction", "exact", "not checkable"]
    assert "holds in 2 of 3 bit-widths" in items[1].rule and "holds at 4 bits" in items[1].note


def test_only_the_rule_book_decides_a_status():
    # no claim can be recorded with a typed-in status: Claims has no check(..., holds=...) any more
    assert not hasattr(Claims, "check")
    with pytest.raises(TypeError, match="lab.claims.rules"):
        Claims("x", "book").judge("a", "s", paper_value="1", paper_source="T1", criterion="c", verdict=True)


def test_mean_and_sample_std_over_seeds():
    claim = _claims().items[0]
    assert claim.mean == pytest.approx(0.12)
    assert claim.spread == pytest.approx(math.sqrt(((0.02) ** 2 * 2) / 2))
    assert "± 0.02 (3 seeds)" in claim.ours()
    single = _claims().items[1]
    assert single.spread is None and "(1 seed)" in single.ours()


def test_claims_round_trip_through_json():
    claims = _claims()
    back = Claims.from_list("inversion_bias", "book", json.loads(json.dumps(claims.to_list())))
    assert [c.to_dict() for c in back.items] == claims.to_list()
    assert back.counts() == {"reproduced": 1, "partly reproduced": 1, "not reproduced": 1,
                             "not checkable at this tier": 1}


def test_bad_declarations_are_refused():
    c = Claims("x", "book")
    c.judge("a", "s", paper_value="1", paper_source="T1", criterion="c", verdict=OK)
    with pytest.raises(ValueError, match="declared twice"):
        c.judge("a", "s", paper_value="1", paper_source="T1", criterion="c", verdict=OK)
    with pytest.raises(ValueError, match="why"):
        c.not_checkable("e", "s", paper_value="1", paper_source="T1", criterion="c", reason="")


def test_html_table_escapes_and_shows_both_values():
    c = Claims("x", "book")
    c.judge("lt", "a < b & c", paper_value="<0.05>", paper_source="Thm 3.1", criterion="c",
            verdict=OK, ours=[0.01])
    html = claims_html(c.items)
    assert "a &lt; b &amp; c" in html and "&lt;0.05&gt;" in html and "Thm 3.1" in html
    assert "<script" not in html


def test_claim_from_dict_ignores_derived_fields():
    d = _claims().items[0].to_dict()
    assert "mean" in d and Claim.from_dict(d).per_seed == [0.1, 0.12, 0.14]


def test_findings_list_every_shortfall_with_its_note_and_reading():
    from lab.claims import Claims, findings_markdown

    claims = Claims("inversion_bias", "book")
    claims.judge("ok", "holds", paper_value="1", paper_source="Tab. 1", criterion="c", verdict=OK, ours=[1.0])
    claims.judge("short", "fails", paper_value="1", paper_source="Tab. 1", criterion="c", verdict=FAIL, ours=[2.0])
    claims.not_checkable("later", "needs a GPU", paper_value="1", paper_source="Fig. 2", criterion="c",
                         reason="needs CUDA")
    text = findings_markdown(claims, {"short": "too few steps"}.get)
    assert "1 of 3 claims reproduced, 0 partly, 1 not, and 1 could not be checked" in text
    assert "**short** (not reproduced: within tolerance at 0 of 1). *Our reading:* too few steps" in text
    assert "**later** (not checkable at this tier: needs CUDA)" in text and "**ok**" not in text


def test_values_over_something_other_than_seeds_say_so():
    from lab.claims import Claim, Claims

    claims = Claims("inversion_bias", "book")
    seeds = claims.judge("a", "s", paper_value="1", paper_source="T1", criterion="c", verdict=OK, ours=[1.0, 3.0])
    models = claims.judge("b", "s", paper_value="1", paper_source="T1", criterion="c", verdict=OK,
                          ours=[1.0, 3.0], over="models", ours_text="per model")
    single = claims.judge("c", "s", paper_value="1", paper_source="T1", criterion="c", verdict=OK,
                          ours=0.5, over="checks")
    assert seeds.ours() == "2 ± 1.4 (2 seeds)"
    assert models.ours() == "2 ± 1.4 over 2 models; per model"
    assert single.ours() == "0.5"
    legacy = {k: v for k, v in models.to_dict().items() if k != "over"}
    assert Claim.from_dict(legacy).ours().startswith("2 ± 1.4 over 2 values")
    assert Claim.from_dict(models.to_dict()).over == "models"
