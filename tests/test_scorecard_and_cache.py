"""Scorecard sources and the book's execution cache, on hand-made run folders."""
import json

import pytest

from lab import book, provenance, scorecard
from lab.claims import Claims, rules


def _results(scale, started, params=None, source_hash="h", device="CPU: test"):
    claims = Claims("inversion_bias", scale)
    claims.judge("c1", "s", paper_value="1", paper_source="Thm 1", criterion="c", verdict=rules.tolerance(1.0, target=1, tol=0),
                 ours=[1.0])
    claims.not_checkable("c2", "s", paper_value="2", paper_source="Fig. 2", criterion="c", reason="needs MNIST")
    return {
        "chapter": "inversion_bias", "title": "Inversion bias", "scale": scale,
        "parameters": {"scale": scale, **(params or {})}, "claims": claims.to_list(), "metrics": {},
        "reproduce": f"lab run inversion_bias --scale {scale}",
        "provenance": {"started_utc": started, "device": device, "commit": "abc", "source_hash": source_hash},
    }


def _write_run(runs, name, results, notebook=True):
    folder = runs / "inversion_bias" / name
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results))
    (folder / "provenance.json").write_text(json.dumps(results["provenance"]))  # as `lab run` writes it
    if notebook:
        (folder / "inversion_bias.ipynb").write_text("{}")
    return folder


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    runs, results = tmp_path / "runs", tmp_path / "results"
    monkeypatch.setenv("LAB_RUNS_DIR", str(runs))
    monkeypatch.setattr(scorecard, "results_dir", lambda: results)
    return runs, results


def test_book_tier_uses_only_default_parameter_runs_and_full_tier_comes_from_results(dirs):
    runs, results = dirs
    _write_run(runs, "20260101T000000Z-book", _results("book", "2026-01-01T00:00:00"))
    _write_run(runs, "20260102T000000Z-book", _results("book", "2026-01-02T00:00:00", {"seed": 7}))
    _write_run(runs, "20260103T000000Z-smoke", _results("smoke", "2026-01-03T00:00:00"))
    (results / "inversion_bias").mkdir(parents=True)
    (results / "inversion_bias" / "20260104T000000Z-full.json").write_text(
        json.dumps(_results("full", "2026-01-04T00:00:00", device="GPU: NVIDIA H100")))
    best = scorecard.latest_by_tier("inversion_bias")
    assert set(best) == {"book", "full"}
    assert best["book"]["provenance"]["started_utc"] == "2026-01-01T00:00:00"  # seed=7 run is not the book's
    page = scorecard.render()
    assert "GPU: NVIDIA H100" in page and "(full tier)" in page and "(book tier)" in page
    assert "needs MNIST" in page and "| inversion_bias |" not in page


def test_pinned_run_wins_for_its_tier(dirs):
    runs, _ = dirs
    _write_run(runs, "20260105T000000Z-book", _results("book", "2026-01-05T00:00:00"))
    pinned = _results("book", "2026-01-01T00:00:00", device="CPU: pinned")
    assert scorecard.latest_by_tier("inversion_bias", pinned)["book"]["provenance"]["device"] == "CPU: pinned"


def test_cached_run_needs_matching_source_hash_and_default_parameters(dirs, monkeypatch):
    runs, _ = dirs
    monkeypatch.setattr(book, "source_hash", lambda chapter: "current")
    _write_run(runs, "20260101T000000Z-book", _results("book", "2026-01-01", source_hash="stale"))
    _write_run(runs, "20260102T000000Z-book", _results("book", "2026-01-02", {"seed": 1}, source_hash="current"))
    assert book.cached_run("inversion_bias") is None
    hit = _write_run(runs, "20260103T000000Z-book", _results("book", "2026-01-03", source_hash="current"))
    assert book.cached_run("inversion_bias") == hit
    (hit / "FAILED").write_text("boom")
    assert book.cached_run("inversion_bias") is None


def test_source_hash_changes_with_lab_kernels_and_chapter_sources(tmp_path, monkeypatch):
    sources = ("lab/a.py", "kernels/k.py", "book/ch.md", "results/ch/full.json", "results/kernels/k.json")
    for rel in sources:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    monkeypatch.setattr(provenance, "repo_root", lambda: tmp_path)
    monkeypatch.setattr(provenance, "book_dir", lambda: tmp_path / "book")
    monkeypatch.setattr(provenance, "results_dir", lambda: tmp_path / "results")
    before = provenance.source_hash("ch")
    (tmp_path / "results/other/full.json").parent.mkdir()
    (tmp_path / "results/other/full.json").write_text("{}")
    assert provenance.source_hash("ch") == before, "another chapter's results do not change this page"
    for rel in sources:
        (tmp_path / rel).write_text("x = 2\n")
        after = provenance.source_hash("ch")
        assert after != before, rel
        before = after
