"""The rule book: how every claim in the book is decided.

A chapter never types a status. It measures numbers, hands them to one of the rules below, and
records the :class:`Verdict` that comes back with :meth:`lab.claims.Claims.judge`. Each verdict
carries its *kind* (what sort of claim it is), the *rule* that decided it, written out with the
numbers that decided it, and the status. The scorecard shows all three, so a reviewer can check
a verdict without reading the chapter's code.

Kinds and their rules:

``exact`` / ``structural``  (:func:`tolerance`, :func:`bounds`)
    A computed quantity within a tolerance of its target (an identity, a theorem's value), or
    inside stated bounds, at *every* seed or case. Reproduced or not, nothing between.

``ordering``  (:func:`ordering`)
    "A is better than B". With paired values ``d_k = B_k - A_k`` (sign chosen so that positive
    means A is better) over k seeds or cases, the ordering holds only when
    ``mean(d) > z · se(d)`` with ``se = sd(d)/sqrt(k)`` computed from the values (z = 2), and
    k ≥ 3. With fewer than 3 the claim is *not checkable at this tier*; an ordering in the
    paper's direction but within 2 standard errors is *not reproduced* (not established); one
    established in the opposite direction is *not reproduced* and says so.

``fraction``  (:func:`fraction`)
    A criterion checked on n cases: reproduced when all hold; partly when at least half and at
    least two hold and, where the cases have a chance level (a random ordering gets half of
    pairwise orderings right), the count is significantly above chance (one-sided binomial
    p < 0.05); otherwise not reproduced. Never "partly" on a single case.

``magnitude``  (:func:`magnitude`, or :func:`bounds` where the paper gives no number)
    Our value beside the paper's, with the ratio. Reproduced when the dossier's criterion holds
    (a relative tolerance, or a factor). A looser bound is allowed only through a named *peer*
    (the authors' own package, say) measured in the same run: when the peer misses the paper's
    number under the same criterion, we are judged against the peer's value instead, and the
    rule says so.

``not checkable``  (:func:`not_checkable`)
    With the reason: data not offline, needs a GPU, too few seeds at this tier.

Every function here is pure: numbers in, :class:`Verdict` out. See ``book/scorecard.md``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from lab.claims.status import Status

MIN_SEEDS = 3  #: an ordering needs at least this many paired values
Z = 2.0  #: ... and a mean difference above this many standard errors
ALPHA = 0.05  #: a fraction is "partly" only when significantly above chance at this level

KINDS = ("exact", "structural", "ordering", "fraction", "magnitude", "not checkable")


@dataclass(frozen=True)
class Verdict:
    """What a rule decided: the status, the claim's kind, the rule with its numbers, a note."""

    status: Status
    kind: str
    rule: str
    note: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown claim kind {self.kind!r}; the rule book knows {KINDS}")

    @property
    def holds(self) -> bool:
        return self.status is Status.REPRODUCED


def _values(x) -> list[float]:
    if x is None:
        return []
    if hasattr(x, "tolist"):
        x = x.tolist()
    if isinstance(x, (int, float)):
        return [float(x)]
    out = []
    for v in x:
        out.extend(_values(v) if isinstance(v, (list, tuple)) or hasattr(v, "tolist") else [float(v)])
    return out


def _g(x: float) -> str:
    return f"{x:.3g}"


def _nan_verdict(kind: str, what: str) -> Verdict:
    return Verdict(Status.NOT_REPRODUCED, kind, f"{what}: the measured value is not a number (NaN or inf)",
                   note="a measured value is NaN or infinite")


# ---------------------------------------------------------------------------------------------
# exact / structural


def tolerance(values, *, target: float = 0.0, tol: float, relative: bool = False,
              kind: str = "exact", what: str = "value") -> Verdict:
    """Every value within ``tol`` of ``target`` (relative to ``|target|`` when ``relative``).

    ``|v - target| <= tol`` (absolute) or ``|v - target| <= tol·|target|`` (relative).
    """
    if kind not in ("exact", "structural"):
        raise ValueError("tolerance() decides exact or structural claims")
    vals = _values(values)
    if not vals:
        raise ValueError("tolerance() needs at least one measured value")
    if not all(math.isfinite(v) for v in vals):
        return _nan_verdict(kind, what)
    scale = abs(target) if relative else 1.0
    dev = [abs(v - target) / (scale if scale else 1.0) for v in vals]
    worst = max(dev)
    ok = sum(d <= tol for d in dev)
    how = "relative" if relative else "absolute"
    rule = (f"{how} deviation of the {what} from {_g(target)} ≤ {tol:.2g} at every one of {len(vals)}: "
            f"largest {worst:.2g}")
    if ok == len(vals):
        return Verdict(Status.REPRODUCED, kind, rule)
    return Verdict(Status.NOT_REPRODUCED, kind, rule, note=f"within tolerance at {ok} of {len(vals)}")


def bounds(values, *, lower: float | None = None, upper: float | None = None,
           kind: str = "structural", what: str = "value", strict: bool = False) -> Verdict:
    """Every value inside ``[lower, upper]`` (open ends where ``None``; ``strict`` excludes them).

    ``kind="magnitude"`` judges a measured size against the dossier's bound where the paper
    gives no number to take a ratio with (a TV "below 1%" for a figure shown only visually).
    """
    if kind not in ("exact", "structural", "magnitude"):
        raise ValueError("bounds() decides exact, structural or magnitude claims")
    if lower is None and upper is None:
        raise ValueError("bounds() needs a lower or an upper bound")
    vals = _values(values)
    if not vals:
        raise ValueError("bounds() needs at least one measured value")
    if not all(math.isfinite(v) for v in vals):
        return _nan_verdict(kind, what)

    def inside(v):
        lo = lower is None or (v > lower if strict else v >= lower)
        hi = upper is None or (v < upper if strict else v <= upper)
        return lo and hi

    ok = sum(inside(v) for v in vals)
    lt, le = ("<", ">") if strict else ("≤", "≥")
    parts = []
    if lower is not None:
        parts.append(f"{le} {_g(lower)}")
    if upper is not None:
        parts.append(f"{lt} {_g(upper)}")
    rule = (f"{what} {' and '.join(parts)} at every one of {len(vals)}: "
            f"range [{_g(min(vals))}, {_g(max(vals))}]")
    if ok == len(vals):
        return Verdict(Status.REPRODUCED, kind, rule)
    return Verdict(Status.NOT_REPRODUCED, kind, rule, note=f"inside the bounds at {ok} of {len(vals)}")


# ---------------------------------------------------------------------------------------------
# ordering


def paired_difference(a, b, better: str = "lower") -> list[float]:
    """``d_k`` with positive meaning A is better: ``b - a`` when lower is better, else ``a - b``."""
    if better not in ("lower", "higher"):
        raise ValueError("better must be 'lower' or 'higher'")
    va, vb = _values(a), _values(b)
    if len(va) != len(vb):
        raise ValueError(f"paired values need equal lengths, got {len(va)} and {len(vb)}")
    return [(y - x) if better == "lower" else (x - y) for x, y in zip(va, vb)]


def ordering(a, b, *, better: str = "lower", names: tuple[str, str] = ("A", "B"),
             over: str = "seeds", min_n: int = MIN_SEEDS, z: float = Z) -> Verdict:
    """"A is better than B", decided on the paired differences over seeds (or cases).

    ``a`` and ``b`` hold one value per seed (paired: seed k of A with seed k of B). See the
    module docstring for the rule. Returns a verdict whose rule gives mean ± se and k.
    """
    d = paired_difference(a, b, better)
    return ordering_from_differences(d, names=names, better=better, over=over, min_n=min_n, z=z)


def ordering_from_differences(d, *, names: tuple[str, str] = ("A", "B"), better: str = "lower",
                              over: str = "seeds", min_n: int = MIN_SEEDS, z: float = Z) -> Verdict:
    """:func:`ordering` on differences already formed (positive: the first name is better)."""
    d = _values(d)
    k = len(d)
    na, nb = names
    claim = f"{na} {'below' if better == 'lower' else 'above'} {nb}"
    if k < min_n:
        return Verdict(Status.NOT_CHECKABLE, "ordering",
                       f"{claim}: needs ≥ {min_n} paired {over}, has {k}",
                       note=f"only {k} {over} at this tier; an ordering needs ≥ {min_n}")
    if not all(math.isfinite(v) for v in d):
        return _nan_verdict("ordering", claim)
    mean = sum(d) / k
    sd = math.sqrt(sum((v - mean) ** 2 for v in d) / (k - 1))
    se = sd / math.sqrt(k)
    rule = f"{claim}: paired difference {_g(mean)} ± {_g(se)} (se, {k} {over}) must exceed {z:g} se"
    if mean > z * se and mean > 0:
        return Verdict(Status.REPRODUCED, "ordering", rule)
    if mean < -z * se and mean < 0:
        return Verdict(Status.NOT_REPRODUCED, "ordering", rule,
                       note=f"the opposite ordering holds ({nb} better than {na} by more than {z:g} se)")
    wins = sum(v > 0 for v in d)
    return Verdict(Status.NOT_REPRODUCED, "ordering", rule,
                   note=f"not established: within {z:g} se ({wins} of {k} {over} in the paper's direction)")


# ---------------------------------------------------------------------------------------------
# fraction of cases


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def fraction(oks, *, chance: float | None = None, what: str = "cases", alpha: float = ALPHA) -> Verdict:
    """A criterion on n cases: all hold → reproduced; see the module docstring for partly."""
    flags = [bool(v) for v in _values(oks)]
    n, k = len(flags), sum(flags)
    if n == 0:
        raise ValueError("fraction() needs at least one case")
    rule = f"holds in {k} of {n} {what}; reproduced when all, partly when ≥ half and ≥ 2"
    if chance is not None:
        p = binomial_tail(k, n, chance)
        rule += f" and above chance {chance:g} (one-sided binomial p < {alpha:g}; here {p:.2g})"
    if k == n:
        return Verdict(Status.REPRODUCED, "fraction", rule)
    partly = k >= 2 and 2 * k >= n and (chance is None or binomial_tail(k, n, chance) < alpha)
    note = f"holds in {k} of {n} {what}"
    if not partly and k >= 2 and 2 * k >= n and chance is not None:
        note += " (no better than chance)"
    return Verdict(Status.PARTLY if partly else Status.NOT_REPRODUCED, "fraction", rule, note=note)


# ---------------------------------------------------------------------------------------------
# magnitude against the paper


@dataclass(frozen=True)
class Peer:
    """A named peer implementation's value for the same quantity, measured in the same run."""

    name: str
    value: float


def magnitude(ours, paper: float, *, rel_tol: float | None = None, factor: float | None = None,
              at_least: bool = False, at_most: bool = False, peer: Peer | None = None,
              what: str = "value") -> Verdict:
    """Our value (mean over seeds) against the paper's, with the ratio ours/paper.

    Exactly one criterion, the dossier's:
    - ``rel_tol``: ``|ours/paper - 1| ≤ rel_tol``;
    - ``factor``: ``1/factor ≤ ours/paper ≤ factor``;
    - ``at_least`` / ``at_most``: ``ours ≥ paper`` / ``ours ≤ paper`` (a paper's bound or floor).

    With a ``peer`` that misses the paper's number under the same criterion, the criterion is
    applied against the peer's value instead, and the rule says so (the looser bound needs a
    measured reason). A peer that meets the paper's number changes nothing.
    """
    if sum(x is not None and x is not False for x in (rel_tol, factor, at_least or None, at_most or None)) != 1:
        raise ValueError("magnitude() takes exactly one criterion: rel_tol, factor, at_least or at_most")
    vals = _values(ours)
    if not vals:
        raise ValueError("magnitude() needs at least one measured value")
    if not all(math.isfinite(v) for v in vals):
        return _nan_verdict("magnitude", what)
    mean = sum(vals) / len(vals)

    def meets(x: float, ref: float) -> tuple[bool, str]:
        ratio = x / ref if ref else math.inf
        if rel_tol is not None:
            return abs(ratio - 1) <= rel_tol, f"|ratio − 1| ≤ {rel_tol:.2g}"
        if factor is not None:
            return 1 / factor <= ratio <= factor, f"ratio within ×{factor:g}"
        if at_least:
            return x >= ref, "ours ≥ reference"
        return x <= ref, "ours ≤ reference"

    ok, crit = meets(mean, paper)
    ratio = mean / paper if paper else math.inf
    rule = f"{what} {_g(mean)} against the paper's {_g(paper)}: ratio {_g(ratio)}; {crit}"
    if ok:
        return Verdict(Status.REPRODUCED, "magnitude", rule)
    if peer is not None:
        peer_ok, _ = meets(peer.value, paper)
        if not peer_ok:
            ok_peer, _ = meets(mean, peer.value)
            rule += (f"; the peer {peer.name} also misses the paper ({_g(peer.value)}), "
                     f"so judged against the peer: ratio {_g(mean / peer.value if peer.value else math.inf)}")
            if ok_peer:
                return Verdict(Status.REPRODUCED, "magnitude", rule,
                               note=f"matches {peer.name}, which itself misses the paper's number")
            return Verdict(Status.NOT_REPRODUCED, "magnitude", rule,
                           note=f"misses both the paper's number and {peer.name}'s")
        rule += f"; the peer {peer.name} meets the paper ({_g(peer.value)})"
    return Verdict(Status.NOT_REPRODUCED, "magnitude", rule, note=f"ratio to the paper {_g(ratio)}")


# ---------------------------------------------------------------------------------------------


def not_checkable(reason: str) -> Verdict:
    """A claim this tier (or this machine, or this offline book) cannot check, and why."""
    if not reason:
        raise ValueError("say why the claim cannot be checked")
    return Verdict(Status.NOT_CHECKABLE, "not checkable", reason, note=reason)


def all_of(*verdicts: Verdict, kind: str | None = None) -> Verdict:
    """Several rules that must all hold for one claim: the weakest status wins, rules joined."""
    if not verdicts:
        raise ValueError("all_of() needs at least one verdict")
    order = [Status.NOT_REPRODUCED, Status.NOT_CHECKABLE, Status.PARTLY, Status.REPRODUCED]
    worst = min(verdicts, key=lambda v: order.index(v.status))
    rule = "; and ".join(v.rule for v in verdicts)
    note = "; ".join(v.note for v in verdicts if v.note)
    return Verdict(worst.status, kind or verdicts[0].kind, rule, note)


__all__ = [
    "Verdict", "Peer", "tolerance", "bounds", "ordering", "ordering_from_differences",
    "paired_difference", "fraction", "binomial_tail", "magnitude", "not_checkable", "all_of",
    "MIN_SEEDS", "Z", "ALPHA", "KINDS",
]

