"""High-dimensional equivalents checked against simulation (``book/rmt_equivalents.md``).

One module per result of the chapter:

- :mod:`.laws` (R1): Marchenko–Pastur and semicircle densities, their Stieltjes transforms and
  the resolvent's deterministic equivalent under a general covariance;
- :mod:`.ridge` (R2): ridge regression's deterministic equivalent (effective regularisation,
  bias, variance), the power-law scaling law and the isotropic ridgeless closed form;
- :mod:`.random_features` (R3): random-features ridge regression, train and test error from its
  deterministic equivalent (ReLU and erf);
- :mod:`.conjugate_kernel` (R4): the conjugate kernel's linear (Gaussian) equivalent;
- :mod:`.gradient_descent` (R5): gradient-descent risk from the Marchenko–Pastur integral;
- :mod:`.simulate`: the torch simulations the theory is compared with (CPU or GPU).
"""
