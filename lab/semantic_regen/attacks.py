"""The attacks of ``book/semantic_regen.md`` on float images in [0, 1] (H×W×3 or H×W).

* :func:`semantic_regen` — regenerate the repaint mask ``m`` (the background) with an
  inpainter, then either **paste back** the original foreground (only the background changes)
  or **pass through**: the whole result goes through a lossy round trip (JPEG at quality
  ``q``), as the real pipeline's VAE decode changes the foreground too.
* Baselines: :func:`blur` (PIL Gaussian blur, radius scaled to the image side: 8 at 512),
  :func:`jpeg` (the compression attack), and the regeneration attacks of the Gaussian fixture
  (:meth:`lab.watermark.treering.GaussianDiffusion.regenerate`).
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
from PIL import Image, ImageFilter


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(x) * 255.0), 0, 255).astype(np.uint8)


def _check(img: np.ndarray, mask: np.ndarray | None = None) -> None:
    if img.ndim not in (2, 3):
        raise ValueError(f"an image must be H×W or H×W×3, got shape {img.shape}")
    if mask is not None and np.shape(mask) != img.shape[:2]:
        raise ValueError(f"the repaint mask must have the image's H×W shape {img.shape[:2]}, got {np.shape(mask)}")


def blur(img: np.ndarray, radius_at_512: float = 8.0) -> np.ndarray:
    """PIL ``GaussianBlur`` with radius ``radius_at_512 · side / 512`` (the baseline's r = 8 at 512²)."""
    _check(img)
    r = radius_at_512 * img.shape[0] / 512
    return np.asarray(Image.fromarray(to_uint8(img)).filter(ImageFilter.GaussianBlur(r)), np.float64) / 255.0


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """A JPEG round trip at ``quality`` (OpenCV, 4:2:0)."""
    _check(img)
    u8 = to_uint8(img)
    bgr = u8[..., ::-1] if u8.ndim == 3 else u8
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return (out[..., ::-1] if out.ndim == 3 else out).astype(np.float64) / 255.0


def inpaint_telea(img: np.ndarray, repaint: np.ndarray, radius: int = 3) -> np.ndarray:
    """Classical inpainting of the repainted pixels (Telea's fast marching, OpenCV)."""
    _check(img, repaint)
    u8 = to_uint8(img)
    out = cv2.inpaint(u8, np.asarray(repaint, np.uint8), radius, cv2.INPAINT_TELEA)
    return out.astype(np.float64) / 255.0


def replace_background(img: np.ndarray, repaint: np.ndarray, new_background: np.ndarray) -> np.ndarray:
    """A "generated" background: the repainted pixels taken from another photograph."""
    _check(img, repaint)
    if new_background.shape != img.shape:
        raise ValueError(f"the new background has shape {new_background.shape}, the image {img.shape}")
    m = np.asarray(repaint, bool)
    return np.where(m[..., None] if img.ndim == 3 else m, new_background, img)


def semantic_regen(img: np.ndarray, repaint: np.ndarray, inpainter: Callable[[np.ndarray, np.ndarray], np.ndarray],
                   foreground: str = "pass", quality: int = 75) -> np.ndarray:
    """SemanticRegen-lite: inpaint the repaint mask, then ``'paste'`` back or ``'pass'`` through.

    ``paste``: ``y = m·inpaint(x) + (1-m)·x``; ``pass``: ``y = JPEG_q(m·inpaint(x) + (1-m)·x)``.
    """
    _check(img, repaint)
    if foreground not in ("paste", "pass"):
        raise ValueError(f"foreground must be 'paste' or 'pass', got {foreground!r}")
    m = np.asarray(repaint, bool)
    filled = inpainter(img, m)
    out = np.where(m[..., None] if img.ndim == 3 else m, filled, img)
    return jpeg(out, quality) if foreground == "pass" else out
