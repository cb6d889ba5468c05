"""Super-resolution and forecasting samples cut from Kolmogorov-flow trajectories.

``book/flex.md``, section "Tasks and residuals". From snapshots ``x`` (normalised by the
training standard deviation):

- **SR**: the coarse field ``x[::f, ::f]`` is upsampled back with bicubic (Keys, ``a = -0.75``,
  as ``torch``'s ``bicubic``) interpolation, **periodic and aligned** (coarse pixel ``i`` sits on
  fine pixel ``f·i``); the base is ``U(x[::f, ::f])`` and the residual ``r = x - U(x[::f, ::f])``.
  The task encoder reads the upsampled field.
- **FC**: the task encoder reads ``cond_frames`` past frames ``x_{t-1}, x_t``; the base is
  ``x_t`` and the residual ``r = x_{t+1} - x_t``.

Samples are random square patches of side ``patch`` of the periodic fields (the reference
code trains on random 256² patches of 2048² fields); the interpolation is done on the whole
periodic field before cropping, so a patch has no edge artefacts.
"""
from __future__ import annotations

import torch

from lab.pde.spectral import SpectralGrid

TASKS = ("sr", "fc")


def _cubic_weights(frac: torch.Tensor, a: float = -0.75) -> torch.Tensor:
    """Keys cubic-convolution weights of the 4 neighbours at offsets -1, 0, 1, 2, ``[..., 4]``."""
    d = torch.stack([1 + frac, frac, 1 - frac, 2 - frac], dim=-1).abs()
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return torch.where(d <= 1, near, torch.where(d < 2, far, torch.zeros_like(d)))


def periodic_bicubic_upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Upsample periodic ``[..., m, m]`` fields by an integer ``factor`` with bicubic convolution.

    Coarse sample ``i`` sits on fine pixel ``factor·i``, so ``up(x)[..., ::f, ::f] == x``
    exactly, and neighbours wrap around.
    """
    w = _cubic_weights(torch.arange(factor, dtype=x.dtype, device=x.device) / factor)  # [f, 4]

    def along_last(y):
        stack = torch.stack([torch.roll(y, -o, dims=-1) for o in (-1, 0, 1, 2)], dim=-1)  # [..., m, 4]
        out = torch.einsum("...mk,fk->...mf", stack, w)
        return out.reshape(*y.shape[:-1], y.shape[-1] * factor)

    return along_last(along_last(x).transpose(-1, -2)).transpose(-1, -2)


def vorticity_to_velocity(w: torch.Tensor) -> torch.Tensor:
    """The ``x``-velocity ``u = ∂_y ψ`` of vorticity fields ``[..., n, n]`` (for the unseen-observable test)."""
    u, _ = SpectralGrid(w.shape[-1], dtype=torch.float64).velocity(w.double())
    return u.to(w.dtype)


class FlowTasks:
    """Patches for SR and FC from a trajectory set ``[R, J, S, n, n]`` (see :func:`lab.pde.trajectories`).

    Parameters
    ----------
    data : dict with ``vorticity`` ``[R, J, S, n, n]`` and ``reynolds`` ``[R]``.
    patch : side of the square patches.
    sr_factor : SR down-sampling factor ``f``.
    cond_frames : past frames for FC.
    std : normalisation (None: this data's std; pass the training std for test data).
    re_scale : the network sees ``Re / re_scale``.
    observable : ``"vorticity"`` or ``"u"`` (x-velocity, derived spectrally).
    """

    def __init__(self, data: dict, patch: int, sr_factor: int, cond_frames: int = 2, std: float | None = None,
                 re_scale: float = 1000.0, observable: str = "vorticity"):
        field = data["vorticity"].float()
        if observable == "u":
            field = vorticity_to_velocity(field)
        elif observable != "vorticity":
            raise ValueError(f"observable must be 'vorticity' or 'u', got {observable!r}")
        n = field.shape[-1]
        if patch > n or n % sr_factor:
            raise ValueError(f"patch {patch} and factor {sr_factor} do not fit fields of side {n}")
        if field.shape[2] < cond_frames + 1:
            raise ValueError(f"forecasting needs {cond_frames + 1} snapshots per trajectory, got {field.shape[2]}")
        self.std = float(field.std()) if std is None else float(std)
        self.x = field / self.std
        self.up = periodic_bicubic_upsample(self.x[..., ::sr_factor, ::sr_factor], sr_factor)
        self.reynolds = data["reynolds"].float()
        self.patch, self.sr_factor, self.cond_frames, self.re_scale = patch, sr_factor, cond_frames, re_scale
        self.shape = tuple(field.shape[:3])

    def _crop(self, fields: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor) -> torch.Tensor:
        """Patches ``[B, c, P, P]`` of ``fields`` ``[B, c, n, n]`` at offsets ``(oy, ox)``, wrapping."""
        n, ar = fields.shape[-1], torch.arange(self.patch)
        rows = (oy[:, None] + ar) % n
        cols = (ox[:, None] + ar) % n
        b = torch.arange(fields.shape[0])[:, None, None, None]
        c = torch.arange(fields.shape[1])[None, :, None, None]
        return fields[b, c, rows[:, None, :, None], cols[:, None, None, :]]

    def batch(self, task: str, size: int, generator: torch.Generator, re_index=None) -> dict:
        """A random batch: ``x`` target, ``base``, ``cond`` ``[B, c, P, P]`` and ``re`` ``[B, 1]``.

        ``re_index`` restricts the draw to one Reynolds number of the set.
        """
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        n_re, n_traj, n_snap = self.shape
        r = (torch.randint(n_re, (size,), generator=generator) if re_index is None
             else torch.full((size,), int(re_index)))
        j = torch.randint(n_traj, (size,), generator=generator)
        n = self.x.shape[-1]
        oy, ox = torch.randint(n, (size,), generator=generator), torch.randint(n, (size,), generator=generator)
        if task == "sr":
            s = torch.randint(n_snap, (size,), generator=generator)
            x = self._crop(self.x[r, j, s][:, None], oy, ox)
            base = self._crop(self.up[r, j, s][:, None], oy, ox)
            cond = base
        else:
            s = torch.randint(self.cond_frames - 1, n_snap - 1, (size,), generator=generator)
            frames = torch.stack([self.x[r, j, s + d] for d in range(1 - self.cond_frames, 2)], dim=1)
            frames = self._crop(frames, oy, ox)
            cond, x = frames[:, :-1], frames[:, -1:]
            base = cond[:, -1:]
        return {"x": x, "base": base, "cond": cond, "re": (self.reynolds[r] / self.re_scale)[:, None],
                "re_raw": self.reynolds[r]}

    def fixed_set(self, task: str, size: int, seed: int, re_index=None) -> dict:
        """A reproducible evaluation batch (same ``seed`` → same patches)."""
        return self.batch(task, size, torch.Generator().manual_seed(seed), re_index=re_index)
