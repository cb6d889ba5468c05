"""`lab book` end to end: executes the chapters, writes the scorecard and renders the HTML.

This builds the real book in the repository (``runs/`` and ``_build/`` are git-ignored), as
``make book`` does; a later ``make book`` reuses the executed runs while sources are unchanged.
"""
import os
import re

import pytest

from lab import book, chapters
from lab.paths import repo_root

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
