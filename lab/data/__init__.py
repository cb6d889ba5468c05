"""Forecasting data shared by the time-series chapters.

One interface for the sixteen competition datasets of M1, M3, M4 and Tourism::

    from lab import data
    ds = data.load("m3_monthly")        # ForecastDataset: ids, train, test, horizon, season
    ds.horizon, len(ds)                 # 18, 1428
    history, held_out = ds.holdout(2 * ds.horizon - 1)
    ok, why = data.available("m4_daily")  # False and the reason when the file cannot be had

Modules
-------
registry  names, horizons and seasonal periods (:data:`DATASETS`), expected series counts
dataset   :class:`ForecastDataset`, the train/test container
loaders   :func:`load`, :func:`available`
m4        parsing (and caching) the official M4 CSV files
"""
from .dataset import ForecastDataset
from .loaders import available, load
from .registry import DATASETS, SERIES_COUNTS, DatasetSpec, spec

__all__ = ["DATASETS", "SERIES_COUNTS", "DatasetSpec", "ForecastDataset", "MissingData",
           "available", "load", "spec"]


def __getattr__(name):
    # lab.datafiles imports torch (through lab.cache); M1, M3 and Tourism never need it, so it
    # is imported only when asked for, which keeps `data.load("m3_monthly")` well under 2 s.
    if name == "MissingData":
        from lab.datafiles import MissingData

        return MissingData
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
