"""The book's kernels appendix (``book/kernels.md``), generated at build time from the committed records.

For each benchmarked kernel: its committed record (device, date, versions), the fraction of the
roofline each measured size reached (:func:`kernels.harness.roofline_ms`: least bytes over the
copy bandwidth, least FLOPs over the GEMM rate), the baselines timed in the same run, and whether
the record is older than the kernel's code (:func:`lab.gpu.pending.kernel_item`).

Records written by ``kernels/harness.py`` carry their fractions and the ceilings measured in the
same run. Older records (before issue 21) carry only medians; for them the least bytes and FLOPs
are recomputed here from the sizes (float32 unless the record says otherwise) and the ceilings
are those of :func:`committed_ceilings`, which the page names.
"""
from __future__ import annotations

import json
import math

from kernels.harness import Ceilings, roofline_ms
from lab.gpu import pending
from lab.paths import book_dir, results_dir

PAGE = "kernels.md"
#: NVIDIA's H100 SXM datasheet dense bf16 rate: used only where no GEMM rate was measured.
H100_DATASHEET_BF16_FLOPS = 989e12


def committed_ceilings() -> tuple[Ceilings, str, str]:
    """Ceilings from the committed kernel records: ``(ceilings, device, how)``.

    A record written by the harness carries measured ``ceilings``; the older H100 records do not,
    so the bandwidth is the best one any of them reached (FP16 KV read by SDPA, the FWHT's one-pass
    rows; a lower bound of the device's) and the GEMM rate is the datasheet's (not measured).
    """
    best_bw, device = 0.0, "no committed record"
    for path in sorted((results_dir() / "kernels").glob("*.json")):
        rec = json.loads(path.read_text())
        if rec.get("ceilings"):
            return Ceilings.from_dict(rec["ceilings"]), rec["device"], f"measured in the run of {path.name}"
        for r in rec.get("results", []):
            if rec.get("op") == "dequant_matmul" and r.get("kv_ms"):
                bw = r["kv_bytes"] / (r["kv_ms"] * 1e-3)
            elif rec.get("op") == "fwht" and r.get("triton_gbps"):
                bw = r["triton_gbps"] * 1e9
            else:
                continue
            if bw > best_bw:
                best_bw, device = bw, rec["device"]
    how = ("bandwidth: best measured in the committed records (a lower bound of the device's); "
           "GEMM rate: H100 datasheet dense bf16, not measured")
    return Ceilings(best_bw or 3.35e12, {"float16": H100_DATASHEET_BF16_FLOPS, "bfloat16": H100_DATASHEET_BF16_FLOPS},
                    "committed records + datasheet"), device, how


def legacy_rows(op: str, results: list[dict]) -> list[dict]:
    """``size, ms, min_bytes, min_flops, baseline, baseline_ms`` from a record made before the harness."""
    out = []
    for r in results:
        if op == "fwht":
            out.append(dict(size=f"n={r['n']} × {r['rows']} rows", ms=r["triton_ms"], min_bytes=2 * r["n"] * r["rows"] * 4,
                            min_flops=0, baseline="eager torch", baseline_ms=r.get("reference_ms")))
        elif op == "groupnorm_silu":
            out.append(dict(size="×".join(map(str, r["shape"])), ms=r["triton_ms"], min_bytes=2 * math.prod(r["shape"]) * 4,
                            min_flops=0, baseline="eager torch", baseline_ms=r.get("reference_ms")))
        elif op == "quantile_loss":
            n = math.prod(r["shape"])
            out.append(dict(size="×".join(map(str, r["shape"])), ms=r["triton_ms"],
                            min_bytes=2 * n * 4 + (n // r["shape"][-1]) * 8, min_flops=0,
                            baseline="eager torch", baseline_ms=r.get("reference_ms")))
        elif op == "dequant_matmul":
            out.append(dict(size=f"{r['context']} tokens", ms=r["remat_only_ms"],
                            min_bytes=r["x_bytes"] + r["context"] * 2 * r["d_kv"] * 2, min_flops=r["flops"],
                            baseline="FP16 KV read + attention", baseline_ms=r.get("kv_ms")))
    return out


def _fmt(v, spec=".3g") -> str:
    return "" if v is None else (format(v, spec) if isinstance(v, (int, float)) else str(v))


def kernel_section(op: str, ceil: Ceilings, how: str) -> list[str]:
    item = pending.kernel_item(op)
    path = results_dir() / "kernels" / f"{op}.json"
    lines = [f"## `{op}`", ""]
    state = "**older than the kernel's code**" if item.pending else "current"
    if not path.is_file():
        return lines + [f"No record is committed ({item.reason}): unmeasured; run `{item.command}` on a GPU.", ""]
    rec = json.loads(path.read_text())
    lines += [f"Record: {rec.get('device', '?')}, {rec.get('date_utc', '?')[:10]} (torch {rec.get('torch', '?')}, "
              f"triton {rec.get('triton', '?')}); state: {state} — {item.reason}.", ""]
    results = rec.get("results", [])
    results = results if isinstance(results, list) else [results]
    if results and "name" in results[0]:  # written by kernels/harness.py
        c = rec.get("ceilings")
        lines += [f"Ceilings measured in the same run: {c['copy_GBps']:.0f} GB/s copy, "
                  f"{c['matmul_TFLOPs'].get('float16', float('nan')):.0f} TFLOP/s fp16 GEMM." if c else
                  "No ceilings in this record.", "",
                  "| variant | size | median ms | p20–p80 ms | fraction of roofline | bound |", "|---|---|---|---|---|---|"]
        for r in results:
            size = r.get("shape") or r.get("n") or r.get("context")
            if r.get("batch") is not None:
                size = f"{size}, batch {r['batch']}"
            if r.get("dtype"):
                size = f"{size} {r['dtype']}"
            lines.append(f"| {r.get('name', '')} | {size} | {_fmt(r.get('median_ms'))} | "
                         f"{_fmt(r.get('p20_ms'))}–{_fmt(r.get('p80_ms'))} | {_fmt(r.get('fraction_of_roofline'), '.0%')} | "
                         f"{r.get('bound_by', r.get('error', ''))} |")
    else:
        rows = legacy_rows(op, results)
        if not rows:
            return lines + ["The record's format is not one this page knows.", ""]
        lines += [f"Made before the harness (no percentiles, no ceilings in the run); fractions use {how}.", "",
                  "| size | kernel ms | fraction of roofline | baseline | baseline ms |", "|---|---|---|---|---|"]
        for r in rows:
            frac = roofline_ms(r["min_bytes"], r["min_flops"], ceil, "bfloat16") / r["ms"]
            lines.append(f"| {r['size']} | {_fmt(r['ms'])} | {frac:.0%} | {r['baseline']} | {_fmt(r['baseline_ms'])} |")
    return lines + [""]


def render() -> str:
    ceil, device, how = committed_ceilings()
    ops = pending.benchmarked_ops()
    stale = [op for op in ops if pending.kernel_item(op).pending]
    lines = ["# Kernels", "",
             "Every Triton kernel of `kernels/`, with its committed GPU record: the fraction of its roofline",
             "(least bytes over the copy bandwidth, least FLOPs over the GEMM rate; 100 % is the device's limit)",
             "at each measured size, the baselines of the same run, the device and the date. A record older than",
             "the kernel's code describes code that no longer exists; it is shown, and marked.",
             "`python -m kernels.bench` on a GPU remakes them all within a time budget.", "",
             f"**{len(stale)} of {len(ops)} records are older than their kernel's code or missing** "
             f"({', '.join(f'`{o}`' for o in stale) or 'none'}) when this page was built.", ""]
    for op in ops:
        lines += kernel_section(op, ceil, how)
    return "\n".join(lines)


def write() -> str:
    path = book_dir() / PAGE
    path.write_text(render())
    return str(path)
