"""`lab book` end to end: executes the chapters, writes the scorecard and renders the HTML.

This builds the real book in the repository (``runs/`` and ``_build/`` are git-ignored), as
``make book`` does; a later ``make book`` reuses the executed runs while sources are unchanged.
"""
import os
import re

import pytest

from lab import book, chapters
from lab.paths import repo_root

from browser import PAGE_CHECKS, Browser, Server, find_chromium

# One worker builds the book once (`make test` runs pytest with --dist loadscope, which keeps a
# module on one worker): two concurrent builds on two cores oversubscribe BLAS threads and ran
# ten times slower.
pytestmark = pytest.mark.slow
HTML = repo_root() / "_build" / "html"


@pytest.fixture(scope="module")
def built():
    saved = os.environ.pop("TRITON_INTERPRET", None)  # chapters take their normal CPU path
    try:
        assert book.main() == 0
    finally:
        if saved is not None:
            os.environ["TRITON_INTERPRET"] = saved
    return HTML


def test_every_chapter_page_has_outputs_claims_provenance_and_download(built):
    for name in chapters.available():
        page = (built / "book" / f"{name}.html").read_text()
        assert "lab-claims" in page, f"{name}: no claims table"
        assert "lab-provenance" in page and "lab run " + name in page, f"{name}: no provenance"
        assert re.search(r"<img [^>]*src=\"[^\"]+\.png\"", page), f"{name}: no figure"
        assert f"{name}.ipynb" in page, f"{name}: no notebook download"
        assert (built / "_sources" / "book" / f"{name}.ipynb").exists()


def test_math_renders_offline(built):
    page = (built / "book" / f"{chapters.available()[0]}.html").read_text()
    scripts = re.findall(r"<script[^>]+src=\"([^\"]+)\"", page)
    assert any("mathjax" in s.lower() for s in scripts)
    assert not any(s.startswith("http") and "mathjax" in s.lower() for s in scripts), scripts


def test_scorecard_lists_every_chapter_with_its_claims(built):
    page = (built / "book" / "scorecard.html").read_text()
    for name in chapters.available():
        assert f"{name}.html" in page
    # a table cell whose text starts with "reproduced": cannot be met by "not reproduced" or
    # "partly reproduced" cells, nor by the summary's column header
    assert re.search(r"<td[^>]*>(?:\s*<[^>]+>)*\s*reproduced\b", page), "no claim is shown as reproduced"


def test_intro_links_chapters_and_bibliography(built):
    intro = (built / "book" / "intro.html").read_text()
    assert "Niu" in intro and "inversion_bias.html" in intro
    assert "intro.html" in (built / "index.html").read_text()  # the landing page redirects there


def test_injected_parameters_are_off_the_page_but_in_the_download(built):
    for name in chapters.available():
        page = (built / "book" / f"{name}.html").read_text()
        assert "injected-parameters" not in page, f"{name}: papermill's injected cell is on the page"
        notebook = (built / "_sources" / "book" / f"{name}.ipynb").read_text()
        assert "injected-parameters" in notebook, f"{name}: the download lost the injected cell"


def test_citations_have_one_author_year_label_style_and_distinct_keys(built):
    intro = (built / "book" / "intro.html").read_text()
    for label in ("Hooper et al. 2025a", "Hooper et al. 2025b", "Ameli et al. 2025a", "Ameli et al. 2025b"):
        assert intro.count(f">{label}<") >= 2, f"{label}: not both in the text and in the list"
    assert "HKM+25" not in intro and "<em>et al.</em>, 2025" not in intro


def test_scorecard_opens_with_a_summary_table_and_figure(built):
    page = (built / "book" / "scorecard.html").read_text()
    assert page.index("lab-score-summary") < page.index("lab-claims")
    assert "<svg" in page and "lab-score-figure" in page and "status-reproduced" in page


def test_every_page_in_a_real_browser(built):
    """Headless Chromium at 1280 and 390 px: MathJax typeset every formula without an error, every
    image loaded, no request left localhost, no console error, claims tables fit at 390 px."""
    exe, why = find_chromium()
    if exe is None:
        pytest.skip(why)
    pages = sorted(p.relative_to(built).as_posix() for p in built.rglob("*.html") if "_static" not in p.parts)
    problems = []
    browser = Browser(exe)
    try:
        with Server(built) as server:
            for width in (1280, 390):
                browser.resize(width)
                for page in pages:
                    seen = browser.load(f"{server.url}/{page}")
                    got = browser.evaluate(PAGE_CHECKS)
                    where = f"{page} at {width} px"
                    problems += [f"{where}: request left localhost: {u}" for u in seen["external"]]
                    problems += [f"{where}: console: {e}" for e in seen["errors"]]
                    problems += [f"{where}: formula not typeset: {t}" for t in got["untypeset"]]
                    problems += [f"{where}: MathJax error: {t}" for t in got["merrors"]]
                    problems += [f"{where}: image not loaded: {s}" for s in got["images"]]
                    problems += [f"{where}: claims table {w} px wide" for w in got["claims"] if w > got["vw"]]
                    problems += [f"{where}: wider than the screen: {w}" for w in got["wide"]]
                    if got["scrollWidth"] > got["vw"]:
                        problems.append(f"{where}: the page scrolls sideways ({got['scrollWidth']} px)")
                    if got["injected"]:
                        problems.append(f"{where}: papermill's injected-parameters cell is visible")
                    if got["boldGlue"]:
                        problems.append(f"{where}: {got['boldGlue']} glued number(s) bolder than their heading")
                    if got["tightCells"]:
                        problems.append(f"{where}: {got['tightCells']} kernel-timing cells without padding")
                    if width == 1280 and got["eqOver"]:
                        problems.append(f"{where}: {got['eqOver']} display equation(s) wider than the column")
    finally:
        browser.close()
    assert not problems, "\n".join(problems)
