"""Watermark schemes, detectors and image metrics for ``book/semantic_regen.md``.

* :mod:`lab.watermark.dwtdct` — the ``invisible-watermark`` ``dwtDct`` scheme, re-implemented
  (Haar DWT, 4×4 blocks, the reference quantiser and its quirks).
* :mod:`lab.watermark.treering` — TreeRing on an analytic-score Gaussian diffusion fixture
  (exact DDIM sampling and inversion, ring key in the centred FFT of ``x_T``, χ² p-value).
* :mod:`lab.watermark.diffusion` — TreeRing-mini's learned model: a small pixel-space U-Net DDPM
  trained in-process (residual to a stationary-Gaussian noise predictor), DDIM sampling and
  inversion, regeneration and RePaint, all batched on any device.
* :mod:`lab.watermark.stegastamp` — a StegaStamp stand-in: a small learned encoder/decoder
  trained through blur, noise and JPEG-like noise layers, carrying a bit string.
* :mod:`lab.watermark.metrics` — mSSIM exactly as the SemanticRegen code defines it, strict
  foreground-only SSIM, PSNR, bit accuracy and binomial p-values.
"""
