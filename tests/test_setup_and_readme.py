"""The set-up (Makefile, pyproject) and the README tell the truth (issue 11, item 17)."""
import shutil
import subprocess
import warnings

import pytest

from lab.paths import repo_root

ROOT = repo_root()


def _dry_run(tmp_path, *args):
    out = subprocess.run(["make", "-n", "-C", str(tmp_path), *args, "setup"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("sha256sum") is None, reason="needs make and sha256sum")
def test_changing_torch_reinstalls_it_and_the_same_torch_does_nothing(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    first = _dry_run(tmp_path)
    assert 'pip install --quiet  "torch==2.13.0"' in first
    # pretend the default set-up has run: its stamp exists and is newer than pyproject.toml
    stamp = next(line.split()[-1] for line in first.splitlines() if line.startswith("touch "))
    (tmp_path / stamp).parent.mkdir(parents=True)
    (tmp_path / stamp).touch()
    assert "pip install" not in _dry_run(tmp_path)
    cpu = _dry_run(tmp_path, "TORCH_INDEX=https://download.pytorch.org/whl/cpu")
    assert "--index-url https://download.pytorch.org/whl/cpu" in cpu and '"torch==2.13.0"' in cpu
    other = _dry_run(tmp_path, "TORCH=torch==2.12.0")
    assert '"torch==2.12.0"' in other


def test_pyproject_licence_is_an_spdx_string_without_setuptools_deprecation_warnings():
    from setuptools.config.pyprojecttoml import read_configuration

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = read_configuration(ROOT / "pyproject.toml")
    assert cfg["project"]["license"] == "MIT"
    assert not [w for w in caught if "license" in str(w.message).lower()], [str(w.message) for w in caught]


def test_readme_is_truthful_about_torch_scorecard_cache_and_data():
    text = (ROOT / "README.md").read_text()
    assert "](book/scorecard.md)" not in text  # generated, so absent from a fresh clone
    assert "_build/html/book/scorecard.html" in text
    assert "the CPU build of torch included" not in text
    assert "TORCH_INDEX=https://download.pytorch.org/whl/cpu" in text and "CUDA build" in text
    assert "lab cache --clear" in text and "MB" in text.split("lab cache")[0][-400:]
    assert "lab data --check" in text and "../shared/data" in text
