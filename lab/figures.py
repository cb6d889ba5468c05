"""Figures legible at page size: every text at least 9 pt as the page displays it.

The book's text column is :data:`PAGE_PX` CSS pixels wide; an image wider than that is shown
scaled down, and its fonts with it (a 15-inch, 100-dpi figure shrinks to 45 %). :func:`legible`
raises every font of a figure to the size that displays at :data:`MIN_PT` points (12 CSS px) at
that width, then lays the figure out again. :func:`install` applies it to every figure a chapter
displays (called by :class:`lab.run.Run`), so chapters need no font sizes of their own.
"""
from __future__ import annotations

PAGE_PX = 676  # the text column of sphinx-book-theme at a 1280 px window (measured in Chromium)
MIN_PT = 9.0


def min_font_pt(width_in: float, dpi: float, page_px: float = PAGE_PX, min_pt: float = MIN_PT) -> float:
    """Smallest font (pt) of a ``width_in``-inch figure at ``dpi`` that displays at ``min_pt``.

    A font of ``p`` pt is ``p * dpi / 72`` image pixels, shown at ``s = min(1, page_px / (width_in * dpi))``
    of its size; ``min_pt`` points are ``min_pt * 96 / 72`` CSS pixels. Solving for ``p``.
    """
    shown = min(1.0, page_px / (width_in * dpi))
    return min_pt * 96 / (dpi * shown)


def legible(fig, page_px: float = PAGE_PX, min_pt: float = MIN_PT) -> float:
    """Raise every text of ``fig`` below :func:`min_font_pt` to it; returns that size."""
    from matplotlib.text import Text

    width_in = fig.get_size_inches()[0]
    floor = min_font_pt(width_in, fig.dpi, page_px, min_pt)
    changed = False
    for ax in fig.axes:  # tick labels are made at draw time from the axis' tick parameters
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            for which, ticks in (("major", axis.get_major_ticks()), ("minor", axis.get_minor_ticks())):
                if ticks and ticks[0].label1.get_fontsize() < floor - 1e-9:
                    ax.tick_params(axis=name, which=which, labelsize=floor)
                    changed = True
    for text in fig.findobj(Text):
        if text.get_fontsize() < floor - 1e-9:
            text.set_fontsize(floor)
            changed = True
    if changed and not fig.get_layout_engine():
        try:
            fig.tight_layout()
        except Exception:  # a layout that cannot be tightened is still drawn
            pass
    return floor


def wrap_formatter(formatter, figure_cls) -> bool:
    """Make ``formatter`` (IPython's image/png formatter) pass each figure through :func:`legible`."""
    try:
        original = formatter.lookup_by_type(figure_cls)
    except KeyError:
        return False
    if getattr(original, "_lab_legible", False):
        return True

    def show(fig, *args, **kwargs):
        legible(fig)
        return original(fig, *args, **kwargs)

    show._lab_legible = True
    formatter.for_type(figure_cls, show)
    return True


def install() -> bool:
    """In an IPython kernel: apply :func:`legible` to every figure it displays as PNG."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None:
        return False
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    # matplotlib loads its backend at the first figure, and the inline backend registers its
    # PNG formatter then: make one (and drop it) so there is a formatter to wrap
    plt.close(plt.figure())

    return wrap_formatter(ip.display_formatter.formatters["image/png"], Figure)
