"""Choose between a Triton kernel and its torch reference, and say why.

Every public kernel function (``kernels/<op>.py``) calls :func:`pick` with its Triton
wrapper, its torch reference and the input tensor. :func:`pick` returns the Triton
wrapper when Triton can run on the tensor's device and the reference otherwise, logs the
reason once per ``(name, reason)`` on the ``"kernels"`` logger, and remembers it so that a
notebook can print it with :func:`explain`. Triton can run when

* ``triton`` imports, and
* either the Triton interpreter is on (``TRITON_INTERPRET=1``, numpy on the host; only
  tensors on the CPU) or the tensor lives on a CUDA GPU of compute capability >= 7.0.

On a capable GPU the Triton wrapper is still guarded: if Triton itself raises while
compiling or launching (an unsupported instruction, too little shared memory), the
reference runs instead and the failure is logged as a warning rather than killing the
notebook. Under the interpreter nothing is guarded: there an error is a bug in the kernel.

Note that ``triton.jit`` reads ``TRITON_INTERPRET`` when a kernel module is imported, so
the variable has to be set before the first ``import triton``.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from typing import Callable

import torch

logger = logging.getLogger("kernels")

#: Oldest compute capability Triton compiles for (Volta).
MIN_CAPABILITY = (7, 0)

TRITON = "Triton kernel"
REFERENCE = "torch reference"

_last: dict[str, tuple[str, str]] = {}
_logged: set[tuple[str, str]] = set()
_broken: set[tuple[str, str]] = set()


def interpreter_on() -> bool:
    """Whether ``TRITON_INTERPRET`` asks for the Triton interpreter (as Triton parses it)."""
    return os.environ.get("TRITON_INTERPRET", "").strip().lower() in ("1", "true", "on", "yes")


def triton_available(device) -> tuple[bool, str]:
    """Say whether Triton kernels can run on ``device``, and why (not).

    Parameters
    ----------
    device : torch.device or str
        Where the input tensor lives.

    Returns
    -------
    ok : bool
        True when a Triton kernel can run on tensors on ``device``.
    reason : str
        One sentence a reader can act on, e.g. ``"no CUDA device: the tensor is on cpu"``
        or ``"compute capability 6.1 of Tesla P100 is below 7.0"``.
    """
    device = torch.device(device)
    try:
        importlib.import_module("triton")
    except ImportError as exc:
        return False, f"triton is not importable ({exc}); install the 'kernels' extra"
    if interpreter_on():
        if device.type == "cpu":
            return True, "TRITON_INTERPRET=1: the Triton interpreter runs the kernel on the CPU"
        return False, f"TRITON_INTERPRET=1 runs kernels on CPU tensors only; the tensor is on {device}"
    if device.type != "cuda":
        return False, f"no CUDA device: the tensor is on {device.type} (set TRITON_INTERPRET=1 to interpret)"
    if not torch.cuda.is_available():
        return False, "no CUDA device: torch.cuda.is_available() is False"
    index = device.index if device.index is not None else torch.cuda.current_device()
    capability = torch.cuda.get_device_capability(index)
    gpu = torch.cuda.get_device_name(index)
    if tuple(capability) < MIN_CAPABILITY:
        return False, (f"compute capability {capability[0]}.{capability[1]} of {gpu} is below "
                       f"{MIN_CAPABILITY[0]}.{MIN_CAPABILITY[1]}, the oldest Triton compiles for")
    return True, f"{gpu} (cuda:{index}) has compute capability {capability[0]}.{capability[1]}"


def pick(triton_impl: Callable, reference_impl: Callable, x: torch.Tensor, name: str) -> Callable:
    """Return the implementation of ``name`` that should run on ``x``.

    Parameters
    ----------
    triton_impl, reference_impl : callable
        The Triton wrapper and the torch reference; same signature, same result.
    x : torch.Tensor
        The input; only its device matters.
    name : str
        The operation's name, the key for :func:`explain` and the log.

    Returns
    -------
    callable
        ``triton_impl`` (guarded on a GPU, see the module docstring) or ``reference_impl``.
    """
    ok, reason = triton_available(x.device)
    device_key = str(x.device)
    if not ok:
        level = logging.WARNING if x.device.type == "cuda" else logging.INFO
        _record(name, REFERENCE, reason, level)
        return reference_impl
    if (name, device_key) in _broken:
        return reference_impl
    _record(name, TRITON, reason, logging.INFO)
    if interpreter_on():
        return triton_impl
    return _guarded(triton_impl, reference_impl, name, device_key)


def explain(name: str) -> str:
    """One line saying which implementation of ``name`` ran last, and why."""
    if name not in _last:
        return f"{name}: not called yet"
    impl, reason = _last[name]
    return f"{name}: {impl} ({reason})"


def _record(name: str, impl: str, reason: str, level: int) -> None:
    _last[name] = (impl, reason)
    if (name, reason) not in _logged:
        _logged.add((name, reason))
        logger.log(level, "%s: using the %s: %s", name, impl, reason)


def _raised_by_triton(exc: BaseException) -> bool:
    """Whether ``exc`` comes from inside the triton package (compiler, driver, launcher)."""
    if type(exc).__module__.split(".")[0] == "triton":
        return True
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}triton{os.sep}" in tb.tb_frame.f_code.co_filename


def _guarded(triton_impl: Callable, reference_impl: Callable, name: str, device_key: str) -> Callable:
    @functools.wraps(triton_impl)
    def run(*args, **kwargs):
        try:
            return triton_impl(*args, **kwargs)
        except Exception as exc:
            if not _raised_by_triton(exc):
                raise
            _broken.add((name, device_key))
            first_line = (str(exc).strip().splitlines() or [""])[0]
            reason = f"Triton failed on {device_key} ({type(exc).__name__}: {first_line})"
            _record(name, REFERENCE, reason, logging.WARNING)
            return reference_impl(*args, **kwargs)

    return run
