"""TreeRing on an analytic-score Gaussian diffusion fixture (``book/semantic_regen.md``).

**Fixture.** Data ``x ~ N(μ, Σ)`` in ``d = n²`` dimensions has the exact noise predictor

.. math::  \\hat\\varepsilon(x_t) = σ_t(α_t^2Σ + σ_t^2 I)^{-1}(x_t - α_tμ),

with ``α_t = √ᾱ_t``, ``σ_t = √(1-ᾱ_t)`` (Stable Diffusion's scaled-linear β schedule, 1000
steps). A DDIM step ``t → s`` is then linear: in the eigenbasis ``Σ = U diag(λ) Uᵀ`` the
centred state ``z_t = x_t - α_tμ`` is multiplied coordinate-wise by

.. math::  f_{t→s}(λ) = \\frac{α_s}{α_t}\\,(1 - σ_t^2 g) + σ_sσ_t\\, g,\\qquad g = (α_t^2λ+σ_t^2)^{-1},

so sampling is an affine map and its inversion is exact (division by the product of the
``f``), unlike the approximate DDIM inversion a neural model needs. The last step goes to
``ᾱ = 1`` (the predicted ``x̂_0``).

**TreeRing** (``YuxinWenRick/tree-ring-watermark``): in the centred FFT ``X = shift(FFT(x_T))``
the coefficients inside a circle of radius ``r`` (the reference's ``circle_mask``, whose
centre is row ``n/2 - 1``, column ``n/2`` because it flips the row axis) are replaced by a
"ring" key: ring ``i`` carries the value at ``(0, i)`` of the centred FFT of a Gaussian drawn
with seed 999999; ``x_T ← Re IFFT(unshift(X))``. Detection inverts the image to ``x_T'``,
stacks real and imaginary parts ``z`` of its masked coefficients and the key ``κ``,
``σ = std(z)``, ``x = Σ((z-κ)/σ)²``, ``λ = Σκ²/σ²`` and returns ``p = F_{χ'²_{2|M|}(λ)}(x)``
(non-central χ² CDF): small ``p`` means the key is present.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

KEY_SEED = 999999
T = 1000


def alphas_cumprod(beta_start: float = 0.00085, beta_end: float = 0.012, steps: int = T) -> np.ndarray:
    """ᾱ_t of Stable Diffusion's scaled-linear schedule (``β_t`` linear in ``√β``)."""
    betas = np.linspace(beta_start ** 0.5, beta_end ** 0.5, steps) ** 2
    return np.cumprod(1.0 - betas)


def ddim_timesteps(n_steps: int, t_start: int = T - 1) -> list[int]:
    """Decreasing DDIM timesteps from ``t_start`` with stride ``T // n_steps`` (offset 0)."""
    stride = T // n_steps
    ts = list(range(0, t_start + 1, stride))[::-1]
    return ts


class GaussianDiffusion:
    """Exact DDIM for data ``N(μ, Σ)`` on ``n × n`` images (flattened row-major).

    Parameters
    ----------
    mu : (d,) mean; cov : (d, d) covariance (symmetric positive definite).
    """

    def __init__(self, mu: np.ndarray, cov: np.ndarray, side: int):
        d = side * side
        mu, cov = np.asarray(mu, np.float64), np.asarray(cov, np.float64)
        if mu.shape != (d,) or cov.shape != (d, d):
            raise ValueError(f"a {side}×{side} fixture needs μ of shape ({d},) and Σ of ({d}, {d}); "
                             f"got {mu.shape} and {cov.shape}")
        self.side, self.mu, self.cov = side, mu, cov
        lam, self.U = np.linalg.eigh(cov)
        if lam.min() <= 0:
            raise ValueError("Σ must be positive definite")
        self.lam = lam
        self.abar = alphas_cumprod()

    def _ab(self, t: int | None) -> tuple[float, float]:
        a = 1.0 if t is None else float(self.abar[t])
        return np.sqrt(a), np.sqrt(1.0 - a)

    def factor(self, ts: list[int]) -> np.ndarray:
        """Product over the steps ``ts[0] → ts[1] → … → x̂_0`` of ``f_{t→s}(λ)``, per eigenvalue."""
        cache = self.__dict__.setdefault("_factors", {})
        if tuple(ts) in cache:
            return cache[tuple(ts)]
        f = np.ones_like(self.lam)
        for t, s in zip(ts, list(ts[1:]) + [None]):
            at, st = self._ab(t)
            as_, ss = self._ab(s)
            g = 1.0 / (at ** 2 * self.lam + st ** 2)
            # z_s = [α_s/α_t (1 - σ_t² g) + σ_s σ_t g] z_t   (DDIM with the exact ε̂)
            f *= as_ / at * (1.0 - st ** 2 * g) + ss * st * g
        cache[tuple(ts)] = f
        return f

    def sample(self, x_t: np.ndarray, ts: list[int]) -> np.ndarray:
        """DDIM from ``x_{ts[0]}`` down to ``x̂_0`` (images ``(..., n, n)``)."""
        at, _ = self._ab(ts[0])
        z = x_t.reshape(*x_t.shape[:-2], -1) - at * self.mu
        y = (z @ self.U) * self.factor(ts)
        return (self.mu + y @ self.U.T).reshape(x_t.shape)

    def invert(self, x0: np.ndarray, ts: list[int]) -> np.ndarray:
        """Exact inverse of :meth:`sample`: the ``x_{ts[0]}`` that DDIM maps to ``x0``."""
        at, _ = self._ab(ts[0])
        y = ((x0.reshape(*x0.shape[:-2], -1) - self.mu) @ self.U) / self.factor(ts)
        return (at * self.mu + y @ self.U.T).reshape(x0.shape)

    def regenerate(self, x0: np.ndarray, t_star: int, n_steps: int, rng: np.random.Generator) -> np.ndarray:
        """Regeneration attack: noise to ``t*`` (``x = α x0 + σ ε``), then DDIM back to ``x̂_0``."""
        a, s = self._ab(t_star)
        xt = a * x0 + s * rng.standard_normal(x0.shape)
        return self.sample(xt, ddim_timesteps(n_steps, t_star) if t_star >= T // n_steps else [t_star])

    def inpaint(self, x0: np.ndarray, repaint: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Exact Gaussian inpainting: the repainted pixels drawn from ``p(x_B | x_F)``.

        ``x_B | x_F ~ N(μ_B + Σ_BF Σ_FF⁻¹(x_F - μ_F), Σ_BB - Σ_BF Σ_FF⁻¹ Σ_FB)`` — what RePaint
        approximates with a learned model; the kept pixels are pasted back unchanged.
        """
        b = np.asarray(repaint, bool).ravel()
        if b.size != self.mu.size:
            raise ValueError(f"the repaint mask must be {self.side}×{self.side}, got {np.shape(repaint)}")
        x = x0.ravel().copy()
        f = ~b
        if not b.any():
            return x0.copy()
        s_ff, s_bf = self.cov[np.ix_(f, f)], self.cov[np.ix_(b, f)]
        if f.any():
            w = np.linalg.solve(s_ff, s_bf.T).T
            mean = self.mu[b] + w @ (x[f] - self.mu[f])
            cond = self.cov[np.ix_(b, b)] - w @ s_bf.T
        else:
            mean, cond = self.mu[b], self.cov[np.ix_(b, b)]
        chol = np.linalg.cholesky(0.5 * (cond + cond.T) + 1e-10 * np.eye(b.sum()))
        x[b] = mean + chol @ rng.standard_normal(b.sum())
        return x.reshape(x0.shape)


def fit_gaussian(patches: np.ndarray, shrink: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of flattened patches, with ``shrink·mean(diag)`` added to the diagonal."""
    p = patches.reshape(len(patches), -1).astype(np.float64)
    mu = p.mean(0)
    cov = np.cov(p, rowvar=False)
    return mu, cov + shrink * np.mean(np.diag(cov)) * np.eye(cov.shape[0])


def circle_mask(size: int, r: float) -> np.ndarray:
    """The reference's ``circle_mask``: centre ``(size//2, size//2)`` on a row-flipped grid."""
    x0 = y0 = size // 2
    y, x = np.ogrid[:size, :size]
    y = y[::-1]
    return ((x - x0) ** 2 + (y - y0) ** 2) <= r ** 2


def centred_fft(x: np.ndarray) -> np.ndarray:
    return np.fft.fftshift(np.fft.fft2(x), axes=(-2, -1))


def ring_key(size: int, radius: int, seed: int = KEY_SEED) -> np.ndarray:
    """The ring pattern: inside radius ``i`` (largest first) the value at ``(0, i)`` of the key FFT."""
    g = centred_fft(np.random.default_rng(seed).standard_normal((size, size)))
    key = g.copy()
    for i in range(radius, 0, -1):
        key[circle_mask(size, i)] = g[0, i]
    return key


def inject(x_t: np.ndarray, key: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Write the key into the masked coefficients of the centred FFT of ``x_T``; real part back."""
    if key.shape != x_t.shape[-2:] or mask.shape != x_t.shape[-2:]:
        raise ValueError(f"key {key.shape} and mask {mask.shape} must match the latent {x_t.shape[-2:]}")
    X = centred_fft(x_t)
    X[..., mask] = key[mask]
    return np.fft.ifft2(np.fft.ifftshift(X, axes=(-2, -1))).real


def p_value(x_t: np.ndarray, key: np.ndarray, mask: np.ndarray) -> float:
    """TreeRing's p-value of the key in an (inverted) latent: non-central χ² CDF of the distance."""
    z = centred_fft(x_t)[mask]
    k = key[mask]
    z = np.concatenate([z.real, z.imag])
    k = np.concatenate([k.real, k.imag])
    sigma = z.std(ddof=1)  # torch's .std() is unbiased
    lam = float(np.sum(k ** 2 / sigma ** 2))
    x = float(np.sum(((z - k) / sigma) ** 2))
    return float(stats.ncx2.cdf(x, df=k.size, nc=lam))


def conjugate_index(size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each position of a centred ``size × size`` FFT, the position of its complex conjugate."""
    i = np.arange(size)
    c = (size - i) % size if size % 2 == 0 else (size - 1 - i)
    return np.meshgrid(c, c, indexing="ij")


def p_value_exact(x_t: np.ndarray, key: np.ndarray, mask: np.ndarray) -> float:
    """The p-value with the null made exact: uniform when ``x_T`` is white noise.

    The reference's test is approximate in two ways: the real FFT of a real latent makes
    ``X_{-k} = conj(X_k)``, so a mask that holds both ``k`` and ``-k`` counts one coefficient
    twice; and ``σ`` is estimated from the same ``z``, which makes ``Σ z²/σ²`` almost constant.
    Here each conjugate pair is used once, self-conjugate coefficients contribute their real
    part only, and ``σ`` is the known null scale (``n/√2`` per part, ``n`` for the real
    self-conjugate ones), so ``x ~ χ'²_{df}(λ)`` exactly under the null.
    """
    size = x_t.shape[-1]
    ci, cj = conjugate_index(size)
    X = centred_fft(x_t)
    taken = np.zeros_like(mask)
    z, k, s = [], [], []
    for i, j in zip(*np.nonzero(mask)):
        a, b = ci[i, j], cj[i, j]
        if taken[a, b]:
            continue
        taken[i, j] = True
        if (a, b) == (i, j):
            z.append(X[i, j].real), k.append(key[i, j].real), s.append(float(size))
        else:
            z += [X[i, j].real, X[i, j].imag]
            k += [key[i, j].real, key[i, j].imag]
            s += [size / np.sqrt(2)] * 2
    z, k, s = np.array(z), np.array(k), np.array(s)
    lam = float(np.sum((k / s) ** 2))
    x = float(np.sum(((z - k) / s) ** 2))
    return float(stats.ncx2.cdf(x, df=k.size, nc=lam))
