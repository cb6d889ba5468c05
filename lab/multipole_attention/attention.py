"""Attention over a partly clustered KV sequence: exact part, multipole part, log-sum-exp merge.

With :math:`E` the exactly attended tokens (sink, selected clusters, recent window) and
:math:`\\bar{\\mathcal S}` the clusters not selected, Multipole Attention computes

.. math::

    o=\\frac{\\sum_{j\\in E}e^{\\tau q\\cdot k_j}v_j+\\sum_{i\\in\\bar{\\mathcal S}}N_ie^{\\tau q\\cdot Kc_i}Vc_i}
    {\\sum_{j\\in E}e^{\\tau q\\cdot k_j}+\\sum_{i\\in\\bar{\\mathcal S}}N_ie^{\\tau q\\cdot Kc_i}},

i.e. softmax attention over the exact keys and the non-selected centroids, each centroid's logit
raised by :math:`\\log N_i`. The two sums are computed as separate partial softmaxes
:math:`(o_a, \\mathrm{lse}_a)` and merged (:func:`merge`):
:math:`o = \\sum_a e^{\\mathrm{lse}_a - \\mathrm{lse}} o_a`, :math:`\\mathrm{lse} = \\log\\sum_a e^{\\mathrm{lse}_a}`.
Shapes: queries (M, H, G, D), keys and values (H, N, D). See ``book/multipole_attention.md``.
"""
from __future__ import annotations

import math

import torch


def tau_of(d: int) -> float:
    return 1 / math.sqrt(d)


def partial_softmax(logits: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None = None):
    """Softmax-weighted values and the log-sum-exp of ``logits`` (M, H, G, n) over ``values`` (H, n, D).

    ``mask`` (broadcast to the logits) drops entries. An all-masked row gives ``o = 0`` and
    ``lse = -inf``, the neutral element of :func:`merge`.
    """
    if mask is not None:
        logits = logits.masked_fill(~mask, -math.inf)
    lse = torch.logsumexp(logits, -1)
    p = torch.exp(logits - torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse))[..., None])
    return torch.einsum("mhgn,hnd->mhgd", p, values), lse


def merge(parts: list[tuple[torch.Tensor, torch.Tensor]]):
    """Merge partial ``(o_a, lse_a)`` into one softmax: weights :math:`e^{\\mathrm{lse}_a-\\mathrm{lse}}`."""
    lse = torch.logsumexp(torch.stack([l for _, l in parts]), 0)
    safe = torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse))
    out = sum(torch.exp(l - safe)[..., None] * o for o, l in parts)
    return out, lse


def exact_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, tau: float | None = None):
    """Plain softmax attention of every query over all keys: ``(o, lse, probabilities)``."""
    tau = tau if tau is not None else tau_of(q.shape[-1])
    logits = tau * torch.einsum("mhgd,hnd->mhgn", q, k)
    o, lse = partial_softmax(logits, v)
    return o, lse, torch.exp(logits - lse[..., None])


def multipole_output(q, k, v, exact_mask, q_lookup=None, centroids=None, values=None, counts=None,
                     replaced=None, tau: float | None = None):
    """Exact attention over the tokens in ``exact_mask`` (M, H, N), plus the multipole terms.

    ``replaced`` (M, H, C) marks the clusters whose term :math:`N_i e^{\\tau q_\\ell\\cdot Kc_i} Vc_i`
    is added (``None``: no replacement, the lookup-only ablation); ``q_lookup`` is the query
    the lookup used (windowed RoPE), ``q`` by default. Returns ``(o, lse)``.
    """
    tau = tau if tau is not None else tau_of(q.shape[-1])
    parts = [partial_softmax(tau * torch.einsum("mhgd,hnd->mhgn", q, k), v, exact_mask[:, :, None, :])]
    if replaced is not None:
        ql = q if q_lookup is None else q_lookup
        logits = tau * torch.einsum("mhgd,hcd->mhgc", ql, centroids) + counts.log()[None, :, None, :]
        parts.append(partial_softmax(logits, values, (replaced & (counts > 0))[:, :, None, :]))
    return merge(parts)


def dense_reference(q, k, v, exact_mask, q_lookup, centroids, values, counts, replaced, tau: float | None = None):
    """The same output as one softmax over ``[k_E ; Kc_{\\bar S}]`` with :math:`\\log N_i` added to the centroid logits.

    Independent of :func:`merge`: the identity the kernels' torch references use.
    """
    tau = tau if tau is not None else tau_of(q.shape[-1])
    exact = tau * torch.einsum("mhgd,hnd->mhgn", q, k)
    exact = exact.masked_fill(~exact_mask[:, :, None, :], -math.inf)
    cent = tau * torch.einsum("mhgd,hcd->mhgc", q_lookup, centroids) + counts.log()[None, :, None, :]
    cent = cent.masked_fill(~replaced[:, :, None, :], -math.inf)
    p = torch.softmax(torch.cat((exact, cent), -1), -1)
    m = q.shape[0]
    vals = torch.cat((v, values), 1)
    return torch.einsum("mhgn,hnd->mhgd", p, vals)
