"""A Sphinx extension for the rendered book: the page stylesheet, a favicon, one copy of each inline script.

Loaded through ``_config.yml`` (``sphinx.extra_extensions``). It

- adds ``lab/book_static/lab.js`` (display equations wider than the column shrink to fit) and
  ``lab/book_static/lab.css``: tables and long outputs that fit a 390 px screen (the
  claims table becomes one card per claim), padded kernel-timing tables, glued numbers in
  headings in the heading's weight, papermill's injected-parameters cell hidden;
- sets a favicon, so no page requests a missing ``/favicon.ico``;
- drops repeated inline scripts: sphinx-thebe adds its configuration script once per read
  pass, and the second copy fails with ``Identifier 'THEBE_JS_URL' has already been declared``;
- registers the pybtex style ``lab`` (``bibtex_default_style``): the ``plain`` style with
  author-year labels, ``Hooper et al. 2025a`` / ``2025b`` for two papers of one first author and
  year, so the text (``bibtex_reference_style: label``) and the list show the same label.
"""
from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).with_name("book_static")


def _config_inited(app, config) -> None:
    config.html_static_path = [*config.html_static_path, str(STATIC)]
    if not config.html_favicon:
        config.html_favicon = str(STATIC / "favicon.svg")


_INLINE_SCRIPT = re.compile(r"^\s*<script>.*</script>\s*$")


def dedupe_inline_scripts(page: str) -> str:
    """``page`` without the second and later copies of any identical one-line inline ``<script>``."""
    seen, out = set(), []
    for line in page.splitlines(keepends=True):
        if _INLINE_SCRIPT.match(line):
            if line.strip() in seen:
                continue
            seen.add(line.strip())
        out.append(line)
    return "".join(out)


def _build_finished(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    for page in outdir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        fixed = dedupe_inline_scripts(text)
        if 'rel="icon"' not in fixed:  # the landing page is a bare redirect, without the theme's head
            depth = len(page.parent.relative_to(outdir).parts)
            link = f'<link rel="icon" href="{"../" * depth}_static/favicon.svg"/>'
            fixed = fixed.replace("</head>", link + "</head>", 1) if "</head>" in fixed else link + "\n" + fixed
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")


def _plain(latex: str) -> str:
    """A name's LaTeX as text: ``Derezi{\\'n}ski`` -> ``Dereziński``."""
    import codecs

    import latexcodec  # noqa: F401  (pybtex's dependency; registers the "ulatex" codec)

    return codecs.decode(latex, "ulatex").replace("{", "").replace("}", "")


def _register_bibtex_style() -> None:
    from collections import Counter

    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.plain import Style as Plain
    from pybtex.style.labels import BaseLabelStyle

    class AuthorYearLabels(BaseLabelStyle):
        """``Last year``, ``Last and Other year`` or ``Last et al. year``, with a, b... when two collide."""

        @staticmethod
        def base(entry) -> str:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [_plain(" ".join(p.last_names)) for p in people]
            who = (names[0] if len(names) == 1 else f"{names[0]} and {names[1]}" if len(names) == 2
                   else f"{names[0]} et al." if names else entry.key)
            return f"{who} {entry.fields.get('year', '')}".strip()

        def format_labels(self, sorted_entries):
            labels = [self.base(e) for e in sorted_entries]
            total, seen = Counter(labels), Counter()
            for label in labels:
                if total[label] > 1:
                    seen[label] += 1
                    yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
                else:
                    yield label

    class LabStyle(Plain):
        default_label_style = AuthorYearLabels

    register_plugin("pybtex.style.labels", "lab_author_year", AuthorYearLabels, force=True)
    register_plugin("pybtex.style.formatting", "lab", LabStyle, force=True)


def setup(app):
    _register_bibtex_style()
    app.connect("config-inited", _config_inited)
    app.add_css_file("lab.css")
    app.add_js_file("lab.js")
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
