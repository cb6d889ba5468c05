"""The miniature attack: the reference's mask logic, the attacks' shapes and ranges, and the
chapter's claims at smoke size (the exact and structural ones must come out reproduced)."""
import numpy as np
import pytest

from lab.claims import Claims
from lab.claims.status import Status
from lab.semantic_regen import attacks, claims, config, experiments, scenes
from lab.tiers import ParameterError


def _mask(shape, frac, start=0):
    m = np.zeros(shape, bool)
    m.ravel()[start:start + int(frac * m.size)] = True
    return m


def test_combine_stops_once_coverage_exceeds_threshold():
    a, b, c = _mask((10, 10), 0.3), _mask((10, 10), 0.3, 30), _mask((10, 10), 0.3, 60)
    out = scenes.combine([a, b, c], 0.5)
    assert out.mean() == pytest.approx(0.6) and not (out & c & ~a & ~b).any()
    assert scenes.combine([], 0.5) is None


def test_repaint_mask_flips_small_objects_and_keeps_large_ones():
    small, large = _mask((10, 10), 0.3), _mask((10, 10), 0.9)
    m = scenes.repaint_mask([[small], [_mask((10, 10), 0.2)]], (10, 10))
    assert np.array_equal(m, ~small)  # larger coverage kept, < 0.8 -> background repainted
    assert np.array_equal(scenes.repaint_mask([[large]], (10, 10)), large)  # >= 0.8: the object
    assert not scenes.repaint_mask([[], []], (10, 10)).any()  # no detection: nothing repainted
    with pytest.raises(ValueError, match="shape"):
        scenes.repaint_mask([[small]], (10, 11))


def test_scene_masks_are_exact_and_segmentation_agrees():
    rng = np.random.default_rng(0)
    sc = scenes.make_scene(64, rng, scenes.crop(scenes.photo("coffee"), 64, rng))
    assert sc.image.shape == (64, 64, 3) and 0 <= sc.image.min() and sc.image.max() <= 1
    assert np.array_equal(sc.foreground, sc.regions > 0)
    truth, seg = scenes.scene_repaint_mask(sc, "truth"), scenes.scene_repaint_mask(sc)
    assert np.array_equal(truth, ~sc.foreground)
    assert (truth & seg).sum() / (truth | seg).sum() > 0.8


def test_attacks_shapes_ranges_and_paste_back():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(64, 64, 3))
    m = _mask((64, 64), 0.6)
    for y in (attacks.blur(x), attacks.jpeg(x, 50), attacks.inpaint_telea(x, m),
              attacks.semantic_regen(x, m, attacks.inpaint_telea, "pass")):
        assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    y = attacks.semantic_regen(x, m, lambda img, mm: np.zeros_like(img), "paste")
    assert np.array_equal(y[~m], x[~m]) and np.all(y[m] == 0)
    with pytest.raises(ValueError, match="mask"):
        attacks.semantic_regen(x, m[:, :10], attacks.inpaint_telea)
    with pytest.raises(ValueError, match="paste"):
        attacks.semantic_regen(x, m, attacks.inpaint_telea, "keep")


def test_config_rejects_bad_values():
    with pytest.raises(ParameterError):
        config.resolve("smoke", wm_side=128)
    with pytest.raises(ParameterError):
        config.resolve("smoke", pass_quality=0)


def test_smoke_claims_exact_rows_reproduced():
    cfg = config.resolve("smoke")
    tr, wm = experiments.treering_experiment(cfg), experiments.dwtdct_experiment(cfg)
    c = Claims("semantic_regen", "smoke")
    claims.check_all(c, tr=tr, wm=wm, gap=experiments.mssim_reference_gap(5, 0), reference="torchmetrics")
    status = {x.id: x.status for x in c.items}
    for row in ("mssim-definition", "treering-null-uniform-exact", "ddim-roundtrip-exact"):
        assert status[row] is Status.REPRODUCED, row
    try:
        import imwatermark  # noqa: F401
        assert status["dwtdct-bit-exact"] is Status.REPRODUCED
    except ImportError:  # the peer package is optional (see pyproject's `peers`)
        assert status["dwtdct-bit-exact"] is Status.NOT_CHECKABLE
    dossier = {"mssim-definition", "treering-null-uniform", "dwtdct-bit-exact", "treering-survives-blur-regen",
               "treering-broken-by-bg-regen", "dwtdct-fragile", "dwtdct-needs-passthrough", "mssim-vs-full-ssim",
               "learned-wm-below-075", "paper-1000-prompts"}
    assert dossier <= set(status)


def test_full_tier_is_configured_and_runs_at_smoke_size():
    full = config.resolve("full")
    # the full tier keeps the fixture at the book's size (its 64² / 1000-seed TreeRing is the trained DDPM's)
    assert (full.tr_side, full.tr_seeds, full.wm_side, full.dm_side, full.dm_seeds) == (32, 200, 512, 64, 1000)
    # the fixture's code path (key radius 10/64 of the side) at a tiny size
    small = config.resolve("full", tr_side=16, tr_seeds=3, tr_radius=2, wm_side=256, wm_images=3)
    tr = experiments.treering_experiment(small)
    assert tr["roundtrip"].max() < 1e-9 and all(v.shape == (3,) for v in tr["p"].values())


def test_paste_back_sweep_end_points():
    cfg = config.resolve("smoke")
    s = experiments.paste_back_sweep(cfg, fractions=(0.0, 1.0), n_images=2)
    assert s["acc"].shape == (2, 2)
    # everything repainted: another photo without the watermark decodes at chance (96 bits, sd 0.05);
    # nothing repainted: the clean decode (dwtDct itself misses some bits on some photos)
    assert np.all((s["acc"][:, 1] > 0.3) & (s["acc"][:, 1] < 0.7))
    assert s["acc"][:, 0].mean() > s["acc"][:, 1].mean() + 0.1
