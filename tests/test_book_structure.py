"""The book's structure agrees with itself: toc, intro, chapters, packaging."""
import re
import tomllib

import yaml

from lab import chapters
from lab.paths import book_dir, repo_root

ROOT = repo_root()


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [c["file"] for part in toc["parts"] for c in part["chapters"]]


def test_toc_lists_every_written_chapter_and_nothing_missing():
    files = _toc_files()
    for name in chapters.available():
        assert f"book/{name}" in files
    for f in files:
        assert (ROOT / f"{f}.md").exists() or f in ("book/scorecard", "book/gpu_work", "book/kernels"), f  # generated


def test_intro_lists_all_fourteen_papers_and_links_the_written_ones():
    intro = (book_dir() / "intro.md").read_text()
    assert len(chapters.PAPERS) == 14
    for name in chapters.PAPERS:
        if name in chapters.available():
            assert f"{{doc}}`{name}`" in intro, f"intro does not link the chapter {name}"
        else:
            assert f"(`{name}`, planned)" in intro, f"intro does not list the planned {name}"
    cited = set(re.findall(r"\{cite\}`([^`]+)`", intro))
    bib = set(re.findall(r"@\w+\{([^,]+),", (book_dir() / "references.bib").read_text()))
    assert len(cited) == 14 and cited <= bib


def test_every_chapter_declares_scale_with_book_default():
    for name in chapters.available():
        params = chapters.parameters(name)
        assert params["scale"].default == "book" and params["scale"].annotation == "str"


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0].lower()


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pinned = {_name(r): r for r in pip if not r.startswith("-e")}
    for req in wanted:
        name = _name(req)
        assert name in pinned, f"{name} is in pyproject.toml but not environment.yml"
        if name != "torch":
            assert pinned[name].replace(" ", "") == req.replace(" ", ""), (pinned[name], req)
    # torch: environment.yml pins the CPU release that the pyproject range admits.
    from packaging.specifiers import SpecifierSet
    torch_range = SpecifierSet(next(r for r in wanted if _name(r) == "torch")[len("torch"):])
    assert pinned["torch"].split("==")[1] in torch_range
