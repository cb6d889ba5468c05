"""Shapes and conditioning paths of the FLEX backbone and its baselines (``lab.flex``)."""
import pytest
import torch

from lab.flex.backbone import FLEX, SIZES, BackboneSize, count_parameters
from lab.flex.baselines import UNet, UViT
from lab.flex.train import baseline_specs, build_model

SIZE = BackboneSize((8, 16), (1, 1), depth=3, heads=2, groups=4)


def _inputs(b=3, p=16, frames=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, 1, p, p, generator=g), torch.rand(b, generator=g), torch.randn(b, 1, p, p, generator=g),
            torch.randn(b, frames, p, p, generator=g), torch.rand(b, 1, generator=g))


def _randomise_head(model):
    """The output conv starts at zero (identity blocks); give it weights so paths show."""
    torch.manual_seed(5)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d) and m.weight.abs().sum() == 0:
            torch.nn.init.normal_(m.weight, std=0.1)
    return model.eval()


def test_output_shape_and_zero_initialised_head():
    z, t, c_sr, c_fc, re = _inputs()
    model = FLEX(16, SIZE).eval()
    for task, cond in (("sr", c_sr), ("fc", c_fc)):
        out = model(z, t, cond, re, task)
        assert out.shape == z.shape
        assert out.abs().max() == 0  # zero-initialised output conv


def test_tiny_size_is_small_and_reference_small_size_has_its_channels():
    assert 1e5 < count_parameters(FLEX(16, "tiny")) < 5e5
    assert SIZES["small"].channels == (64, 128, 128, 256) and SIZES["small"].res_blocks == (2, 3, 3, 3)
    assert SIZES["small"].depth == 13 and SIZES["small"].heads == 4


@pytest.mark.parametrize("weak,strong,depends", [(False, False, False), (True, False, True), (False, True, True),
                                                 (True, True, True)])
def test_conditioning_reaches_the_output_only_through_weak_or_strong_paths(weak, strong, depends):
    z, t, c_sr, _, re = _inputs()
    model = _randomise_head(FLEX(16, SIZE, weak=weak, strong=strong))
    with torch.no_grad():
        a, b = model(z, t, c_sr, re, "sr"), model(z, t, c_sr + 1.0, re, "sr")
    assert ((a - b).abs().max() > 1e-6) == depends


def test_time_and_reynolds_number_are_used():
    z, t, c_sr, _, re = _inputs()
    model = _randomise_head(FLEX(16, SIZE))
    with torch.no_grad():
        base = model(z, t, c_sr, re, "sr")
        assert (model(z, t * 0.5, c_sr, re, "sr") - base).abs().max() > 1e-6
        assert (model(z, t, c_sr, re + 0.5, "sr") - base).abs().max() > 1e-6


def test_transformer_ablation_drops_its_parameters_and_keeps_shapes():
    z, t, c_sr, _, re = _inputs()
    full, ablated = FLEX(16, SIZE), FLEX(16, SIZE, use_transformer=False)
    assert count_parameters(full) - count_parameters(ablated) == count_parameters(full.transformer) + full.pos.numel()
    assert ablated(z, t, c_sr, re, "sr").shape == z.shape


@pytest.mark.parametrize("kind", ["flex", "unet", "uvit"])
def test_a_mixed_task_batch_equals_separate_passes(kind):
    z, t, c_sr, c_fc, re = _inputs(b=4)
    spec = {"flex": {"kind": "flex", "size": SIZE}, "unet": {"kind": "unet", "size": SIZE},
            "uvit": {"kind": "uvit", "dim": 16, "depth": 3, "heads": 2, "patch": 4}}[kind]
    model = _randomise_head(build_model(spec, 16))
    with torch.no_grad():
        mixed = model.forward_tasks(z, t, re, [("sr", c_sr[:2]), ("fc", c_fc[2:])])
        sr, fc = model(z[:2], t[:2], c_sr[:2], re[:2], "sr"), model(z[2:], t[2:], c_fc[2:], re[2:], "fc")
    torch.testing.assert_close(mixed, torch.cat([sr, fc]), rtol=1e-5, atol=1e-5)


def test_bad_inputs_raise_clear_errors():
    z, t, c_sr, c_fc, re = _inputs()
    model = FLEX(16, SIZE)
    with pytest.raises(ValueError, match="task"):
        model(z, t, c_sr, re, "denoise")
    with pytest.raises(ValueError, match="conditioning channel"):
        model(z, t, c_fc, re, "sr")
    with pytest.raises(ValueError, match="divisible"):
        FLEX(18, SIZE)
    with pytest.raises(ValueError, match="multiple"):
        FLEX(16, BackboneSize((12, 16), (1, 1), 3, 2, groups=8))
    with pytest.raises(ValueError, match="size"):
        FLEX(16, "huge")


def test_baselines_have_matching_parameter_counts():
    target = count_parameters(FLEX(16, "tiny"))
    specs = baseline_specs({"kind": "flex", "size": "tiny"}, 16)
    for spec in specs.values():
        n = count_parameters(build_model(spec, 16))
        # the architecture claim needs the baselines within 10% of FLEX's count
        assert abs(n - target) / target < 0.10
    z, t, c_sr, _, re = _inputs()
    assert UNet(16, SIZE)(z, t, c_sr, re, "sr").shape == z.shape
    assert UViT(16, patch=4, dim=16, depth=3, heads=2)(z, t, c_sr, re, "sr").shape == z.shape
