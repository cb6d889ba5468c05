"""Claims a chapter checks against its paper, and how they are stored and shown.

Statuses are decided by the rule book, :mod:`lab.claims.rules`: a chapter measures, hands the
numbers to a rule (``tolerance``, ``bounds``, ``ordering``, ``fraction``, ``magnitude``,
``not_checkable``) and records the verdict with :meth:`Claims.judge`; each claim keeps the
verdict's kind and the rule, with the numbers that decided it.

Each claim pairs the paper's statement and value (with the table, figure or equation it
comes from) with our measurement: a value per seed, summarised as mean ± standard deviation,
the criterion that decides the status, and the tier the number was measured at. The status is
decided in the chapter by evaluating the criterion on the measured numbers, never typed in:

- ``reproduced``: the criterion holds;
- ``partly reproduced``: it holds in part (the chapter says which part);
- ``not reproduced``: it fails; that is a result and is reported as such;
- ``not checkable at this tier``: with the reason (data not offline, needs a GPU, ...).

Chapters save their claims in the run's ``results.json``; :mod:`lab.scorecard` collects them.
"""
from __future__ import annotations

import html
import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

from lab.claims.status import Status
from lab.claims.rules import Verdict


@dataclass
class Claim:
    """One checked (or uncheckable) claim; see the module docstring for the fields' meaning."""

    id: str
    statement: str
    paper_value: str
    paper_source: str
    criterion: str
    tier: str
    status: Status
    per_seed: list[float] = field(default_factory=list)
    ours_text: str = ""
    note: str = ""
    #: what the values in ``per_seed`` range over: seeds, or models, sizes, cases... of one run
    over: str = "seeds"
    #: the rule book's kind for this claim (exact, structural, ordering, fraction, magnitude,
    #: not checkable) and the rule that decided it, with its numbers (:mod:`lab.claims.rules`)
    kind: str = ""
    rule: str = ""

    @property
    def mean(self) -> float | None:
        return sum(self.per_seed) / len(self.per_seed) if self.per_seed else None

    @property
    def spread(self) -> float | None:
        """Sample standard deviation over seeds (None with fewer than two seeds)."""
        k = len(self.per_seed)
        if k < 2:
            return None
        mu = self.mean
        return math.sqrt(sum((v - mu) ** 2 for v in self.per_seed) / (k - 1))

    def ours(self) -> str:
        """Our value as shown in tables: ``mean ± std (k seeds)``, then any free text.

        Values that range over something other than seeds (models, sizes, cases) are shown as
        ``mean ± std over k <over>``; a single such value is shown alone.
        """
        parts = []
        k = len(self.per_seed)
        if k:
            text = _fmt(self.mean)
            if self.spread is not None:
                text += f" ± {self.spread:.2g}"
            if self.over == "seeds":
                text += f" ({k} seed{'s' if k > 1 else ''})"
            elif k > 1:
                text += f" over {k} {self.over}"
            parts.append(text)
        if self.ours_text:
            parts.append(self.ours_text)
        return "; ".join(parts) or "—"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["status"] = self.status.value
        d["mean"], d["spread"] = self.mean, self.spread
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Claim":
        keep = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        keep["status"] = Status(keep["status"])
        # records written before ``over`` existed do not say what their values range over
        keep.setdefault("over", "values")
        return cls(**keep)


def _fmt(x: float) -> str:
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        return f"{x:.4g}"
    return f"{x:.3e}"


def _values(ours) -> list[float]:
    if ours is None:
        return []
    if isinstance(ours, (int, float)):
        return [float(ours)]
    return [float(v) for v in ours]


class Claims:
    """The claims one chapter run checks, in the order it checks them.

    Examples
    --------
    >>> from lab.claims import rules
    >>> claims = Claims("inversion_bias", tier="smoke")
    >>> c = claims.judge("gaussian-inverse-wishart", "E[Q] = m/(m-d-1) (AᵀA)⁻¹",
    ...                  paper_value="m/(m−d−1)", paper_source="§1, inverse Wishart",
    ...                  criterion="corrected bias < 0.05", ours=[0.01, 0.02],
    ...                  verdict=rules.bounds([0.01, 0.02], upper=0.05))
    >>> c.status.value, c.kind
    ('reproduced', 'structural')
    """

    def __init__(self, chapter: str, tier: str):
        self.chapter, self.tier = chapter, tier
        self.items: list[Claim] = []

    def _add(self, claim: Claim) -> Claim:
        if any(c.id == claim.id for c in self.items):
            raise ValueError(f"claim {claim.id!r} is declared twice")
        self.items.append(claim)
        return claim

    def judge(
        self,
        id: str,
        statement: str,
        *,
        paper_value: str,
        paper_source: str,
        criterion: str,
        verdict: Verdict,
        ours: Iterable[float] | float | None = None,
        ours_text: str = "",
        note: str = "",
        over: str = "seeds",
    ) -> Claim:
        """Record a claim decided by the rule book: ``verdict`` comes from :mod:`lab.claims.rules`.

        ``criterion`` is the dossier's criterion in words; the verdict's ``rule`` says how it
        was applied, with the numbers. ``note`` adds to the verdict's own note.
        """
        if not isinstance(verdict, Verdict):
            raise TypeError(f"claim {id!r}: verdict must come from lab.claims.rules, got {type(verdict).__name__}")
        notes = "; ".join(n for n in (verdict.note, note) if n)
        return self._add(
            Claim(id, statement, paper_value, paper_source, criterion, self.tier, verdict.status,
                  _values(ours), ours_text, notes, over, verdict.kind, verdict.rule)
        )

    def not_checkable(
        self, id: str, statement: str, *, paper_value: str, paper_source: str,
        criterion: str, reason: str,
    ) -> Claim:
        """Record a claim this tier cannot check, and why."""
        if not reason:
            raise ValueError(f"claim {id!r}: say why it cannot be checked")
        return self._add(
            Claim(id, statement, paper_value, paper_source, criterion, self.tier,
                  Status.NOT_CHECKABLE, note=reason, kind="not checkable", rule=reason)
        )

    def to_list(self) -> list[dict]:
        return [c.to_dict() for c in self.items]

    @classmethod
    def from_list(cls, chapter: str, tier: str, items: list[dict]) -> "Claims":
        claims = cls(chapter, tier)
        claims.items = [Claim.from_dict(d) for d in items]
        return claims

    def counts(self) -> dict[str, int]:
        return {s.value: sum(c.status is s for c in self.items) for s in Status}

    def _repr_html_(self) -> str:
        return claims_html(self.items)

    def __repr__(self) -> str:
        rows = [f"{c.status.mark} {c.id}: {c.status.value} — ours {c.ours()}" for c in self.items]
        return "\n".join(rows)


_HEAD = ("claim", "paper", "ours", "criterion (kind: rule)", "tier", "status")
_COLOR = {"reproduced": "#d9f2d9", "partly reproduced": "#fff2c2", "not reproduced": "#f8d0d0",
          "not checkable at this tier": "#e6e6e6"}
_CLASS = {"reproduced": "status-reproduced", "partly reproduced": "status-partly",
          "not reproduced": "status-not-reproduced", "not checkable at this tier": "status-not-checkable"}
#: shown for records judged before the rule book existed (no kind, no rule)
BEFORE_RULE_BOOK = "judged before the rule book"


def claims_html(items: list[Claim]) -> str:
    """An HTML table of claims: the paper's value and source next to ours.

    Each cell carries its column's name (``data-label``), so on a narrow screen the book's
    stylesheet shows one card per claim instead of a table wider than the screen. A claim
    without a kind was judged before the rule book (:data:`BEFORE_RULE_BOOK`).
    """
    esc = html.escape
    rows = []
    for c in items:
        note = f"<br><small>{esc(c.note)}</small>" if c.note else ""
        if c.kind:
            rule = (f"<br><small><i>{esc(c.kind)}</i>" + (f": {esc(c.rule)}" if c.rule and c.rule != c.note else "")
                    + "</small>")
        else:
            rule = f"<br><small><i>{BEFORE_RULE_BOOK}</i></small>"
        cells = (
            f"<b>{esc(c.id)}</b><br>{esc(c.statement)}",
            f"{esc(c.paper_value)}<br><small>{esc(c.paper_source)}</small>",
            esc(c.ours()),
            f"{esc(c.criterion)}{rule}",
            esc(c.tier),
        )
        tds = "".join(f'<td data-label="{h}">{v}</td>' for h, v in zip(_HEAD, cells))
        tds += (f'<td data-label="status" class="{_CLASS[c.status.value]}" '
                f'style="background:{_COLOR[c.status.value]}">{esc(c.status.value)}{note}</td>')
        rows.append(f"<tr>{tds}</tr>")
    head = "".join(f"<th>{h}</th>" for h in _HEAD)
    return f'<table class="lab-claims" style="font-size:0.85em"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def findings_markdown(claims: Claims, why: Callable[[str], str] | None = None) -> str:
    """The verdict counts, then every claim that fell short with its note and our reading of why.

    ``why(claim_id)`` returns a chapter's explanation of a shortfall (``""`` for none); it is
    printed as a hypothesis, which is what it is.
    """
    counts = claims.counts()
    lines = [
        f"At the **{claims.tier}** tier, {counts['reproduced']} of {len(claims.items)} claims reproduced, "
        f"{counts['partly reproduced']} partly, {counts['not reproduced']} not, and "
        f"{counts['not checkable at this tier']} could not be checked here.",
        "",
    ]
    for c in claims.items:
        if c.status is Status.REPRODUCED:
            continue
        reading = why(c.id) if why else ""
        lines.append(f"- **{c.id}** ({c.status.value}{': ' + c.note if c.note else ''}). "
                     + (f"*Our reading:* {reading}" if reading else ""))
    return "\n".join(lines)
