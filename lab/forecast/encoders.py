"""Causal encoders: a state ``h_t`` at every time step that depends on inputs up to ``t`` only.

Every encoder maps inputs ``x [B, T, C]`` to states ``[B, T, D]``. Causality is what lets
forking-sequences read a forecast at every forecast creation date from one pass
(``book/forking_sequences.md``). ``receptive_field`` is the number of trailing inputs a state
can depend on (``None``: all of them, the recurrent nets); when it is at most the context
length ``L``, the state at ``t`` of a long pass equals the last state of a pass over the window
``x[t-L+1 : t+1]`` exactly.

=============  =====================================================  ================
name           encoder                                                receptive field
=============  =====================================================  ================
``mlp``        MLP on the unfolded window of the last ``L`` inputs    ``L``
``rnn``        Elman RNN (tanh)                                       unbounded
``lstm``       LSTM                                                   unbounded
``cnn``        dilated causal CNN, kernel 2, dilations 1, 2, 4, ...   largest 2^k <= L
``transformer`` causal self-attention restricted to the last ``w``    ``<= L``
               steps, learned relative-position bias
=============  =====================================================  ================
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as nnf
from torch import nn

ARCHITECTURES = ("mlp", "rnn", "lstm", "cnn", "transformer")


class MLPEncoder(nn.Module):
    """``h_t = MLP([x_{t-L+1}, ..., x_t])`` (zeros before the start), as an MLP forecaster
    applied at every step."""

    def __init__(self, channels: int, hidden: int, context: int, layers: int = 2):
        super().__init__()
        self.context = self.receptive_field = context
        dims = [channels * context] + [hidden] * layers
        self.net = nn.Sequential(*[m for a, b in zip(dims, dims[1:]) for m in (nn.Linear(a, b), nn.ReLU())])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        padded = nnf.pad(x, (0, 0, self.context - 1, 0))
        windows = padded.unfold(1, self.context, 1)  # [B, T, C, L]
        return self.net(windows.transpose(2, 3).reshape(B, T, self.context * C))


class RecurrentEncoder(nn.Module):
    """Elman RNN or LSTM over the whole input; ``h_t`` sees everything since the block start."""

    receptive_field = None

    def __init__(self, channels: int, hidden: int, layers: int = 1, cell: str = "rnn"):
        super().__init__()
        rnn = {"rnn": nn.RNN, "lstm": nn.LSTM}[cell]
        self.inp = nn.Linear(channels, hidden)
        self.rnn = rnn(hidden, hidden, num_layers=layers, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(self.inp(x))[0]


class CausalCNNEncoder(nn.Module):
    """Residual stack of causal convolutions, kernel 2, dilation ``2^i`` for ``i < k``:
    ``z^{i+1}_t = z^i_t + relu(W_0 z^i_{t-2^i} + W_1 z^i_t)``, receptive field ``2^k``."""

    def __init__(self, channels: int, hidden: int, context: int):
        super().__init__()
        depth = max(1, int(math.floor(math.log2(context))))
        self.dilations = [2**i for i in range(depth)]
        self.receptive_field = 2**depth
        self.inp = nn.Linear(channels, hidden)
        self.convs = nn.ModuleList(nn.Conv1d(hidden, hidden, 2, dilation=d) for d in self.dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.inp(x).transpose(1, 2)  # [B, D, T]
        for d, conv in zip(self.dilations, self.convs):
            # left padding by the dilation keeps the convolution causal
            z = z + torch.relu(conv(nnf.pad(z, (d, 0))))
        return z.transpose(1, 2)


class CausalTransformerEncoder(nn.Module):
    """Pre-norm Transformer whose attention at ``t`` sees steps ``t-w+1 .. t`` only, with a
    learned bias per head and offset (relative positions, so a state does not depend on where
    the pass started). ``w`` is chosen so that ``layers*(w-1)+1 <= L``."""

    def __init__(self, channels: int, hidden: int, context: int, layers: int = 1, heads: int = 2):
        super().__init__()
        self.heads, self.width = heads, (context - 1) // layers + 1
        self.receptive_field = layers * (self.width - 1) + 1
        self.inp = nn.Linear(channels, hidden)
        self.blocks = nn.ModuleList(nn.ModuleDict(dict(
            ln1=nn.LayerNorm(hidden), qkv=nn.Linear(hidden, 3 * hidden), out=nn.Linear(hidden, hidden),
            ln2=nn.LayerNorm(hidden), ff=nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden)),
        )) for _ in range(layers))
        self.rel_bias = nn.Parameter(torch.zeros(layers, heads, self.width))

    def _attention_bias(self, T: int, layer: int, device) -> torch.Tensor:
        offset = torch.arange(T, device=device)[:, None] - torch.arange(T, device=device)[None, :]
        allowed = (offset >= 0) & (offset < self.width)
        bias = self.rel_bias[layer][:, offset.clamp(0, self.width - 1)]  # [heads, T, T]
        return bias.masked_fill(~allowed, float("-inf"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.inp(x)
        B, T, D = z.shape
        for i, blk in enumerate(self.blocks):
            q, k, v = blk["qkv"](blk["ln1"](z)).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
            att = nnf.scaled_dot_product_attention(q, k, v, attn_mask=self._attention_bias(T, i, z.device))
            z = z + blk["out"](att.transpose(1, 2).reshape(B, T, D))
            z = z + blk["ff"](blk["ln2"](z))
        return z


def make_encoder(arch: str, channels: int, hidden: int, context: int, layers: int = 1) -> nn.Module:
    """The encoder ``arch`` (one of :data:`ARCHITECTURES`)."""
    if arch == "mlp":
        return MLPEncoder(channels, hidden, context, layers=max(2, layers))
    if arch in ("rnn", "lstm"):
        return RecurrentEncoder(channels, hidden, layers, cell=arch)
    if arch == "cnn":
        return CausalCNNEncoder(channels, hidden, context)
    if arch == "transformer":
        return CausalTransformerEncoder(channels, hidden, context, layers=layers)
    raise ValueError(f"unknown architecture {arch!r}; choose from {ARCHITECTURES}")
