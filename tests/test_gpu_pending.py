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
    monkeypatch.setattr(runner, "ChapterJob", lambda it, *a: started.append(it.name))
    outcomes = runner.run_pending(30, log=lambda *_: None)  # 30 s fits no chapter (≥ 100 s expected)
    chapters_run = [o for o in outcomes if o.item.kind == "chapter" and o.state != "skipped"]
    assert not chapters_run
    assert all("left" in o.detail for o in outcomes if o.state == "skipped")
    assert "still pending" in runner.summary(outcomes)


FAKE_RUN = """
import json, os, pathlib, sys, time
name, sleep = sys.argv[1], float(sys.argv[2])
time.sleep(sleep)
if name == "broken":
    sys.exit("the chapter failed")
run = pathlib.Path(os.environ["LAB_RUNS_DIR"]) / name / "20261204T160000-full"
run.mkdir(parents=True)
(run / "results.json").write_text(json.dumps({"chapter": name, "scale": "full", "claims": [],
    "provenance": {"started_utc": "2026-12-04T16:00:00+00:00", "threads": os.environ.get("OMP_NUM_THREADS")}}))
(run / f"{name}.ipynb").write_text("{}")
"""


def test_parallel_full_tiers_share_the_budget_and_name_each_other(tree, monkeypatch, tmp_path):
    """Two stand-in full tiers run at once (each record names the other), CPU threads are split,
    each run's log is kept, and a run past the deadline is stopped and writes nothing."""
    import sys
    import time as _time

    root, _ = tree
    script = tmp_path / "fake_run.py"
    script.write_text(FAKE_RUN)
    sleeps = {"inversion_bias": 1.0, "ets": 1.0, "flex": 30.0}
    monkeypatch.setattr(runner, "cuda_available", lambda: True)
    monkeypatch.setattr(runner, "expected_seconds", lambda it: (0.1, "test"))
    monkeypatch.setattr(runner, "chapter_command",
                        lambda it: [sys.executable, str(script), it.name, str(sleeps[it.name])])
    logs = tmp_path / "logs"
    t0 = _time.monotonic()
    outcomes = runner.run_pending(6, log=lambda *_: None, jobs=3, only=["inversion_bias", "ets", "flex"],
                                  logs=logs, poll_s=0.05)
    wall = _time.monotonic() - t0
    state = {o.item.name: o.state for o in outcomes}
    assert state == {"inversion_bias": "wrote", "ets": "wrote", "flex": "timed out"}
    # the records naming each other (below) show the overlap; wall time only shows that the run past
    # the deadline was stopped there rather than left to its 30 s (CI's loaded cores delay starts)
    assert wall < 25
    rec = json.loads(next((root / "results" / "ets").glob("*-full.json")).read_text())
    assert rec["gpu_run"]["jobs_beside"] == ["flex", "inversion_bias"]
    assert rec["provenance"]["threads"] == str(max(1, (__import__("os").cpu_count() or 1) // 3))
    assert (root / "results" / "ets" / "20261204T160000Z-full.ipynb").exists()
    assert not (root / "results" / "flex").exists()
    assert (logs / "flex.log").exists() and (logs / "ets.log").exists()


def test_a_failed_full_tier_keeps_its_log_and_names_the_error(tree, monkeypatch, tmp_path):
    import sys

    script = tmp_path / "fake_run.py"
    script.write_text(FAKE_RUN)
    monkeypatch.setattr(runner, "cuda_available", lambda: True)
    monkeypatch.setattr(runner, "expected_seconds", lambda it: (0.1, "test"))
    monkeypatch.setattr(runner, "chapter_command", lambda it: [sys.executable, str(script), "broken", "0"])
    logs = tmp_path / "logs"
    [out] = runner.run_pending(20, log=lambda *_: None, only=["ets"], logs=logs, poll_s=0.05)
    assert out.state == "failed" and "the chapter failed" in out.detail
    assert "the chapter failed" in (logs / "ets.log").read_text()


def test_lab_gpu_names_an_unknown_item_before_looking_for_cuda(tree, capsys):
    assert main(["gpu", "--budget", "60", "no_such_chapter"]) == 2
    assert "no_such_chapter" in capsys.readouterr().err


def test_try_all_starts_a_run_longer_than_the_budget_and_stops_it(tree, monkeypatch, tmp_path):
    import sys

    script = tmp_path / "fake_run.py"
    script.write_text(FAKE_RUN)
    monkeypatch.setattr(runner, "cuda_available", lambda: True)
    monkeypatch.setattr(runner, "expected_seconds", lambda it: (1000.0, "test"))
    monkeypatch.setattr(runner, "chapter_command", lambda it: [sys.executable, str(script), it.name, "30"])
    [skipped] = runner.run_pending(2, log=lambda *_: None, only=["ets"], poll_s=0.05)
    assert skipped.state == "skipped"
    [stopped] = runner.run_pending(2, log=lambda *_: None, only=["ets"], poll_s=0.05, try_all=True)
    assert stopped.state == "timed out" and stopped.seconds < 10
