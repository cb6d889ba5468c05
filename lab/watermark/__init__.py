"""Watermark schemes, detectors and image metrics for ``book/semantic_regen.md``.

* :mod:`lab.watermark.dwtdct` — the ``invisible-watermark`` ``dwtDct`` scheme, re-implemented
  (Haar DWT, 4×4 blocks, the reference quantiser and its quirks).
* :mod:`lab.watermark.treering` — TreeRing on an analytic-score Gaussian diffusion fixture
  (exact DDIM sampling and inversion, ring key in the centred FFT of ``x_T``, χ² p-value).
* :mod:`lab.watermark.metrics` — mSSIM exactly as the SemanticRegen code defines it, strict
  foreground-only SSIM, PSNR, bit accuracy and binomial p-values.
"""
