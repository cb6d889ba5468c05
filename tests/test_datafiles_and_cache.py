"""The data-file resolver and the configuration-hash cache."""
import pytest

from lab import cache, datafiles


def test_data_dir_file_is_used_and_matches_its_published_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path))
    path = datafiles.data_file("text/tinyshakespeare.txt", download=False)
    assert datafiles.sha256(path) == datafiles.FILES["text/tinyshakespeare.txt"].sha256


def test_missing_data_names_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(datafiles.MissingData, match="LAB_DATA_DIR") as err:
        datafiles.data_file("m4/Weekly-test.csv", download=False)
    assert "empty/m4/Weekly-test.csv" in str(err.value) and "M4-methods" in str(err.value)
    with pytest.raises(KeyError, match="unknown data file"):
        datafiles.data_file("m4/Secondly-test.csv")


def test_cache_builds_once_per_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return {"weights": len(calls)}

    assert cache.cached("toy", {"seed": 0, "dims": (4, 8)}, build) == {"weights": 1}
    assert cache.cached("toy", {"dims": [4, 8], "seed": 0}, build) == {"weights": 1}
    assert cache.cached("toy", {"seed": 1, "dims": (4, 8)}, build) == {"weights": 2}
    assert cache.cached("toy", {"seed": 0, "dims": (4, 8)}, build, version=2) == {"weights": 3}
    assert len(list((tmp_path / "toy").glob("*.pt"))) == 3


def test_config_hash_refuses_what_it_cannot_canonicalise():
    with pytest.raises(TypeError, match="cannot hash"):
        cache.config_hash({"f": object()})
