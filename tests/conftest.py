"""Shared test setup.

Triton's ``@triton.jit`` reads ``TRITON_INTERPRET`` when a kernel module is imported, so it
is set here, before any test module imports ``triton``: the kernels then run in Triton's
interpreter on CPU tensors. A test that needs the variable unset (or a real GPU compile)
runs in a subprocess; see ``tests/test_kernels_fwht.py``.
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
