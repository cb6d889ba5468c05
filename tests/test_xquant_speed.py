"""XQuant's speed section: the roofline table is arithmetic on the shapes and the ceilings, and the
measured-speed claims are not checkable without a committed GPU record."""
import pytest

from kernels.harness import Ceilings
from lab.claims import Claims
from lab.xquant import speed

CEIL = Ceilings(3.0e12, {"float16": 1e15, "bfloat16": 1e15}, "test")


def test_roofline_rows_follow_from_bytes_and_flops():
    rows = speed.roofline_rows(CEIL, contexts=(32768,), batches=(1, 16))
    at = {(r["variant"], r["batch"]): r for r in rows}
    fp16 = at[("fp16_kv", 1)]
    assert fp16["bytes"] == 2 * 32768 * 4096 * 2 and fp16["bound"] == "memory"
    assert fp16["roofline_ms"] == pytest.approx(1e3 * fp16["bytes"] / 3e12)
    # 4-bit codes + two FP16 meta per 128 channels, read twice, against 4 bytes per channel of K and V
    assert at[("absorbed", 1)]["bytes_vs_fp16"] == pytest.approx(2 * (2048 + 128) / (2 * 4096 * 2))
    # the rebuild is compute-bound and no batch shares it: the same ratio at batch 1 and 16
    rb1, rb16 = at[("rebuild_kv", 1)], at[("rebuild_kv", 16)]
    assert rb1["bound"] == "compute" and rb1["time_vs_fp16"] == pytest.approx(rb16["time_vs_fp16"])
    assert rb1["flops"] >= 4 * 32768 * 4096 * 4096
    assert at[("rope_rebuild_k", 1)]["time_vs_fp16"] > 1 > at[("absorbed", 1)]["time_vs_fp16"]


def test_claims_without_a_gpu_record():
    claims = Claims("xquant", "smoke")
    speed.speed_claims(claims, speed.roofline_rows(CEIL), record=None)
    status = {c.id: c.status.value for c in claims.items}
    assert status["xquant-absorbed-roofline-bytes"] == "reproduced"
    assert status["xquant-rebuild-roofline"] == "reproduced"
    assert status["xquant-absorbed-speed"].startswith("not checkable")
    assert status["xquant-rope-speed"].startswith("not checkable")


def test_claims_judge_a_measured_record():
    rec = {"results": [{"name": "absorbed", "context": 32768, "time_vs_fp16": 0.5},
                       {"name": "rope rebuild K", "context": 32768, "time_vs_fp16": 3.0}]}
    claims = Claims("xquant", "smoke")
    speed.speed_claims(claims, speed.roofline_rows(CEIL), record=rec)
    status = {c.id: c.status.value for c in claims.items}
    assert status["xquant-absorbed-speed"] == "not reproduced" and status["xquant-rope-speed"] == "not reproduced"


def test_committed_ceilings_come_from_the_records():
    ceil, device, how = speed.committed_ceilings()
    assert ceil.copy_bytes_per_s > 1e11 and ("measured" in how)
