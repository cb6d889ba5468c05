"""A causal encoder with a multi-quantile (MQ) decoder: ``H x |Q|`` quantiles at every step.

``Forecaster(x)`` returns ``[B, T, H, Q]``: row ``t`` is the forecast made after observing
``x[:, :t+1]``. Window sampling reads the last row, forking-sequences the last ``F`` rows
(``model(x, last=F)``). The decoder is the simple form of the MQ-RNN/MQ-CNN decoder
(a shared MLP from ``h_t`` to all horizons and quantiles, no future covariates); see
``book/forking_sequences.md``.
"""
from __future__ import annotations

import torch
from torch import nn

from .encoders import make_encoder

QUANTILES = (0.1, 0.5, 0.9)


class Forecaster(nn.Module):
    """Encoder ``arch`` + MQ decoder ``h_t -> [H, Q]``.

    Parameters
    ----------
    arch : one of :data:`lab.forecast.encoders.ARCHITECTURES`.
    context, horizon : ``L`` and ``H``.
    hidden : state width ``D``.
    quantiles : levels ``tau`` of the decoder's outputs.
    layers : encoder depth (recurrent and Transformer encoders).
    """

    def __init__(self, arch: str, context: int, horizon: int, hidden: int = 32,
                 quantiles=QUANTILES, layers: int = 1):
        super().__init__()
        self.arch, self.context, self.horizon = arch, context, horizon
        self.register_buffer("quantiles", torch.tensor(quantiles, dtype=torch.float32))
        self.encoder = make_encoder(arch, 2, hidden, context, layers)
        self.decoder = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, horizon * len(quantiles)))

    def forward(self, x: torch.Tensor, last: int | None = None) -> torch.Tensor:
        """Forecasts ``[B, T, H, Q]`` at every step, or ``[B, F, H, Q]`` at the ``last=F`` steps
        (one encoder pass either way; only the decoder is skipped at the other steps)."""
        h = self.encoder(x)
        if last is not None:
            h = h[:, -last:]
        return self.decoder(h).view(*h.shape[:2], self.horizon, len(self.quantiles))
