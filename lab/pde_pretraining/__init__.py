"""PDE-residual pre-training of neural operators (``book/pde_pretraining.md``).

A reconstruction of Totounferoush et al. (2025): an FNO pre-trained on Poisson problems with the
data loss, the PDE residual, or both, then tested at shifted coefficients, fine-tuned on few
samples, transferred to Helmholtz, and fine-tuned on noisy labels.

Modules: ``fno`` (the operator), ``problems`` (samples from :mod:`lab.pde.steady`), ``losses``,
``train`` (pre-training and fine-tuning, cached), ``checks`` (generator and residual exactness),
``experiments``, ``claims``, ``figures``, ``config``.
"""
