"""Shared test setup.

Triton's ``@triton.jit`` reads ``TRITON_INTERPRET`` when a kernel module is imported, so it
is set here, before any test module imports ``triton``: the kernels then run in Triton's
interpreter on CPU tensors. A test that needs the variable unset (or a real GPU compile)
runs in a subprocess; see ``tests/test_kernels_fwht.py``.
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

# Two pytest workers share two cores: one BLAS thread each, also in the chapter kernels they start
# (`lab book` keeps a thread count that is already set). Oversubscribed BLAS pools spin and can
# make a chapter run ten times slower.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
