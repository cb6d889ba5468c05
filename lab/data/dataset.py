"""A forecasting dataset: many univariate series, each split into a training part and a test part.

The split is the competition's: ``train[i]`` is what the forecaster sees, ``test[i]`` the ``H``
values that follow it. Chapters that evaluate over several forecast creation dates re-split the
full series with :meth:`ForecastDataset.holdout` (e.g. the last ``2H - 1`` points in
``book/forking_sequences.md``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ForecastDataset:
    """Series of one dataset with their competition train/test split.

    Attributes
    ----------
    name : dataset name, e.g. ``"m3_monthly"`` (see :data:`lab.data.DATASETS`).
    horizon : the competition's forecast horizon ``H``; every ``test[i]`` has this length.
    season : seasonal period (1 when none).
    ids : series identifiers, as the source names them.
    train, test : lists of 1-d float64 arrays, the in-sample part and the ``H`` held-out values.
    """

    name: str
    horizon: int
    season: int
    ids: list[str]
    train: list[np.ndarray]
    test: list[np.ndarray] = field(repr=False)

    def __post_init__(self):
        if not (len(self.ids) == len(self.train) == len(self.test)):
            raise ValueError(f"{self.name}: ids, train and test differ in length")
        bad = [i for i, t in enumerate(self.test) if len(t) != self.horizon]
        if bad:
            raise ValueError(f"{self.name}: {len(bad)} test parts are not of length H={self.horizon} "
                             f"(first: series {self.ids[bad[0]]!r})")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        """Length of each full series (train + test)."""
        return np.array([len(a) + len(b) for a, b in zip(self.train, self.test)])

    def full(self) -> list[np.ndarray]:
        """Each series whole: ``concatenate(train[i], test[i])``."""
        return [np.concatenate([a, b]) for a, b in zip(self.train, self.test)]

    def holdout(self, k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Re-split every full series so that its last ``k`` points are held out.

        Returns ``(history, held_out)``; ``held_out[i]`` has length ``k`` (series shorter than
        ``k + 1`` raise a ``ValueError`` naming the series).
        """
        history, held = [], []
        for sid, y in zip(self.ids, self.full()):
            if len(y) <= k:
                raise ValueError(f"{self.name}: series {sid!r} has {len(y)} points, cannot hold out {k}")
            history.append(y[:-k])
            held.append(y[-k:])
        return history, held

    def subset(self, n: int | None, seed: int = 0) -> "ForecastDataset":
        """``n`` series drawn without replacement (``None`` or ``n >= len``: all), order kept."""
        if n is None or n >= len(self):
            return self
        keep = np.sort(np.random.default_rng([seed, len(self)]).choice(len(self), n, replace=False))
        return ForecastDataset(self.name, self.horizon, self.season, [self.ids[i] for i in keep],
                               [self.train[i] for i in keep], [self.test[i] for i in keep])
