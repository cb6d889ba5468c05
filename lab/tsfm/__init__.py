"""``lab.tsfm``: a small time-series foundation model with every design knob a switch.

The substrate of ``book/tsfm_biases.md`` (implicit biases of TSFM design choices) and of the
copula chapter. One model family, :class:`TSFM`, configured by one frozen dataclass,
:class:`TSFMConfig`, whose fields are the knobs the paper studies:

==============  =========================================================================
knob            choices
==============  =========================================================================
``scaling``     ``"mean"`` (Chronos: x/mean|x|) or ``"instance"`` (Bolt: (x-μ)/σ), over the
                observed context
``patch``       k ≥ 1; must divide ``context``; short contexts are left-padded with NaN
                and each patch enters as [values, observed mask]
``embedding``   ``"quantized"`` (bins on [-bin_limit, bin_limit], a table per position in the
                patch; k = 1 is Chronos's nn.Embedding) or ``"residual"`` (Bolt's ResidualBlock
                on [patch, mask])
``loss``        ``"quantile"`` (Bolt's 2|(y-q)(1{y≤q}-τ)| summed over ``quantiles``), ``"l2"``,
                ``"ce"`` (cross-entropy over the ``n_bins`` bins)
``decoding``    ``"direct"`` (a forecast token → all H steps in one pass) or
                ``"autoregressive"`` (causal, one patch per pass, fed back)
==============  =========================================================================

Size knobs: ``context``, ``horizon``, ``d_model``, ``n_layers``, ``n_heads``, ``d_ff``,
``n_bins``; trainer knobs: ``steps``, ``batch_size``, ``lr``, ``table_lr_mult`` (the quantized
lookup table's learning rate in units of ``lr``), ``weight_decay``, ``clip``, ``seed``.

API (what another chapter needs)::

    from lab import tsfm
    cfg = tsfm.mini_bolt(context=64, horizon=16, steps=400, seed=0)   # instance norm, patch 8,
                                                                      # ResidualBlock, direct 9-quantile head
    corpus = tsfm.real_corpus(("m4_hourly", "m4_weekly")) + tsfm.synthetic_corpus("kernel_synth", 256, 256, seed=0)
    model = tsfm.train(cfg, corpus)           # seeded; cached by hash(cfg, corpus content) via lab.cache
    q = model.predict_quantiles(context)      # context [B, C] or [C], numpy or torch, NaN = missing
                                              # -> torch [B, H, Q] at cfg.quantiles, in the context's units
    y = model.forecast(context, point="median")   # [B, H]; "mean", "mode" (CE argmax), "sample"
    model.train_stats                         # loss curve, samples/s, CPU seconds, from_cache
    m0 = tsfm.build_model(cfg)                # untrained, seeded

``mini_bolt`` defaults to context 64 and horizon 16; pick them per dataset (M4 hourly: H = 48,
season 24, e.g. ``context=192, horizon=48``; M4 weekly: H = 13, e.g. ``context=104, horizon=13``
— the context must be a multiple of the patch, the horizon need not be in direct decoding).
At the book tier's size (d = 32, 2 layers) one CPU thread trains about 5,000 windows per second
at patch 16 and 1,500 at patch 1 (``book/tsfm_biases.md`` prints the measured rates).

Contexts shorter than ``cfg.context`` are left-padded with NaN; shorter than one patch, holding
NaN where an explicit ``mask`` says observed, infinite, or with no observed value raise
``ValueError``; so do unknown knob names and a patch size that does not divide the context.
``tsfm.train(cfg, corpus, device="cuda")`` (or ``"auto"``) trains and forecasts on a GPU: the model
is initialised on the CPU and moved, batches are drawn on the CPU and moved, forecasts come back
as CPU tensors, the cache stores CPU weights (a CPU model's cache key is unchanged; a GPU model's
adds the device). The chapters' ``full`` tiers (d = 128, 4 layers) use it; they have not run on a GPU.

Modules: ``config`` (knobs, :func:`mini_bolt`), ``scaling`` (mean/instance scaling, the bin
quantizer), ``patching``, ``embedding`` (ResidualBlock, quantized and continuous patch
embeddings), ``transformer``, ``model``, ``losses``, ``synthetic`` (KernelSynth-style GPs and
the probe families), ``corpus`` (training corpora, synthetic and :mod:`lab.data`), ``train``.
"""
from .config import DECODINGS, EMBEDDINGS, LOSSES, QUANTILES, SCALINGS, TSFMConfig, mini_bolt
from .corpus import FAMILIES, Corpus, mixture, real_corpus, synthetic_corpus
from .model import TSFM, as_context, build_model
from .train import train

__all__ = ["TSFMConfig", "mini_bolt", "TSFM", "build_model", "train", "Corpus", "synthetic_corpus",
           "mixture", "real_corpus", "as_context", "QUANTILES", "SCALINGS", "EMBEDDINGS", "LOSSES",
           "DECODINGS", "FAMILIES"]
