"""The synthetic arithmetic reasoning task and its process reward model (``book/ets.md``).

A problem is a start value and ``D`` instructions ("add 5", "multiply by 2", ...); the answer is
the value after the last one. The chain of correct values stays in ``[0, VMAX]``. A solution
writes one step per instruction in one of a few phrasings (``x = 17 + 5 = 22``,
``17 + 5 gives 22``, ``so 17 + 5 is 22``): equivalent steps can differ in text, which is what
semantic clustering has to see through. A step is **correct** when it applies the instruction
to the value the previous step wrote and computes the result exactly; a derivation is correct
when every step is; the answer is the value the last step wrote.

Each step also carries a token count ``t`` (the length a real model's step would have), drawn
uniformly from ``step_tokens`` by a hash of the problem and the node's path, so every method
sees the same lengths for the same node; the prompt has ``prompt_tokens`` tokens.

The PRM (:class:`PRM`) knows the truth and adds calibrated noise: for a state whose derivation
so far is correct (``V = 1``) or not (``V = 0``),

.. math::

    \\mathrm{score} = \\sigma\\big(m\\,(2V - 1) + \\sigma_{\\rm prm}\\,\\varepsilon\\big),

with margin ``m`` and ``epsilon ~ N(0, 1)`` drawn once per (problem, depth, written value,
correctness): a PRM is a function of its input, so equivalent states get the same score.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

VMAX = 29
#: instructions: (symbol, operand); "+k" and "-k" for k = 1..6, "*2" and "*3"
OPS = tuple([("+", k) for k in range(1, 7)] + [("-", k) for k in range(1, 7)] + [("*", 2), ("*", 3)])
TEMPLATES = ("x = {a} {op} {b} = {c}", "{a} {op} {b} gives {c}", "so {a} {op} {b} is {c}")
_PARSE = [re.compile(r"^x = (\d+) ([+\-*]) (\d+) = (\d+)$"), re.compile(r"^(\d+) ([+\-*]) (\d+) gives (\d+)$"),
          re.compile(r"^so (\d+) ([+\-*]) (\d+) is (\d+)$")]
WORDS = {"+": "add", "-": "subtract", "*": "multiply by"}


def apply_op(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def hash_seed(*parts) -> int:
    """A stable 64-bit seed from any printable parts (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class Problem:
    """Start value, instructions and the correct chain of values (``chain[d]`` after d steps)."""

    id: int
    start: int
    ops: tuple  # of (symbol, operand)
    chain: tuple

    @property
    def answer(self) -> int:
        return self.chain[-1]

    @property
    def depth(self) -> int:
        return len(self.ops)

    def text(self) -> str:
        steps = ". ".join(f"{WORDS[o].capitalize()} {k}" for o, k in self.ops)
        return f"Start at {self.start}. {steps}. What is the result?"


def make_problems(n: int, depth: int, seed: int) -> list[Problem]:
    """``n`` problems of ``depth`` instructions whose correct chain stays in [0, VMAX]."""
    if n < 1 or depth < 1:
        raise ValueError(f"need n >= 1 problems of depth >= 1, got n={n}, depth={depth}")
    rng = np.random.default_rng([seed, 0xE75])
    out = []
    for pid in range(n):
        v = int(rng.integers(0, VMAX + 1))
        start, ops, chain = v, [], [v]
        for _ in range(depth):
            valid = [(o, k) for o, k in OPS if 0 <= apply_op(v, o, k) <= VMAX]
            o, k = valid[int(rng.integers(len(valid)))]
            v = apply_op(v, o, k)
            ops.append((o, k)), chain.append(v)
        out.append(Problem(pid, start, tuple(ops), tuple(chain)))
    return out


def render(template: int, a: int, op: str, b: int, c: int) -> str:
    return TEMPLATES[template].format(a=a, op=op, b=b, c=c)


@lru_cache(maxsize=None)
def parse_step(text: str):
    """``(template, a, op, b, c)`` of a well-formed step, else ``None``."""
    for t, pattern in enumerate(_PARSE):
        m = pattern.match(text.strip())
        if m:
            return t, int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
    return None


@dataclass(frozen=True)
class State:
    """What a node's derivation has reached: the value last written (None: malformed step)."""

    depth: int
    value: int | None
    correct: bool


def advance(problem: Problem, state: State, text: str) -> State:
    """The state after writing step ``text`` for instruction ``problem.ops[state.depth]``."""
    parsed = parse_step(text)
    if parsed is None or state.value is None:
        return State(state.depth + 1, None, False)
    _, a, op, b, c = parsed
    want_op, want_b = problem.ops[state.depth]
    ok = state.correct and a == state.value and op == want_op and b == want_b and c == apply_op(a, op, b)
    return State(state.depth + 1, c, ok)


def path_key(parent_key: int, text: str) -> int:
    """A node's identity: a hash of its parent's key and its text (the root's key: the problem's)."""
    return hash_seed(parent_key, text)


def step_tokens(key: int, lo: int, hi: int) -> int:
    """The step's KV length: uniform on [lo, hi], fixed by the node's path key."""
    return lo + key % (hi - lo + 1)


class PRM:
    """Oracle-plus-noise process reward: see the module docstring for the formula."""

    def __init__(self, noise: float, margin: float = 2.0, seed: int = 0):
        if noise < 0:
            raise ValueError(f"PRM noise must be >= 0, got {noise}")
        if margin <= 0:
            raise ValueError(f"PRM margin must be > 0, got {margin}")
        self.noise, self.margin, self.seed = float(noise), float(margin), seed
        self._memo: dict = {}

    def score(self, problem: Problem, state: State) -> float:
        key = (problem.id, problem.start, problem.answer, state)
        if key not in self._memo:
            v = 1.0 if state.correct else 0.0
            eps = np.random.default_rng(hash_seed("prm", self.seed, problem.id, state.depth, state.value, state.correct)).standard_normal()
            self._memo[key] = float(1.0 / (1.0 + np.exp(-(self.margin * (2 * v - 1) + self.noise * eps))))
        return self._memo[key]
