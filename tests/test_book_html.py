"""The rendered book's pieces, without building it: HTML extension, staging, scorecard, figures, prose."""
import json
import re
import subprocess
from pathlib import Path

import pytest

from lab import book, book_html, figures, scorecard
from lab.claims import BEFORE_RULE_BOOK, Claim, Claims, Status, claims_html, rules
from lab.paths import book_dir


def test_repeated_inline_scripts_are_dropped_once_seen():
    page = ("<head>\n<script>const THEBE_JS_URL = 1;</script>\n<script src='a.js'></script>\n"
            "<script>const THEBE_JS_URL = 1;</script>\n<script>let other = 2;</script>\n</head>\n")
    out = book_html.dedupe_inline_scripts(page)
    assert out.count("THEBE_JS_URL") == 1 and "a.js" in out and "other" in out


def test_author_year_labels_tell_two_papers_of_one_author_and_year_apart():
    from pybtex.database import parse_string
    from pybtex.plugin import find_plugin

    book_html._register_bibtex_style()
    bib = parse_string("""
    @article{a, author={Hooper, Coleman and Kim, Sehoon and Moon, Suhong}, title={ETS}, journal={arXiv}, year={2025}}
    @article{b, author={Hooper, Coleman and Zhao, Sebastian and Kim, Sehoon}, title={Multipole}, journal={arXiv}, year={2025}}
    @article{c, author={Niu, Chengmei and Derezi{\\'n}ski, Micha{\\l}}, title={Bias}, journal={arXiv}, year={2025}}
    """, "bibtex")
    style = find_plugin("pybtex.style.formatting", "lab")()
    labels = sorted(e.label for e in style.format_entries(bib.entries.values()))
    assert labels == ["Hooper et al. 2025a", "Hooper et al. 2025b", "Niu and Dereziński 2025"], labels


def test_config_uses_the_label_style_in_text_and_list():
    import yaml

    cfg = yaml.safe_load((book_dir().parent / "_config.yml").read_text())["sphinx"]
    assert "lab.book_html" in cfg["extra_extensions"]
    assert cfg["config"]["bibtex_default_style"] == "lab" and cfg["config"]["bibtex_reference_style"] == "label"
    assert cfg["config"]["html_context"]["default_mode"] in ("light", "dark", "auto")


def test_staged_notebook_hides_the_injected_cell_and_keeps_it(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "seed = 0"},
                    {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "source": "seed = 3"}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    src, dest = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    src.write_text(json.dumps(nb))
    book.hide_injected_parameters(src, dest)
    cells = json.loads(dest.read_text())["cells"]
    assert cells[1]["metadata"]["tags"] == ["injected-parameters", "remove-cell"] and cells[1]["source"] == "seed = 3"
    assert cells[0]["metadata"]["tags"] == ["parameters"]


def test_book_build_output_is_quiet_unless_verbose(tmp_path, monkeypatch, capsys):
    noisy = ("Running Jupyter-Book v1.0.4\nSource Folder: x\n\x1b[01mmyst v3.0.1:\x1b[39;49;00m MdParserConfig(commonmark_only=False)\n"
             "\x1b[01mmyst-nb v1.4.0:\x1b[39;49;00m NbParserConfig(custom_formats={})\n"
             "\x1b[01mreading sources... \x1b[39;49;00m[ 14%] book/flex\n"
             "/x/book/flex.ipynb:12: WARNING: something real\nThe HTML pages are in _build/html.\n")
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, noisy, ""))
    assert book.build_html(tmp_path) == 0
    out = capsys.readouterr().out
    assert "WARNING: something real" in out and "HTML pages are in" in out
    assert "MdParserConfig" not in out and "NbParserConfig" not in out and "reading sources" not in out


def _claims():
    c = Claims("inversion_bias", "book")
    c.judge("exact-one", "an identity", paper_value="1", paper_source="Eq. 1", criterion="|x - 1| < 1e-9",
            verdict=rules.tolerance([1.0], target=1.0, tol=1e-9), ours=1.0)
    c.not_checkable("gpu-only", "a GPU claim", paper_value="2", paper_source="Fig. 2", criterion="c", reason="needs a GPU")
    old = Claim.from_dict({**c.items[0].to_dict(), "id": "old", "kind": "", "rule": ""})
    return c.items + [old]


def test_claims_table_labels_cells_and_names_kind_rule_or_the_rule_book():
    html = claims_html(_claims())
    assert html.count('data-label="criterion (kind: rule)"') == 3 and 'data-label="status"' in html
    assert "status-reproduced" in html and "status-not-checkable" in html
    assert BEFORE_RULE_BOOK in html and html.count(BEFORE_RULE_BOOK) == 1


def test_scorecard_opens_with_summary_counts_and_figure(monkeypatch):
    items = _claims()
    res = {"chapter": "inversion_bias", "title": "Inversion bias", "scale": "book", "parameters": {"scale": "book"},
           "claims": [c.to_dict() for c in items], "reproduce": "lab run inversion_bias --scale book",
           "provenance": {"started_utc": "2026-12-01T00:00:00", "device": "CPU: test", "commit": "abc"}}
    monkeypatch.setattr(scorecard.chapters, "available", lambda: ["inversion_bias"])
    monkeypatch.setattr(scorecard, "latest_by_tier", lambda name, pinned=None: {"book": res})
    page = scorecard.render()
    assert page.index("## Summary") < page.index("lab-score-summary") < page.index("<svg") < page.index("## Claims per chapter")
    assert re.search(r'status-reproduced" style="[^"]*">2<', page)  # two reproduced claims in the summary row
    assert "<title>2 reproduced</title>" in page and "<details>" in page and BEFORE_RULE_BOOK in page


def test_small_fonts_are_raised_to_nine_points_at_page_width():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.5), dpi=100)
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="line")
        ax.set_title("panel", fontsize=8)
        ax.legend(fontsize=7)
    floor = figures.legible(fig)
    assert floor == pytest.approx(9 * 96 / (100 * figures.PAGE_PX / 1500))
    fig.canvas.draw()
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text() and t.get_visible()]
    assert texts and min(t.get_fontsize() for t in texts) >= floor - 1e-9
    plt.close(fig)
    small, _ = plt.subplots(figsize=(4, 3), dpi=100)  # 400 px: shown at full size, 9 pt needs 8.64 pt
    assert figures.min_font_pt(4, 100) == pytest.approx(8.64)
    plt.close(small)


def test_figure_formatter_is_wrapped_once():
    class Formatter:
        def __init__(self):
            self.table = {object: lambda fig, *a, **k: "png"}

        def lookup_by_type(self, cls):
            return self.table[cls]

        def for_type(self, cls, fn):
            self.table[cls] = fn

    calls = []
    f = Formatter()
    original = figures.legible
    try:
        figures.legible = lambda fig: calls.append(fig)
        assert figures.wrap_formatter(f, object) and figures.wrap_formatter(f, object)
        assert f.lookup_by_type(object)("fig") == "png" and calls == ["fig"]
    finally:
        figures.legible = original


def test_stylesheet_makes_claims_cards_on_narrow_screens_and_pads_timings():
    css = (Path(book_html.__file__).with_name("book_static") / "lab.css").read_text()
    assert "@media (max-width: 700px)" in css and "attr(data-label)" in css
    assert re.search(r"table\.lab-kernel-timing td \{[^}]*padding", css)
    assert re.search(r"span\.pasted-text \{ font-weight: inherit", css)


HISTORY = re.compile(r"an earlier version|earlier attempt|previous version|this page used to|an earlier draft|"
                     r"in an earlier run|we used to", re.I)


@pytest.mark.parametrize("page", sorted(p.name for p in book_dir().glob("*.md") if p.name != "scorecard.md"))
def test_no_reader_facing_sentence_tells_the_projects_history(page):
    text = (book_dir() / page).read_text()
    assert not HISTORY.search(text), HISTORY.search(text).group(0)


@pytest.mark.slow
def test_a_kernel_displays_figures_through_legible(tmp_path):
    """In a real IPython kernel (as papermill runs a chapter), :func:`figures.install` wraps the
    inline backend's PNG formatter, so a displayed figure's small fonts are raised."""
    import nbformat
    import papermill as pm

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        f"import sys; sys.path.insert(0, {str(Path(figures.__file__).parents[1])!r})\n"
        "from lab import figures\nassert figures.install()\nimport matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(1, 4, figsize=(15, 3))\nax[0].set_title('t', fontsize=8)\nplt.show()\n"
        "print(ax[0].title.get_fontsize(), figures.min_font_pt(15, fig.dpi))")]
    nbformat.write(nb, tmp_path / "in.ipynb")
    pm.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), progress_bar=False)
    out = nbformat.read(tmp_path / "out.ipynb", 4).cells[0].outputs
    assert any("image/png" in o.get("data", {}) for o in out)
    size, floor = map(float, next(o["text"] for o in out if o.get("name") == "stdout").split())
    assert size == pytest.approx(floor) and size > 8
