"""Chapters execute through papermill at the smoke tier, into fresh run folders."""
import json
import re
import os

import nbformat
import pytest

from lab import chapters
from lab.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_RUNS_DIR", str(tmp_path / "runs"))
    # The kernels' tests run Triton's interpreter; a chapter must take its normal CPU path.
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    return tmp_path / "runs"


def _injected_source(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    return "".join(c.source for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))


@pytest.mark.parametrize("chapter", chapters.available())
def test_smoke_run_records_seed_and_never_overwrites(runs, chapter, capsys):
    argv = ["run", chapter, "--scale", "smoke", "-p", "seed", "3", "-q"]
    assert main(argv) == 0, capsys.readouterr().err
    assert main(argv) == 0, capsys.readouterr().err
    assert "LAB_RUN_DIR" not in os.environ, "a run must not leak its folder into later runs"
    folders = sorted((runs / chapter).iterdir())
    assert len(folders) == 2 and all(f.name.split("-", 1)[1].startswith("smoke") for f in folders)
    for folder in folders:
        assert "seed = 3" in _injected_source(folder / f"{chapter}.ipynb")
        results = json.loads((folder / "results.json").read_text())
        prov = results["provenance"]
        assert results["parameters"]["seed"] == 3 and prov["tier"] == "smoke"
        assert {"commit", "python", "torch", "numpy", "scipy", "triton", "device", "wall_time_s"} <= set(prov)
        assert results["claims"], "a chapter checks at least one claim"
        # every claim is decided by the rule book, and its exact and structural claims (identities,
        # theorems' bounds, counts) hold at any size: a regression that flips one fails here
        assert all(c.get("kind") for c in results["claims"]), "a claim was recorded without the rule book"
        broken = [f"{c['id']}: {c['status']} ({c['rule']})" for c in results["claims"]
                  if c["kind"] in ("exact", "structural") and c["status"] != "reproduced"]
        assert not broken, f"{chapter}: exact or structural claims not reproduced at the smoke tier: {broken}"
        # The budget is on the chapter's own CPU time: in CI this test shares two cores with the
        # book build, which stretches wall time without the chapter doing more work.
        assert prov["cpu_time_s"] < 30, f"smoke tier used {prov['cpu_time_s']} s of CPU (budget 30 s)"
        assert prov["wall_time_s"] < 90, f"smoke tier took {prov['wall_time_s']} s of wall time"
    first, second = (json.loads((f / "results.json").read_text()) for f in folders)
    assert [c["per_seed"] for c in first["claims"]] == [c["per_seed"] for c in second["claims"]], \
        "the same parameters must give the same numbers"


def test_a_failing_cell_fails_the_run_and_keeps_earlier_runs(runs, capsys, monkeypatch):
    import jupytext

    earlier = runs / "inversion_bias" / "20200101T000000Z-smoke"
    earlier.mkdir(parents=True)
    (earlier / "results.json").write_text("{}")
    # m = 5 < d + 2 is out of range: refused before any folder is made
    assert main(["run", "inversion_bias", "--scale", "smoke", "-p", "a_m", "[5]", "-q"]) == 2
    assert "'a_m'" in capsys.readouterr().err and [earlier] == list((runs / "inversion_bias").iterdir())
    # a genuine error in a cell (a bug, not bad input): one line with the cell and the exception
    nb = jupytext.reads("---\njupytext:\n  text_representation:\n    format_name: myst\nkernelspec:\n  name: python3\n"
                        "  display_name: Python 3\n  language: python\n---\n\n"
                        "```{code-cell} ipython3\n:tags: [parameters]\nscale = 'book'\n```\n\n"
                        "```{code-cell} ipython3\nraise ValueError('m pi_i > ell_i fails')\n```\n", fmt="md:myst")
    monkeypatch.setattr(chapters, "read_notebook", lambda name: nb)
    assert main(["run", "inversion_bias", "--scale", "smoke", "-q"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"failed at cell \d+: ValueError: m pi_i > ell_i fails\n", err), err
    failed = [f for f in (runs / "inversion_bias").iterdir() if f != earlier]
    assert len(failed) == 1 and (failed[0] / "FAILED").exists()
    assert (earlier / "results.json").read_text() == "{}"
