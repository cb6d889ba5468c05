"""FLEX: few-step residual diffusion for 2D turbulence (``book/flex.md``).

Library behind the chapter on Erichson, Mikuni et al., "FLEX: A Backbone for Diffusion-Based
Modeling of Spatio-temporal Physical Systems" (2025). Data come from :mod:`lab.pde`.

Modules
-------
blocks       ADM ResNet block with adaptive group norm, time and Re embeddings
transformer  pre-LN Transformer blocks and the U-ViT stack with long skips
backbone     FLEX: shared encoder, latent Transformer, task encoders, weak/strong conditioning;
             sizes tiny / small / medium / big
baselines    U-Net and U-ViT with the same interface, and parameter matching
diffusion    cosine log-SNR schedule, v-prediction loss, deterministic DDIM sampler
data         SR and FC patches with residual targets (periodic bicubic upsampling)
train        multi-task training, cached models
evaluate     RFNE, ensembles, spread against error, target energies
config       smoke / book / full presets
experiments  what the chapter runs
figures      the chapter's plots
claims       the claims and their criteria
"""
