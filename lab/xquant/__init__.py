"""XQuant (Tomar et al., 2025): cache quantized layer inputs X and rebuild K and V at decode time.

* :mod:`lab.xquant.streams`: growing quantized token streams (per token / per channel).
* :mod:`lab.xquant.caches`: KIVI*, XQuant, and the GQA latent path, as caches of :mod:`lab.llm`.
* :mod:`lab.xquant.crosslayer`: XQuant-CL, quantized cross-layer deltas with an accumulator.
* :mod:`lab.xquant.methods`: the method grid and its exact memory accounting.
* :mod:`lab.xquant.outliers`: the function-preserving K/V outlier ablation.
* :mod:`lab.xquant.experiments`, :mod:`lab.xquant.figures`, :mod:`lab.xquant.claims`: the chapter.

See ``book/xquant.md``.
"""
