"""`python -m kernels.bench --list` on CPU: every benchmark is found and its wiring checked before a GPU run."""
import importlib.util
import inspect
import sys

import pytest

from kernels import bench

#: Kernels with a bench_<op> function (centroid_lookup and multipole_replacement are timed by sparse_decode).
EXPECTED = {"copula_paths", "dequant_matmul", "dppl_crps", "fwht", "groupnorm_silu", "quantile_loss", "rf_gram",
            "sparse_decode", "spectral_contract", "ssim", "syrk_update", "tree_attention", "xquant_attention"}


def test_list_enumerates_every_benchmark_and_finds_no_wiring_problem(capsys):
    assert bench.main(["--list"]) == 0
    listed = set(capsys.readouterr().out.split())
    assert listed == EXPECTED


@pytest.mark.parametrize("op", sorted(EXPECTED))
def test_bench_functions_are_callable_with_defaults_only(op):
    fn = getattr(importlib.import_module(f"kernels.{op}"), f"bench_{op}")
    params = inspect.signature(fn).parameters
    assert all(p.default is not inspect.Parameter.empty for p in params.values()), op
    assert bench.wiring_problems(op) == []


@pytest.mark.parametrize("op", sorted(EXPECTED))
def test_bench_without_a_gpu_says_so(op, monkeypatch):
    """Without CUDA each bench stops at its first line with a RuntimeError that names what it needs (CUDA, a GPU, Triton),
    not a NameError or TypeError (one test for every kernel's bench, in place of a copy per kernel)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fn = getattr(importlib.import_module(f"kernels.{op}"), f"bench_{op}")
    kwargs = {"ceil": None} if "ceil" in inspect.signature(fn).parameters else {}
    with pytest.raises(RuntimeError, match="(?i)cuda|gpu|triton"):
        fn(**kwargs)


def test_a_typo_in_a_bench_function_is_reported(tmp_path, monkeypatch):
    src = tmp_path / "typo_demo.py"
    src.write_text("import torch\n\n\ndef bench_typo_demo(sizes=(1, 2), ceil=None, empty=()):\n"
                   "    out = []\n    for n in sizes:\n        out.append(torch.zeros(n).sum() + lenght)\n    return out\n")
    spec = importlib.util.spec_from_file_location("kernels.typo_demo", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setitem(sys.modules, "kernels.typo_demo", mod)
    problems = bench.wiring_problems("typo_demo")
    assert any("'lenght'" in p for p in problems)
    assert any("empty" in p for p in problems)


@pytest.mark.parametrize("op", sorted(EXPECTED))
def test_every_benchmark_states_a_target(op):
    from kernels import harness

    target = importlib.import_module(f"kernels.{op}").TARGET
    assert target["statement"] and target["conditions"]
    assert harness.judge_target([], target) == {"target": target["statement"], "target_met": None, "target_rows": 0}


def test_judge_target_ratios_baselines_and_filters():
    from kernels import harness

    rows = [{"name": "triton", "shape": [1, 2], "median_ms": 1.0}, {"name": "eager torch", "shape": [1, 2], "median_ms": 3.0},
            {"name": "triton", "shape": [4, 4], "median_ms": 2.0}, {"name": "eager torch", "shape": [4, 4], "median_ms": 1.0}]
    t = {"statement": "s", "conditions": [{"metric": "sp", "at_least": 1.0, "where": {"name": "triton"},
                                          "baseline": "eager torch", "match": ("shape",)}]}
    out = harness.judge_target(rows, t)
    assert out == {"target": "s", "target_met": False, "target_rows": 2}
    assert rows[0]["sp"] == 3.0 and rows[2]["sp"] == 0.5
    t2 = {"statement": "s", "conditions": [{"metric": "sp", "at_least": 1.0, "where": {"shape": [[1, 2]], "name": "triton"}}]}
    assert harness.judge_target(rows, t2)["target_met"] is True
    rows2 = [{"context": 4096, "ref": 1.0, "tri": 2.0}, {"context": 65536, "ref": 4.0, "tri": 2.0}]
    t3 = {"statement": "s", "conditions": [{"metric": "r", "at_least": 1.0, "ratio": ("ref", "tri"),
                                           "where_min": {"context": 65536}}]}
    assert harness.judge_target(rows2, t3) == {"target": "s", "target_met": True, "target_rows": 1}
    t4 = {"statement": "s", "conditions": [{"metric": "r", "at_most": 1.5, "ratio": ("ref", "tri")}]}
    assert harness.judge_target(rows2, t4)["target_met"] is False
