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
    """Without CUDA each bench stops at its first line with a RuntimeError, not a NameError or TypeError."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fn = getattr(importlib.import_module(f"kernels.{op}"), f"bench_{op}")
    kwargs = {"ceil": None} if "ceil" in inspect.signature(fn).parameters else {}
    with pytest.raises(RuntimeError):
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
