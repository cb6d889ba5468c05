"""The experiments of ``book/semantic_regen.md``: TreeRing on the Gaussian fixture, dwtDct on
photo scenes, every attack × {paste-back, pass-through}, and the image-quality metrics."""
from __future__ import annotations

import numpy as np
from scipy import stats
from skimage import color, data

from lab.semantic_regen import attacks, scenes
from lab.watermark import dwtdct, metrics, treering

TR_ATTACKS = ("none", "blur", "compress", "regen", "rinse4x",
              "bg-gauss-paste", "bg-gauss-pass", "bg-telea-paste", "bg-telea-pass")
WM_ATTACKS = ("none", "blur", "compress", "bg-telea-paste", "bg-telea-pass", "bg-photo-paste", "bg-photo-pass")
SEMREGEN = "bg-photo-pass"  #: the dwtDct attack closest to the paper's (a new background, VAE-like round trip)


def fixture(side: int) -> treering.GaussianDiffusion:
    """The Gaussian fixture fitted to ``side²`` patches (stride side/4) of three grayscale photos in [-1, 1]."""
    imgs = [data.camera() / 127.5 - 1, color.rgb2gray(data.astronaut()) * 2 - 1, color.rgb2gray(data.coffee()) * 2 - 1]
    step = max(1, side // 4)
    patches = np.concatenate([np.lib.stride_tricks.sliding_window_view(im, (side, side))[::step, ::step].reshape(-1, side, side)
                              for im in imgs])
    mu, cov = treering.fit_gaussian(patches)
    return treering.GaussianDiffusion(mu, cov, side)


def _unit(x):  # fixture images live in about [-1, 1]; the pixel attacks take [0, 1]
    return (x + 1) / 2


def _fixture_attack(name: str, gd, x, repaint, rng, cfg) -> np.ndarray:
    if name == "none":
        return x
    if name == "blur":
        return attacks.blur(_unit(x), cfg.blur_radius) * 2 - 1
    if name == "compress":
        return attacks.jpeg(_unit(x), cfg.compress_quality) * 2 - 1
    if name == "regen":
        return gd.regenerate(x, cfg.regen_t, cfg.tr_steps, rng)
    if name == "rinse4x":
        for _ in range(4):
            x = gd.regenerate(x, cfg.regen_t, cfg.tr_steps, rng)
        return x
    kind, fg = name.split("-")[1:]
    if kind == "gauss":  # exact conditional regeneration of the background (what RePaint approximates)
        inp = lambda img, m: gd.inpaint(img * 2 - 1, m, rng) / 2 + 0.5  # noqa: E731
    else:
        inp = attacks.inpaint_telea
    return attacks.semantic_regen(_unit(x), repaint, inp, fg, cfg.pass_quality) * 2 - 1


def treering_experiment(cfg) -> dict:
    """p-values of TreeRing on the fixture: null, watermarked, and after every attack, per seed.

    Also the p-values of an *exact* null test (known σ, one coefficient per conjugate pair),
    which the reference's formula approximates.
    """
    n, r = cfg.tr_side, cfg.tr_radius
    gd = fixture(n)
    ts = treering.ddim_timesteps(cfg.tr_steps)
    key, mask = treering.ring_key(n, r), treering.circle_mask(n, r)
    p = {a: np.empty(cfg.tr_seeds) for a in TR_ATTACKS}
    p_null, p_null_exact, roundtrip, frac = (np.empty(cfg.tr_seeds) for _ in range(4))
    example = None
    for s in range(cfg.tr_seeds):
        rng = np.random.default_rng([cfg.seed, 1, s])
        x_t = rng.standard_normal((n, n))
        x0 = gd.sample(x_t, ts)
        back = gd.invert(x0, ts)
        roundtrip[s] = np.abs(back - x_t).max()
        p_null[s] = treering.p_value(back, key, mask)
        p_null_exact[s] = treering.p_value_exact(back, key, mask)
        xw = gd.sample(treering.inject(x_t, key, mask), ts)
        repaint = scenes.scene_repaint_mask(scenes.make_scene(n, rng), "truth")
        frac[s] = repaint.mean()
        for a in TR_ATTACKS:
            y = _fixture_attack(a, gd, xw, repaint, rng, cfg)
            p[a][s] = treering.p_value(gd.invert(y, ts), key, mask)
        if s == 0:
            example = dict(x=xw, repaint=repaint, attacked={a: _fixture_attack(a, gd, xw, repaint, np.random.default_rng(0), cfg)
                                                            for a in ("blur", "regen", "bg-gauss-pass")})
    return dict(p=p, p_null=p_null, p_null_exact=p_null_exact, roundtrip=roundtrip, repaint_fraction=frac,
                ks_null=float(stats.kstest(p_null, "uniform").pvalue),
                ks_null_exact=float(stats.kstest(p_null_exact, "uniform").pvalue),
                mask_size=int(mask.sum()), example=example)


def _reference_codec():
    """The ``invisible-watermark`` package's encoder and decoder, or ``None`` when it is missing."""
    try:
        from imwatermark import WatermarkDecoder, WatermarkEncoder
    except ImportError:
        return None
    return WatermarkEncoder, WatermarkDecoder


def dwtdct_experiment(cfg) -> dict:
    """dwtDct on ``wm_images`` photo scenes: bit accuracy, binomial p and image quality per attack.

    Each scene is also encoded and decoded by ``invisible-watermark`` (when installed): the
    watermarked images must be pixel-identical and the decoded bits identical after every attack.
    """
    rng = np.random.default_rng([cfg.seed, 2])
    bits = dwtdct.text_bits(cfg.payload)
    ref = _reference_codec()
    keys = ("acc", "p", "ssim", "mssim", "strict", "psnr")
    res = {k: {a: np.empty(cfg.wm_images) for a in WM_ATTACKS} for k in keys}
    frac, iou, pixel_mismatch, bit_mismatch = [], [], [], []
    panel = None
    for i in range(cfg.wm_images):
        bg = scenes.crop(scenes.photo(scenes.PHOTOS[i % len(scenes.PHOTOS)]), cfg.wm_side, rng)
        other = scenes.crop(scenes.photo(scenes.PHOTOS[(i + 3) % len(scenes.PHOTOS)]), cfg.wm_side, rng)
        sc = scenes.make_scene(cfg.wm_side, rng, bg)
        repaint = scenes.scene_repaint_mask(sc, "segmentation")
        truth = scenes.scene_repaint_mask(sc, "truth")
        frac.append(repaint.mean())
        iou.append((repaint & truth).sum() / max(1, (repaint | truth).sum()))
        bgr = np.ascontiguousarray(attacks.to_uint8(sc.image)[..., ::-1])
        wm_bgr = dwtdct.encode(bgr, bits)
        if ref is not None:
            enc = ref[0]()
            enc.set_watermark("bits", list(bits))
            pixel_mismatch.append(int(np.sum(enc.encode(bgr.copy(), "dwtDct") != wm_bgr)))
        x = wm_bgr[..., ::-1].astype(np.float64) / 255.0
        outs = {}
        for a in WM_ATTACKS:
            if a == "none":
                y = x
            elif a == "blur":
                y = attacks.blur(x, cfg.blur_radius)
            elif a == "compress":
                y = attacks.jpeg(x, cfg.compress_quality)
            else:
                kind, fg = a.split("-")[1:]
                inp = attacks.inpaint_telea if kind == "telea" else \
                    (lambda img, m: attacks.replace_background(img, m, other))
                y = attacks.semantic_regen(x, repaint, inp, fg, cfg.pass_quality)
            outs[a] = y
            y_bgr = np.ascontiguousarray(attacks.to_uint8(y)[..., ::-1])
            dec = dwtdct.decode(y_bgr, bits.size)
            if ref is not None:
                theirs = np.asarray(ref[1]("bits", bits.size).decode(y_bgr, "dwtDct"), dtype=np.uint8)
                bit_mismatch.append(int(np.sum(theirs != dec)))
            res["acc"][a][i] = metrics.bit_accuracy(dec, bits)
            res["p"][a][i] = metrics.bit_p_value(dec, bits)
            res["ssim"][a][i] = metrics.ssim(y, x)
            res["mssim"][a][i] = metrics.mssim(x, y, repaint)
            res["strict"][a][i] = metrics.strict_ssim(x, y, repaint)
            res["psnr"][a][i] = metrics.psnr(x, y)
        if i == 0:
            panel = dict(original=x, repaint=repaint, attacked={a: outs[a] for a in ("blur", "compress", "bg-telea-pass", SEMREGEN)})
    return dict(**res, repaint_fraction=np.array(frac), mask_iou=np.array(iou), reference=ref is not None,
                pixel_mismatch=np.array(pixel_mismatch), bit_mismatch=np.array(bit_mismatch), panel=panel)


def mssim_reference_gap(n_cases: int, seed: int) -> float:
    """Largest |own mSSIM − torchmetrics-defined mSSIM| over random image pairs and masks.

    The reference is ``torchmetrics.functional.structural_similarity_index_measure`` on the
    white-painted images when torchmetrics is installed, else the dense-conv2d reference of
    :mod:`kernels.ssim` (same constants).
    """
    import torch
    try:
        from torchmetrics.functional.image import structural_similarity_index_measure as ref
    except ImportError:
        from kernels.ssim import ssim_reference as ref
    rng = np.random.default_rng([seed, 3])
    gap = 0.0
    for k in range(n_cases):
        h, w = rng.integers(16, 70, size=2)
        x = rng.uniform(size=(h, w, 3))
        y = np.clip(x + rng.uniform(0.02, 0.3) * rng.standard_normal((h, w, 3)), 0, 1)
        m = rng.uniform(size=(h, w)) < rng.uniform(0.3, 0.8)
        xw, yw = x.copy(), y.copy()
        xw[m], yw[m] = 1.0, 1.0
        t = lambda a: torch.from_numpy(a.transpose(2, 0, 1)[None].copy())  # noqa: E731
        gap = max(gap, abs(metrics.mssim(x, y, m) - float(ref(t(yw), t(xw)))))
    return gap


def paste_back_sweep(cfg, fractions=(0.1, 0.3, 0.5, 0.7, 0.9), n_images: int = 6) -> dict:
    """dwtDct bit accuracy after paste-back background replacement, against the repainted fraction.

    The repaint mask is the left ``f`` of the columns (so every bit's blocks are hit in about the
    same proportion); the repainted pixels come from another photograph, the rest is untouched.
    """
    rng = np.random.default_rng([cfg.seed, 4])
    bits = dwtdct.text_bits(cfg.payload)
    acc = np.empty((n_images, len(fractions)))
    for i in range(n_images):
        x_bgr = dwtdct.encode(np.ascontiguousarray(attacks.to_uint8(
            scenes.crop(scenes.photo(scenes.PHOTOS[i % len(scenes.PHOTOS)]), cfg.wm_side, rng))[..., ::-1]), bits)
        x = x_bgr[..., ::-1].astype(np.float64) / 255.0
        other = scenes.crop(scenes.photo(scenes.PHOTOS[(i + 4) % len(scenes.PHOTOS)]), cfg.wm_side, rng)
        for j, f in enumerate(fractions):
            m = np.zeros(x.shape[:2], bool)
            m[:, : int(round(f * x.shape[1]))] = True
            y = attacks.semantic_regen(x, m, lambda img, mm: attacks.replace_background(img, mm, other), "paste")
            acc[i, j] = metrics.bit_accuracy(dwtdct.decode(np.ascontiguousarray(attacks.to_uint8(y)[..., ::-1]), bits.size), bits)
    return dict(fractions=np.array(fractions), acc=acc)
