"""The two patch embeddings the chapter compares, and Chronos-Bolt's ResidualBlock.

``ResidualBlock``: ``φ(x) = W₂ act(W₁x + b₁) + b₂ + W_s x + b_s`` (Linear → act → Linear plus a
Linear skip). The continuous embedding applies it to ``[patch, mask] ∈ R^{2k}``; a ReLU block is
positively homogeneous up to its biases, which is the norm bias of the chapter's §geometry.

``QuantizedPatchEmbedding``: every value of a patch is quantized to one of ``n_bins`` bins (NaN
to a padding token) and looked up in a table of its own for each position in the patch; the
patch embeds as the sum of its k rows: ``φ(x) = Σ_j E[j, bin(x_j)]``. With ``k = 1`` this is
Chronos's ``nn.Embedding`` over bins. See ``book/tsfm_biases.md``.
"""
from __future__ import annotations

import torch
from torch import nn

from .patching import patch_tokens, patchify
from .scaling import Quantizer


class ResidualBlock(nn.Module):
    """``W₂ act(W₁x + b₁) + b₂ + W_s x + b_s`` from ``d_in`` to ``d_out`` through ``d_hidden``."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int):
        super().__init__()
        self.hidden = nn.Linear(d_in, d_hidden)
        self.act = nn.ReLU()
        self.output = nn.Linear(d_hidden, d_out)
        self.skip = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.act(self.hidden(x))) + self.skip(x)


class ContinuousPatchEmbedding(nn.Module):
    """Scaled context ``[B, C]`` → ``[B, C/k, d]``: ResidualBlock on ``[patch, mask]``."""

    def __init__(self, patch: int, d_hidden: int, d_model: int):
        super().__init__()
        self.patch = patch
        self.block = ResidualBlock(2 * patch, d_hidden, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(patch_tokens(x, self.patch))

    def embed_values(self, values: torch.Tensor) -> torch.Tensor:
        """``φ`` of fully observed patches ``[..., k]`` (the geometry diagnostics' input)."""
        return self.block(torch.cat([values, torch.ones_like(values)], dim=-1))


class QuantizedPatchEmbedding(nn.Module):
    """Scaled context ``[B, C]`` → ``[B, C/k, d]``: ``Σ_j E[j, bin(x_j)]`` over the patch."""

    def __init__(self, patch: int, n_bins: int, limit: float, d_model: int):
        super().__init__()
        self.patch = patch
        self.quantizer = Quantizer(n_bins, limit)
        self.tokens = n_bins + 1  # the last token of each position is the padding (NaN) token
        self.table = nn.Embedding(patch * self.tokens, d_model)
        nn.init.normal_(self.table.weight, std=0.02)  # random rows, small next to the positions
        self.register_buffer("offsets", torch.arange(patch) * self.tokens, persistent=False)

    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table(ids + self.offsets).sum(dim=-2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values, mask = patchify(x, self.patch)
        values = torch.where(mask > 0, values, torch.full_like(values, float("nan")))
        return self.embed_ids(self.quantizer.quantize(values))

    def embed_values(self, values: torch.Tensor) -> torch.Tensor:
        """``φ`` of fully observed patches ``[..., k]``."""
        return self.embed_ids(self.quantizer.quantize(values))
