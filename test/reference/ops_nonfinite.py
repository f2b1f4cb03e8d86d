"""PyTorch fixtures for NaN and ±Infinity: what every op returns when its input holds them.

Run: /usr/bin/python3 test/reference/ops_nonfinite.py   (Debian's python3-torch, torch 1.13)
Writes test/fixtures/ops/nonfinite.safetensors: per case, the inputs (float64 holding the values
exactly representable in float32, or int32) and torch's forward outputs computed in float64
(`out`, `out1`, ...) and in float32 (`out32`, `out1_32`, ...). test/ops/nonfinite.test.ts runs every
case on every backend and expects the same NaN positions, the same infinities and the same finite
values (within float32 tolerance), except where docs/architecture.md ("NaN and Inf") states a
deliberate difference.
"""
import json

import torch
import torch.nn.functional as F

from common import FIXTURES, save_safetensors

import os

nan, inf = float("nan"), float("inf")
tensors = {}
cases = []


def case(name, fn, inputs, params=None):
    assert name not in [c["name"] for c in cases], name
    meta = {"name": name, "inputs": {}, "params": params or {}, "outputs": 0}
    outs = {}
    for dt, suffix in ((torch.float64, ""), (torch.float32, "32")):
        ins = {k: (v.to(dt) if v.is_floating_point() else v.long() if k in ("index", "t") else v) for k, v in inputs.items()}
        res = fn(**ins)
        res = list(res) if isinstance(res, (tuple, list)) else [res]
        for i, o in enumerate(res):
            o = o.detach()
            if o.dtype == torch.int64:
                o = o.int()
            if o.dtype == torch.bool:
                o = o.int()
            outs[f"{name}/out{i if i else ''}{'_' + suffix if suffix and i else suffix}"] = o
        meta["outputs"] = len(res)
    for k, v in inputs.items():
        tensors[f"{name}/{k}"] = v.double() if v.is_floating_point() else v.int()
        meta["inputs"][k] = "float64" if v.is_floating_point() else "int32"
    tensors.update(outs)
    cases.append(meta)


def t(*vals, shape=None):
    x = torch.tensor(vals, dtype=torch.float64)
    return x.reshape(shape) if shape else x


X = t(nan, inf, -inf, 0.0, 1.5, -2.0, 0.5, -0.25)
unary = {
    "neg": lambda x: -x, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt,
    "abs": torch.abs, "sign": torch.sign, "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    "erf": torch.erf, "gelu": F.gelu, "geluTanh": lambda x: F.gelu(x, approximate="tanh"),
    "leakyRelu": lambda x: F.leaky_relu(x, 0.1), "elu": lambda x: F.elu(x, 1.0), "silu": F.silu,
    "square": torch.square, "reciprocal": torch.reciprocal, "sin": torch.sin, "cos": torch.cos,
    "floor": torch.floor, "ceil": torch.ceil, "round": torch.round, "clamp": lambda x: torch.clamp(x, -0.5, 0.7),
    "powScalar": lambda x: torch.pow(x, 2.5), "pow0": lambda x: torch.pow(x, 0.0), "pow2": lambda x: torch.pow(x, 2.0),
}
for name, fn in unary.items():
    case(f"unary/{name}", lambda x, fn=fn: fn(x), {"x": X})

A = t(nan, 1.0, inf, -inf, inf, 0.0, nan, 2.0, -inf, 3.0)
B = t(1.0, nan, inf, inf, -inf, 0.0, nan, -inf, 0.0, inf)
binary = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": lambda a, b: torch.pow(a.abs(), b),
    "maximum": torch.maximum, "minimum": torch.minimum, "eq": torch.eq, "ne": torch.ne, "lt": torch.lt,
    "le": torch.le, "gt": torch.gt, "ge": torch.ge,
}
for name, fn in binary.items():
    case(f"binary/{name}", lambda a, b, fn=fn: fn(a, b), {"a": A, "b": B})
case("binary/where", lambda cond, a, b: torch.where(cond > 0, a, b), {"cond": t(1, 0, 1, 0, 1, 0, 1, 0, 1, 0), "a": A, "b": B})
case("binary/maskedFill", lambda x, m: x.masked_fill(m > 0, nan), {"x": A, "m": t(1, 0, 1, 0, 0, 0, 1, 0, 0, 1)})

R = t(1.0, nan, 2.0, -1.0, inf, 0.5, -inf, 2.0, 0.25, -0.5, 3.0, 1.0, inf, inf, 1.0, 2.0, shape=(4, 4))
reds = {
    "sum": lambda x: x.sum(1), "mean": lambda x: x.mean(1), "prod": lambda x: x.prod(1), "max": lambda x: x.amax(1),
    "min": lambda x: x.amin(1), "max0": lambda x: x.amax(0), "min0": lambda x: x.amin(0), "argmax": lambda x: x.argmax(1),
    "argmin": lambda x: x.argmin(1), "argmax0": lambda x: x.argmax(0), "logSumExp": lambda x: torch.logsumexp(x, 1),
    "var": lambda x: x.var(1), "std": lambda x: x.std(1), "cumsum": lambda x: x.cumsum(1), "sumAll": lambda x: x.sum(),
}
for name, fn in reds.items():
    case(f"reduce/{name}", lambda x, fn=fn: fn(x), {"x": R})

S = t(3.0, nan, -inf, 1.0, inf, nan, 0.0, -1.0, 2.0, inf, shape=(1, 10))
S2 = t(nan, 1.0, 2.0, nan, -inf, 5.0, 0.0, inf, shape=(2, 4))
case("sort/asc", lambda x: torch.sort(x, dim=1, stable=True), {"x": S})
case("sort/desc", lambda x: torch.sort(x, dim=1, descending=True, stable=True), {"x": S})
case("sort/asc2", lambda x: torch.sort(x, dim=1, stable=True), {"x": S2})
case("sort/dim0", lambda x: torch.sort(x, dim=0, descending=True, stable=True), {"x": S2})
case("topk/largest", lambda x: torch.topk(x, 4, dim=1), {"x": S})
case("topk/smallest", lambda x: torch.topk(x, 4, dim=1, largest=False), {"x": S})
case("topk/largest2", lambda x: torch.topk(x, 2, dim=1), {"x": S2})
case("topk/smallest2", lambda x: torch.topk(x, 3, dim=1, largest=False), {"x": S2})

SM = t(1.0, nan, 2.0, 0.5, inf, 1.0, 2.0, 3.0, -inf, 1.0, 2.0, 3.0, -inf, -inf, -inf, -inf, shape=(4, 4))
case("softmax/dim1", lambda x: torch.softmax(x[:3], 1), {"x": SM})
case("softmax/log", lambda x: torch.log_softmax(x[:3], 1), {"x": SM})
case("softmax/dim0", lambda x: torch.softmax(x[:3], 0), {"x": SM})

M1 = t(1.0, nan, 2.0, 0.5, 1.0, -1.0, shape=(2, 3))
M2 = t(1.0, 2.0, inf, 0.5, 1.0, -1.0, shape=(3, 2))
case("matmul/nan", lambda a, b: a @ b, {"a": M1, "b": t(1.0, 2.0, 0.5, 0.5, 1.0, -1.0, shape=(3, 2))})
case("matmul/inf", lambda a, b: a @ b, {"a": t(1.0, 2.0, 0.0, 0.5, 1.0, -1.0, shape=(2, 3)), "b": M2})

CX = torch.arange(2 * 5 * 5, dtype=torch.float64).reshape(1, 2, 5, 5) / 10
CX[0, 0, 1, 1] = nan
CX[0, 1, 3, 4] = inf
case("conv/conv2d", lambda x, w: F.conv2d(x, w, padding=1), {"x": CX, "w": torch.linspace(-1, 1, 3 * 2 * 9, dtype=torch.float64).reshape(3, 2, 3, 3)})
case("conv/depthwise", lambda x, w: F.conv2d(x, w, padding=1, groups=2), {"x": CX, "w": torch.linspace(-1, 1, 2 * 9, dtype=torch.float64).reshape(2, 1, 3, 3)})

PX = torch.arange(2 * 6 * 6, dtype=torch.float64).reshape(1, 2, 6, 6) / 7
PX[0, 0, 0, 1] = nan
PX[0, 0, 4, 4] = inf
PX[0, 1, 2, 2] = -inf
PX[0, 1, 5, 0] = nan
case("pool/maxPool2d", lambda x: F.max_pool2d(x, 2, return_indices=True), {"x": PX})
case("pool/maxPool2dOverlap", lambda x: F.max_pool2d(x, 3, stride=1, padding=1), {"x": PX})
case("pool/avgPool2d", lambda x: F.avg_pool2d(x, 2), {"x": PX})
case("pool/adaptiveAvgPool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)), {"x": PX})

IX = torch.arange(2 * 3 * 4, dtype=torch.float64).reshape(1, 2, 3, 4) / 5
IX[0, 0, 1, 2] = inf
IX[0, 1, 0, 0] = nan
IX[0, 1, 2, 3] = -inf
case("interpolate/nearest", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), {"x": IX})
case("interpolate/nearestSize", lambda x: F.interpolate(x, size=(5, 7), mode="nearest"), {"x": IX})
case("interpolate/bilinear", lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), {"x": IX})
case("interpolate/bilinearAC", lambda x: F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=True), {"x": IX})
case("gridSample/x", lambda x, grid: F.grid_sample(x, grid, align_corners=False), {"x": IX, "grid": torch.linspace(-0.9, 0.9, 2 * 3 * 2, dtype=torch.float64).reshape(1, 2, 3, 2)})

NX = t(1.0, 2.0, nan, 0.5, 1.0, inf, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0, shape=(3, 4))
case("norm/layerNorm", lambda x: F.layer_norm(x, (4,)), {"x": NX})
BX = torch.arange(2 * 3 * 4, dtype=torch.float64).reshape(2, 3, 2, 2) / 3
BX[0, 1, 0, 1] = nan
case("norm/batchNorm2d", lambda x: F.batch_norm(x, None, None, training=True), {"x": BX})
case("norm/groupNorm", lambda x: F.group_norm(x, 3), {"x": BX})

q = torch.linspace(-1, 1, 2 * 3 * 4, dtype=torch.float64).reshape(1, 2, 3, 4)
k = torch.linspace(-0.5, 1.5, 2 * 5 * 4, dtype=torch.float64).reshape(1, 2, 5, 4)
v = torch.linspace(1, -1, 2 * 5 * 4, dtype=torch.float64).reshape(1, 2, 5, 4)


def sdpa(q, k, v):
    w = torch.softmax(q @ k.transpose(-1, -2) / 2.0, -1)
    return w @ v


for tag, which, pos, val in [("nanKey", "k", (0, 0, 2, 1), nan), ("infKey", "k", (0, 1, 3, 0), inf), ("negInfKey", "k", (0, 0, 1, 2), -inf),
                             ("nanQuery", "q", (0, 1, 1, 3), nan), ("nanValue", "v", (0, 0, 4, 2), nan), ("infValue", "v", (0, 1, 0, 0), inf)]:
    ins = {"q": q.clone(), "k": k.clone(), "v": v.clone()}
    ins[which][pos] = val
    case(f"attention/{tag}", sdpa, ins)

LX = t(1.0, nan, 0.5, 2.0, 1.0, 0.0, inf, 1.0, 0.0, shape=(3, 3))
case("loss/crossEntropy", lambda x, t: F.cross_entropy(x, t, reduction="none"), {"x": LX, "t": torch.tensor([0, 2, 1], dtype=torch.int32)})
case("loss/mseLoss", lambda a, b: F.mse_loss(a, b, reduction="none"), {"a": A, "b": t(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)})

G = t(nan, 1.0, inf, -inf, 2.0, 3.0, shape=(2, 3))
case("shape/gather", lambda x, index: torch.gather(x, 1, index), {"x": G, "index": torch.tensor([[0, 2, 2], [1, 0, 1]], dtype=torch.int32)})
case("shape/indexSelect", lambda x, index: torch.index_select(x, 1, index), {"x": G, "index": torch.tensor([2, 0], dtype=torch.int32)})
case("shape/moves", lambda x: (x.permute(1, 0), torch.flip(x, [1]), F.pad(x, (1, 1), value=nan), torch.cat([x, x], 0)), {"x": G})

path = os.path.join(FIXTURES, "ops", "nonfinite.safetensors")
save_safetensors(path, tensors, {"cases": json.dumps(cases)})
print(f"wrote {os.path.relpath(path)}: {len(cases)} cases")
