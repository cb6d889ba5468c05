"""kernels/ssim.py under Triton's interpreter against its conv2d reference, torchmetrics and
lab.watermark.metrics (the float64 numpy implementation)."""
import numpy as np
import pytest
import torch

from kernels import ssim as K
from lab.watermark import metrics


@pytest.mark.parametrize("shape", [(1, 1, 11, 11), (2, 3, 13, 29), (1, 3, 24, 17)])
@pytest.mark.parametrize("masked", [False, True])
def test_triton_matches_reference(shape, masked):
    gen = torch.Generator().manual_seed(sum(shape))
    x = torch.rand(shape, generator=gen, dtype=torch.float64)
    y = (x + 0.2 * torch.randn(shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    m = (torch.rand((shape[0], *shape[2:]), generator=gen) < 0.5) if masked else None
    ours, smap = K.ssim_triton(x, y, None, m, return_map=True)
    ref, rmap = K.ssim_reference(x, y, None, m, return_map=True)
    assert torch.allclose(smap, rmap, atol=1e-12)
    assert torch.allclose(ours, ref, atol=1e-12)


def test_triton_float32_and_torchmetrics():
    tm = pytest.importorskip("torchmetrics.functional.image")
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((2, 3, 20, 33), generator=gen)
    y = (x + 0.1 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    ref = tm.structural_similarity_index_measure(y, x, reduction="none")
    assert torch.allclose(K.ssim_triton(y, x), ref, atol=1e-5)
    assert torch.allclose(K.ssim_reference(y.double(), x.double()), ref.double(), atol=1e-6)


def test_masked_mean_is_strict_ssim():
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(19, 23, 3))
    y = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, 1)
    repaint = rng.uniform(size=(19, 23)) < 0.6
    t = lambda a: torch.from_numpy(a.transpose(2, 0, 1)[None].copy())  # noqa: E731
    fg = torch.from_numpy(~repaint)[None]
    assert abs(float(K.ssim_triton(t(y), t(x), 1.0, fg)) - metrics.strict_ssim(x, y, repaint)) < 1e-12


def test_bad_input():
    x = torch.rand(1, 1, 10, 12, dtype=torch.float64)
    with pytest.raises(ValueError, match="H, W"):
        K.ssim_triton(x, x)
    x = torch.rand(1, 1, 12, 12, dtype=torch.float64)
    with pytest.raises(ValueError, match="mask"):
        K.ssim_triton(x, x, 1.0, torch.ones(1, 12, 11, dtype=torch.bool))
    with pytest.raises(ValueError, match="dtype"):
        K.ssim_triton(x, x.float())


def test_public_ssim_dispatches_and_agrees():
    from kernels import dispatch
    gen = torch.Generator().manual_seed(7)
    x = torch.rand((1, 3, 15, 12), generator=gen, dtype=torch.float64)
    y = x.flip(-1)
    m = torch.rand((1, 15, 12), generator=gen) < 0.3
    out = K.ssim(x, y, 1.0, m)
    assert dispatch.explain("ssim")  # says which implementation ran and why
    assert torch.allclose(out, K.ssim_reference(x, y, 1.0, m), atol=1e-12)
