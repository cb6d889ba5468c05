"""lab.xquant: the caches rebuild K and V exactly at full precision, and quantize as specified."""
from fractions import Fraction

import pytest
import torch

from lab.llm import KVCache, ModelConfig, Transformer
from lab.llm.evaluate import layer_inputs
from lab.quant.uniform import quantize
from lab.xquant import claims as criteria
from lab.xquant import experiments
from lab.xquant.caches import KIVICache, LatentCache, XQuantCache, svd_factors
from lab.xquant.crosslayer import XQuantCLCache
from lab.xquant.methods import Method, grid
from lab.xquant.outliers import with_kv_outliers
from lab.xquant.streams import ChannelStream, TokenStream

MHA = ModelConfig(vocab=40, dim=32, n_layers=3, n_heads=4, max_seq=128)
GQA = ModelConfig(vocab=40, dim=32, n_layers=3, n_heads=8, n_kv_heads=2, max_seq=128)


def _model(cfg, dtype=torch.float64, seed=0):
    return Transformer(cfg).init_weights(torch.Generator().manual_seed(seed)).to(dtype).eval()


def _tokens(cfg, shape, seed=1):
    return torch.randint(0, cfg.vocab, shape, generator=torch.Generator().manual_seed(seed))


def _decode(model, tokens, cache, prefix=4):
    outs = [model(tokens[:, :prefix], cache=cache)]
    outs += [model(tokens[:, t:t + 1], cache=cache) for t in range(prefix, tokens.shape[1])]
    return torch.cat(outs, 1)


@pytest.mark.parametrize("cfg", [MHA, GQA], ids=["mha", "gqa"])
@pytest.mark.parametrize("make", [
    lambda m: XQuantCache(m, None), lambda m: XQuantCache(m, None, source="pre"), lambda m: LatentCache(m, None),
    lambda m: XQuantCLCache(m, None, source="pre"), lambda m: XQuantCLCache(m, None, source="post")],
    ids=["xquant", "xquant-pre", "latent", "cl-pre", "cl-post"])
def test_rebuilding_from_unquantized_inputs_equals_the_kv_cache(cfg, make):
    model = _model(cfg)
    tokens = _tokens(cfg, (2, 14))
    expected = _decode(model, tokens, KVCache(None))
    torch.testing.assert_close(_decode(model, tokens, make(model)), expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(expected, model(tokens), rtol=1e-10, atol=1e-10)


def test_svd_factors_rebuild_the_projection():
    w = torch.randn(8, 32, dtype=torch.float64)  # (d_kv, d): k = x @ w.T
    u, sb = svd_factors(w)
    assert u.shape == (32, 8) and sb.shape == (8, 8)
    torch.testing.assert_close(u.T @ u, torch.eye(8, dtype=torch.float64))
    x = torch.randn(5, 32, dtype=torch.float64)
    torch.testing.assert_close((x @ u) @ sb, x @ w.T)


def test_xquant_decode_equals_one_pass_quantization():
    """Per-token groups make incremental generation store exactly what one pass stores."""
    model = _model(MHA)
    tokens = _tokens(MHA, (2, 20))
    one_pass = model(tokens, cache=XQuantCache(model, 3, 32))
    torch.testing.assert_close(_decode(model, tokens, XQuantCache(model, 3, 32)), one_pass, rtol=1e-10, atol=1e-10)
    assert (one_pass - model(tokens)).abs().max() > 1e-4  # and 3 bits really changed something


def test_xquant_rebuilds_keys_from_dequantized_x():
    model = _model(MHA)
    tokens = _tokens(MHA, (1, 16))
    cache = XQuantCache(model, 4, 16)
    model(tokens, cache=cache)
    _, normed = layer_inputs(model, tokens)
    # layer 0 sees the unquantized embedding; later layers see activations the cache already changed
    xhat = quantize(normed[0], 4, 16)
    from lab.quant import dequantize
    stored = cache.xs[0].values()
    torch.testing.assert_close(stored, dequantize(xhat).to(stored.dtype))
    assert cache.nbytes() == 3 * 16 * (32 * 4 // 8 + 2 * 2 * 2)


def test_cross_layer_accumulator_telescopes_and_errors_do_not_accumulate():
    model = _model(GQA)
    tokens = _tokens(GQA, (2, 16))
    cache = XQuantCLCache(model, 2, 16, source="pre")
    accs, resid = [], []
    orig = cache.update

    def spy(layer, attn, **kw):
        out = orig(layer, attn, **kw)
        accs.append(cache.acc.clone())
        resid.append(kw["resid"])  # the inputs of this (quantized) forward pass
        return out

    cache.update = spy
    model(tokens, cache=cache)
    # X̂(ℓ) = X̂(0) + Σ_j DQ(Q(Δ(j)))
    torch.testing.assert_close(accs[-1], sum(s.values() for s in cache.deltas.values()))
    for layer in range(GQA.n_layers):
        # each layer's error is only its own delta's: at most half a step of that delta's groups
        q = cache.deltas[layer].parts[0]
        half_step = q.scale.double().max().item() / 2
        assert (accs[layer] - resid[layer]).abs().max().item() <= half_step * (1 + 1e-3) + 1e-9


def test_cross_layer_deltas_are_quantized_against_the_quantized_accumulator():
    model = _model(MHA)
    tokens = _tokens(MHA, (1, 8))
    cache = XQuantCLCache(model, 8, 32, source="post")
    normed = []
    orig = cache.update
    cache.update = lambda layer, attn, **kw: (normed.append(kw["x"]), orig(layer, attn, **kw))[1]
    model(tokens, cache=cache)
    first = cache.deltas[0].values()
    delta1 = cache.deltas[1].values()
    # Δ(1) = X(1) − X̂(0) up to 8-bit rounding of Δ(1) itself
    assert (delta1 - (normed[1] - first)).abs().max() < 0.01 * (normed[1] - first).abs().max()


def test_channel_stream_keeps_a_tail_of_unfinished_groups_in_fp16():
    s = ChannelStream(4, 8)
    x = torch.randn(2, 21, 6)
    s.append(x[:, :5])
    assert s.tail_tokens() == 5 and not s.blocks
    s.append(x[:, 5:])
    assert s.tail_tokens() == 5 and len(s.blocks) == 1
    vals = s.values()
    assert vals.shape == x.shape
    torch.testing.assert_close(vals[:, 16:], x[:, 16:].half().float())
    assert s.nbytes() == 2 * 16 * 6 * 4 // 8 + 2 * 2 * 6 * 2 * 2 + 2 * 5 * 6 * 2


def test_kivi_quantizes_keys_per_channel_and_values_per_token():
    model = _model(MHA)
    tokens = _tokens(MHA, (1, 32))
    cache = KIVICache(2, 16)
    model(tokens, cache=cache)
    keys, vals = cache.keys[0].blocks[0], cache.vals[0].parts[0]
    assert keys.axis == 1 and keys.scale.shape == (1, 32, 2)  # (batch, channels, token groups)
    assert vals.axis == 2 and vals.scale.shape == (1, 32, 2)  # (batch, tokens, channel groups)
    assert cache.tail_tokens() == 0


@pytest.mark.parametrize("cfg", [MHA, GQA], ids=["mha", "gqa"])
def test_packed_bytes_equal_the_accountant_for_every_method(cfg):
    model = _model(cfg, torch.float32)
    tokens = _tokens(cfg, (2, 32))
    for m in grid(cfg.kv_heads == cfg.n_heads, group=16):
        cache = m.make(model)
        model(tokens, cache=cache)
        fp16 = 2 * cfg.n_layers * tokens.numel() * cfg.kv_dim * 2
        assert Fraction(cache.nbytes(), fp16) == m.memory(cfg), m.name


def test_memory_column_of_table_1():
    rows = experiments.paper_memory_table(128)
    assert all(round(r["ours"], 2) == r["paper"] for r in rows)
    assert Method("xquant", 4).memory(experiments.LLAMA2_7B) == Fraction(17, 128)
    # GQA without latents: X is twice as wide as [K|V] in Llama-3.1-8B
    assert Method("xquant", 4).memory(experiments.LLAMA31_8B) == 2 * Method("kivi", 4).memory(experiments.LLAMA31_8B)


@torch.no_grad()
def test_outlier_injection_preserves_the_function_and_creates_outliers():
    for cfg in (MHA, GQA):
        model = _model(cfg)
        tokens = _tokens(cfg, (2, 10))
        out = with_kv_outliers(model, 2, 20.0, torch.Generator().manual_seed(0))
        torch.testing.assert_close(out(tokens), model(tokens), rtol=1e-10, atol=1e-10)
        _, normed = layer_inputs(model, tokens)
        k0 = model.blocks[0].attn.wk(normed[0]).abs().amax((0, 1))
        k1 = out.blocks[0].attn.wk(normed[0]).abs().amax((0, 1))
        assert (k1 / k0).max().item() == pytest.approx(20.0)


def test_kernel_check_reads_the_caches_own_bytes():
    model = _model(MHA, torch.float32)
    res = experiments.kernel_check(model, _tokens(MHA, (2, 12)), bits=4, group=16)
    assert res["max_err"] < 1e-5 * max(1.0, res["scale"])


def test_claims_are_decided_from_the_numbers():
    from lab.claims import Claims

    def rows(x4, k2):  # per-window NLL changes against FP16, paired by window
        return [dict(family="xquant", bits=4, dppl=sum(x4), dppl_se=0.1, dnll_windows=x4),
                dict(family="kivi", bits=2, dppl=sum(k2), dppl_se=0.1, dnll_windows=k2)]
    claims = Claims("xquant", "smoke")
    criteria.x4_vs_kivi2(claims, {"a": rows([0.1, 0.12, 0.09, 0.11], [0.9, 0.8, 0.95, 0.85])})
    criteria.x4_vs_kivi2(claims, {"a": rows([0.9, 0.8, 0.95, 0.85], [0.1, 0.12, 0.09, 0.11])}, cid="flipped")
    # lower on average but within 2 paired standard errors: not established
    criteria.x4_vs_kivi2(claims, {"a": rows([0.1, 0.5, 0.1, 0.5], [0.5, 0.1, 0.5, 0.2])}, cid="noise")
    criteria.x4_vs_kivi2(claims, {"a": rows([0.1, 0.1], [0.9, 0.9])}, cid="two-windows")
    assert [c.status.value for c in claims.items] == ["reproduced", "not reproduced", "not reproduced",
                                                      "not checkable at this tier"]
    assert all(c.kind == "ordering" for c in claims.items) and "not established" in claims.items[2].note


def test_cl_reconstruction_stays_within_half_a_step_and_catches_accumulating_errors():
    model = _model(GQA)
    tokens = _tokens(GQA, (2, 16))
    for source in ("pre", "post"):
        res = experiments.cl_reconstruction(model, tokens, bits=2, group=16, source=source)
        assert len(res["ratio"]) == GQA.n_layers and max(res["ratio"]) <= criteria.CL_HALF_STEP_TOL
        assert 0 < min(res["rel"])

    class Accumulating(XQuantCLCache):
        """A wrong XQuant-CL: deltas against the previous layer's *unquantized* X, so the
        rounding errors of all earlier layers add up in the accumulator."""

        def update(self, layer, attn, *, x, resid, k, v, positions):
            xin = x if self.source == "post" else resid
            if layer < self.base_layers:
                self.prev = xin
                return super().update(layer, attn, x=x, resid=resid, k=k, v=v, positions=positions)
            self.deltas.setdefault(layer, TokenStream(self.bits, self.group))
            self.deltas[layer].append(xin - self.prev)
            self.prev = xin
            self.acc = self.acc + self.deltas[layer].values().to(self.acc.dtype)
            xhat = self.model.blocks[layer].attn_norm(self.acc.to(x.dtype)) if self.source == "pre" else self.acc.to(x.dtype)
            return attn.project_kv(xhat, torch.arange(xhat.shape[1]))

    bad = experiments.cl_reconstruction(model, tokens, bits=2, group=16, source="pre", cache_class=Accumulating)
    assert max(bad["ratio"]) > 1.5 * criteria.CL_HALF_STEP_TOL


def test_bad_method_options_raise():
    with pytest.raises(ValueError, match="unknown method family"):
        Method("kvquant", 4)
    with pytest.raises(ValueError, match="source"):
        XQuantCache(None, 4, source="mid")
    with pytest.raises(ValueError, match="key_axis"):
        LatentCache(_model(GQA), 4, key_axis="head")
    with pytest.raises(ValueError, match="base_layers"):
        XQuantCLCache(None, 4, base_layers=0)


def test_token_stream_without_bits_is_lossless():
    s = TokenStream(None, 8)
    x = torch.randn(1, 3, 8, dtype=torch.float64)
    s.append(x)
    assert torch.equal(s.values(), x)


def test_token_stream_merges_packed_parts_without_changing_values():
    x = torch.randn(2, 9, 24)
    one, many = TokenStream(3, 8), TokenStream(3, 8)
    one.append(x)
    for t in range(9):
        many.append(x[:, t:t + 1])
    assert torch.equal(many.values(), one.values())
    assert len(many.parts) == 1 and many.nbytes() == one.nbytes()
    many.append(x[:, :2])
    assert torch.equal(many.values()[:, 9:], one.values()[:, :2])
