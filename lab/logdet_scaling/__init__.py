"""Log-determinants under a memory cap, and their extrapolation by a scaling law (``book/logdet_scaling.md``).

``memdet`` (out-of-core block Cholesky/LDLᵀ over a memory map, the paper's block rule, leading-block
log-determinants), ``flodance`` (the FLODANCE fit and FLOP counts), ``matrices`` (Wishart,
indefinite, Matérn and its LMC), ``ntk`` (the layer-wise empirical NTK of an MLP on digits),
``baselines`` (SLQ, block-diagonal, imate), ``experiments``, ``figures``, ``claims``, ``config``.
"""
