"""The authors' ``freealg`` package as an optional peer, behind a scoped NumPy shim.

``freealg`` 0.12.2 calls ``numpy.trapz``, which NumPy 2.4 removed. :func:`numpy_trapz_shim`
puts ``numpy.trapz = numpy.trapezoid`` in place only while freealg runs and only if it is
missing, then takes it away again, so our own code never sees the old name.
"""
from __future__ import annotations

import contextlib
import io
import time

import numpy as np


@contextlib.contextmanager
def numpy_trapz_shim():
    """Provide ``numpy.trapz`` (as ``numpy.trapezoid``) inside the block if NumPy lacks it."""
    added = not hasattr(np, "trapz")
    if added:
        np.trapz = np.trapezoid
    try:
        yield
    finally:
        if added:
            del np.trapz


def available() -> bool:
    try:
        with numpy_trapz_shim():
            import freealg  # noqa: F401
        return True
    except ImportError:
        return False


def freealg_decompress(eigs, size: int, x, *, support=None, K: int = 50, a: float = 0.5, b: float = 0.5,
                       kernel: str = "beta", bandwidth: float = 3e-3, damp: str | None = "jackson",
                       pade: tuple[int, int] = (1, 1), delta: float = 1e-4) -> dict:
    """Fit and decompress with ``freealg.FreeForm`` (paper's Listing 1 settings by default).

    Returns the density on ``x`` and the fit and decompression times in seconds.
    """
    with numpy_trapz_shim(), contextlib.redirect_stdout(io.StringIO()):  # freealg prints mass warnings
        import freealg

        t0 = time.perf_counter()
        ff = freealg.FreeForm(np.asarray(eigs, float), support=support, delta=delta)
        ff.fit(method="jacobi", K=K, alpha=a, beta=b, projection=kernel, kernel_bw=bandwidth,
               damp=damp, continuation="pade", pade_p=pade[0], pade_q=pade[1])
        t1 = time.perf_counter()
        rho, _ = ff.decompress(size, x=np.asarray(x, float))
        t2 = time.perf_counter()
    return {"density": np.asarray(rho, float), "fit_s": t1 - t0, "decompress_s": t2 - t1,
            "version": getattr(freealg, "__version__", "?")}
