"""Token streams for the small language models: tinyshakespeare (characters), WikiText-2 (words).

Both come from :func:`lab.datafiles.data_file` (``$LAB_DATA_DIR`` first, then a download
checked against its sha256).

* ``"shakespeare"``: one token per character (65 symbols); the first 90% of the text trains,
  the last 10% is held out.
* ``"wikitext2"``: whitespace-separated words with ``<eos>`` at each line end, as in PyTorch's
  word-language-model example. Offline we have only WikiText-2's *valid* and *test* splits, so
  we **train on valid and evaluate on test**. The vocabulary keeps the ``vocab_cap`` most
  frequent words of the training split (ties broken alphabetically); every other word, in both
  splits, becomes ``<unk>`` (WikiText already maps rare words to ``<unk>``). A capped vocabulary
  makes perplexities incomparable with published WikiText-2 numbers; they serve only to
  compare cache methods on the same model.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch

from lab.datafiles import data_file


@dataclass
class Corpus:
    """A train and an eval token stream (1-D int64 tensors) and the vocabulary."""

    name: str
    train: torch.Tensor
    eval: torch.Tensor
    vocab: list[str]

    def windows(self, split: str, length: int, count: int | None = None) -> torch.Tensor:
        """Non-overlapping windows of ``length`` tokens from the start of a split, (count, length)."""
        stream = self.train if split == "train" else self.eval
        n = len(stream) // length if count is None else min(count, len(stream) // length)
        if n < 1:
            raise ValueError(f"{self.name} {split} split has {len(stream)} tokens, fewer than one window of {length}")
        return stream[: n * length].view(n, length)


def shakespeare() -> Corpus:
    text = data_file("text/tinyshakespeare.txt").read_text(encoding="utf-8")
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.int64)
    cut = int(0.9 * len(ids))
    return Corpus("shakespeare", ids[:cut], ids[cut:], vocab)


def _words(relpath: str) -> list[str]:
    words = []
    for line in data_file(relpath).read_text(encoding="utf-8").splitlines():
        words.extend(line.split() + ["<eos>"])
    return words


def wikitext2(vocab_cap: int = 4096) -> Corpus:
    train, test = _words("text/wikitext-2/valid.txt"), _words("text/wikitext-2/test.txt")
    counts = Counter(train)
    ranked = sorted((w for w in counts if w != "<unk>"), key=lambda w: (-counts[w], w))
    vocab = ["<unk>"] + ranked[: vocab_cap - 1]
    index = {w: i for i, w in enumerate(vocab)}

    def encode(words):
        return torch.tensor([index.get(w, 0) for w in words], dtype=torch.int64)

    return Corpus("wikitext2", encode(train), encode(test), vocab)


def load(name: str, **kwargs) -> Corpus:
    """The corpus ``name`` (``"shakespeare"`` or ``"wikitext2"``)."""
    if name == "shakespeare":
        return shakespeare()
    if name == "wikitext2":
        return wikitext2(**kwargs)
    raise ValueError(f"unknown corpus {name!r}; choose 'shakespeare' or 'wikitext2'")
