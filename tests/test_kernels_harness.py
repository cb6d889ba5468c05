"""The benchmark harness's plain-Python parts on CPU: roofline arithmetic, budget guard, record format."""
import json

import pytest

from kernels import bench, harness

H100ish = harness.Ceilings(3.0e12, {"float16": 700e12, "bfloat16": 690e12}, "test")


def test_roofline_is_the_larger_of_memory_and_math_time():
    # 3 GB at 3 TB/s = 1 ms; 1.4e12 FLOP at 700 TFLOP/s = 2 ms
    assert harness.roofline_ms(3e9, 0, H100ish) == pytest.approx(1.0)
    assert harness.roofline_ms(3e9, 1.4e12, H100ish) == pytest.approx(2.0)
    assert harness.bound_by(3e9, 1.4e12, H100ish) == "compute"
    assert harness.bound_by(3e9, 0.7e12, H100ish) == "memory"
    assert harness.roofline_ms(0, 6.9e11, H100ish, "bfloat16") == pytest.approx(1.0)
    with pytest.raises(KeyError, match="float8"):
        harness.roofline_ms(1, 1, H100ish, "float8")
    with pytest.raises(ValueError, match="non-negative"):
        harness.roofline_ms(-1, 0, H100ish)


def test_entry_fraction_and_bandwidths():
    e = harness.entry("triton", {"median_ms": 2.0, "p20_ms": 1.9, "p80_ms": 2.2, "cuda_graph": False},
                      min_bytes=3e9, design_bytes=6e9, ceil=H100ish, shape=[4, 4])
    assert e["roofline_ms"] == pytest.approx(1.0) and e["fraction_of_roofline"] == pytest.approx(0.5)
    assert e["achieved_GBps"] == pytest.approx(1500) and e["design_GBps"] == pytest.approx(3000)
    assert e["bound_by"] == "memory" and e["shape"] == [4, 4] and e["p20_ms"] <= e["median_ms"] <= e["p80_ms"]
    no_ceil = harness.entry("x", {"median_ms": 1.0}, min_bytes=1e9)
    assert "fraction_of_roofline" not in no_ceil and no_ceil["design_bytes"] == no_ceil["min_bytes"]
    with pytest.raises(ValueError, match="median_ms"):
        harness.entry("x", {"ms": 1.0}, min_bytes=1)


def test_ceilings_round_trip_through_a_record():
    d = H100ish.as_dict()
    assert d["copy_GBps"] == pytest.approx(3000) and d["matmul_TFLOPs"]["float16"] == pytest.approx(700)
    back = harness.Ceilings.from_dict(json.loads(json.dumps(d)))
    assert back.copy_bytes_per_s == pytest.approx(H100ish.copy_bytes_per_s)
    assert back.matmul("torch.bfloat16") == pytest.approx(690e12)


def test_budget_guard_with_a_fake_clock():
    now = [100.0]
    b = harness.Budget(10.0, clock=lambda: now[0])
    b.check("a", need_s=5)
    now[0] = 107.0
    assert b.elapsed_ms() == pytest.approx(7000) and b.left_s() == pytest.approx(3)
    with pytest.raises(harness.BudgetSpent, match="b: skipped"):
        b.check("b", need_s=5)
    now[0] = 111.0
    with pytest.raises(harness.BudgetSpent):
        b.check("c")
    with pytest.raises(ValueError, match="positive"):
        harness.Budget(0)


def test_record_format_keeps_code_hash_and_times():
    rec = bench.make_record("fwht", [{"name": "triton"}], device="cpu", commit="abc", code_hash="0123",
                            versions={"torch": "t", "triton": "x"}, ceilings=H100ish.as_dict(),
                            start_ms=1234.56, end_ms=5678.9)
    assert rec["code_hash"] == "0123" and rec["start_ms"] == 1234.6 and rec["end_ms"] == 5678.9
    assert rec["wall_time_s"] == pytest.approx(4.4) and rec["ceilings"]["source"] == "test"
    assert {"op", "device", "date_utc", "commit", "torch", "triton", "results"} <= set(rec)
    json.dumps(rec)


def test_without_a_gpu_the_timers_refuse(monkeypatch):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="CUDA GPU"):
        harness.time_ms(lambda: None)
    with pytest.raises(RuntimeError, match="CUDA GPU"):
        harness.measure_ceilings()


def test_bench_main_writes_nothing_without_a_gpu_and_reports_each_section(tmp_path, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert "harness" not in bench.benchmarked_ops()
    code = bench.main(["fwht", "--out", str(tmp_path), "--budget-s", "60", "--min-section-s", "0"])
    err = capsys.readouterr().err
    assert code == 1 and "ceilings: not measured" in err and "fwht: benchmark failed" in err
    assert not list(tmp_path.iterdir())
