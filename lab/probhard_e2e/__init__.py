"""ProbHardE2E: probabilistic forecasts that satisfy hard constraints, trained end to end.

Modules: ``projection`` (linear DPPL), ``newton`` (nonlinear DPPL), ``scores`` (CRPS, NLL),
``problems`` (heat, PME, Stefan), ``hierarchy`` (M4-hourly, synthetic grouping), ``models``
(backbones, variants), ``train``, ``experiments``, ``figures``, ``claims``, ``config``.
See ``book/probhard_e2e.md``.
"""
