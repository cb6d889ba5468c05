"""The book's kernels appendix: rendered on CPU from the committed records, with fractions of the
roofline, the device and date, and the records older than their kernel's code marked."""
import json

import pytest

from kernels import harness
from lab.gpu import kernels_page, pending


def test_page_lists_every_benchmarked_kernel_and_marks_stale_records():
    text = kernels_page.render()
    for op in pending.benchmarked_ops():
        assert f"## `{op}`" in text
        if pending.kernel_item(op).pending:
            assert op in text.split("when this page was built")[0]
    assert "fraction of roofline" in text


def test_legacy_fwht_fraction_is_bytes_over_bandwidth():
    ceil = harness.Ceilings(2e12, {"float16": 1e15, "bfloat16": 1e15}, "test")
    rows = kernels_page.legacy_rows("fwht", [{"n": 1024, "rows": 1000, "triton_ms": 0.01, "reference_ms": 1.0}])
    frac = harness.roofline_ms(rows[0]["min_bytes"], rows[0]["min_flops"], ceil) / rows[0]["ms"]
    assert rows[0]["min_bytes"] == 2 * 1024 * 1000 * 4 and frac == pytest.approx(8.192e6 / 2e12 * 1e3 / 0.01)


def test_harness_records_are_shown_with_their_own_fractions(tmp_path, monkeypatch):
    (tmp_path / "kernels").mkdir()
    rec = {"op": "fwht", "device": "GPU: test", "date_utc": "2026-12-04T00:00:00+00:00", "torch": "t", "triton": "x",
           "code_hash": "0", "ceilings": {"copy_GBps": 3000.0, "matmul_TFLOPs": {"float16": 700.0}, "source": "measured"},
           "results": [harness.entry("triton", {"median_ms": 1.0, "p20_ms": 0.9, "p80_ms": 1.1}, min_bytes=1.5e9,
                                     ceil=harness.Ceilings(3e12, {"float16": 7e14}), n=1024)]}
    (tmp_path / "kernels" / "fwht.json").write_text(json.dumps(rec))
    monkeypatch.setattr(kernels_page, "results_dir", lambda: tmp_path)
    ceil, device, how = kernels_page.committed_ceilings()
    assert how.startswith("measured") and ceil.copy_bytes_per_s == pytest.approx(3e12)
    text = "\n".join(kernels_page.kernel_section("fwht", ceil, how))
    assert "| triton | 1024 | 1 | 0.9–1.1 | 50% | memory |" in text and "3000 GB/s" in text
