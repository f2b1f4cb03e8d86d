"""PyTorch fixtures for scaledDotProductAttention, MultiheadAttention and the ViT TransformerBlock.

Run: /usr/bin/python3 test/reference/ops_attention.py   (Debian's torch 1.13)
Writes test/fixtures/ops/attention.safetensors.

torch 1.13 has no F.scaled_dot_product_attention: `sdpa` below is the explicit formula
softmax(q·kᵀ·scale + mask)·v, with torch 2's mask semantics (a bool mask is True where the key takes
part; a float mask is added). Boolean masks travel as int32 0/1 and are turned into bool here.
MultiheadAttention cases run torch's own nn.MultiheadAttention (functional_call with the stored
parameters). The TransformerBlock reference is a ViTPose/timm block written out below.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import stateless

from common import Fixture, rand, randn

torch.manual_seed(0)
fx = Fixture("ops", "attention")


def sdpa(q, k, v, mask=None, scale=None, causal=False):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    logits = q @ k.transpose(-2, -1) * scale
    if causal:
        L, S = logits.shape[-2:]
        keep = torch.ones(L, S, dtype=torch.bool).tril()
        logits = logits.masked_fill(~keep, float("-inf"))
    if mask is not None:
        logits = logits.masked_fill(mask == 0, float("-inf")) if mask.dtype == torch.int32 else logits + mask
    return torch.softmax(logits, dim=-1) @ v


def ints(*shape, seed, p=0.7):
    """An int32 0/1 mask (1 = keep) with every row keeping at least its first key."""
    m = (rand(*shape, seed=seed) < p).int()
    m[..., 0] = 1
    return m


# ---------------------------------------------------------------------------- scaledDotProductAttention
q4, k4, v4 = randn(2, 3, 5, 4, seed=1), randn(2, 3, 7, 4, seed=2), randn(2, 3, 7, 6, seed=3)
fx.case("sdpa/basic", lambda q, k, v: sdpa(q, k, v), {"q": q4, "k": k4, "v": v4})
fx.case("sdpa/scale", lambda q, k, v: sdpa(q, k, v, scale=0.3), {"q": q4, "k": k4, "v": v4}, {"scale": 0.3})
fx.case("sdpa/rank3", lambda q, k, v: sdpa(q, k, v), {"q": randn(3, 4, 8, seed=4), "k": randn(3, 6, 8, seed=5), "v": randn(3, 6, 2, seed=6)})
fx.case("sdpa/boolMask", lambda q, k, v, mask: sdpa(q, k, v, mask), {"q": q4, "k": k4, "v": v4, "mask": ints(2, 1, 5, 7, seed=7)}, grad=["q", "k", "v"])
fx.case("sdpa/boolMaskLk", lambda q, k, v, mask: sdpa(q, k, v, mask), {"q": q4, "k": k4, "v": v4, "mask": ints(7, seed=8)}, grad=["q", "k", "v"])
fx.case("sdpa/floatMask", lambda q, k, v, mask: sdpa(q, k, v, mask), {"q": q4, "k": k4, "v": v4, "mask": randn(3, 1, 7, seed=9)})
fx.case("sdpa/floatMaskFull", lambda q, k, v, mask: sdpa(q, k, v, mask), {"q": q4, "k": k4, "v": v4, "mask": randn(2, 3, 5, 7, seed=10)})
fx.case("sdpa/causal", lambda q, k, v: sdpa(q, k, v, causal=True), {"q": randn(1, 2, 6, 3, seed=11), "k": randn(1, 2, 6, 3, seed=12), "v": randn(1, 2, 6, 3, seed=13)}, {"isCausal": True})
fx.case("sdpa/causalRect", lambda q, k, v: sdpa(q, k, v, causal=True), {"q": randn(1, 1, 4, 3, seed=14), "k": randn(1, 1, 6, 3, seed=15), "v": randn(1, 1, 6, 2, seed=16)}, {"isCausal": True})
# Longer than one key tile (32) and one query tile (16) of the cpu kernel.
fx.case("sdpa/tiles", lambda q, k, v, mask: sdpa(q, k, v, mask), {"q": randn(1, 1, 37, 3, seed=17), "k": randn(1, 1, 70, 3, seed=18), "v": randn(1, 1, 70, 2, seed=19), "mask": ints(1, 1, 37, 70, seed=20, p=0.5)}, grad=["q", "k", "v"])
# RPSTN's JRE: logits in the thousands.
fx.case("sdpa/huge", lambda q, k, v: sdpa(q, k, v, scale=1.0), {"q": randn(1, 2, 4, 3, seed=21, scale=40.0), "k": randn(1, 2, 9, 3, seed=22, scale=40.0), "v": randn(1, 2, 9, 3, seed=23)}, {"scale": 1.0})


# ---------------------------------------------------------------------------- MultiheadAttention
def mha_case(name, E, H, inputs, call, grad_inputs, kdim=None, vdim=None, bias=True, batch_first=False, seed=0, extra=None):
    torch.manual_seed(seed)
    m = nn.MultiheadAttention(E, H, bias=bias, kdim=kdim, vdim=vdim, batch_first=batch_first).double()
    with torch.no_grad():  # non-zero biases, so that they are tested
        for n, p in m.named_parameters():
            if n.endswith("bias"):
                p.copy_(randn(*p.shape, seed=seed + 1, scale=0.5))
    params = {k: v.detach().double() for k, v in m.state_dict().items()}
    keys = list(params.keys())

    def fn(**kw):
        p = {k: kw[k] for k in keys}
        rest = {k: v for k, v in kw.items() if k not in p}
        return call(lambda *a, **o: stateless.functional_call(m, p, a, o), **rest)

    fx.case(name, fn, {**inputs, **params}, {"keys": keys, **(extra or {})}, grad=grad_inputs + keys)


# self attention, [L, N, E], weights averaged over heads (out1)
mha_case("mha/self", 8, 2, {"x": randn(5, 2, 8, seed=100)},
         lambda mha, x: mha(x, x, x, need_weights=True), ["x"], seed=101,
         extra={"batchFirst": False, "needWeights": True})
# cross attention, batch_first, kdim/vdim ≠ E (separate q/k/v projection weights), a bool key
# padding mask (True = ignore: int 1 here) and a float attn_mask [L, S]
mha_case("mha/cross", 6, 3, {"q": randn(2, 4, 6, seed=110), "k": randn(2, 5, 4, seed=111), "v": randn(2, 5, 3, seed=112),
                             "kpm": torch.tensor([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], dtype=torch.int32), "am": randn(4, 5, seed=113)},
         lambda mha, q, k, v, kpm, am: mha(q, k, v, key_padding_mask=kpm.bool(), attn_mask=am, need_weights=False)[0],
         ["q", "k", "v", "am"], kdim=4, vdim=3, batch_first=True, seed=114,
         extra={"batchFirst": True, "needWeights": False, "kdim": 4, "vdim": 3})
# a bool attn_mask per (batch·head) [N·H, L, S] (True = not allowed), weights per head
mha_case("mha/perHead", 4, 2, {"q": randn(3, 2, 4, seed=120), "k": randn(4, 2, 4, seed=121), "v": randn(4, 2, 4, seed=122),
                               "am": (1 - ints(4, 3, 4, seed=123)).int()},
         lambda mha, q, k, v, am: mha(q, k, v, attn_mask=am.bool(), need_weights=True, average_attn_weights=False),
         ["q", "k", "v"], seed=124, extra={"batchFirst": False, "needWeights": True, "averageAttnWeights": False})
# unbatched [L, E], no biases
mha_case("mha/unbatched", 4, 1, {"x": randn(3, 4, seed=130), "y": randn(5, 4, seed=131)},
         lambda mha, x, y: mha(x, y, y, need_weights=False)[0], ["x", "y"], bias=False, seed=132,
         extra={"batchFirst": False, "needWeights": False})


# ---------------------------------------------------------------------------- ViT TransformerBlock
class Attention(nn.Module):
    def __init__(self, dim, heads, qkv_bias=True):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, -1))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """ViTPose's (timm's) pre-norm block; drop path is the identity at inference."""

    def __init__(self, dim, heads, mlp_ratio=4.0, qkv_bias=True, eps=1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def block_case(name, dim, heads, x, seed, **kw):
    torch.manual_seed(seed)
    m = Block(dim, heads, **kw).double()
    with torch.no_grad():  # LayerNorm starts at (1, 0): perturb it so that it is tested
        for n, p in m.named_parameters():
            if n.startswith("norm"):
                p.add_(randn(*p.shape, seed=seed + len(n), scale=0.2))
    params = {k: v.detach().double() for k, v in m.state_dict().items()}
    keys = list(params.keys())
    fn = lambda **kw2: stateless.functional_call(m, {k: kw2[k] for k in keys}, (kw2["x"],))
    fx.case(name, fn, {"x": x, **params}, {"keys": keys, "dim": dim, "heads": heads, **{k: v for k, v in kw.items()}})


block_case("block/vitpose", 8, 2, randn(2, 6, 8, seed=200, scale=1.5), 201)
block_case("block/eps1e-5_noQkvBias", 6, 3, randn(1, 5, 6, seed=210), 211, eps=1e-5, qkv_bias=False, mlp_ratio=2.0)

fx.save()
