"""PyTorch fixtures for the core op set: elementwise, reductions, matmul, shape ops, softmax, conv.

Run: /usr/bin/python3 test/reference/ops_core.py   (Debian's python3-torch, torch 1.13)
Writes test/fixtures/ops/core.safetensors. Inputs avoid the kinks of relu/abs/clamp/max so that
gradients are unambiguous.
"""
import torch
import torch.nn.functional as F

from common import Fixture, rand, randn

torch.manual_seed(0)
fx = Fixture("ops", "core")


def away_from_zero(*shape, seed):
    """Values in ±[0.2, 2]: no element sits on a kink at 0."""
    m = rand(*shape, seed=seed, lo=0.2, hi=2.0)
    s = torch.where(rand(*shape, seed=seed + 1) > 0.5, 1.0, -1.0).double()
    return m * s


# ---------------------------------------------------------------------------- unary
x = randn(2, 3, 4, seed=1)
pos = rand(2, 3, 4, seed=2, lo=0.3, hi=3.0)
kinky = away_from_zero(2, 3, 4, seed=3)
unary = {
    "neg": (lambda x: -x, x),
    "exp": (torch.exp, x),
    "log": (torch.log, pos),
    "sqrt": (torch.sqrt, pos),
    "rsqrt": (torch.rsqrt, pos),
    "abs": (torch.abs, kinky),
    "relu": (torch.relu, kinky),
    "sigmoid": (torch.sigmoid, x * 3),
    "tanh": (torch.tanh, x * 2),
    "erf": (torch.erf, x),
    "gelu": (lambda x: F.gelu(x), x * 2),
    "geluTanh": (lambda x: F.gelu(x, approximate="tanh"), x * 2),
    "leakyRelu": (lambda x: F.leaky_relu(x, 0.1), kinky),
    "elu": (lambda x: F.elu(x, 1.0), kinky),
    "silu": (F.silu, x * 2),
    "square": (torch.square, x),
    "reciprocal": (torch.reciprocal, kinky),
    "sin": (torch.sin, x),
    "cos": (torch.cos, x),
    "clamp": (lambda x: torch.clamp(x, -0.5, 0.7), kinky),
    "powScalar": (lambda x: torch.pow(x, 2.5), pos),
}
for name, (fn, inp) in unary.items():
    fx.case(f"{name}/0", lambda x, fn=fn: fn(x), {"x": inp})

# ---------------------------------------------------------------------------- binary (broadcasting)
shapes = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (3, 1)), ((4,), (2, 3, 1)), ((1, 3, 1), (2, 1, 5)), ((2, 3), ())]
for i, (sa, sb) in enumerate(shapes):
    a = randn(*sa, seed=10 + i)
    b = randn(*sb, seed=20 + i)
    bnz = away_from_zero(*sb, seed=30 + i) if len(sb) else torch.tensor(1.7, dtype=torch.float64)
    fx.case(f"add/{i}", lambda a, b: a + b, {"a": a, "b": b})
    fx.case(f"sub/{i}", lambda a, b: a - b, {"a": a, "b": b})
    fx.case(f"mul/{i}", lambda a, b: a * b, {"a": a, "b": b})
    fx.case(f"div/{i}", lambda a, b: a / b, {"a": a, "b": bnz})
    fx.case(f"maximum/{i}", lambda a, b: torch.maximum(a, b), {"a": a, "b": b})
    fx.case(f"minimum/{i}", lambda a, b: torch.minimum(a, b), {"a": a, "b": b})
    fx.case(f"pow/{i}", lambda a, b: torch.pow(a, b), {"a": rand(*sa, seed=40 + i, lo=0.5, hi=2.0), "b": b})

c = randn(2, 3, 4, seed=50)
fx.case("where/0", lambda cond, a, b: torch.where(cond > 0, a, b), {"cond": c, "a": randn(2, 3, 4, seed=51), "b": randn(3, 1, seed=52)}, grad=["a", "b"])
fx.case("maskedFill/0", lambda x, m: x.masked_fill(m > 0, -2.5), {"x": randn(2, 3, 4, seed=53), "m": randn(3, 4, seed=54)}, grad=["x"])

# ---------------------------------------------------------------------------- reductions
r = randn(2, 3, 4, 5, seed=60)
red_cases = [("all", None, False), ("d1", [1], False), ("d13", [1, 3], True), ("dneg", [-1], True), ("d02", [0, 2], False)]
for tag, dims, keep in red_cases:
    p = {"dim": dims, "keepdim": keep}
    if dims is None:
        fx.case(f"sum/{tag}", lambda x: x.sum(), {"x": r}, p)
        fx.case(f"mean/{tag}", lambda x: x.mean(), {"x": r}, p)
        fx.case(f"max/{tag}", lambda x: x.amax(), {"x": r}, p)
        fx.case(f"min/{tag}", lambda x: x.amin(), {"x": r}, p)
        fx.case(f"logSumExp/{tag}", lambda x: torch.logsumexp(x, dim=(0, 1, 2, 3)), {"x": r}, p)
        fx.case(f"var/{tag}", lambda x: x.var(), {"x": r}, p)
    else:
        fx.case(f"sum/{tag}", lambda x, d=dims, k=keep: x.sum(dim=d, keepdim=k), {"x": r}, p)
        fx.case(f"mean/{tag}", lambda x, d=dims, k=keep: x.mean(dim=d, keepdim=k), {"x": r}, p)
        fx.case(f"max/{tag}", lambda x, d=dims, k=keep: x.amax(dim=d, keepdim=k), {"x": r}, p)
        fx.case(f"min/{tag}", lambda x, d=dims, k=keep: x.amin(dim=d, keepdim=k), {"x": r}, p)
        fx.case(f"logSumExp/{tag}", lambda x, d=dims, k=keep: torch.logsumexp(x, dim=d, keepdim=k), {"x": r}, p)
        fx.case(f"var/{tag}", lambda x, d=dims, k=keep: x.var(dim=d, keepdim=k), {"x": r}, p)
        fx.case(f"std/{tag}", lambda x, d=dims, k=keep: x.std(dim=d, keepdim=k), {"x": r}, p)
fx.case("prod/d1", lambda x: x.prod(dim=1), {"x": away_from_zero(2, 3, 4, seed=61)}, {"dim": 1, "keepdim": False})
fx.case("argmax/d2", lambda x: torch.argmax(x, dim=2).int(), {"x": r}, {"dim": 2, "keepdim": False}, grad=[])
fx.case("argmax/all", lambda x: torch.argmax(x).int(), {"x": r}, {"dim": None, "keepdim": False}, grad=[])
fx.case("argmin/d1k", lambda x: torch.argmin(x, dim=1, keepdim=True).int(), {"x": r}, {"dim": 1, "keepdim": True}, grad=[])
fx.case("cumsum/d1", lambda x: torch.cumsum(x, dim=1), {"x": r}, {"dim": 1})
fx.case("cumsum/dlast", lambda x: torch.cumsum(x, dim=-1), {"x": r}, {"dim": -1})
big = randn(3, 17, seed=62) * 3000.0
fx.case("logSumExp/big", lambda x: torch.logsumexp(x, dim=1), {"x": big}, {"dim": [1], "keepdim": False})

# ---------------------------------------------------------------------------- matmul
mm_cases = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((7, 1, 6), (7, 6, 3))]
for i, (sa, sb) in enumerate(mm_cases):
    fx.case(f"matmul/{i}", lambda a, b: torch.matmul(a, b), {"a": randn(*sa, seed=70 + i), "b": randn(*sb, seed=80 + i)})
fx.case("bmm/0", lambda a, b: torch.bmm(a, b), {"a": randn(3, 5, 7, seed=90), "b": randn(3, 7, 2, seed=91)})
fx.case("linear/0", lambda x, w, b: F.linear(x, w, b), {"x": randn(2, 3, 6, seed=92), "w": randn(4, 6, seed=93), "b": randn(4, seed=94)})
fx.case("linear/nobias", lambda x, w: F.linear(x, w), {"x": randn(5, 6, seed=95), "w": randn(3, 6, seed=96)})

# ---------------------------------------------------------------------------- shape ops
s = randn(2, 3, 4, seed=100)
fx.case("reshape/0", lambda x: x.reshape(4, -1), {"x": s}, {"shape": [4, -1]})
fx.case("permute/0", lambda x: x.permute(2, 0, 1), {"x": s}, {"perm": [2, 0, 1]})
fx.case("transpose/0", lambda x: x.transpose(0, 2), {"x": s}, {"dim0": 0, "dim1": 2})
fx.case("slice/0", lambda x: x[:, 1:3], {"x": s}, {"dim": 1, "start": 1, "end": 3, "step": 1})
fx.case("slice/step", lambda x: x[:, :, 0:4:2], {"x": s}, {"dim": 2, "start": 0, "end": 4, "step": 2})
fx.case("slice/neg", lambda x: x[:, -2:], {"x": s}, {"dim": 1, "start": -2, "end": None, "step": 1})
fx.case("concat/0", lambda a, b: torch.cat([a, b], dim=1), {"a": s, "b": randn(2, 5, 4, seed=101)}, {"dim": 1})
fx.case("stack/0", lambda a, b: torch.stack([a, b], dim=3), {"a": s, "b": randn(2, 3, 4, seed=102)}, {"dim": 3})
fx.case("split/0", lambda x: torch.split(x, [1, 3], dim=2), {"x": s}, {"sizes": [1, 3], "dim": 2})
fx.case("expand/0", lambda x: x.expand(2, 3, 4), {"x": randn(3, 1, seed=103)}, {"shape": [2, 3, 4]})
fx.case("repeat/0", lambda x: x.repeat(2, 1, 3), {"x": randn(3, 2, seed=104)}, {"repeats": [2, 1, 3]})
fx.case("pad/0", lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), {"x": s}, {"pad": [1, 2, 0, 1], "value": 0.5})
fx.case("pad/crop", lambda x: F.pad(x, (-1, 2, 1, -1)), {"x": s}, {"pad": [-1, 2, 1, -1], "value": 0})
fx.case("flip/0", lambda x: torch.flip(x, [0, 2]), {"x": s}, {"dims": [0, 2]})
gi = torch.tensor([[[0, 2], [1, 1], [3, 0]], [[2, 2], [0, 3], [1, 0]]], dtype=torch.int64)
fx.case("gather/0", lambda x, index: torch.gather(x, 2, index.long()), {"x": s, "index": gi.int()}, {"dim": 2}, grad=["x"])
fx.case("indexSelect/0", lambda x, index: torch.index_select(x, 1, index.long()), {"x": s, "index": torch.tensor([2, 0, 2], dtype=torch.int32)}, {"dim": 1}, grad=["x"])
fx.case("topk/0", lambda x: tuple(torch.topk(x, 2, dim=1)), {"x": s}, {"k": 2, "dim": 1, "largest": True})
fx.case("topk/small", lambda x: tuple(torch.topk(x, 3, dim=-1, largest=False)), {"x": s}, {"k": 3, "dim": -1, "largest": False})
fx.case("sort/0", lambda x: tuple(torch.sort(x, dim=2, descending=True)), {"x": s}, {"dim": 2, "descending": True})

# ---------------------------------------------------------------------------- softmax
sm = randn(2, 3, 5, seed=110)
for d in [0, 1, 2, -1]:
    fx.case(f"softmax/{d}", lambda x, d=d: torch.softmax(x, dim=d), {"x": sm}, {"dim": d})
    fx.case(f"logSoftmax/{d}", lambda x, d=d: torch.log_softmax(x, dim=d), {"x": sm}, {"dim": d})
fx.case("softmax/big", lambda x: torch.softmax(x, dim=1), {"x": randn(4, 17, seed=111) * 4000.0}, {"dim": 1})
fx.case("logSoftmax/big", lambda x: torch.log_softmax(x, dim=1), {"x": randn(4, 17, seed=112) * 4000.0}, {"dim": 1})

# ---------------------------------------------------------------------------- conv2d / convTranspose2d
conv_cases = [
    ("basic", (2, 3, 7, 6), (4, 3, 3, 3), True, dict(stride=1, padding=1, dilation=1, groups=1)),
    ("stride2", (1, 2, 9, 8), (3, 2, 3, 3), True, dict(stride=2, padding=1, dilation=1, groups=1)),
    ("dil3", (1, 2, 11, 10), (2, 2, 3, 3), False, dict(stride=1, padding=3, dilation=3, groups=1)),
    ("groups", (2, 4, 6, 5), (6, 2, 3, 3), True, dict(stride=1, padding=(1, 0), dilation=1, groups=2)),
    ("depthwise", (1, 3, 8, 8), (3, 1, 7, 7), False, dict(stride=1, padding=3, dilation=1, groups=3)),
    ("1x1", (2, 5, 4, 3), (3, 5, 1, 1), True, dict(stride=1, padding=0, dilation=1, groups=1)),
    ("rect", (1, 2, 5, 9), (2, 2, 2, 4), True, dict(stride=(1, 2), padding=(0, 1), dilation=(2, 1), groups=1)),
]
for i, (tag, xs, ws, bias, p) in enumerate(conv_cases):
    x = randn(*xs, seed=120 + i)
    w = randn(*ws, seed=130 + i, scale=0.5)
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()}
    if bias:
        fx.case(f"conv2d/{tag}", lambda x, w, b, p=p: F.conv2d(x, w, b, **p), {"x": x, "w": w, "b": randn(ws[0], seed=140 + i)}, params)
    else:
        fx.case(f"conv2d/{tag}", lambda x, w, p=p: F.conv2d(x, w, None, **p), {"x": x, "w": w}, params)

ct_cases = [
    ("s2", (2, 3, 4, 5), (3, 2, 4, 4), True, dict(stride=2, padding=1, output_padding=0, groups=1, dilation=1)),
    ("outpad", (1, 2, 3, 3), (2, 3, 3, 3), False, dict(stride=2, padding=1, output_padding=1, groups=1, dilation=1)),
    ("groups", (1, 4, 3, 4), (4, 1, 3, 3), True, dict(stride=1, padding=0, output_padding=0, groups=2, dilation=2)),
]
for i, (tag, xs, ws, bias, p) in enumerate(ct_cases):
    x = randn(*xs, seed=150 + i)
    w = randn(*ws, seed=160 + i, scale=0.5)
    params = {k: v for k, v in p.items()}
    cout = ws[1] * p["groups"]
    if bias:
        fx.case(f"convTranspose2d/{tag}", lambda x, w, b, p=p: F.conv_transpose2d(x, w, b, **p), {"x": x, "w": w, "b": randn(cout, seed=170 + i)}, params)
    else:
        fx.case(f"convTranspose2d/{tag}", lambda x, w, p=p: F.conv_transpose2d(x, w, None, **p), {"x": x, "w": w}, params)

fx.save()
