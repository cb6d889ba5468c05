"""Asymmetric uniform group quantization, real bit-packing, and exact bit accounting.

* :mod:`lab.quant.uniform`: :func:`quantize`, :func:`dequantize`, :func:`fake_quantize`.
* :mod:`lab.quant.packing`: :func:`pack` / :func:`unpack` for 1..8-bit codes.
* :mod:`lab.quant.accounting`: bits per value and memory relative to an FP16 KV cache.
"""
from lab.quant.accounting import bits_per_token, bits_per_value, memory_ratio
from lab.quant.packing import pack, unpack
from lab.quant.uniform import Quantized, dequantize, fake_quantize, quantize

__all__ = ["Quantized", "bits_per_token", "bits_per_value", "dequantize", "fake_quantize",
           "memory_ratio", "pack", "quantize", "unpack"]
