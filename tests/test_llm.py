"""lab.llm: the decoder, its cache interface, hooks, the llama2.c loader and the cached trainer."""
import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lab.datafiles import MissingData, data_file
from lab.llm import KVCache, ModelConfig, Transformer, TrainSpec
from lab.llm import corpora, train as train_module
from lab.llm.evaluate import layer_inputs, perplexity, sample
from lab.llm.llama2c import read_llama2c
from lab.llm.model import apply_rope

MHA = ModelConfig(vocab=50, dim=32, n_layers=2, n_heads=4, max_seq=64)
GQA = ModelConfig(vocab=50, dim=32, n_layers=3, n_heads=8, n_kv_heads=2, max_seq=64)


def _model(cfg, seed=0, dtype=torch.float64):
    return Transformer(cfg).init_weights(torch.Generator().manual_seed(seed)).to(dtype).eval()


def _tokens(cfg, shape, seed=0):
    return torch.randint(0, cfg.vocab, shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("cfg", [MHA, GQA], ids=["mha", "gqa"])
@pytest.mark.parametrize("chunks", [(5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), (1,) * 13, (4, 6, 3)])
def test_decoding_through_the_cache_equals_the_full_forward(cfg, chunks):
    model = _model(cfg)
    tokens = _tokens(cfg, (3, sum(chunks)))
    full = model(tokens)
    cache, outs, start = KVCache(dtype=None), [], 0
    for c in chunks:
        outs.append(model(tokens[:, start:start + c], cache=cache))
        start += c
    assert cache.length == tokens.shape[1]
    torch.testing.assert_close(torch.cat(outs, 1), full, rtol=1e-10, atol=1e-10)


def test_fp16_cache_is_close_and_stores_half_the_bytes():
    model = _model(MHA, dtype=torch.float32)
    tokens = _tokens(MHA, (2, 20))
    cache = KVCache()
    out = model(tokens, cache=cache)
    torch.testing.assert_close(out, model(tokens), rtol=0, atol=1e-2)
    assert cache.nbytes() == 2 * MHA.n_layers * 2 * 20 * MHA.kv_dim * 2


def _attention_by_hand(model, tokens):
    """Layer-0 attention output computed head by head with explicit loops (GQA mapping h -> h // group)."""
    cfg, blk = model.cfg, model.blocks[0]
    x = blk.attn_norm(model.embed(tokens))
    pos = torch.arange(tokens.shape[1])
    q = apply_rope(blk.attn.wq(x), pos, cfg.head_dim, cfg.rope_base)
    k = apply_rope(blk.attn.wk(x), pos, cfg.head_dim, cfg.rope_base)
    v = blk.attn.wv(x)
    hd, group, t = cfg.head_dim, cfg.n_heads // cfg.kv_heads, tokens.shape[1]
    heads = []
    for h in range(cfg.n_heads):
        j = h // group
        qh, kh, vh = q[..., h * hd:(h + 1) * hd], k[..., j * hd:(j + 1) * hd], v[..., j * hd:(j + 1) * hd]
        scores = qh @ kh.transpose(-1, -2) / hd**0.5
        scores = scores.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf"))
        heads.append(torch.softmax(scores, -1) @ vh)
    return blk.attn.wo(torch.cat(heads, -1)), x


def test_grouped_query_attention_matches_a_head_by_head_reference():
    model = _model(GQA)
    tokens = _tokens(GQA, (2, 9))
    expected, x = _attention_by_hand(model, tokens)
    got = model.blocks[0].attn(x, None, torch.arange(9))
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_rope_preserves_norms_and_depends_only_on_relative_position():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 1, 16, generator=g, dtype=torch.float64), torch.randn(1, 1, 16, generator=g, dtype=torch.float64)
    rot = lambda x, p: apply_rope(x, torch.tensor([p]), 8, 10000.0)
    torch.testing.assert_close(rot(q, 7).norm(), q.norm())
    dots = [(rot(q, m) * rot(k, m - 3)).sum().item() for m in (3, 10, 40)]
    assert np.allclose(dots, dots[0], rtol=1e-12)


def test_hooks_expose_residual_and_normalised_inputs():
    model = _model(GQA)
    tokens = _tokens(GQA, (2, 7))
    resid, normed = layer_inputs(model, tokens)
    assert resid.shape == normed.shape == (GQA.n_layers, 2, 7, GQA.dim)
    torch.testing.assert_close(resid[0], model.embed(tokens))
    for layer, block in enumerate(model.blocks):
        torch.testing.assert_close(normed[layer], block.attn_norm(resid[layer]))


def test_sampling_uses_the_cache_and_is_seeded():
    model = _model(MHA, dtype=torch.float32)
    prompt = torch.zeros(2, 1, dtype=torch.int64)
    a = sample(model, prompt, 10, torch.Generator().manual_seed(1), KVCache)
    b = sample(model, prompt, 10, torch.Generator().manual_seed(1), KVCache)
    assert a.shape == (2, 11) and torch.equal(a, b)


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    model = _model(MHA, dtype=torch.float32)
    with torch.no_grad():
        model.head.weight.zero_()
    assert perplexity(model, _tokens(MHA, (3, 12))) == pytest.approx(MHA.vocab, rel=1e-5)


def test_too_long_input_and_bad_shapes_raise():
    with pytest.raises(ValueError, match="max_seq"):
        _model(MHA)(torch.zeros(1, 65, dtype=torch.int64))
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(vocab=5, dim=30, n_heads=4)


def _write_llama2c(path, model, shared):
    cfg = model.cfg
    vocab = cfg.vocab if shared else -cfg.vocab
    arrays = [model.embed.weight]
    per_layer = lambda f: torch.stack([f(b) for b in model.blocks])
    arrays += [per_layer(lambda b: b.attn_norm.weight)] + [per_layer(lambda b, n=n: getattr(b.attn, n).weight) for n in ("wq", "wk", "wv", "wo")]
    arrays += [per_layer(lambda b: b.ffn_norm.weight)] + [per_layer(lambda b, n=n: getattr(b, n).weight) for n in ("w1", "w2", "w3")]
    from lab.llm.model import rope_tables
    cos, sin = rope_tables(cfg.head_dim, torch.arange(cfg.max_seq), cfg.rope_base)
    arrays += [model.norm.weight, cos, sin] + ([] if shared else [model.head.weight])
    with open(path, "wb") as f:
        f.write(struct.pack("7i", cfg.dim, cfg.ffn_hidden, cfg.n_layers, cfg.n_heads, cfg.kv_heads, vocab, cfg.max_seq))
        for a in arrays:
            f.write(a.detach().float().numpy().astype(np.float32).tobytes())


@pytest.mark.parametrize("shared", [True, False])
def test_llama2c_loader_round_trips_a_written_model(tmp_path, shared):
    cfg = ModelConfig(vocab=40, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, hidden=52, max_seq=32, tie_embeddings=shared)
    model = _model(cfg, dtype=torch.float32)
    _write_llama2c(tmp_path / "m.bin", model, shared)
    loaded, info = read_llama2c(tmp_path / "m.bin")
    tokens = _tokens(cfg, (2, 10))
    torch.testing.assert_close(loaded(tokens), model(tokens))
    assert info["shared_classifier"] == shared and info["rope_max_err"] < 1e-6
    (tmp_path / "short.bin").write_bytes((tmp_path / "m.bin").read_bytes()[:-8])
    with pytest.raises(ValueError, match="too short"):
        read_llama2c(tmp_path / "short.bin")


def test_stories260k_loads_as_a_grouped_query_model():
    try:
        path = data_file("models/stories260K.bin", download=False)
    except MissingData:
        pytest.skip("stories260K.bin is not offline")
    model, info = read_llama2c(path)
    assert info["header"] == (64, 172, 5, 8, 4, 512, 512) and info["shared_classifier"]
    assert model.cfg.kv_dim == 32 and info["rope_max_err"] < 1e-5
    g = torch.Generator().manual_seed(0)
    seqs = sample(model, torch.ones(2, 1, dtype=torch.int64), 60, g, lambda: KVCache(None))
    rand = torch.randint(0, 512, seqs.shape, generator=g)
    assert perplexity(model, seqs) < 0.01 * perplexity(model, rand)


def test_corpora_splits_and_vocabularies():
    try:
        shake = corpora.shakespeare()
        wiki = corpora.wikitext2(vocab_cap=300)
    except MissingData:
        pytest.skip("corpora are not offline")
    assert len(shake.vocab) == 65 and len(shake.train) > 8 * len(shake.eval)
    assert len(wiki.vocab) == 300 and wiki.vocab[0] == "<unk>"
    assert int(wiki.train.max()) < 300 and int(wiki.eval.max()) < 300
    assert shake.windows("eval", 17, 5).shape == (5, 17)


def test_training_is_seeded_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path))
    try:
        corpora.shakespeare()
    except MissingData:
        pytest.skip("tinyshakespeare is not offline")
    spec = TrainSpec("shakespeare", ModelConfig(vocab=65, dim=16, n_layers=1, n_heads=2, max_seq=32),
                     steps=3, batch=2, seq=16, warmup=1, device="cpu")
    a = train_module.train(spec, show_progress=False)
    b = train_module.train(spec, show_progress=False)
    assert a["losses"] == b["losses"]
    model, info = train_module.trained(spec, show_progress=False)
    assert len(list((tmp_path / "llm").glob("*.pt"))) == 1
    monkeypatch.setattr(train_module, "train", lambda *a, **k: pytest.fail("a cached model must not be retrained"))
    again, _ = train_module.trained(spec, show_progress=False)
    for p, q in zip(model.parameters(), again.parameters()):
        assert torch.equal(p, q)
    logits = model(torch.zeros(1, 4, dtype=torch.int64))
    assert torch.isfinite(logits).all() and F.softmax(logits, -1).sum(-1).allclose(torch.ones(1, 4))


def test_early_stopping_keeps_the_weights_with_the_lowest_held_out_loss(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path))
    try:
        corpus = corpora.shakespeare()
    except MissingData:
        pytest.skip("tinyshakespeare is not offline")
    cfg = ModelConfig(vocab=65, dim=16, n_layers=1, n_heads=2, max_seq=32)
    plain = TrainSpec("shakespeare", cfg, steps=12, batch=2, seq=16, warmup=1, device="cpu")
    # specs without early stopping keep the cache key they had before it existed
    assert "holdout" not in plain.cache_key()
    # a learning rate high enough to diverge: the held-out loss rises, and training stops early
    spec = TrainSpec("shakespeare", cfg, steps=60, batch=2, seq=16, warmup=1, lr=0.5, device="cpu",
                     holdout=0.1, eval_every=3, patience=2)
    out = train_module.train(spec, corpus, show_progress=False)
    steps, losses = zip(*out["held_losses"])
    assert out["best_held_loss"] == min(losses) and out["best_step"] == steps[losses.index(min(losses))]
    assert len(out["losses"]) == steps[-1] <= spec.steps
    if len(out["losses"]) < spec.steps:  # stopped: the last `patience` scores did not improve
        assert steps[-1] - out["best_step"] == spec.patience * spec.eval_every
    # the returned weights are the best ones: scoring them again gives the best held-out loss
    model = Transformer(cfg)
    model.load_state_dict(out["state"])
    data = corpus.train
    tail = data[int(len(data) * 0.9):]
    n = min(16, (len(tail) - 1) // 17)
    held = tail[: n * 17].view(n, 17)
    assert train_module._held_out_loss(model, held) == pytest.approx(out["best_held_loss"], rel=1e-5)
    with pytest.raises(ValueError, match="early stopping"):
        train_module.train(TrainSpec("shakespeare", cfg, steps=2, holdout=0.7, device="cpu"), corpus, show_progress=False)
