"""The experiments of ``book/semantic_regen.md``: TreeRing on the Gaussian fixture, dwtDct on
photo scenes, every attack × {paste-back, pass-through}, and the image-quality metrics; with the
learned models, TreeRing-mini on a trained pixel DDPM (RePaint as the background regenerator) and
the StegaStamp stand-in (:func:`ddpm_treering_experiment`, :func:`stegastamp_experiment`, batched
on the GPU when one is visible)."""
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


# ---------------------------------------------------------------------------------------------
# Learned models (full tier; toy sizes in the tests): TreeRing-mini with a trained pixel DDPM,
# RePaint with it, and the StegaStamp stand-in.

DM_ATTACKS = ("none", "blur", "compress", "regen", "rinse4x",
              "bg-repaint-paste", "bg-repaint-pass", "bg-telea-paste", "bg-telea-pass")


def device() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def _ddpm_config(cfg):
    from lab.watermark.diffusion import DDPMConfig
    return DDPMConfig(side=cfg.dm_side, base=cfg.dm_base, steps=cfg.dm_train_steps, batch=cfg.dm_batch,
                      n_scenes=cfg.dm_scenes, seed=cfg.seed)


def _per_image(fn, x):
    """Apply a numpy image attack on [0, 1] to each image of a [-1, 1] tensor batch (on its device)."""
    import torch
    arr = x.detach().cpu().double().numpy()
    out = np.stack([fn((a + 1) / 2) * 2 - 1 for a in arr])
    return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)


def ddpm_treering_experiment(cfg, dev: str | None = None) -> dict:
    """TreeRing-mini with the learned DDPM: ``dm_seeds`` latents, batched on ``dev``.

    Per seed: a clean sample and its inversion (the null), a watermarked sample (ring key of
    radius ``dm_radius`` in the centred FFT of ``x_T``), every attack of :data:`DM_ATTACKS`
    on it and the inversion of each, all with ``dm_steps`` DDIM steps. The repaint masks are
    random-shapes masks (the reference's 0.50/0.80 logic on ground-truth shapes), independent
    of the generated image, as for the fixture. RePaint regenerates the masked pixels with
    the same model; ``paste`` keeps the rest, ``pass`` then sends the image through the JPEG
    round trip that stands in for the VAE.
    """
    import torch

    from lab.watermark import diffusion

    dev = dev or device()
    if not 0 < cfg.dm_radius < cfg.dm_side // 2:
        raise ValueError(f"the ring key's radius {cfg.dm_radius} must be below half the DDPM's side {cfg.dm_side}")
    model, rec = diffusion.trained(_ddpm_config(cfg), dev)
    n, r, S = cfg.dm_side, cfg.dm_radius, cfg.dm_seeds
    ts = treering.ddim_timesteps(cfg.dm_steps)
    key, mask = treering.ring_key(n, r), treering.circle_mask(n, r)
    gen = torch.Generator(device=dev).manual_seed(cfg.seed * 1000 + 11)
    rng = np.random.default_rng([cfg.seed, 5])
    repaint = np.stack([scenes.scene_repaint_mask(scenes.make_scene(n, rng), "truth") for _ in range(S)])
    m = torch.from_numpy(repaint).to(dev)

    def pvals(lat):
        lat = lat.detach().cpu().double().numpy()
        return np.array([treering.p_value(z, key, mask) for z in lat])

    x_t = torch.randn((S, n, n), generator=gen, device=dev)
    x_clean = model.sample(x_t, ts)
    back = model.invert(x_clean, ts)
    roundtrip_rms = ((back - x_t) ** 2).mean((-2, -1)).sqrt().cpu().numpy()
    p_null = pvals(back)
    x_tw = diffusion.inject(x_t, key, mask)
    xw = model.sample(x_tw, ts)
    back_w = model.invert(xw, ts)
    key_err = _key_error(back_w, x_tw, mask)
    p = {"none": pvals(back_w)}
    rep = model.repaint(xw, m, cfg.dm_steps, gen)
    attacked = {}
    for a in DM_ATTACKS[1:]:
        if a == "blur":
            y = _per_image(lambda u: attacks.blur(u, cfg.blur_radius), xw)
        elif a == "compress":
            y = _per_image(lambda u: attacks.jpeg(u, cfg.compress_quality), xw)
        elif a == "regen":
            y = model.regenerate(xw, cfg.regen_t, cfg.dm_steps, gen)
        elif a == "rinse4x":
            y = xw
            for _ in range(4):
                y = model.regenerate(y, cfg.regen_t, cfg.dm_steps, gen)
        else:
            kind, fg = a.split("-")[1:]
            if kind == "repaint":
                pasted = torch.where(m, rep, xw)
                y = pasted if fg == "paste" else _per_image(lambda u: attacks.jpeg(u, cfg.pass_quality), pasted)
            else:
                arr = ((xw.detach().cpu().double().numpy() + 1) / 2).clip(0, 1)
                y = torch.from_numpy(np.stack([attacks.semantic_regen(u, mk, attacks.inpaint_telea, fg, cfg.pass_quality)
                                               for u, mk in zip(arr, repaint)]) * 2 - 1).to(dev, torch.float32)
        attacked[a] = y
        p[a] = pvals(model.invert(y, ts))
    cpu = lambda t: t[0].detach().cpu().double().numpy()  # noqa: E731
    example = dict(x=cpu(xw), repaint=repaint[0], attacked={a: cpu(attacked[a]) for a in ("blur", "regen", "bg-repaint-pass")})
    losses = np.array(rec["losses"], float)
    return dict(p=p, p_null=p_null, ks_null=float(stats.kstest(p_null, "uniform").pvalue),
                roundtrip_rms=roundtrip_rms, key_error=key_err, repaint_fraction=repaint.mean((1, 2)),
                mask_size=int(mask.sum()), example=example, device=dev,
                final_loss=float(np.nanmean(losses[np.isfinite(losses)][-10:])),
                sample_std=float(x_clean.std().cpu()), params=int(sum(q.numel() for q in model.net.parameters())))


def _key_error(back, x_t, mask) -> np.ndarray:
    """Relative error of the masked centred-FFT coefficients after DDIM inversion, per seed."""
    import torch
    f = lambda z: torch.fft.fftshift(torch.fft.fft2(z.double()), dim=(-2, -1))[..., torch.as_tensor(mask, device=z.device)]  # noqa: E731
    a, b = f(back), f(x_t)
    return ((a - b).abs().mean(-1) / b.abs().mean(-1)).cpu().numpy()


def _stega_config(cfg):
    from lab.watermark.stegastamp import StegaConfig
    return StegaConfig(side=cfg.ss_side, bits=cfg.ss_bits, width=cfg.ss_width, steps=cfg.ss_train_steps,
                       batch=cfg.ss_batch, n_images=cfg.ss_train_images, seed=cfg.seed)


def stegastamp_experiment(cfg, dev: str | None = None) -> dict:
    """The StegaStamp stand-in on ``ss_images`` held-out photo scenes at ``ss_side``²: bit accuracy,
    binomial p and image quality after each attack of :data:`WM_ATTACKS` (as for dwtDct)."""
    from lab.watermark import stegastamp

    dev = dev or device()
    model, rec = stegastamp.trained(_stega_config(cfg), dev)
    rng = np.random.default_rng([cfg.seed, 6])
    side = cfg.ss_side
    keys = ("acc", "p", "ssim", "mssim", "strict", "psnr")
    res = {k: {a: np.empty(cfg.ss_images) for a in WM_ATTACKS} for k in keys}
    frac, psnr_wm = [], []
    panel = None
    for i in range(cfg.ss_images):
        bg = scenes.crop(scenes.photo(scenes.PHOTOS[i % len(scenes.PHOTOS)]), side, rng)
        other = scenes.crop(scenes.photo(scenes.PHOTOS[(i + 3) % len(scenes.PHOTOS)]), side, rng)
        sc = scenes.make_scene(side, rng, bg)
        repaint = scenes.scene_repaint_mask(sc, "segmentation")
        frac.append(repaint.mean())
        bits = (rng.uniform(size=cfg.ss_bits) < 0.5).astype(np.uint8)
        x = model.encode(sc.image, bits)
        psnr_wm.append(metrics.psnr(sc.image, x))
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
                inp = attacks.inpaint_telea if kind == "telea" else (lambda img, mm: attacks.replace_background(img, mm, other))
                y = attacks.semantic_regen(x, repaint, inp, fg, cfg.pass_quality)
            outs[a] = y
            dec = model.decode(y)
            res["acc"][a][i] = metrics.bit_accuracy(dec, bits)
            res["p"][a][i] = metrics.bit_p_value(dec, bits)
            res["ssim"][a][i] = metrics.ssim(y, x)
            res["mssim"][a][i] = metrics.mssim(x, y, repaint)
            res["strict"][a][i] = metrics.strict_ssim(x, y, repaint)
            res["psnr"][a][i] = metrics.psnr(x, y)
        if i == 0:
            panel = dict(original=x, repaint=repaint, attacked={a: outs[a] for a in ("blur", "compress", SEMREGEN)})
    return dict(**res, repaint_fraction=np.array(frac), psnr_watermark=np.array(psnr_wm), panel=panel, device=dev,
                side=side, bits=cfg.ss_bits,
                final_loss=float(np.mean(rec["losses"][-5:])))
