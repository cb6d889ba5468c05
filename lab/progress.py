"""Progress bars for lab's long loops.

A widget in Jupyter when ``ipywidgets`` is installed, a text bar otherwise (``tqdm.auto``
without ipywidgets warns in every notebook). ``TQDM_DISABLE=1`` turns them off; ``lab book``
sets it so that rendered pages do not carry progress bars.
"""
from __future__ import annotations

from collections.abc import Iterable


def progress(iterable: Iterable, desc: str = "", **kwargs):
    try:
        import ipywidgets  # noqa: F401  (only its presence matters)
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
    return tqdm(iterable, desc=desc, **kwargs)
