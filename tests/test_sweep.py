"""`lab sweep`: a grid of checked runs under one folder, summarised by the rule book, resumable."""
import json
from pathlib import Path

import pytest

from lab.chapters import ChapterError
from lab.claims import Status
from lab.cli import main
from lab.sweep import manifest as mf
from lab.sweep.grid import combinations


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    return tmp_path / "runs"


def test_combinations_are_the_product_in_order():
    assert combinations({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    with pytest.raises(ChapterError, match="repeats"):
        combinations({"a": [1, 1]})


def test_bad_sweeps_stop_before_any_folder(runs, capsys):
    assert main(["sweep", "inversion_bias", "-p", "seeds", "0", "1"]) == 2
    assert "unknown parameter" in capsys.readouterr().err
    assert main(["sweep", "inversion_bias", "-p", "seed", "0", "zero"]) == 2
    assert main(["sweep", "inversion_bias", "-p", "scale", "smoke", "book"]) == 2
    assert main(["sweep", "nope", "-p", "seed", "0"]) == 2
    assert not runs.exists() or not any(runs.rglob("manifest.json"))


def _sweep_folder(runs: Path) -> Path:
    (folder,) = [p.parent for p in (runs / "sweeps" / "inversion_bias").glob("*/manifest.json")]
    return folder


def _check_summary_matches_runs(folder: Path):
    man = mf.load(folder)
    summary = json.loads((folder / "summary.json").read_text())
    results = [json.loads((Path(r["dir"]) / "results.json").read_text()) for r in man["runs"]]
    assert [r["parameters"]["seed"] for r in results] == [0, 1, 2]
    assert all(Path(r["dir"]).parent == folder for r in man["runs"])
    assert summary["sweep"]["runs"] == 3 and "sweep of 3 runs" in summary["title"]
    for agg in summary["claims"]:
        per_run = [next(c for c in res["claims"] if c["id"] == agg["id"]) for res in results]
        assert agg["runs_status"] == [c["status"] for c in per_run]
        means = [c["mean"] for c in per_run if c["mean"] is not None]
        if means:
            assert agg["runs_mean"] == pytest.approx(sum(means) / len(means))
        if all(s == Status.REPRODUCED.value for s in agg["runs_status"]):
            assert agg["status"] == Status.REPRODUCED.value
        elif all(s == Status.NOT_CHECKABLE.value for s in agg["runs_status"]):
            assert agg["status"] == Status.NOT_CHECKABLE.value
        else:
            assert agg["status"] != Status.REPRODUCED.value
        assert "over the sweep's runs" in agg["rule"] or agg["kind"] == "not checkable"
    return man


@pytest.mark.slow
def test_local_sweep_over_three_seeds_summarises_its_runs(runs, capsys):
    assert main(["sweep", "inversion_bias", "--scale", "smoke", "-p", "seed", "0", "1", "2",
                 "--jobs", "2"]) == 0, capsys.readouterr().err
    folder = _sweep_folder(runs)
    man = _check_summary_matches_runs(folder)
    assert all(r["state"] == "done" for r in man["runs"])
    # the sweep's runs are not single runs: the chapter's own run list stays empty
    assert not (runs / "inversion_bias").exists()
    # the scorecard can show the sweep in place of a single run, saying so
    out = Path(folder) / "card.md"
    from lab import scorecard
    summary = json.loads((folder / "summary.json").read_text())
    scorecard.write({"inversion_bias": summary}, out)
    assert "sweep of 3 runs" in out.read_text()


@pytest.mark.slow
def test_submitit_local_sweep_and_resume_keep_finished_runs(runs, capsys):
    pytest.importorskip("submitit")
    assert main(["sweep", "inversion_bias", "--scale", "smoke", "-p", "seed", "0", "1", "2",
                 "--executor", "submitit-local", "--jobs", "3"]) == 0, capsys.readouterr().err
    folder = _sweep_folder(runs)
    man = _check_summary_matches_runs(folder)
    # interrupt run 1 after the fact: resume reruns it alone, into a fresh folder
    kept = {r["index"]: r["dir"] for r in man["runs"]}
    (Path(kept[1]) / "INTERRUPTED").write_text("test\n")
    stamp = {i: (Path(d) / "results.json").stat().st_mtime_ns for i, d in kept.items()}
    assert main(["sweep", "--resume", str(folder), "--executor", "submitit-local"]) == 0
    man = _check_summary_matches_runs(folder)
    dirs = {r["index"]: r["dir"] for r in man["runs"]}
    assert dirs[0] == kept[0] and dirs[2] == kept[2] and dirs[1] != kept[1]
    assert (Path(kept[1]) / "results.json").exists(), "the interrupted run's folder is left as it was"
    assert (Path(dirs[0]) / "results.json").stat().st_mtime_ns == stamp[0]
    assert "1 run(s) of inversion_bias" in capsys.readouterr().out
