"""Tier presets for the FLEX chapter (``book/flex.md``).

``smoke`` runs in seconds (CI); ``book`` is what the page executes on one CPU core: Kolmogorov
flow at Re 250–1000 solved at 128² (spun up at 64²) and stored at 64² by spectral truncation,
16² patches, the ``tiny`` backbone (~0.4 M parameters) trained for a few
hundred steps, residual and raw targets only; ``full`` is for one H100 in about four minutes
(225 s measured; 600 steps per model did not finish in 520 s): 128² fields from a 256² solver at
Re 500–4000, 64² patches, the reference's ``small`` backbone for 150 steps, and every variant (raw target, no Transformer, no weak / strong conditioning, U-Net, U-ViT).
:func:`resolve` picks a tier and applies overrides.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import TIERS, Check, ParameterError, at_least, between, each, greater_than, nonempty, one_of, resolve_config

#: The model variants: (backbone spec without the size, target).
VARIANTS = {
    "flex": ({"kind": "flex"}, "residual"),
    "flex_raw": ({"kind": "flex"}, "raw"),
    "no_transformer": ({"kind": "flex", "use_transformer": False}, "residual"),
    "no_weak": ({"kind": "flex", "weak": False}, "residual"),
    "no_strong": ({"kind": "flex", "strong": False}, "residual"),
    "unet": ({"kind": "unet"}, "residual"),
    "uvit": ({"kind": "uvit"}, "residual"),
}


@dataclass(frozen=True)
class Config:
    """Every knob of :mod:`lab.flex.experiments`."""

    scale: str
    seed: int = 0
    n_seeds: int = 1  # independent trainings of each model (init and batches)
    # data: one batch of trajectories; the last trajectory of every Re is held out for testing
    reynolds_train: tuple = (250.0, 500.0)
    reynolds_test: tuple = (350.0, 1000.0)  # unseen Reynolds numbers
    n_traj: int = 3
    n_solver: int = 128  # solver grid; stored fields are its spectral truncation to n_out
    n_out: int = 64
    n_spinup: int = 64  # grid of the early spin-up (0: the solver grid throughout)
    t_refine: float = 1.0  # last part of the spin-up on the solver grid
    t_spinup: float = 10.0
    dt_snapshot: float = 0.2
    n_snapshots: int = 20
    # tasks
    patch: int = 16
    sr_factor: int = 4
    cond_frames: int = 2
    re_scale: float = 1000.0
    # model and training
    size: str = "tiny"
    variants: tuple = ("flex", "flex_raw")
    train_steps: int = 200
    batch_size: int = 8  # per step, half SR and half FC
    lr: float = 2e-3
    warmup: int = 20
    # evaluation
    eval_samples: int = 16  # per Reynolds number
    n_steps: int = 2  # sampling steps of the headline numbers
    steps_list: tuple = (1, 2, 4)
    members: int = 4  # ensemble size
    bench_kernel: bool = False


_PRESETS = {
    "smoke": dict(n_traj=2, n_solver=64, n_out=32, n_spinup=32, t_refine=0.5, t_spinup=2.0, n_snapshots=6,
                  reynolds_test=(1000.0,), train_steps=8, batch_size=4, eval_samples=8, steps_list=(1, 2), members=2),
    "book": dict(),
    "full": dict(n_seeds=1, reynolds_train=(500.0, 1000.0, 2000.0), reynolds_test=(750.0, 4000.0), n_traj=4,
                 n_solver=256, n_out=128, n_spinup=0, t_spinup=20.0, dt_snapshot=0.1, n_snapshots=32, patch=64,
                 sr_factor=8, size="small", variants=tuple(VARIANTS), train_steps=150, batch_size=16, lr=2e-4, warmup=50,
                 eval_samples=64, steps_list=(1, 2, 4, 8, 16), members=16, bench_kernel=True),
}


_SIZE_NAMES = ("tiny", "small", "medium", "big")  # lab.flex.backbone.SIZES (not imported: it pulls in torch)
_POSITIVE_LIST = nonempty & each(greater_than(0))

#: Each knob's allowed range (checked by :func:`resolve`, so ``lab run`` stops before a run folder).
CHECKS: dict[str, Check] = {
    "seed": at_least(0), "n_seeds": at_least(1),
    "reynolds_train": _POSITIVE_LIST, "reynolds_test": _POSITIVE_LIST, "n_traj": at_least(2),
    "n_solver": at_least(8), "n_out": at_least(4), "n_spinup": at_least(0), "t_refine": at_least(0),
    "t_spinup": greater_than(0), "dt_snapshot": greater_than(0), "n_snapshots": at_least(2),
    "patch": at_least(1), "sr_factor": at_least(1), "cond_frames": at_least(1), "re_scale": greater_than(0),
    "size": one_of(*_SIZE_NAMES), "variants": nonempty & each(one_of(*VARIANTS)),
    "train_steps": at_least(1), "batch_size": at_least(2), "lr": greater_than(0), "warmup": at_least(0),
    "eval_samples": at_least(1), "n_steps": at_least(1), "steps_list": nonempty & each(at_least(1)),
    "members": at_least(2),
}
#: halvings of each backbone size (len of its channel list in lab.flex.backbone.SIZES)
_LEVELS = {"tiny": 2, "small": 4, "medium": 4, "big": 4}


def _check_patch(cfg: Config) -> None:
    """The patch must fit the stored fields, the SR factor and the backbone's halvings."""
    unit = 2 ** _LEVELS[cfg.size]
    if cfg.n_out % cfg.patch or cfg.patch % cfg.sr_factor or cfg.patch % unit:
        raise ParameterError("patch", cfg.patch, f"a multiple of {unit} (the {cfg.size} backbone's halvings) and of "
                                                 f"sr_factor {cfg.sr_factor} that divides n_out = {cfg.n_out} "
                                                 "(the full-field figure tiles the field with patches)")
    if cfg.n_snapshots < cfg.cond_frames + 1:
        raise ParameterError("n_snapshots", cfg.n_snapshots, f"at least cond_frames + 1 = {cfg.cond_frames + 1}")


def resolve(scale: str = "book", **overrides) -> Config:
    """Configuration of tier ``scale`` with every override that is not ``None`` applied.

    Raises
    ------
    ValueError
        If ``scale`` is not one of :data:`TIERS` or a variant is unknown.
    TypeError
        If an override names no field of :class:`Config`.
    """
    cfg = resolve_config(Config, _PRESETS, scale, overrides, checks=CHECKS)
    if "flex" not in cfg.variants:
        raise ParameterError("variants", list(cfg.variants), f"a list that includes 'flex', from {list(VARIANTS)}")
    _check_patch(cfg)
    return cfg
