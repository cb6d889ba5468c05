"""lab.claims.rules: each rule decides the status its docstring promises, on hand-made numbers."""
import math

import pytest

from lab.claims import Claims, Status
from lab.claims import rules as R


def test_tolerance_all_or_nothing():
    assert R.tolerance([1e-13, -5e-13], tol=1e-12).status is Status.REPRODUCED
    v = R.tolerance([1e-13, 2e-12], tol=1e-12)
    assert v.status is Status.NOT_REPRODUCED and "1 of 2" in v.note
    assert R.tolerance([1.05], target=1.0, tol=0.1, relative=True).holds
    assert R.tolerance([math.nan], tol=1.0).status is Status.NOT_REPRODUCED


def test_bounds():
    assert R.bounds([0.1, 0.2], upper=0.2).holds
    assert not R.bounds([0.1, 0.2], upper=0.2, strict=True).holds
    with pytest.raises(ValueError):
        R.bounds([1.0])


def test_bounds_judge_a_magnitude_where_the_paper_gives_no_number():
    v = R.bounds([0.004, 0.012], upper=0.01, strict=True, kind="magnitude", what="TV")
    assert v.kind == "magnitude" and v.status is Status.NOT_REPRODUCED and "at 1 of 2" in v.note
    assert R.bounds(0.004, upper=0.01, kind="magnitude").holds
    with pytest.raises(ValueError, match="exact, structural or magnitude"):
        R.bounds(0.004, upper=0.01, kind="ordering")


def test_ordering_needs_three_seeds_and_two_standard_errors():
    assert R.ordering([1.0, 1.0], [2.0, 2.0]).status is Status.NOT_CHECKABLE
    # mean difference 1.1, se 0.058: established
    assert R.ordering([1.0, 1.1, 0.9], [2.0, 2.1, 2.2]).holds
    # right direction, but differences 0.5, -0.3, 0.4: mean 0.2, se 0.25 -> not established
    v = R.ordering([1.0, 1.0, 1.0], [1.5, 0.7, 1.4])
    assert v.status is Status.NOT_REPRODUCED and "not established" in v.note
    # the opposite ordering, established
    v = R.ordering([2.0, 2.1, 2.2], [1.0, 1.1, 0.9])
    assert v.status is Status.NOT_REPRODUCED and "opposite" in v.note
    # higher is better flips the sign
    assert R.ordering([2.0, 2.1, 2.2], [1.0, 1.1, 0.9], better="higher").holds
    # identical differences: se 0, a positive mean holds
    assert R.ordering([0.0] * 3, [1.0] * 3).holds


def test_fraction_never_partly_on_one_case_or_at_chance():
    assert R.fraction([True, True]).holds
    assert R.fraction([True, False]).status is Status.NOT_REPRODUCED  # one case held
    assert R.fraction([True, True, False, False]).status is Status.PARTLY
    assert R.fraction([True] * 6 + [False] * 4, chance=0.5).status is Status.NOT_REPRODUCED
    assert R.fraction([True] * 9 + [False], chance=0.5).status is Status.PARTLY
    assert R.binomial_tail(0, 5, 0.3) == pytest.approx(1.0)
    assert R.binomial_tail(10, 10, 0.5) == pytest.approx(2**-10)


def test_magnitude_and_the_peer_rule():
    assert R.magnitude([1.9, 2.1], 2.0, rel_tol=0.1).holds
    assert not R.magnitude([1.5], 2.0, rel_tol=0.1).holds
    assert R.magnitude([3.0], 2.0, factor=2).holds
    assert R.magnitude([3.0], 2.0, at_least=True).holds and not R.magnitude([1.0], 2.0, at_least=True).holds
    # a peer that meets the paper gives no slack
    assert not R.magnitude([1.5], 2.0, rel_tol=0.1, peer=R.Peer("p", 2.0)).holds
    # a peer that misses it too: judged against the peer, and the rule says so
    v = R.magnitude([1.5], 2.0, rel_tol=0.1, peer=R.Peer("p", 1.6))
    assert v.holds and "peer p" in v.rule
    with pytest.raises(ValueError):
        R.magnitude([1.0], 2.0)


def test_all_of_takes_the_weakest():
    v = R.all_of(R.tolerance([0.0], tol=1), R.fraction([True, True, False]))
    assert v.status is Status.PARTLY and "and" in v.rule


def test_judge_records_kind_and_rule_and_roundtrips():
    claims = Claims("ch", "smoke")
    c = claims.judge("x", "s", paper_value="1", paper_source="Eq. 1", criterion="c",
                     verdict=R.tolerance([0.5], target=0.5, tol=1e-9), ours=[0.5])
    assert c.kind == "exact" and "deviation" in c.rule
    back = Claims.from_list("ch", "smoke", claims.to_list()).items[0]
    assert back.kind == "exact" and back.rule == c.rule and back.status is Status.REPRODUCED
    with pytest.raises(TypeError):
        claims.judge("y", "s", paper_value="1", paper_source="", criterion="", verdict=True)
    assert "exact" in claims._repr_html_()
