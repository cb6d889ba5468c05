"""The empirical NTK of a small MLP on scikit-learn's digits, layer by layer.

Chapter: ``book/logdet_scaling.md``. For ``f(x) = W_L σ(… σ(W_1 x + b_1) …) + b_L`` with ``d``
outputs, write ``a_{ℓ−1}(x)`` for the input of layer ``ℓ`` with a 1 appended (the bias) and
``δ_ℓ^o(x) = ∂f_o/∂h_ℓ`` for the back-propagated vector at its pre-activation ``h_ℓ``. Since
``∂f_o/∂W_ℓ = δ_ℓ^o a_{ℓ−1}ᵀ``,

    Θ_{(x,o),(x',o')} = Σ_ℓ ⟨a_{ℓ−1}(x), a_{ℓ−1}(x')⟩ ⟨δ_ℓ^o(x), δ_ℓ^{o'}(x')⟩,

a sum over layers of the Hadamard product of the block-expanded activation Gram
``(A Aᵀ) ⊗ 1_{d×d}`` and the back-propagated Gram ``Δ Δᵀ`` (rows of ``Δ`` indexed by
(point, output)). The Jacobian (``n d × #params``) is never formed; :func:`ntk_jacobian` forms it
with ``torch.func`` as the reference at small size.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lab.cache import cached


def digits(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 digits (bundled with the package), pixels scaled to [0, 1], shuffled by ``seed``."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(X))
    return X[order] / 16.0, y[order]


def mlp(widths: tuple[int, ...], seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers).double()


def train_mlp(widths: tuple[int, ...], *, seed: int, steps: int, lr: float = 1e-2) -> nn.Sequential:
    """Full-batch Adam on the cross-entropy of all 1797 digits; cached by configuration."""

    def build():
        X, y = digits(seed)
        net = mlp(widths, seed)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.cross_entropy(net(Xt), yt).backward()
            opt.step()
        return net.state_dict()

    state = cached("logdet_mlp", {"widths": list(widths), "seed": seed, "steps": steps, "lr": lr}, build)
    net = mlp(widths, seed)
    net.load_state_dict(state)
    return net


def _linears(net: nn.Sequential) -> list[nn.Linear]:
    lin = [m for m in net if isinstance(m, nn.Linear)]
    if any(not isinstance(m, (nn.Linear, nn.Tanh)) for m in net):
        raise ValueError("ntk_layerwise handles Linear/Tanh MLPs only")
    return lin


def ntk_layerwise(net: nn.Sequential, X: np.ndarray, *, dtype: torch.dtype = torch.float64) -> np.ndarray:
    """The ``n d × n d`` empirical NTK, every product computed in ``dtype``; returned as float64.

    Forming it in float16/float32 and factoring in float64 is the paper's "direct, 16/32-bit" baseline.
    """
    lin = _linears(net)
    x = torch.as_tensor(np.asarray(X), dtype=dtype)
    n = x.shape[0]
    W = [m.weight.detach().to(dtype) for m in lin]
    b = [m.bias.detach().to(dtype) for m in lin]
    inputs, pre = [], []
    a = x
    for ell, (w, bias) in enumerate(zip(W, b)):
        inputs.append(torch.cat([a, torch.ones(n, 1, dtype=dtype)], dim=1))
        h = a @ w.T + bias
        pre.append(h)
        a = torch.tanh(h) if ell < len(W) - 1 else h
    d = W[-1].shape[0]
    theta = torch.zeros(n * d, n * d, dtype=dtype)
    delta = torch.eye(d, dtype=dtype).expand(n, d, d)  # δ_L^o(x) = e_o
    for ell in range(len(W) - 1, -1, -1):
        Ga = inputs[ell] @ inputs[ell].T                      # ⟨a_{ℓ−1}(x), a_{ℓ−1}(x')⟩
        D = delta.reshape(n * d, -1)
        # Θ += ((A Aᵀ) ⊗ 1_{d×d}) ⊙ (Δ Δᵀ)
        theta += Ga.repeat_interleave(d, 0).repeat_interleave(d, 1) * (D @ D.T)
        if ell > 0:
            # δ_{ℓ−1} = (δ_ℓ W_ℓ) ⊙ tanh'(h_{ℓ−1})
            delta = (delta @ W[ell]) * (1 - torch.tanh(pre[ell - 1]) ** 2)[:, None, :]
    return theta.to(torch.float64).numpy()


def ntk_jacobian(net: nn.Sequential, X: np.ndarray) -> np.ndarray:
    """Reference NTK ``J Jᵀ`` from the full Jacobian (``n d × #params``), float64, via ``torch.func``."""
    from torch.func import functional_call, jacrev

    params = {k: v.detach() for k, v in net.named_parameters()}
    x = torch.as_tensor(np.asarray(X), dtype=torch.float64)
    jac = jacrev(lambda p: functional_call(net, p, (x,)))(params)
    n, d = x.shape[0], net[-1].out_features
    J = torch.cat([j.reshape(n * d, -1) for j in jac.values()], dim=1)
    return (J @ J.T).numpy()


def num_params(net: nn.Sequential) -> int:
    return sum(p.numel() for p in net.parameters())
