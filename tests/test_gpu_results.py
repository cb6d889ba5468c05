"""Committed GPU results: the full-tier and kernel-timing displays, and the bench runner."""
import json

import pytest

from kernels import bench
from lab import gpu_results


def _full_result(started, value):
    return {
        "chapter": "inversion_bias", "scale": "full",
        "claims": [{"id": "c1", "statement": "s", "paper_value": "1", "paper_source": "Tab. 1",
                    "criterion": "x < 2", "status": "reproduced", "tier": "full",
                    "per_seed": [value], "ours_text": None, "note": ""}],
        "provenance": {"device": "GPU: NVIDIA H100 80GB HBM3", "started_utc": started,
                       "commit": "abc", "torch": "2.11.0", "wall_time_s": 120.0},
    }


def test_full_tier_shows_the_newest_committed_run_with_its_device(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_RESULTS_DIR", str(tmp_path))
    assert "No full-tier run" in gpu_results.FullTier("inversion_bias")._repr_html_()
    folder = tmp_path / "inversion_bias"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(_full_result("2026-11-01T00:00:00+00:00", 1.25)))
    (folder / "b.json").write_text(json.dumps(_full_result("2026-11-20T00:00:00+00:00", 1.5)))
    page = gpu_results.FullTier("inversion_bias")._repr_html_()
    assert "H100" in page and "2026-11-20" in page and "1.5" in page and "lab-claims" in page
    assert "shared machine" not in page
    shared = _full_result("2026-11-21T00:00:00+00:00", 1.5)
    shared["gpu_run"] = {"jobs_beside": ["ets", "flex"]}
    (folder / "c.json").write_text(json.dumps(shared))
    page = gpu_results.FullTier("inversion_bias")._repr_html_()
    assert "beside ets, flex" in page and "shared machine" in page


def test_full_tier_status_says_whether_a_record_is_committed(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_RESULTS_DIR", str(tmp_path))
    assert "has not run on a GPU yet" in gpu_results.full_tier_status("inversion_bias")
    (tmp_path / "inversion_bias").mkdir()
    rec = _full_result("2026-12-04T17:00:00+00:00", 1.0)
    rec["gpu_run"] = {"jobs_beside": ["ets"]}
    (tmp_path / "inversion_bias" / "a.json").write_text(json.dumps(rec))
    text = gpu_results.full_tier_status("inversion_bias")
    assert "NVIDIA H100 80GB HBM3" in text and "2026-12-04" in text and "120 s" in text and "beside 1 other" in text
    assert "not run" not in text


def test_full_tier_flags_claims_and_says_when_it_predates_the_rule_book(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_RESULTS_DIR", str(tmp_path))
    (tmp_path / "inversion_bias").mkdir()
    (tmp_path / "inversion_bias" / "a.json").write_text(json.dumps(_full_result("2026-11-01T00:00:00+00:00", 1.25)))
    full = gpu_results.FullTier("inversion_bias", flags={"c1": "the model was overfit"})
    assert full.judged_before_rule_book  # its claim records no kind
    page = full._repr_html_()
    assert "FLAGGED, not to be read as a result: the model was overfit" in page and "before the rule book" in page
    with pytest.raises(ValueError, match="c9"):
        gpu_results.FullTier("inversion_bias", flags={"c9": "no such claim"})
    judged = _full_result("2026-11-02T00:00:00+00:00", 1.0)
    judged["claims"][0].update(kind="structural", rule="x < 2 at every one of 1")
    (tmp_path / "inversion_bias" / "b.json").write_text(json.dumps(judged))
    assert not gpu_results.FullTier("inversion_bias").judged_before_rule_book


def test_kernel_timing_table_and_its_absence(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_RESULTS_DIR", str(tmp_path))
    assert "No GPU timing" in gpu_results.KernelTiming("fwht")._repr_html_()
    (tmp_path / "kernels").mkdir()
    record = {"op": "fwht", "device": "GPU: H100", "date_utc": "2026-11-22T00:00:00+00:00",
              "torch": "2.11", "triton": "3.6", "results": [{"n": 256, "speedup": 3.14159}]}
    (tmp_path / "kernels" / "fwht.json").write_text(json.dumps(record))
    page = gpu_results.KernelTiming("fwht")._repr_html_()
    assert "<th>speedup</th>" in page and "3.142" in page and "2026-11-22" in page


def test_bench_runner_knows_the_kernels_and_refuses_unknown_ones(tmp_path, capsys):
    assert "fwht" in bench.benchmarked_ops()
    assert bench.main(["no_such_kernel", "--out", str(tmp_path)]) == 2
    assert "unknown kernel" in capsys.readouterr().err


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the CPU-only path")
def test_bench_without_a_gpu_fails_cleanly_and_writes_nothing(tmp_path, capsys):
    assert bench.main(["fwht", "--out", str(tmp_path)]) == 1
    assert "benchmark failed" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.json"))
