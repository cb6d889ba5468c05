"""The ``dwtDct`` watermark of ``invisible-watermark`` 0.2.0, written from its description.

Encoding (``imwatermark/maxDct.py``): BGR → YUV (OpenCV's fixed-point conversion, used here
as the reference does); for the **U** channel only (scales ``[0, 36, 36]`` but the loop stops
at channel 1), a one-level Haar DWT of the top-left ``⌊H/4⌋·4 × ⌊W/4⌋·4`` crop; the LL band is
cut into 4×4 blocks, and block ``k`` carries bit ``b = bits[k mod L]``. In a block, the
largest-magnitude entry other than the first, ``v``, becomes

.. math::  |v| \\mapsto (\\lfloor |v|/s \\rfloor + 0.25 + 0.5\\,b)\\, s,\\qquad s = 36,

with its sign kept. **No DCT is applied** on this path, despite the name. The inverse DWT is
called with the horizontal and vertical detail bands swapped (a quirk of the reference that we
keep: it changes the image even where no bit is written), and the float result is cast to
``uint8`` by truncation, as numpy's assignment into the ``uint8`` YUV array does.

Decoding: the same transform; a block votes ``1`` when ``|v| mod s > s/2``; the votes of each
bit are averaged and thresholded (``mean·255 > 127``). See ``book/semantic_regen.md``.
"""
from __future__ import annotations

import cv2
import numpy as np

BLOCK = 4
SCALE = 36.0
MIN_PIXELS = 256 * 256
_C = 0.7071067811865476  # PyWavelets' Haar filter tap 1/√2, multiplied in the same order


def haar_dwt2(x: np.ndarray):
    """One-level 2-D Haar DWT, bit-identical to ``pywt.dwt2(x, 'haar')`` for even shapes.

    Returns ``(LL, (H, V, D))``; rows are transformed first, then columns:
    ``lo = c·x_even + c·x_odd``, ``hi = c·x_even − c·x_odd`` with ``c = 1/√2``.
    """
    x = np.asarray(x, dtype=np.float64)
    e, o = x[0::2], x[1::2]
    lo, hi = _C * e + _C * o, _C * e - _C * o
    ll, v = _C * lo[:, 0::2] + _C * lo[:, 1::2], _C * lo[:, 0::2] - _C * lo[:, 1::2]
    h, d = _C * hi[:, 0::2] + _C * hi[:, 1::2], _C * hi[:, 0::2] - _C * hi[:, 1::2]
    return ll, (h, v, d)


def _interleave_cols(lo, hi):
    out = np.empty((lo.shape[0], lo.shape[1] * 2))
    out[:, 0::2], out[:, 1::2] = _C * lo + _C * hi, _C * lo - _C * hi
    return out


def haar_idwt2(ll, bands):
    """Inverse of :func:`haar_dwt2` (bit-identical to ``pywt.idwt2(..., 'haar')``)."""
    h, v, d = bands
    lo, hi = _interleave_cols(ll, v), _interleave_cols(h, d)
    out = np.empty((lo.shape[0] * 2, lo.shape[1]))
    out[0::2], out[1::2] = _C * lo + _C * hi, _C * lo - _C * hi
    return out


def text_bits(text: str) -> np.ndarray:
    """The payload bits of a byte string, most significant bit first (``np.unpackbits``)."""
    return np.unpackbits(np.frombuffer(text.encode(), dtype=np.uint8)).astype(np.uint8)


def _check(bgr: np.ndarray, n_bits: int) -> None:
    if not isinstance(bgr, np.ndarray) or bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
        raise ValueError(f"dwtDct needs an H×W×3 uint8 BGR image, got {getattr(bgr, 'shape', None)} "
                         f"{getattr(bgr, 'dtype', type(bgr).__name__)}")
    h, w = bgr.shape[:2]
    if h * w < MIN_PIXELS:
        raise ValueError(f"dwtDct needs H·W ≥ 256² = {MIN_PIXELS} pixels (the reference's minimum); "
                         f"got {h}×{w} = {h * w}")
    if n_bits < 1:
        raise ValueError("the payload needs at least one bit")
    blocks = _n_blocks(h, w)
    if n_bits > blocks:
        raise ValueError(f"payload of {n_bits} bits is longer than the {blocks} 4×4 LL blocks a "
                         f"{h}×{w} image holds")


def _n_blocks(h: int, w: int) -> int:
    return ((h // 4 * 4) // 2 // BLOCK) * ((w // 4 * 4) // 2 // BLOCK)


def _argmax_pos(blocks: np.ndarray) -> np.ndarray:
    """Flat index (1..15) of the largest |entry| after the first, first one on ties (``np.argmax``)."""
    flat = np.abs(blocks.reshape(len(blocks), BLOCK * BLOCK)[:, 1:])
    return np.argmax(flat, axis=1) + 1


def _blocks(ll: np.ndarray) -> np.ndarray:
    r, c = ll.shape[0] // BLOCK, ll.shape[1] // BLOCK
    return ll[: r * BLOCK, : c * BLOCK].reshape(r, BLOCK, c, BLOCK).transpose(0, 2, 1, 3).reshape(r * c, BLOCK, BLOCK)


def encode(bgr: np.ndarray, bits, scale: float = SCALE) -> np.ndarray:
    """Embed ``bits`` (tiled over the blocks, row-major) into a uint8 BGR image; returns a new image."""
    bits = np.asarray(bits, dtype=np.int64).ravel()
    _check(bgr, bits.size)
    rows, cols = bgr.shape[0] // 4 * 4, bgr.shape[1] // 4 * 4
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    ll, (h, v, d) = haar_dwt2(yuv[:rows, :cols, 1])
    r, c = ll.shape[0] // BLOCK, ll.shape[1] // BLOCK
    blk = _blocks(ll).copy()
    pos = _argmax_pos(blk)
    k = np.arange(len(blk))
    flat = blk.reshape(len(blk), -1)
    val = flat[k, pos]
    b = bits[k % bits.size]
    # |v| -> (floor(|v|/s) + 1/4 + b/2) s, sign kept (the reference branches on v >= 0)
    q = (np.abs(val) // scale + 0.25 + 0.5 * b) * scale
    flat[k, pos] = np.where(val >= 0.0, q, -1.0 * q)
    ll = ll.copy()
    ll[: r * BLOCK, : c * BLOCK] = flat.reshape(r, c, BLOCK, BLOCK).transpose(0, 2, 1, 3).reshape(r * BLOCK, c * BLOCK)
    # the reference passes (V, H, D) to the inverse: detail bands swapped
    yuv[:rows, :cols, 1] = haar_idwt2(ll, (v, h, d))  # float -> uint8 by numpy's unsafe cast
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)


def block_votes(bgr: np.ndarray, scale: float = SCALE) -> np.ndarray:
    """Per-block votes ``1{|v| mod s > s/2}`` in block order."""
    _check(bgr, 1)
    rows, cols = bgr.shape[0] // 4 * 4, bgr.shape[1] // 4 * 4
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    ll, _ = haar_dwt2(yuv[:rows, :cols, 1])
    blk = _blocks(ll)
    pos = _argmax_pos(blk)
    val = np.abs(blk.reshape(len(blk), -1)[np.arange(len(blk)), pos])
    return ((val % scale) > 0.5 * scale).astype(np.int64)


def decode(bgr: np.ndarray, n_bits: int, scale: float = SCALE) -> np.ndarray:
    """Decode ``n_bits`` bits: the mean vote of each bit's blocks, thresholded at ``mean·255 > 127``."""
    _check(bgr, n_bits)
    votes = block_votes(bgr, scale)
    k = np.arange(votes.size) % n_bits
    mean = np.bincount(k, weights=votes, minlength=n_bits) / np.bincount(k, minlength=n_bits)
    return (mean * 255 > 127).astype(np.uint8)
