"""Oracle fixtures for the attention family (src/layers/attention/): PyTorch in float64.

Plain cases go through torch's own scaled-dot-product attention (F._scaled_dot_product_attention
in torch 1.13: boolean mask, True = attend, scale 1/sqrt(U)) with explicit causal, band and
key-validity masks; cases with a soft cap, per-dim scales, a query scale, sinks or relative
positions use manual attention written here from the reference's formulas (common.py:
dot_product_attention): masked logits -1e9, softmax, values zeroed at invalid steps. Grouped
query attention repeats each kv head for its H / KVH query heads: query head h reads kv head
h // (H / KVH), as the reference's multi_key_value_dot_product_attention splits the heads, or
h % KVH (kv_cycle) for the layers on its flash attention (DotProductSelfAttentionV2, Blockwise,
MultiSource: multi_key_value_dot_product_flash_attention splits them the other way).

Cross-attention cases carry their source in "constants" (a Sequence with valid lengths).
Writes test/fixtures/attention.json.
Run: /usr/bin/python3 tools/fixtures_attention.py
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from fixtures_common import case, q8_matmul, tensor, write_fixture
from fixtures_position import rope_torch

rng = np.random.default_rng(20240917)
INVALID = -1e9


def normal(*shape, std=1.0):
    return (rng.standard_normal(shape) * std).astype(np.float32)


def masked(x, lens):
    x = x.copy()
    for b, n in enumerate(lens):
        x[b, n:] = 0
    return x


def valid(lens, time):
    return torch.tensor([[t < int(n) for t in range(time)] for n in lens])


def t64(a):
    return torch.from_numpy(np.asarray(a)).double()


def proj(x, kernel, bias=None):
    """x [B, T, D] . kernel [D, ...] (+ bias)."""
    y = torch.tensordot(t64(x), t64(kernel), dims=1)
    return y + t64(bias) if bias is not None else y


def band(q_time, k_time, past, future, offset=0, width=1):
    """visible[i, j]: key j within [i + offset - past, i + offset + future] (-1 = unbounded); with
    width > 1, the same over blocks of `width` steps (block of j against block of i + offset)."""
    i = (torch.arange(q_time)[:, None] + offset) // width
    j = torch.arange(k_time)[None, :] // width
    m = torch.ones(q_time, k_time, dtype=torch.bool)
    if past >= 0:
        m &= j >= i - past
    if future >= 0:
        m &= j <= i + future
    return m


def sdpa(q, k, v, visible, kv_cycle=False):
    """q [B, T, H, U], k/v [B, S, KVH, U], visible [B, T, S] -> [B, T, H, U] via torch's attention."""
    h, kvh = q.shape[2], k.shape[2]
    k, v = (t.repeat(1, 1, h // kvh, 1) if kv_cycle else t.repeat_interleave(h // kvh, dim=2) for t in (k, v))
    out, _ = F._scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                              attn_mask=visible[:, None], need_attn_weights=False)
    return out.transpose(1, 2)


def manual(q, k, v, visible, key_valid, *, q_scale=None, k_scale=None, bias=None, cap=None,
           sink_logits=None, sink_values=None, content_bias=None):
    """The reference's dot_product_attention in float64 (GQA by repeating kv heads).

    q [B, T, H, U] raw; q_scale/k_scale [U] per-unit factors; bias [B, H, T, S] added to the
    logits; cap soft cap; sink_logits [B, H, T, Sk] put in front; sink_values [Sk, KVH, U];
    content_bias [H, U] added to the scaled query (Transformer-XL u).
    """
    b, t, h, u = q.shape
    kvh = k.shape[2]
    qs = q * (q_scale if q_scale is not None else 1 / math.sqrt(u))
    if content_bias is not None:
        qs = qs + content_bias
    ks = k * k_scale if k_scale is not None else k
    ks = ks.repeat_interleave(h // kvh, dim=2)
    vv = torch.where(key_valid[:, :, None, None], v, torch.zeros_like(v)).repeat_interleave(h // kvh, dim=2)
    logits = torch.einsum("bihu,bjhu->bhij", qs, ks)
    if bias is not None:
        logits = logits + bias
    if cap:
        logits = cap * torch.tanh(logits / cap)
    logits = torch.where(visible[:, None], logits, torch.full_like(logits, INVALID))
    if sink_logits is not None:
        if cap:
            sink_logits = cap * torch.tanh(sink_logits / cap)
        logits = torch.cat([sink_logits, logits], dim=-1)
        sv = torch.zeros(sink_logits.shape[-1], kvh, u, dtype=torch.float64) if sink_values is None else sink_values
        vv = torch.cat([sv.repeat_interleave(h // kvh, dim=1)[None].expand(b, -1, -1, -1), vv], dim=1)
    p = torch.softmax(logits, dim=-1)
    return torch.einsum("bhij,bjhu->bihu", p, vv)


def softplus_scale(p):
    return 1.442695041 * F.softplus(t64(p))


def t5_bucket(rel, num_buckets, bidirectional, max_distance):
    """The reference's _relative_position_bucket (float32 log), on an int array."""
    ret = np.zeros_like(rel)
    n = -rel
    if bidirectional:
        num_buckets //= 2
        ret += (n < 0).astype(rel.dtype) * num_buckets
        n = np.abs(n)
    else:
        n = np.maximum(n, 0)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    eps = np.finfo(np.float32).eps
    large = max_exact + (np.log(n.astype(np.float32) / max_exact + eps) / np.float32(math.log(max_distance / max_exact))
                         * (num_buckets - 1 - max_exact)).astype(np.int32)
    large = np.minimum(large, num_buckets - 1)
    return ret + np.where(is_small, n, large)


def timing_signal(pos, channels):
    """get_timing_signal_1d_pos (min 1, max 1e4) in float32 as the reference."""
    nts = channels // 2
    inc = math.log(1e4) / max(nts - 1, 1)
    inv = np.exp(np.arange(nts, dtype=np.float32) * -inc).astype(np.float32)
    scaled = pos.astype(np.float32)[:, None] * inv[None, :]
    sig = np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1)
    return np.pad(sig, [[0, 0], [0, channels % 2]])


cases = []
B = 2


def finite_at_valid(y, lens):
    """torch's attention gives NaN for a query that sees no key; only invalid queries may do so."""
    y = y.numpy()
    for b, n in enumerate(lens):
        assert np.isfinite(y[b, :n]).all()
    return np.nan_to_num(y)


def self_case(name, config, x, lens, weights, y):
    cases.append(case(name, config, x, finite_at_valid(y, lens), weights=weights, lengths=lens, rtol=1e-4, atol=2e-5))


def qkv_combined(x, d, h, u, bias=False):
    w = {"query_key_value_projection.kernel": normal(d, 3, h, u, std=0.5)}
    if bias:
        w["query_key_value_projection.bias"] = normal(3, h, u, std=0.5)
    qkv = proj(x, w["query_key_value_projection.kernel"], w.get("query_key_value_projection.bias"))
    return w, qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]


# 1. Plain self attention through torch's SDPA: causal, windowed, future context, unlimited.
for past, future, T in [(-1, 0, 9), (3, 0, 10), (2, 2, 8), (-1, -1, 7), (0, 3, 9), (5, -1, 8)]:
    D, H, U = 3, 2, 4
    lens = rng.integers(1, T + 1, size=B)
    x = masked(normal(B, T, D), lens)
    w, q, k, v = qkv_combined(x, D, H, U)
    kv = valid(lens, T)
    y = sdpa(q, k, v, band(T, T, past, future)[None] & kv[:, None, :])
    self_case(f"DotProductSelfAttention past={past} future={future} (torch SDPA)",
              {"type": "DotProductSelfAttention", "num_heads": H, "units_per_head": U, "max_past_horizon": past, "max_future_horizon": future},
              x, lens, w, y)

# 2. Grouped-query attention with separate projections and biases (SDPA, kv heads repeated).
for proj_type in ["SeparateQueryKeyValueProjection", "QueryAndKeyValueProjection", "QueryAndSharedKeyValueProjection"]:
    D, H, KVH, U, T, past, future = 5, 6, 3, 3, 11, 4, 1
    lens = rng.integers(1, T + 1, size=B)
    x = masked(normal(B, T, D), lens)
    w = {"query_projection.kernel": normal(D, H, U, std=0.5), "query_projection.bias": normal(H, U, std=0.5)}
    q = proj(x, w["query_projection.kernel"], w["query_projection.bias"])
    if proj_type == "SeparateQueryKeyValueProjection":
        for n in ["key_projection", "value_projection"]:
            w[f"{n}.kernel"], w[f"{n}.bias"] = normal(D, KVH, U, std=0.5), normal(KVH, U, std=0.5)
        k = proj(x, w["key_projection.kernel"], w["key_projection.bias"])
        v = proj(x, w["value_projection.kernel"], w["value_projection.bias"])
    elif proj_type == "QueryAndKeyValueProjection":
        w["key_value_projection.kernel"], w["key_value_projection.bias"] = normal(D, 2, KVH, U, std=0.5), normal(2, KVH, U, std=0.5)
        kvp = proj(x, w["key_value_projection.kernel"], w["key_value_projection.bias"])
        k, v = kvp[:, :, 0], kvp[:, :, 1]
    else:
        w["shared_key_value_projection.kernel"], w["shared_key_value_projection.bias"] = normal(D, KVH, U, std=0.5), normal(KVH, U, std=0.5)
        k = v = proj(x, w["shared_key_value_projection.kernel"], w["shared_key_value_projection.bias"])
    y = sdpa(q, k, v, band(T, T, past, future)[None] & valid(lens, T)[:, None, :])
    self_case(f"DotProductSelfAttention GQA {proj_type} (torch SDPA)",
              {"type": "DotProductSelfAttention", "num_heads": H, "num_kv_heads": KVH, "units_per_head": U,
               "max_past_horizon": past, "max_future_horizon": future, "use_bias": True, "input_projection": {"type": proj_type}},
              x, lens, w, y)

# 3. Manual attention: soft cap, per-dim query and key scales, query scale, shared KV (combined).
D, H, U, T = 4, 2, 5, 10
lens = rng.integers(2, T + 1, size=B)
x = masked(normal(B, T, D), lens)
w = {"query_key_value_projection.kernel": normal(D, 2, H, U), "per_dim_scale": normal(U), "per_dim_key_scale": normal(U)}
qk = proj(x, w["query_key_value_projection.kernel"])
q, k = qk[:, :, 0], qk[:, :, 1]
qs = 0.7 * softplus_scale(w["per_dim_scale"])
ks = softplus_scale(w["per_dim_key_scale"])
kv = valid(lens, T)
y = manual(q, k, k, band(T, T, 3, 1)[None] & kv[:, None, :], kv, q_scale=qs, k_scale=ks, cap=2.5)
self_case("DotProductSelfAttention soft cap, per-dim scales, query scale, shared kv (manual)",
          {"type": "DotProductSelfAttention", "num_heads": H, "units_per_head": U, "max_past_horizon": 3, "max_future_horizon": 1,
           "input_projection": {"type": "CombinedQueryKeyValueProjection", "share_kv_projection": True},
           "attention_logits_soft_cap": 2.5, "per_dim_scale": True, "per_dim_key_scale": True, "query_scale": 0.7},
          x, lens, w, y)

# 4. Sinks: embeddings (raw query . sink key, capped) and scalars (zero value), with GQA.
for kind in ["embeddings", "scalars"]:
    D, H, KVH, U, T, S = 3, 4, 2, 4, 9, 2
    lens = rng.integers(1, T + 1, size=B)
    x = masked(normal(B, T, D), lens)
    w = {"query_projection.kernel": normal(D, H, U), "key_value_projection.kernel": normal(D, 2, KVH, U)}
    q = proj(x, w["query_projection.kernel"])
    kvp = proj(x, w["key_value_projection.kernel"])
    k, v = kvp[:, :, 0], kvp[:, :, 1]
    kv = valid(lens, T)
    config = {"type": "DotProductSelfAttention", "num_heads": H, "num_kv_heads": KVH, "units_per_head": U, "max_past_horizon": 2,
              "max_future_horizon": 2, "input_projection": {"type": "QueryAndKeyValueProjection"}, "attention_logits_soft_cap": 4.0}
    if kind == "embeddings":
        w["sink_key_embeddings"], w["sink_value_embeddings"] = normal(S, H, U), normal(S, KVH, U)
        sl = torch.einsum("bthu,shu->bhts", q, t64(w["sink_key_embeddings"]))
        y = manual(q, k, v, band(T, T, 2, 2)[None] & kv[:, None, :], kv, cap=4.0, sink_logits=sl, sink_values=t64(w["sink_value_embeddings"]))
        config["num_sink_embeddings"] = S
    else:
        w["sink_scalars"] = normal(H)
        sl = t64(w["sink_scalars"])[None, :, None, None].expand(B, H, T, 1)
        y = manual(q, k, v, band(T, T, 2, 2)[None] & kv[:, None, :], kv, cap=4.0, sink_logits=sl)
        config["use_sink_scalars"] = True
    self_case(f"DotProductSelfAttention sink {kind}, GQA (manual)", config, x, lens, w, y)

# 5. Relative positions: Shaw (raw query . E[clip(k - q)]) and T5 (E[bucket(k - q), h]).
D, H, U, T = 3, 2, 4, 12
for kind, past, future, bidir in [("shaw", 4, 2, None), ("shaw", -1, 0, None), ("t5", -1, -1, True), ("t5", 6, 0, False)]:
    lens = rng.integers(1, T + 1, size=B)
    x = masked(normal(B, T, D), lens)
    w, q, k, v = qkv_combined(x, D, H, U)
    rel = np.arange(T)[None, :] - np.arange(T)[:, None]  # key - query
    if kind == "shaw":
        mb, mf = 3, 2
        w["relative_position_embedding.embedding"] = normal(mb + mf + 1, H, U)
        idx = torch.from_numpy(np.clip(rel, -mb, mf) + mb)
        rl = torch.einsum("rhu,bqhu->bhqr", t64(w["relative_position_embedding.embedding"]), q)
        bias = torch.gather(rl, 3, idx[None, None].expand(B, H, T, T))
        rp = {"type": "ShawRelativePositionEmbedding", "max_backward": mb, "max_forward": mf, "num_heads": H, "units_per_head": U}
    else:
        nb, maxd = 10, 8
        w["relative_position_embedding.embedding"] = normal(nb, H)
        buckets = t5_bucket(rel.astype(np.int32), nb, bidir, maxd)
        bias = t64(w["relative_position_embedding.embedding"])[torch.from_numpy(buckets).long()].permute(2, 0, 1)[None]
        rp = {"type": "T5RelativePositionEmbedding", "num_buckets": nb, "num_heads": H, "bidirectional": bool(bidir), "max_distance": maxd}
    kv = valid(lens, T)
    y = manual(q, k, v, band(T, T, past, future)[None] & kv[:, None, :], kv, bias=bias)
    self_case(f"DotProductSelfAttention {kind} relative positions past={past} future={future} (manual)",
              {"type": "DotProductSelfAttention", "num_heads": H, "units_per_head": U, "max_past_horizon": past,
               "max_future_horizon": future, "relative_position_embedding": rp},
              x, lens, w, y)

# 6. Local attention, plain (SDPA) and with Transformer-XL relative positions (manual).
for xl, past, future in [(False, 3, 2), (True, 3, 0), (True, 2, 2)]:
    D, H, U, T, dim = 3, 2, 4, 11, 6
    lens = rng.integers(1, T + 1, size=B)
    x = masked(normal(B, T, D), lens)
    w, q, k, v = qkv_combined(x, D, H, U)
    kv = valid(lens, T)
    visible = band(T, T, past, future)[None] & kv[:, None, :]
    config = {"type": "LocalDotProductSelfAttention", "num_heads": H, "units_per_head": U, "block_size": 4,
              "max_past_horizon": past, "max_future_horizon": future}
    if not xl:
        y = sdpa(q, k, v, visible)
    else:
        w["relative_position_embedding.pos_proj.kernel"] = normal(dim, H, U, std=0.5)
        w["relative_position_embedding.u"] = normal(H, U, std=0.5)
        w["relative_position_embedding.v"] = normal(H, U, std=0.5)
        pos = past - np.arange(past + future + 1)  # query - key for d = key - query = -past .. future
        table = torch.einsum("fd,dhu->fhu", t64(timing_signal(pos, dim)), t64(w["relative_position_embedding.pos_proj.kernel"]))
        qs = q / math.sqrt(U)
        term = torch.einsum("bqhu,fhu->bhqf", qs + t64(w["relative_position_embedding.v"]), table)
        rel = np.arange(T)[None, :] - np.arange(T)[:, None]
        inside = torch.from_numpy((rel >= -past) & (rel <= future))
        idx = torch.from_numpy(np.clip(rel, -past, future) + past)
        bias = torch.where(inside, torch.gather(term, 3, idx[None, None].expand(B, H, T, T)), torch.zeros(1, dtype=torch.float64))
        y = manual(q, k, v, visible, kv, bias=bias, content_bias=t64(w["relative_position_embedding.u"]))
        config["relative_position_embedding"] = {"type": "TransformerXLRelativePositionEmbedding", "num_heads": H, "units_per_head": U,
                                                 "max_backward": past, "max_forward": future, "position_bias_dim": dim}
    self_case(f"LocalDotProductSelfAttention past={past} future={future} xl={xl}", config, x, lens, w, y)

# 7. Blockwise attention through torch's SDPA with a block mask: a query sees the keys of its
# block and of the past / future blocks around it (-1: all of them).

for width, past, future, T in [(3, 1, 0, 13), (2, 2, 1, 12), (4, 0, 0, 11), (2, -1, 0, 9), (3, 1, -1, 10), (1, 2, 0, 8)]:
    D, H, U = 3, 2, 4
    lens = rng.integers(1, T + 1, size=B)
    x = masked(normal(B, T, D), lens)
    w, q, k, v = qkv_combined(x, D, H, U)
    y = sdpa(q, k, v, band(T, T, past, future, width=width)[None] & valid(lens, T)[:, None, :])
    self_case(f"BlockwiseDotProductSelfAttention block={width} past={past} future={future} (torch SDPA)",
              {"type": "BlockwiseDotProductSelfAttention", "block_size": width, "num_heads": H, "units_per_head": U,
               "max_past_horizon_blocks": past, "max_future_horizon_blocks": future},
              x, lens, w, y)

# Grouped-query blockwise attention with a query/key-value projection and biases.
D, H, KVH, U, T, width = 5, 4, 2, 3, 14, 2
lens = rng.integers(1, T + 1, size=B)
x = masked(normal(B, T, D), lens)
w = {"query_projection.kernel": normal(D, H, U, std=0.5), "query_projection.bias": normal(H, U, std=0.5),
     "key_value_projection.kernel": normal(D, 2, KVH, U, std=0.5), "key_value_projection.bias": normal(2, KVH, U, std=0.5)}
q = proj(x, w["query_projection.kernel"], w["query_projection.bias"])
kvp = proj(x, w["key_value_projection.kernel"], w["key_value_projection.bias"])
y = sdpa(q, kvp[:, :, 0], kvp[:, :, 1], band(T, T, 1, 1, width=width)[None] & valid(lens, T)[:, None, :], kv_cycle=True)
self_case("BlockwiseDotProductSelfAttention GQA QueryAndKeyValueProjection block=2 past=1 future=1 (torch SDPA)",
          {"type": "BlockwiseDotProductSelfAttention", "block_size": width, "num_heads": H, "num_kv_heads": KVH, "units_per_head": U,
           "max_past_horizon_blocks": 1, "max_future_horizon_blocks": 1, "use_bias": True,
           "input_projection": {"type": "QueryAndKeyValueProjection"}},
          x, lens, w, y)

# 8. DotProductSelfAttentionV2: the same windows as DotProductSelfAttention (torch SDPA).
for past, future, T in [(3, 0, 10), (2, 2, 9), (-1, 1, 8)]:
    D, H, U = 3, 2, 4
    lens = rng.integers(1, T + 1, size=B)
    x = masked(normal(B, T, D), lens)
    w, q, k, v = qkv_combined(x, D, H, U)
    y = sdpa(q, k, v, band(T, T, past, future)[None] & valid(lens, T)[:, None, :])
    self_case(f"DotProductSelfAttentionV2 past={past} future={future} (torch SDPA)",
              {"type": "DotProductSelfAttentionV2", "num_heads": H, "units_per_head": U, "max_past_horizon": past, "max_future_horizon": future},
              x, lens, w, y)


def cross_case(name, config, x, lens, src, src_lens, weights, y):
    c = case(name, config, x, finite_at_valid(y, lens), weights=weights, lengths=lens, rtol=1e-4, atol=2e-5)
    c["constants"] = {"source": {"kind": "sequence", **tensor(src), "lengths": [int(n) for n in src_lens]}}
    cases.append(c)


# 7. Cross attention (SDPA with key validity; random source lengths >= 1), a T5 bias (manual),
#    and a source item with no valid step (manual: -1e9 everywhere gives the mean of zeros).
for kind in ["plain", "t5", "empty"]:
    D, Ds, H, U, T, S = 3, 2, 3, 4, 8, 11
    lens = rng.integers(1, T + 1, size=B)
    src_lens = np.array([0, S]) if kind == "empty" else rng.integers(1, S + 1, size=B)
    x = masked(normal(B, T, D), lens)
    src = masked(normal(B, S, Ds), src_lens)
    w = {"query_projection.kernel": normal(D, H, U), "key_value_projection.kernel": normal(Ds, 2, H, U)}
    q = proj(x, w["query_projection.kernel"])
    kvp = proj(src, w["key_value_projection.kernel"])
    k, v = kvp[:, :, 0], kvp[:, :, 1]
    kv = valid(src_lens, S)
    config = {"type": "DotProductAttention", "source_name": "source", "num_heads": H, "units_per_head": U}
    if kind == "plain":
        y = sdpa(q, k, v, kv[:, None, :].expand(B, T, S))
    elif kind == "empty":
        y = manual(q, k, v, kv[:, None, :].expand(B, T, S), kv)
    else:
        nb = 8
        w["relative_position_embedding.embedding"] = normal(nb, H)
        rel = np.arange(S)[None, :] - np.arange(T)[:, None]
        buckets = t5_bucket(rel.astype(np.int32), nb, True, 6)
        bias = t64(w["relative_position_embedding.embedding"])[torch.from_numpy(buckets).long()].permute(2, 0, 1)[None]
        y = manual(q, k, v, kv[:, None, :].expand(B, T, S), kv, bias=bias)
        config["relative_position_embedding"] = {"type": "T5RelativePositionEmbedding", "num_buckets": nb, "num_heads": H, "bidirectional": True, "max_distance": 6}
    cross_case(f"DotProductAttention {kind}", config, x, lens, src, src_lens, w, y)

# 8. Streaming cross attention: source band [t - past, t + future] (SDPA).
for layer_type, past, future in [("StreamingDotProductAttention", 3, 0), ("StreamingDotProductAttention", 2, 2), ("StreamingLocalDotProductAttention", 3, 1)]:
    D, Ds, H, U, T = 3, 2, 2, 4, 10
    lens = rng.integers(T // 2, T + 1, size=B)
    x = masked(normal(B, T, D), lens)
    src = masked(normal(B, T, Ds), lens)
    w = {"query_projection.kernel": normal(D, H, U), "key_value_projection.kernel": normal(Ds, 2, H, U)}
    q = proj(x, w["query_projection.kernel"])
    kvp = proj(src, w["key_value_projection.kernel"])
    kv = valid(lens, T)
    y = sdpa(q, kvp[:, :, 0], kvp[:, :, 1], band(T, T, past, future)[None] & kv[:, None, :])
    config = {"type": layer_type, "source_name": "source", "num_heads": H, "units_per_head": U, "max_past_horizon": past, "max_future_horizon": future}
    if layer_type == "StreamingLocalDotProductAttention":
        config["block_size"] = 3
    cross_case(f"{layer_type} past={past} future={future} (torch SDPA)", config, x, lens, src, lens, w, y)

# 9. weight_storage 'int8': the projections quantised as the layers document it (NumPy, exact
# integer sums), then torch's SDPA; self attention with biases, and streaming cross attention
# (query and key/value projections each their own int8 matrix).
D, H, U, T = 5, 2, 4, 9
lens = rng.integers(1, T + 1, size=B)
x = masked(normal(B, T, D), lens)
w = {"query_key_value_projection.kernel": normal(D, 3, H, U, std=0.5), "query_key_value_projection.bias": normal(3, H, U, std=0.5)}
qkv = t64(q8_matmul(x, w["query_key_value_projection.kernel"].reshape(D, -1), w["query_key_value_projection.bias"])).reshape(B, T, 3, H, U)
y = sdpa(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], band(T, T, 3, 0)[None] & valid(lens, T)[:, None, :])
self_case("DotProductSelfAttention int8 past=3 future=0 use_bias (NumPy int8 projection, torch SDPA)",
          {"type": "DotProductSelfAttention", "num_heads": H, "units_per_head": U, "max_past_horizon": 3, "max_future_horizon": 0,
           "use_bias": True, "weight_storage": "int8"}, x, lens, w, y)
D, Ds, H, U, T = 3, 40, 2, 4, 10
lens = rng.integers(T // 2, T + 1, size=B)
x = masked(normal(B, T, D), lens)
src = masked(normal(B, T, Ds), lens)
w = {"query_projection.kernel": normal(D, H, U), "key_value_projection.kernel": normal(Ds, 2, H, U)}
q = t64(q8_matmul(x, w["query_projection.kernel"].reshape(D, -1))).reshape(B, T, H, U)
kvp = t64(q8_matmul(src, w["key_value_projection.kernel"].reshape(Ds, -1))).reshape(B, T, 2, H, U)
y = sdpa(q, kvp[:, :, 0], kvp[:, :, 1], band(T, T, 2, 2)[None] & valid(lens, T)[:, None, :])
cross_case("StreamingDotProductAttention int8 past=2 future=2 (NumPy int8 projections, torch SDPA)",
           {"type": "StreamingDotProductAttention", "source_name": "source", "num_heads": H, "units_per_head": U,
            "max_past_horizon": 2, "max_future_horizon": 2, "weight_storage": "int8"}, x, lens, src, lens, w, y)

# Multi-source cross attention: every query sees the valid steps of all sources in one softmax
# (torch SDPA over the sources' keys and values laid end to end), with one shared key/value
# projection, or one per source (use_separate_kv_projections) for sources of other widths.
def multi_source_case(name, config, x, lens, sources, weights, y):
    c = case(name, config, x, finite_at_valid(y, lens), weights=weights, lengths=lens, rtol=1e-4, atol=2e-5)
    c["constants"] = {k: {"kind": "sequence", **tensor(v), "lengths": [int(n) for n in ls]} for k, (v, ls) in sources.items()}
    cases.append(c)


D, H, U, T = 4, 2, 3, 7
lens = rng.integers(1, T + 1, size=B)
x = masked(normal(B, T, D), lens)
srcs = {}
for name, S, Ds in [("text", 5, 3), ("speaker", 3, 3)]:
    ls = rng.integers(0, S + 1, size=B)
    ls[0] = max(ls[0], 1)
    srcs[name] = (masked(normal(B, S, Ds), ls), ls)
w = {"query_projection.kernel": normal(D, H, U, std=0.5), "key_value_projection.kernel": normal(3, 2, H, U, std=0.5)}
q = proj(x, w["query_projection.kernel"])
kvp = torch.cat([proj(srcs[n][0], w["key_value_projection.kernel"]) for n in srcs], dim=1)
kv_valid = torch.cat([valid(srcs[n][1], srcs[n][0].shape[1]) for n in srcs], dim=1)
y = sdpa(q, kvp[:, :, 0], kvp[:, :, 1], kv_valid[:, None, :].expand(B, T, kvp.shape[1]))
multi_source_case("MultiSourceDotProductAttention shared projection (torch SDPA)",
                  {"type": "MultiSourceDotProductAttention", "source_names": ["text", "speaker"], "num_heads": H, "units_per_head": U},
                  x, lens, srcs, w, y)

H, KVH = 4, 2
srcs = {}
for name, S, Ds in [("text", 4, 3), ("style", 6, 5)]:
    ls = rng.integers(1, S + 1, size=B)
    srcs[name] = (masked(normal(B, S, Ds), ls), ls)
w = {"query_projection.kernel": normal(D, H, U, std=0.5), "query_projection.bias": normal(H, U, std=0.5)}
ks, vs = [], []
for name, (src, _) in srcs.items():
    for part in ["key", "value"]:
        w[f"{name}_projection.{part}_projection.kernel"] = normal(src.shape[2], KVH, U, std=0.5)
        w[f"{name}_projection.{part}_projection.bias"] = normal(KVH, U, std=0.5)
    ks.append(proj(src, w[f"{name}_projection.key_projection.kernel"], w[f"{name}_projection.key_projection.bias"]))
    vs.append(proj(src, w[f"{name}_projection.value_projection.kernel"], w[f"{name}_projection.value_projection.bias"]))
q = proj(x, w["query_projection.kernel"], w["query_projection.bias"])
kv_valid = torch.cat([valid(srcs[n][1], srcs[n][0].shape[1]) for n in srcs], dim=1)
y = sdpa(q, torch.cat(ks, dim=1), torch.cat(vs, dim=1), kv_valid[:, None, :].expand(B, T, kv_valid.shape[1]), kv_cycle=True)
multi_source_case("MultiSourceDotProductAttention separate projections, GQA (torch SDPA)",
                  {"type": "MultiSourceDotProductAttention", "source_names": ["text", "style"], "num_heads": H, "num_kv_heads": KVH,
                   "units_per_head": U, "use_bias": True, "use_separate_kv_projections": True,
                   "input_projection": {"type": "SeparateQueryKeyValueProjection"}},
                  x, lens, srcs, w, y)

# Rotary positions on the queries and keys (query_network, key_network): torch rotate-half RoPE
# of the projected queries and keys at their step (tools/fixtures_position.py), then SDPA.
D, H, U, T, past = 4, 2, 6, 10, 3
lens = rng.integers(1, T + 1, size=B)
x = masked(normal(B, T, D), lens)
w, q, k, v = qkv_combined(x, D, H, U)
steps = np.broadcast_to(np.arange(T), (B, T))
q, k = (t64(rope_torch(t.numpy(), steps, 1e4, -1)) for t in (q, k))
y = sdpa(q, k, v, band(T, T, past, 0)[None] & valid(lens, T)[:, None, :])
rope = {"type": "ApplyRotaryPositionalEncoding", "max_wavelength": 1e4, "only_advance_position_for_valid_timesteps": False}
self_case("DotProductSelfAttention RoPE query and key networks (torch RoPE, SDPA)",
          {"type": "DotProductSelfAttention", "num_heads": H, "units_per_head": U, "max_past_horizon": past,
           "query_network": rope, "key_network": rope},
          x, lens, w, y)

# Rotary positions in cross attention: queries at their step, each source's keys at their own
# step (query_network, key_network).
D, H, U, T = 4, 2, 6, 7
lens = rng.integers(1, T + 1, size=B)
x = masked(normal(B, T, D), lens)
srcs = {}
for name, S in [("text", 5), ("speaker", 4)]:
    ls = rng.integers(1, S + 1, size=B)
    srcs[name] = (masked(normal(B, S, 3), ls), ls)
w = {"query_projection.kernel": normal(D, H, U, std=0.5), "key_value_projection.kernel": normal(3, 2, H, U, std=0.5)}
at = lambda t: np.broadcast_to(np.arange(t), (B, t))
q = t64(rope_torch(proj(x, w["query_projection.kernel"]).numpy(), at(T), 1e4, -1))
kvs = {n: proj(src, w["key_value_projection.kernel"]) for n, (src, _) in srcs.items()}
ks = {n: t64(rope_torch(kv[:, :, 0].numpy(), at(kv.shape[1]), 1e4, -1)) for n, kv in kvs.items()}
kv_valid = {n: valid(ls, srcs[n][0].shape[1]) for n, (_, ls) in srcs.items()}
for names, config in [(["text"], {"type": "DotProductAttention", "source_name": "text"}),
                      (["text", "speaker"], {"type": "MultiSourceDotProductAttention", "source_names": ["text", "speaker"]})]:
    k = torch.cat([ks[n] for n in names], dim=1)
    v = torch.cat([kvs[n][:, :, 1] for n in names], dim=1)
    m = torch.cat([kv_valid[n] for n in names], dim=1)
    y = sdpa(q, k, v, m[:, None, :].expand(B, T, m.shape[1]))
    multi_source_case(f"{config['type']} RoPE query and key networks (torch RoPE, SDPA)",
                      {**config, "num_heads": H, "units_per_head": U, "query_network": rope, "key_network": rope},
                      x, lens, {n: srcs[n] for n in names}, w, y)

# Rotary positions in streaming cross attention: queries at their step of x, keys at their
# step of the source (streamed in lock-step), values RMS-normalised (value_network).
D, Ds, H, U, T, past, future = 3, 2, 2, 6, 10, 3, 2
lens = rng.integers(T // 2, T + 1, size=B)
x = masked(normal(B, T, D), lens)
src = masked(normal(B, T, Ds), lens)
w = {"query_projection.kernel": normal(D, H, U), "key_value_projection.kernel": normal(Ds, 2, H, U), "value_network.scale": normal(U)}
kvp = proj(src, w["key_value_projection.kernel"])
q = t64(rope_torch(proj(x, w["query_projection.kernel"]).numpy(), at(T), 1e4, -1))
k = t64(rope_torch(kvp[:, :, 0].numpy(), at(T), 1e4, -1))
v = kvp[:, :, 1]
v = v * torch.rsqrt((v * v).mean(-1, keepdim=True) + 1e-6) * t64(w["value_network.scale"])
y = sdpa(q, k, v, band(T, T, past, future)[None] & valid(lens, T)[:, None, :])
cross_case(f"StreamingDotProductAttention RoPE query and key networks, RMSNorm value network past={past} future={future} (torch RoPE, SDPA)",
           {"type": "StreamingDotProductAttention", "source_name": "source", "num_heads": H, "units_per_head": U,
            "max_past_horizon": past, "max_future_horizon": future, "query_network": rope, "key_network": rope,
            "value_network": {"type": "RMSNormalization", "epsilon": 1e-6}},
           x, lens, src, lens, w, y)

# Grouped-query DotProductSelfAttentionV2: on the reference's flash attention, query head h
# reads kv head h % KVH (DotProductSelfAttention's GQA cases above: h // (H / KVH)).
D, H, KVH, U, T = 5, 6, 2, 3, 11
lens = rng.integers(1, T + 1, size=B)
x = masked(normal(B, T, D), lens)
w = {"query_projection.kernel": normal(D, H, U, std=0.5), "key_value_projection.kernel": normal(D, 2, KVH, U, std=0.5)}
q = proj(x, w["query_projection.kernel"])
kvp = proj(x, w["key_value_projection.kernel"])
y = sdpa(q, kvp[:, :, 0], kvp[:, :, 1], band(T, T, 3, 0)[None] & valid(lens, T)[:, None, :], kv_cycle=True)
self_case("DotProductSelfAttentionV2 GQA QueryAndKeyValueProjection past=3 (torch SDPA, kv head h % KVH)",
          {"type": "DotProductSelfAttentionV2", "num_heads": H, "num_kv_heads": KVH, "units_per_head": U,
           "max_past_horizon": 3, "max_future_horizon": 0, "input_projection": {"type": "QueryAndKeyValueProjection"}},
          x, lens, w, y)

write_fixture("attention", cases, "tools/fixtures_attention.py (PyTorch float64: torch 1.13 scaled-dot-product attention and manual attention; int8 projections in NumPy)")
