"""Tier presets for ``book/semantic_regen.md``.

``smoke``: seconds (tests); ``book``: the chapter (≤ 2 min CPU on one thread); ``full``: sized for
one GPU (the fixture at 64² over 1000 seeds, more and larger scenes) — it has not been run.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import at_least, between, resolve_config

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
}


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


_PRESETS = {
    "smoke": dict(tr_side=16, tr_seeds=60, tr_radius=2, wm_images=3),
    "book": dict(),
    "full": dict(tr_side=64, tr_seeds=1000, tr_radius=10, wm_side=512, wm_images=200),
}


def resolve(scale: str = "book", **overrides) -> Config:
    """The configuration of tier ``scale`` with every override that is not ``None`` applied."""
    return resolve_config(Config, _PRESETS, scale, overrides, CHECKS)
