"""`lab gpu --list`: a record is current while its chapter's or kernel's sources are unchanged."""
import json
import shutil
import subprocess

import pytest

from lab import paths
from lab.cli import main
from lab.gpu import pending, runner, sources


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A copy of lab/, kernels/ and book/ in a git repository of its own, with empty results/."""
    root = tmp_path / "repo"
    for d in ("lab", "kernels", "book"):
        shutil.copytree(paths.repo_root() / d, root / d, ignore=shutil.ignore_patterns("__pycache__"))
    for mod in (paths, sources, pending, runner):
        monkeypatch.setattr(mod, "repo_root", lambda: root, raising=False)
    for mod in (paths, sources):
        monkeypatch.setattr(mod, "book_dir", lambda: root / "book", raising=False)
    monkeypatch.setattr("lab.chapters.book_dir", lambda: root / "book")
    monkeypatch.setenv("LAB_RESULTS_DIR", str(root / "results"))
    git = lambda *a: subprocess.run(["git", *a], cwd=root, check=True, capture_output=True, text=True)  # noqa: E731
    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base")
    return root, git("rev-parse", "--short=12", "HEAD").stdout.strip()


def _record(root, chapter, **prov):
    d = root / "results" / chapter
    d.mkdir(parents=True, exist_ok=True)
    rec = {"chapter": chapter, "scale": "full", "claims": [],
           "provenance": {"started_utc": "2026-11-22T15:00:00+00:00", "wall_time_s": 100.0, **prov}}
    (d / "20261122T150000Z-full.json").write_text(json.dumps(rec))


def test_chapter_sources_follow_imports_into_packages():
    files = {str(p.relative_to(paths.repo_root())) for p in sources.chapter_sources("xquant")}
    assert "book/xquant.md" in files and "lab/xquant/methods.py" in files
    assert any(f.startswith("lab/llm/") for f in files) and "kernels/dequant_matmul.py" in files
    assert not any(f.startswith("lab/claims") or f == "lab/run.py" for f in files), "the spine is left out"
    assert not any(f.startswith("lab/flex/") for f in files)


def test_list_is_exact_by_code_hash_and_by_commit(tree):
    root, sha = tree
    _record(root, "inversion_bias", code_hash=sources.chapter_hash("inversion_bias"))
    _record(root, "flex", commit=sha + "+dirty")  # an old record without code_hash
    by = {(i.kind, i.name): i for i in pending.items()}
    assert not by[("chapter", "inversion_bias")].pending
    assert not by[("chapter", "flex")].pending
    assert by[("chapter", "xquant")].pending and "no committed" in by[("chapter", "xquant")].reason
    # change one chapter's source: only that chapter becomes pending, naming what changed
    f = root / "lab" / "inversion_bias" / "sketches.py"
    f.write_text(f.read_text() + "\n# changed\n")
    g = root / "lab" / "flex" / "train.py"
    g.write_text(g.read_text() + "\n# changed\n")
    by = {(i.kind, i.name): i for i in pending.items()}
    assert by[("chapter", "inversion_bias")].pending and "code hash differs" in by[("chapter", "inversion_bias")].reason
    assert by[("chapter", "flex")].pending and "lab/flex/train.py" in by[("chapter", "flex")].reason
    # the other chapters did not import those packages: unchanged status
    assert by[("chapter", "xquant")].reason.startswith("no committed")


def test_unknown_commit_counts_as_pending(tree):
    root, _ = tree
    _record(root, "flex", commit="0123456789ab")
    item = pending.chapter_item("flex")
    assert item.pending and "cannot compare" in item.reason


def test_lab_gpu_list_prints_and_running_needs_cuda(tree, capsys, monkeypatch):
    assert main(["gpu", "--list"]) == 0
    out = capsys.readouterr().out
    assert "PENDING" in out and "inversion_bias" in out
    monkeypatch.setattr(runner, "cuda_available", lambda: False)
    assert main(["gpu", "--budget", "60"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_runner_skips_what_does_not_fit_and_never_starts_it(tree, monkeypatch):
    monkeypatch.setattr(runner, "cuda_available", lambda: True)
    started = []
    monkeypatch.setattr(runner, "run_kernel", lambda it, t: started.append(it.name) or runner.Outcome(it, "wrote", "x"))
    monkeypatch.setattr(runner, "run_chapter", lambda it, t: started.append(it.name) or runner.Outcome(it, "wrote", "x"))
    outcomes = runner.run_pending(30, log=lambda *_: None)  # 30 s fits no chapter (≥ 100 s expected)
    chapters_run = [o for o in outcomes if o.item.kind == "chapter" and o.state != "skipped"]
    assert not chapters_run
    assert all("left" in o.detail for o in outcomes if o.state == "skipped")
    assert "still pending" in runner.summary(outcomes)
