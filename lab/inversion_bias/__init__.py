"""Inversion bias of random sampling sketches and de-biased sub-sampled Newton.

Library behind the chapter ``book/inversion_bias.md`` (Niu, Liao, Ling & Mahoney,
"Fundamental Bias in Inverting Random Sampling Matrices with Application to Sub-sampled
Newton", ICML 2025).

Modules
-------
leverage     ridge leverage scores, d_eff, rho factors, sketched estimates, mixed pi
srht         fast Walsh-Hadamard transform and the randomized Hadamard rotation
projections  Gram stacks of SRHT, Gaussian and LESS sketches
sketches     sketch plans and corrected Gram stacks for every sampler
debias       scalar / fine / inverse-Wishart factors and Thm 3.1's fixed point
bias         Monte-Carlo inversion bias
data         synthetic matrices and load_digits logistic regression
logistic     logistic loss, derivatives, Hessian factor, exact Newton
newton       de-biased sub-sampled Newton, gradient descent, SGD
config       smoke / book / full presets
experiments  what the chapter runs
figures      the chapter's plots of the experiments' results
"""
