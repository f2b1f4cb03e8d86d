"""PyTorch fixtures for conv2d's per-side padding and fused clamp (ops/conv.ts `padding:
[[top, bottom], [left, right]]`, `clamp: [lo, hi]`).

The reference is the composition PyTorch has no single op for:
    torch.clamp(F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride, 0, dilation, groups), lo, hi)
(TF's explicit padding / 'SAME' with an odd total, then ReLU / ReLU6 / any clamp). Every case is
stored twice: "<tag>/grad" with the gradients of x, w, b (posegrad composes conv2d and clamp when a
gradient is recorded), and "<tag>/fused" without gradients (posegrad fuses the clamp into the conv
kernel). JSON has no Infinity: an open clamp side is null.

Run:  /usr/bin/python3 test/reference/ops_conv_fused.py
Writes test/fixtures/ops/conv-fused.safetensors.
"""
import torch
import torch.nn.functional as F

from common import Fixture, randn

fx = Fixture("ops", "conv-fused")

# tag, x shape, w shape, bias, stride, [[top, bottom], [left, right]], dilation, groups, clamp [lo, hi] (None: open), x scale
cases = [
    # TF 'SAME' at stride 2 on an even map (0 before, 1 after) + ReLU6: MoveNet's stem
    ("same-s2-relu6", (1, 4, 8, 8), (6, 4, 3, 3), True, (2, 2), [[0, 1], [0, 1]], (1, 1), 1, [0, 6], 4.0),
    # depthwise stride 2 on odd/even sizes, ReLU6
    ("depthwise-s2-relu6", (2, 5, 9, 10), (5, 1, 3, 3), True, (2, 2), [[1, 1], [0, 1]], (1, 1), 5, [0, 6], 4.0),
    # depthwise stride 1, lopsided padding, a two-sided clamp
    ("depthwise-s1-lopsided", (1, 3, 7, 6), (3, 1, 3, 3), False, (1, 1), [[2, 0], [1, 3]], (1, 1), 3, [-0.5, 0.5], 1.0),
    # 1x1 (the im2col-free path) with ReLU
    ("pointwise-relu", (2, 6, 5, 7), (8, 6, 1, 1), True, (1, 1), [[0, 0], [0, 0]], (1, 1), 1, [0, None], 1.0),
    # 1x1 with padding on one side only (no longer the im2col-free path)
    ("pointwise-padded", (1, 3, 4, 5), (4, 3, 1, 1), True, (1, 1), [[0, 2], [1, 0]], (1, 1), 1, None, 1.0),
    # grouped, dilated, rectangular stride, upper clamp only, no bias
    ("grouped-dilated", (1, 4, 9, 8), (6, 2, 3, 2), False, (1, 2), [[3, 1], [0, 2]], (2, 1), 2, [None, 0.25], 1.0),
    # padding larger than the kernel: whole output rows read only padding (bias alone, clamped)
    ("wide-padding", (1, 3, 4, 5), (5, 3, 2, 2), True, (1, 1), [[3, 0], [0, 4]], (1, 1), 1, [-1, 1], 2.0),
    # asymmetric padding without a clamp
    ("asymmetric-only", (2, 3, 6, 5), (4, 3, 2, 2), True, (1, 1), [[0, 1], [1, 0]], (1, 1), 1, None, 1.0),
]

for i, (tag, xs, ws, bias, stride, pads, dilation, groups, clamp, scale) in enumerate(cases):
    x = randn(*xs, seed=300 + i, scale=scale)
    w = randn(*ws, seed=320 + i, scale=0.5)
    (top, bottom), (left, right) = pads
    params = {"stride": list(stride), "padding": pads, "dilation": list(dilation), "groups": groups, "clamp": clamp}

    def fn(x, w, b=None, stride=stride, top=top, bottom=bottom, left=left, right=right, dilation=dilation, groups=groups, clamp=clamp):
        y = F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride=stride, padding=0, dilation=dilation, groups=groups)
        return y if clamp is None else torch.clamp(y, min=clamp[0], max=clamp[1])

    ins = {"x": x, "w": w}
    if bias:
        ins["b"] = randn(ws[0], seed=340 + i)
    fx.case(f"{tag}/grad", fn, ins, params)
    fx.case(f"{tag}/fused", fn, ins, params, grad=[])

fx.save()
