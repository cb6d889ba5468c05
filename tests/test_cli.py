"""The lab command: listing, and clear failures that leave no run folder behind."""
import pytest

from lab import chapters
from lab.cli import main

PLANNED = [n for n in chapters.PAPERS if n not in chapters.available()]


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def test_list_shows_each_chapter_with_parameters_and_planned_ones(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "inversion_bias:" in out and "scale" in out and "'book'" in out
    if PLANNED:
        assert "planned:" in out and PLANNED[0] in out
    else:
        assert "planned:" not in out


@pytest.mark.parametrize("argv, message", [
    (["run", "nope"], "unknown chapter 'nope'; available chapters: " + ", ".join(chapters.available())),
    *([(["run", PLANNED[0]], "planned, not written yet")] if PLANNED else []),
    (["run", "inversion_bias", "-p", "no_such_knob", "1"], "unknown parameter 'no_such_knob'"),
    (["run", "inversion_bias", "-p", "seed", "three"], "parameter 'seed' expects int"),
    (["run", "inversion_bias", "-p", "scale", "huge"], "scale must be one of smoke, book, full"),
    (["run", "inversion_bias", "--scale", "smoke", "-p", "scale", "book"], "not both"),
])
def test_bad_input_fails_clearly_and_leaves_no_run_folder(runs, capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not runs.exists() or not any(runs.rglob("*.ipynb"))


def test_unknown_scale_is_refused_by_the_parser(runs, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "inversion_bias", "--scale", "huge"])
    assert exc.value.code == 2 and "invalid choice: 'huge'" in capsys.readouterr().err


def test_reproduce_command_parses_back_to_the_same_parameters():
    import shlex

    from lab.cli import parser
    from lab.execute import prepare
    from lab.run import reproduce_command

    params = {"scale": "smoke", "seed": 3, "a_m": [100, 200], "trials": None}
    cmd = reproduce_command("inversion_bias", params)
    assert "trials" not in cmd  # defaults are left out
    args = parser().parse_args(shlex.split(cmd)[1:])
    assert prepare(args.chapter, args.scale, dict(args.param)) == {"scale": "smoke", "seed": 3, "a_m": [100, 200]}
