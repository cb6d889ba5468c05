"""Tier presets for ``book/semantic_regen.md``.

``smoke``: seconds (tests); ``book``: the chapter (≤ 2 min CPU on one thread, the StegaStamp
stand-in at 64² trained in it); ``full``: one shared GPU — TreeRing-mini with a trained pixel DDPM
at 64² over 1000 seeds, RePaint with it, the stand-in at 128², dwtDct at 512².
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import Check, at_least, between, resolve_config

_side = lambda mult, lo: Check(lambda v: isinstance(v, int) and (v == 0 or (v >= lo and v % mult == 0)),  # noqa: E731
                               f"0 (off) or a multiple of {mult} that is at least {lo}")

CHECKS = {
    "seed": at_least(0),
    "tr_side": at_least(8),
    "tr_seeds": at_least(3),
    "tr_radius": at_least(1),
    "tr_steps": between(2, 1000),
    "regen_t": between(1, 999),
    "wm_side": at_least(256),
    "wm_images": at_least(3),
    "pass_quality": between(1, 100),
    "compress_quality": between(1, 100),
    "blur_radius": at_least(0),
    "dm_side": _side(4, 16),
    "dm_base": between(8, 256),
    "dm_train_steps": at_least(1),
    "dm_batch": at_least(2),
    "dm_scenes": at_least(8),
    "dm_seeds": at_least(3),
    "dm_steps": between(2, 1000),
    "dm_radius": at_least(1),
    "ss_side": _side(16, 32),
    "ss_bits": between(4, 256),
    "ss_width": at_least(4),
    "ss_train_steps": at_least(1),
    "ss_batch": at_least(2),
    "ss_train_images": at_least(8),
    "ss_images": at_least(3),
}

#: The full tier's expected wall time on the lead's shared H200 with 4 CPU threads (the guard:
#: ≤ 300 s). Derivation, from one-thread CPU timings here (``OMP_NUM_THREADS=1``) and the rule "a
#: GPU step of a small U-Net at batch 64 is ~20× one CPU thread": CUDA start, imports, notebook
#: 20; the fixture (32², 200 seeds, CPU, as in book) 30; dwtDct at 512² (4 s per scene) × 10
#: scenes 40, its paste-back sweep and the mSSIM check 2; the DDPM (base 16, 64²): 1024 training
#: scenes 9, training 600 batch-64 steps × 1.09 s / 20 = 33, evaluation 335 network calls per
#: seed (two 25-step samples, ten 25-step inversions, RePaint, 1 + 4 two-step regenerations) ×
#: 1000 seeds × 4.6 ms / 20 = 77, +5 % for the Gaussian base's FFTs = 81, and 12 of per-image CPU
#: attacks, masks and p-values; the stand-in at 128²: covers 2, training 1500 batch-16 steps ×
#: 0.40 s / 20 = 30, 30 held-out scenes × 7 attacks × 0.5 s on the CPU 15; figures 5.
#: Sum 280. Batches of 256 on an H200 are likely faster than the rule; the CPU parts are not.
FULL_TIER_SECONDS = 280


@dataclass(frozen=True)
class Config:
    """Knobs of :mod:`lab.semantic_regen.experiments`: ``tr_*`` the TreeRing Gaussian fixture,
    ``wm_*`` the dwtDct scenes; the attacks' settings after them."""

    scale: str
    seed: int = 0
    tr_side: int = 32
    tr_seeds: int = 200
    tr_radius: int = 5  # 10/64 of the side, as the reference's radius 10 on a 64² latent
    tr_steps: int = 50
    regen_t: int = 60  # DiffWM's noise step
    wm_side: int = 256
    wm_images: int = 40
    payload: str = "Hello World!"
    pass_quality: int = 75  # JPEG quality of the pass-through round trip (stands in for the VAE)
    compress_quality: int = 25  # JPEG quality of the compression baseline
    blur_radius: float = 8.0  # PIL radius at 512², scaled to the side
    dm_side: int = 0  # TreeRing-mini's learned DDPM: image side (0: off; the fixture only)
    dm_base: int = 16  # U-Net base channels
    dm_train_steps: int = 600
    dm_batch: int = 64
    dm_scenes: int = 1024  # random-shapes training scenes
    dm_seeds: int = 1000
    dm_steps: int = 25  # DDIM steps for sampling, inversion, RePaint
    dm_radius: int = 10  # ring key radius (10/64 of the side)
    ss_side: int = 64  # StegaStamp stand-in: image side (0: off)
    ss_bits: int = 32
    ss_width: int = 16
    ss_train_steps: int = 400
    ss_batch: int = 16
    ss_train_images: int = 128
    ss_images: int = 16  # held-out scenes it is evaluated on


_PRESETS = {
    "smoke": dict(tr_side=16, tr_seeds=60, tr_radius=2, wm_images=3, ss_side=0, dm_side=0),
    "book": dict(dm_side=32, dm_train_steps=200, dm_batch=32, dm_scenes=256, dm_seeds=12, dm_radius=5),
    "full": dict(wm_side=512, wm_images=10, dm_side=64, dm_train_steps=600, ss_side=128, ss_train_steps=1500,
                 ss_images=30),
}


def resolve(scale: str = "book", **overrides) -> Config:
    """The configuration of tier ``scale`` with every override that is not ``None`` applied."""
    return resolve_config(Config, _PRESETS, scale, overrides, CHECKS)
