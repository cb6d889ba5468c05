"""Neural forecasters, their two training schemes, and forecast metrics.

Shared by the time-series chapters; written for ``book/forking_sequences.md``.

Modules
-------
panel      series on one padded grid; window-sampling and forking-sequences batches
encoders   causal MLP, RNN, LSTM, dilated CNN and Transformer encoders
model      :class:`Forecaster`: encoder + multi-quantile decoder
train      :func:`train` under a fixed optimizer-step budget, either scheme
gradients  minibatch gradient noise at fixed parameters
evaluate   test split (last 2H-1 points), forecasts at all FCDs, inference timing
metrics    scaled CRPS, sFPC, excess volatility, regrouping by target date
ensemble   causal mean ensembling of overlapping forecasts
"""
from .encoders import ARCHITECTURES
from .model import QUANTILES, Forecaster
from .train import SCHEMES, TrainConfig, train

__all__ = ["ARCHITECTURES", "QUANTILES", "SCHEMES", "Forecaster", "TrainConfig", "train"]
