"""lab.data: the sixteen forecasting datasets, their counts, horizons and train/test split."""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from lab import data
from lab.data.m4 import parse_wide_csv
from lab.datafiles import MissingData

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OFFLINE = [n for n, s in data.DATASETS.items() if s.source != "m4"]
COMPETITION_H = {"yearly": 6, "quarterly": 8, "monthly": 18, "other": 8, "weekly": 13, "daily": 14, "hourly": 48}


def test_registry_lists_the_papers_sixteen_datasets_with_standard_horizons():
    assert len(data.DATASETS) == 16
    for name, s in data.DATASETS.items():
        expected = {"yearly": 4, "quarterly": 8, "monthly": 24}[s.frequency] if s.source == "tourism" else COMPETITION_H[s.frequency]
        assert s.horizon == expected, name
    assert data.spec("m4_hourly").season == 24 and data.spec("m3_monthly").season == 12


@pytest.mark.parametrize("name", OFFLINE)
def test_offline_dataset_counts_horizons_and_split(name):
    ds = data.load(name)
    assert len(ds) == data.SERIES_COUNTS[name]
    assert ds.horizon == data.spec(name).horizon
    assert all(len(t) == ds.horizon for t in ds.test)
    assert all(np.isfinite(x).all() and len(x) > 0 for x in ds.train)
    full = ds.full()
    i = len(ds) // 2
    np.testing.assert_array_equal(full[i], np.concatenate([ds.train[i], ds.test[i]]))
    history, held = ds.holdout(2 * ds.horizon - 1)
    assert all(len(h) == 2 * ds.horizon - 1 for h in held)
    np.testing.assert_array_equal(np.concatenate([history[i], held[i]]), full[i])
    # the competition's test part is the tail of the re-split held-out span
    np.testing.assert_array_equal(held[i][-ds.horizon:], ds.test[i])


def test_m3_totals_match_the_competition():
    assert sum(len(data.load(f"m3_{f}")) for f in ("yearly", "quarterly", "monthly", "other")) == 3003
    assert sum(len(data.load(f"m1_{f}")) for f in ("yearly", "quarterly", "monthly")) == 1001
    assert sum(len(data.load(f"tourism_{f}")) for f in ("yearly", "quarterly", "monthly")) == 1311


def test_m3_loads_in_under_two_seconds_in_a_fresh_process():
    code = ("import time; t = time.perf_counter(); from lab import data\n"
            "for f in ('yearly', 'quarterly', 'monthly', 'other'): data.load('m3_' + f)\n"
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) < 2.0


def _m4_present(freq):
    root = os.environ.get("LAB_DATA_DIR", "")
    return all(os.path.isfile(os.path.join(root, "m4", f"{freq}-{s}.csv")) for s in ("train", "test"))


@pytest.mark.parametrize("freq", ["Hourly", "Weekly"])
def test_m4_from_the_data_dir_matches_an_independent_csv_read(freq):
    if not _m4_present(freq):
        pytest.skip(f"M4 {freq} is not under LAB_DATA_DIR")
    ds = data.load(f"m4_{freq.lower()}")
    assert len(ds) == data.SERIES_COUNTS[ds.name] and ds.horizon == {"Hourly": 48, "Weekly": 13}[freq]
    with open(os.path.join(os.environ["LAB_DATA_DIR"], "m4", f"{freq}-train.csv")) as f:
        rows = list(csv.reader(f))[1:]
    for i in (0, 7, len(rows) - 1):
        expected = np.array([float(v) for v in rows[i][1:] if v != ""])
        assert ds.ids[i] == rows[i][0]
        np.testing.assert_array_equal(ds.train[i], expected)


def test_parse_wide_csv_drops_trailing_blanks(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text('"V1","V2","V3","V4"\n"A","1.5","2",""\n"B","3","","" \n'.replace(" \n", "\n"))
    ids, series = parse_wide_csv(p)
    assert ids == ["A", "B"]
    np.testing.assert_array_equal(series[0], [1.5, 2.0])
    np.testing.assert_array_equal(series[1], [3.0])


def test_missing_m4_raises_a_clear_error_and_available_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(MissingData, match=r"m4/Daily-train.csv"):
        data.load("m4_daily", download=False)
    ok, why = data.available("m4_daily", download=False)
    assert not ok and "Daily-train.csv" in why and "LAB_DATA_DIR" in why
    assert data.available("m3_other") == (True, "")


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(KeyError, match="m3_monthly"):
        data.load("m5_daily")


def test_subset_is_seeded_and_keeps_order():
    ds = data.load("m1_quarterly")
    a, b = ds.subset(50, seed=1), ds.subset(50, seed=1)
    assert a.ids == b.ids and len(a) == 50
    order = [ds.ids.index(i) for i in a.ids]
    assert order == sorted(order)
    assert ds.subset(None) is ds
