"""``lab sweep``: a chapter over a grid of parameters, on this machine or on a Slurm cluster.

    lab sweep inversion_bias --scale smoke -p seed 0 1 2 --jobs 2
    lab sweep flex --scale full -p seed 0 1 2 --executor slurm --partition gpu --gpus 1 --time 60
    lab sweep --resume runs/sweeps/inversion_bias/20261204T150000Z-smoke

- :mod:`lab.sweep.grid`: every combination of the ``-p NAME V1 V2 ...`` values, each checked
  like ``lab run`` checks its parameters, before any folder exists;
- :mod:`lab.sweep.manifest`: the sweep folder ``runs/sweeps/<chapter>/<UTC time>-<scale>/``
  with ``manifest.json`` and one run folder per combination, and resuming (finished runs kept);
- :mod:`lab.sweep.executors`: ``local`` (processes on this machine, threads per job capped so
  that N jobs share the cores) and ``slurm`` through ``submitit`` (``pip install -e
  ".[cluster]"``), whose local executor runs the same code path in the tests;
- :mod:`lab.sweep.summary`: each claim aggregated over the sweep's runs (mean, spread, and the
  status the rule book's ``fraction`` rule gives over the runs), as ``summary.json`` that
  ``lab scorecard --sweep DIR`` shows in place of a single run.
"""
