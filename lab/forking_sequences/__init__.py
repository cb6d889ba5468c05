"""Forking-sequences for multi-horizon forecasting.

Library behind the chapter ``book/forking_sequences.md`` (Potosnak et al., "Forking-Sequences",
arXiv 2510.04487, TMLR 2026). The data, models, training schemes and metrics it uses are the
shared substrates :mod:`lab.data` and :mod:`lab.forecast`.

Modules
-------
config       smoke / book / full presets
experiments  training grid, equivalence checks, gradient variance, inference timing
summary      improvements over window sampling, the paper-style table
claims       the claims the chapter checks
figures      the chapter's plots
"""
