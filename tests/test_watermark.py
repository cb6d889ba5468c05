"""lab.watermark against independent references: PyWavelets and invisible-watermark for dwtDct,
torchmetrics for (m)SSIM, closed forms for the Gaussian DDIM fixture and TreeRing's p-value."""
import numpy as np
import pytest
from scipy import stats

from lab.watermark import dwtdct, metrics, treering


def _photo_bgr(shape, seed):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(shape[0] // 8 + 1, shape[1] // 8 + 1, 3)).astype(np.float64)
    img = np.kron(base, np.ones((8, 8, 1)))[: shape[0], : shape[1]]
    return np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(16, 16), (30, 46), (64, 128)])
def test_haar_matches_pywavelets_bit_for_bit(shape):
    pywt = pytest.importorskip("pywt")
    x = np.random.default_rng(1).uniform(0, 255, shape)
    a, (h, v, d) = pywt.dwt2(x, "haar")
    ours = dwtdct.haar_dwt2(x)
    assert np.array_equal(ours[0], a) and all(np.array_equal(p, q) for p, q in zip(ours[1], (h, v, d)))
    assert np.array_equal(dwtdct.haar_idwt2(a, (v, h, d)), pywt.idwt2((a, (v, h, d)), "haar"))


@pytest.mark.parametrize("shape,seed", [((256, 256), 0), ((260, 301), 1), ((512, 384), 2)])
def test_dwtdct_matches_invisible_watermark(shape, seed):
    iw = pytest.importorskip("imwatermark")
    bgr = _photo_bgr(shape, seed)
    bits = dwtdct.text_bits("Hello World!")
    enc = iw.WatermarkEncoder()
    enc.set_watermark("bytes", b"Hello World!")
    theirs = enc.encode(bgr.copy(), "dwtDct")
    ours = dwtdct.encode(bgr, bits)
    assert np.array_equal(ours, theirs)
    for img in (ours, np.clip(ours.astype(int) + np.random.default_rng(seed).integers(-6, 7, ours.shape), 0, 255).astype(np.uint8)):
        ref_bits = np.asarray(iw.WatermarkDecoder("bits", 96).decode(img, "dwtDct"), dtype=np.uint8)
        assert np.array_equal(dwtdct.decode(img, 96), ref_bits)


def test_dwtdct_quantiser_writes_the_bit():
    bgr = _photo_bgr((256, 256), 5)
    bits = np.random.default_rng(3).integers(0, 2, 32)
    votes = dwtdct.block_votes(dwtdct.encode(bgr, bits))
    # most blocks carry their bit (the uint8 truncation and YUV round trip flip some; chance is 0.5)
    assert np.mean(votes == bits[np.arange(votes.size) % 32]) > 0.7
    assert np.mean(dwtdct.decode(dwtdct.encode(bgr, bits), 32) == bits) > 0.7  # errors: 0 read as 1


def test_dwtdct_bad_input():
    with pytest.raises(ValueError, match="256"):
        dwtdct.encode(np.zeros((200, 300, 3), np.uint8), [1, 0])
    with pytest.raises(ValueError, match="longer than"):
        dwtdct.encode(np.zeros((256, 256, 3), np.uint8), np.ones(1025, int))
    with pytest.raises(ValueError, match="uint8"):
        dwtdct.encode(np.zeros((256, 256, 3)), [1])


@pytest.mark.parametrize("shape", [(11, 11, 1), (23, 40, 3), (64, 50, 3)])
def test_ssim_and_mssim_match_torchmetrics(shape):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.image")
    rng = np.random.default_rng(sum(shape))
    x = rng.uniform(size=shape)
    y = np.clip(x + 0.2 * rng.standard_normal(shape), 0, 1)
    m = rng.uniform(size=shape[:2]) < 0.6
    t = lambda a: torch.from_numpy(a.transpose(2, 0, 1)[None].copy())  # noqa: E731
    assert abs(metrics.ssim(y, x) - float(tm.structural_similarity_index_measure(t(y), t(x)))) < 1e-12
    xw, yw = x.copy(), y.copy()
    xw[m], yw[m] = 1, 1
    assert abs(metrics.mssim(x, y, m) - float(tm.structural_similarity_index_measure(t(yw), t(xw)))) < 1e-12


def test_strict_ssim_sees_only_the_foreground():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(48, 48, 3))
    m = np.zeros((48, 48), bool)
    m[:, 24:] = True
    y = x.copy()
    y[m] = rng.uniform(size=(m.sum(), 3))  # only the repainted half changes
    far = metrics.ssim_map(y, x, 1.0).mean(2)[:, :14].mean()
    assert far > 0.999  # windows that do not reach the repainted half are untouched
    assert metrics.strict_ssim(x, y, m) < 1.0 < metrics.mssim(x, y, m) + 1e-12
    with pytest.raises(ValueError, match="mask"):
        metrics.mssim(x, y, m[:-1])


def test_bit_metrics():
    key = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    assert metrics.bit_accuracy(key, key) == 1.0
    assert metrics.bit_p_value(key, key) == pytest.approx(0.5 ** 8)
    assert metrics.bit_accuracy(1 - key, key) == 0.0


def _fixture(side=8, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((side * side, side * side))
    cov = a @ a.T / (side * side) + 0.1 * np.eye(side * side)
    return treering.GaussianDiffusion(rng.standard_normal(side * side) * 0.1, cov, side)


def test_gaussian_ddim_step_matches_dense_formula_and_inverts_exactly():
    gd = _fixture()
    ts = treering.ddim_timesteps(10)
    x_t = np.random.default_rng(1).standard_normal((8, 8))
    # dense DDIM with the analytic ε̂, independent of the eigenbasis shortcut
    x = x_t.ravel()
    for t, s in zip(ts, ts[1:] + [None]):
        at, st = np.sqrt(gd.abar[t]), np.sqrt(1 - gd.abar[t])
        as_, ss = (1.0, 0.0) if s is None else (np.sqrt(gd.abar[s]), np.sqrt(1 - gd.abar[s]))
        eps = st * np.linalg.solve(at ** 2 * gd.cov + st ** 2 * np.eye(64), x - at * gd.mu)
        x = as_ * (x - st * eps) / at + ss * eps
    assert np.allclose(gd.sample(x_t, ts).ravel(), x, atol=1e-10)
    assert np.abs(gd.invert(gd.sample(x_t, ts), ts) - x_t).max() < 1e-9


def test_gaussian_inpaint_keeps_foreground_and_matches_conditional_mean():
    gd = _fixture(side=6)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 6))
    m = np.zeros((6, 6), bool)
    m[:, :3] = True
    draws = np.array([gd.inpaint(x, m, np.random.default_rng(k)) for k in range(4000)])
    assert np.all(draws[:, ~m] == x[~m])
    b, f = m.ravel(), ~m.ravel()
    mean = gd.mu[b] + gd.cov[np.ix_(b, f)] @ np.linalg.solve(gd.cov[np.ix_(f, f)], x.ravel()[f] - gd.mu[f])
    assert np.abs(draws.reshape(4000, -1)[:, b].mean(0) - mean).max() < 0.1


def test_ring_key_placement():
    n, r = 32, 5
    key, mask = treering.ring_key(n, r), treering.circle_mask(n, r)
    assert mask[n // 2 - 1, n // 2] and not mask[n // 2 - 1 + r + 1, n // 2]  # centre row n/2-1 (flipped grid)
    g = treering.centred_fft(np.random.default_rng(treering.KEY_SEED).standard_normal((n, n)))
    assert key[n // 2 - 1, n // 2] == g[0, 1]  # innermost ring
    assert key[n // 2 - 1, n // 2 + r] == g[0, r]  # outermost ring
    x0 = np.random.default_rng(0).standard_normal((n, n))
    X0, X = treering.centred_fft(x0), treering.centred_fft(treering.inject(x0, key, mask))
    ci, cj = treering.conjugate_index(n)
    # Re(IFFT) symmetrises: X'_k = (X_mod,k + conj(X_mod,-k)) / 2; where -k is outside the mask
    # X_mod,-k is the untouched X0_-k
    solo = mask & ~mask[ci, cj]
    assert solo.any()
    assert np.allclose(X[solo], (key[solo] + np.conj(X0[ci, cj][solo])) / 2)
    assert np.allclose(X[~mask & ~mask[ci, cj]], X0[~mask & ~mask[ci, cj]])


def test_p_value_detects_key_and_exact_null_is_uniform():
    n, r = 16, 3
    key, mask = treering.ring_key(n, r), treering.circle_mask(n, r)
    wm = [treering.p_value(treering.inject(np.random.default_rng(s).standard_normal((n, n)), key, mask), key, mask)
          for s in range(20)]
    assert max(wm) < 1e-3
    null = [treering.p_value_exact(np.random.default_rng(100 + s).standard_normal((n, n)), key, mask) for s in range(400)]
    assert stats.kstest(null, "uniform").pvalue > 0.01
