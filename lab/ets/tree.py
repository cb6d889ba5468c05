"""A reasoning search tree with exact KV accounting (``book/ets.md``, "What the cache holds").

Each node is one reasoning step: its text, the number of tokens it adds to the KV cache, the PRM
score of its last step and its parent. The root is the prompt. A prefix (radix) cache stores
every distinct node once, so the cache that serves a set of leaves holds

.. math::

    \\mathrm{kv}(L) = \\sum_{i \\in L} t_i + \\sum_{j \\in \\mathrm{anc}(L)} t_j ,

the tokens of the leaves plus those of their distinct ancestors, root included: the reference
code's ``get_kv_size``, summed over the search's selection steps to give the total KV.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(eq=False)
class Node:
    """One step of a trajectory; ``tokens`` is how many KV entries the step adds."""

    id: int
    text: str
    tokens: int
    score: float = 1.0
    parent: "Node | None" = None
    state: object = None
    depth: int = 0
    children: list = field(default_factory=list)
    kept: bool = True  # False once a selection step pruned it (drawn grey in the chapter)

    def ancestors(self) -> list["Node"]:
        """Parent, grandparent, ..., root."""
        out, node = [], self.parent
        while node is not None:
            out.append(node)
            node = node.parent
        return out

    def path(self) -> list["Node"]:
        """Root to this node, inclusive."""
        return [*reversed(self.ancestors()), self]


class Tree:
    """Nodes indexed by id; the root holds the prompt."""

    def __init__(self, prompt: str, prompt_tokens: int):
        if prompt_tokens < 0:
            raise ValueError(f"prompt_tokens must be >= 0, got {prompt_tokens}")
        self.nodes: list[Node] = []
        self.root = self._new(prompt, prompt_tokens, 1.0, None, None)

    def _new(self, text, tokens, score, parent, state) -> Node:
        node = Node(len(self.nodes), text, int(tokens), float(score), parent, state,
                    0 if parent is None else parent.depth + 1)
        self.nodes.append(node)
        if parent is not None:
            parent.children.append(node)
        return node

    def add(self, parent: Node, text: str, tokens: int, score: float, state=None) -> Node:
        if tokens < 0:
            raise ValueError(f"a step cannot add {tokens} tokens")
        return self._new(text, tokens, score, parent, state)


def kv_size(leaves: list[Node]) -> int:
    """Distinct cached tokens serving ``leaves``: their own tokens plus their distinct ancestors'.

    A leaf listed twice counts twice, as in the reference code (each candidate is a sequence).
    """
    leaf_tokens = sum(n.tokens for n in leaves)
    ancestors = {}
    for leaf in leaves:
        for a in leaf.ancestors():
            ancestors[a.id] = a.tokens
    return leaf_tokens + sum(ancestors.values())


def distinct_ancestors(leaves: list[Node]) -> list[Node]:
    """The distinct proper ancestors of ``leaves`` (root included), in id order."""
    seen = {}
    for leaf in leaves:
        for a in leaf.ancestors():
            seen[a.id] = a
    return [seen[k] for k in sorted(seen)]
