"""Tasks and residual targets of ``lab.flex.data``: periodic bicubic upsampling and patches."""
import pytest
import torch
import torch.nn.functional as F

from lab.flex.data import FlowTasks, periodic_bicubic_upsample


def test_periodic_bicubic_keeps_coarse_samples_and_matches_torch_bicubic():
    g = torch.Generator().manual_seed(0)
    coarse = torch.randn(2, 8, 8, generator=g, dtype=torch.float64)
    f, m = 4, 8
    up = periodic_bicubic_upsample(coarse, f)
    assert up.shape == (2, 32, 32)
    torch.testing.assert_close(up[:, ::f, ::f], coarse, rtol=0, atol=1e-12)
    # independent: torch's bicubic (a = -0.75, align_corners) on a wrap-padded copy, then crop
    padded = F.pad(coarse[:, None], (2, 2, 2, 2), mode="circular")
    ref = F.interpolate(padded, size=(f * (m + 3) + 1,) * 2, mode="bicubic", align_corners=True)[:, 0]
    torch.testing.assert_close(up, ref[:, 2 * f: 2 * f + f * m, 2 * f: 2 * f + f * m], rtol=1e-10, atol=1e-10)


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"vorticity": torch.randn(2, 2, 5, 16, 16, generator=g), "reynolds": torch.tensor([100.0, 400.0])}


def test_sr_and_fc_batches_hold_the_residual_definitions():
    tasks = FlowTasks(_data(), patch=8, sr_factor=4, re_scale=100.0)
    g = torch.Generator().manual_seed(1)
    sr = tasks.batch("sr", 6, g)
    assert sr["x"].shape == sr["base"].shape == sr["cond"].shape == (6, 1, 8, 8)
    torch.testing.assert_close(sr["cond"], sr["base"])
    fc = tasks.batch("fc", 6, g)
    assert fc["cond"].shape == (6, 2, 8, 8) and fc["x"].shape == (6, 1, 8, 8)
    torch.testing.assert_close(fc["base"], fc["cond"][:, -1:])
    assert set(fc["re"].flatten().tolist()) <= {1.0, 4.0}


def test_patches_wrap_around_the_periodic_field_and_follow_the_seed():
    data = _data()
    tasks = FlowTasks(data, patch=16, sr_factor=4)
    b = tasks.fixed_set("sr", 4, seed=3)
    torch.testing.assert_close(b, tasks.fixed_set("sr", 4, seed=3))
    full = data["vorticity"].float() / tasks.std
    # every patch of full size is a periodic shift of one stored snapshot
    x = b["x"][0, 0]
    hits = [(r, j, s) for r in range(2) for j in range(2) for s in range(5)
            if any(torch.allclose(torch.roll(full[r, j, s], (-dy, -dx), (0, 1)), x) for dy in range(16) for dx in range(16))]
    assert hits


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="task"):
        FlowTasks(_data(), patch=8, sr_factor=4).batch("denoise", 2, torch.Generator())
    with pytest.raises(ValueError, match="fit"):
        FlowTasks(_data(), patch=32, sr_factor=4)
    with pytest.raises(ValueError, match="observable"):
        FlowTasks(_data(), patch=8, sr_factor=4, observable="pressure")
