"""PyTorch fixtures for the nn op set: batch/layer/group norm, pooling, interpolate, grid_sample,
cosine similarity, normalize and the losses.

Run: /usr/bin/python3 test/reference/ops_nn.py   (Debian's python3-torch, torch 1.13)
Writes test/fixtures/ops/nn.safetensors. Inputs avoid kinks: no ties inside a max-pool window, no
bilinear sample point on an integer pixel position, no grid point exactly on a clipping border.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import Fixture, rand, randn

torch.manual_seed(0)
fx = Fixture("ops", "nn")


def lst(v):
    return list(v) if isinstance(v, tuple) else v


# ---------------------------------------------------------------------------- batchNorm2d
# The running statistics are cloned inside fn, so that the stored inputs are the values before the
# step; the updated statistics are outputs 1 and 2.
def bn_fn(training, momentum, eps, affine, stats):
    def fn(x, rm=None, rv=None, w=None, b=None):
        rm2 = rm.clone() if rm is not None else None
        rv2 = rv.clone() if rv is not None else None
        y = F.batch_norm(x, rm2, rv2, w, b, training=training, momentum=momentum, eps=eps)
        return (y, rm2, rv2) if stats else y
    return fn


bn_cases = [
    # tag, x shape, training, momentum, eps, affine, running stats
    ("train_affine", (3, 4, 3, 5), True, 0.1, 1e-5, True, True),
    ("train_noaffine", (2, 3, 4, 3), True, 0.1, 1e-5, False, True),
    ("train_nostats", (2, 3, 4, 3), True, 0.1, 1e-5, True, False),
    ("train_momentum", (2, 3, 2, 3), True, 0.3, 1e-3, True, True),
    ("train_rank2", (6, 4), True, 0.1, 1e-5, True, True),
    ("train_rank3", (2, 3, 5), True, 0.1, 1e-5, False, True),
    ("eval_affine", (3, 4, 3, 5), False, 0.1, 1e-5, True, True),
    ("eval_noaffine", (2, 3, 4, 3), False, 0.1, 1e-5, False, True),
]
for i, (tag, xs, training, momentum, eps, affine, stats) in enumerate(bn_cases):
    C = xs[1]
    ins = {"x": randn(*xs, seed=200 + i, scale=2.0) + 0.5}
    if stats:
        ins["rm"] = randn(C, seed=210 + i, scale=0.3)
        ins["rv"] = rand(C, seed=220 + i, lo=0.5, hi=2.0)
    if affine:
        ins["w"] = rand(C, seed=230 + i, lo=0.5, hi=1.5)
        ins["b"] = randn(C, seed=240 + i)
    params = {"training": training, "momentum": momentum, "eps": eps}
    fx.case(f"batchNorm2d/{tag}", bn_fn(training, momentum, eps, affine, stats), ins, params,
            grad=[k for k in ("x", "w", "b") if k in ins])


# The nn.BatchNorm2d module over two training steps, then one eval step: running_mean,
# running_var and num_batches_tracked after training, and the eval output.
def bn_module(momentum):
    def fn(x1, x2, x3, w, b):
        m = nn.BatchNorm2d(x1.shape[1], momentum=momentum).double()
        with torch.no_grad():
            m.weight.copy_(w)
            m.bias.copy_(b)
        m.train()
        m(x1)
        m(x2)
        m.eval()
        y = m(x3)
        return y, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.int().reshape(())
    return fn


for i, momentum in enumerate([0.1, None]):
    fx.case(f"batchNormModule/{'m01' if momentum else 'cumulative'}", bn_module(momentum),
            {"x1": randn(2, 3, 4, 4, seed=250 + i) * 2 + 1, "x2": randn(3, 3, 2, 5, seed=252 + i) - 0.5,
             "x3": randn(2, 3, 3, 3, seed=254 + i), "w": rand(3, seed=256 + i, lo=0.5, hi=1.5), "b": randn(3, seed=258 + i)},
            {"momentum": momentum}, grad=[])


# ---------------------------------------------------------------------------- pooling
def distinct(*shape, seed):
    """A permutation of evenly spaced values: no two elements tie (max-pool windows have one max)."""
    g = torch.Generator().manual_seed(seed)
    n = 1
    for d in shape:
        n *= d
    return (torch.randperm(n, generator=g).double() / n * 4 - 2).reshape(shape)


max_cases = [
    # tag, x shape, kernel, stride, padding, dilation, ceil
    ("k2", (2, 3, 6, 7), 2, None, 0, 1, False),
    ("k3s2p1", (1, 2, 7, 8), 3, 2, 1, 1, False),
    ("ceil", (1, 2, 6, 8), 3, 2, 0, 1, True),
    ("ceil_correction", (1, 1, 5, 5), 2, 2, 1, 1, True),
    ("dilation", (1, 2, 7, 6), 3, 1, 1, 2, False),
    ("dilation_ceil", (1, 2, 8, 9), 2, 2, 1, 3, True),
    ("rect", (2, 2, 5, 7), (2, 3), (1, 2), (1, 0), 1, False),
    ("unbatched", (2, 5, 5), 2, None, 0, 1, False),
]
for i, (tag, xs, k, st, pd, dl, ceil) in enumerate(max_cases):
    fx.case(f"maxPool2d/{tag}", lambda x, k=k, st=st, pd=pd, dl=dl, ceil=ceil: F.max_pool2d(x, k, st, pd, dl, ceil),
            {"x": distinct(*xs, seed=300 + i)}, {"kernelSize": lst(k), "stride": lst(st), "padding": lst(pd), "dilation": dl, "ceilMode": ceil})
fx.case("maxPool2d/indices", lambda x: tuple(o if j == 0 else o.int() for j, o in enumerate(F.max_pool2d(x, 3, 2, 1, 1, True, return_indices=True))),
        {"x": distinct(2, 2, 7, 6, seed=320)}, {"kernelSize": 3, "stride": 2, "padding": 1, "dilation": 1, "ceilMode": True, "returnIndices": True})

avg_cases = [
    # tag, x shape, kernel, stride, padding, ceil, count_include_pad, divisor_override
    ("k2", (2, 3, 6, 7), 2, None, 0, False, True, None),
    ("k3s2p1_include", (1, 2, 7, 8), 3, 2, 1, False, True, None),
    ("k3s2p1_exclude", (1, 2, 7, 8), 3, 2, 1, False, False, None),
    ("ceil_include", (1, 2, 6, 5), 3, 2, 1, True, True, None),
    ("ceil_exclude", (1, 2, 6, 5), 3, 2, 1, True, False, None),
    ("ceil_nopad", (1, 1, 6, 8), 3, 2, 0, True, True, None),
    ("divisor", (1, 2, 6, 5), 3, 2, 1, True, True, 4),
    ("rect", (2, 2, 5, 7), (2, 3), (1, 2), (1, 1), False, False, None),
    ("unbatched", (2, 5, 6), 3, 2, 1, False, True, None),
]
for i, (tag, xs, k, st, pd, ceil, cip, dov) in enumerate(avg_cases):
    fx.case(f"avgPool2d/{tag}", lambda x, k=k, st=st, pd=pd, ceil=ceil, cip=cip, dov=dov: F.avg_pool2d(x, k, st, pd, ceil, cip, dov),
            {"x": randn(*xs, seed=330 + i)}, {"kernelSize": lst(k), "stride": lst(st), "padding": lst(pd), "ceilMode": ceil, "countIncludePad": cip, "divisorOverride": dov})

adaptive_cases = [
    ("3x2", (2, 3, 7, 5), (3, 2)),
    ("1", (2, 3, 4, 5), 1),
    ("keepW", (1, 2, 7, 5), (4, None)),
    ("up", (1, 2, 3, 3), 5),
    ("unbatched", (2, 6, 7), (4, 3)),
]
for i, (tag, xs, o) in enumerate(adaptive_cases):
    fx.case(f"adaptiveAvgPool2d/{tag}", lambda x, o=o: F.adaptive_avg_pool2d(x, o), {"x": randn(*xs, seed=350 + i)}, {"outputSize": lst(o)})


# ---------------------------------------------------------------------------- interpolate
interp_cases = [
    # tag, x shape, kwargs
    ("nearest_size_up", (1, 2, 3, 4), dict(size=(5, 7), mode="nearest")),
    ("nearest_size_down", (1, 2, 5, 7), dict(size=(2, 3), mode="nearest")),
    ("nearest_scale2", (2, 1, 3, 4), dict(scale_factor=2, mode="nearest")),
    ("nearest_scale2.1", (1, 1, 5, 5), dict(scale_factor=2.1, mode="nearest")),
    ("nearest_scale1.5", (1, 2, 4, 3), dict(scale_factor=(1.5, 2.5), mode="nearest")),
    ("nearest_float32_scale", (1, 1, 2, 14), dict(size=(3, 20), mode="nearest")),
    ("bilinear_size_up", (2, 2, 4, 5), dict(size=(7, 9), mode="bilinear", align_corners=False)),
    ("bilinear_size_up_ac", (2, 2, 4, 5), dict(size=(7, 9), mode="bilinear", align_corners=True)),
    ("bilinear_size_down", (1, 2, 7, 5), dict(size=(3, 2), mode="bilinear", align_corners=False)),
    ("bilinear_size_down_ac", (1, 2, 7, 5), dict(size=(3, 2), mode="bilinear", align_corners=True)),
    ("bilinear_scale2", (1, 2, 3, 4), dict(scale_factor=2, mode="bilinear", align_corners=False)),
    ("bilinear_scale1.7", (1, 1, 5, 4), dict(scale_factor=1.7, mode="bilinear", align_corners=False)),
    ("bilinear_scale1.7_recompute", (1, 1, 5, 4), dict(scale_factor=1.7, mode="bilinear", align_corners=False, recompute_scale_factor=True)),
    ("bilinear_scale0.6_ac", (1, 1, 6, 7), dict(scale_factor=0.6, mode="bilinear", align_corners=True)),
    ("bilinear_to1_ac", (1, 2, 4, 3), dict(size=(1, 2), mode="bilinear", align_corners=True)),
]
for i, (tag, xs, kw) in enumerate(interp_cases):
    params = {"size": lst(kw.get("size")), "scaleFactor": lst(kw.get("scale_factor")), "mode": kw["mode"],
              "alignCorners": kw.get("align_corners"), "recomputeScaleFactor": kw.get("recompute_scale_factor")}
    fx.case(f"interpolate/{tag}", lambda x, kw=kw: F.interpolate(x, **kw), {"x": randn(*xs, seed=400 + i)}, params)

# ---------------------------------------------------------------------------- gridSample
# Random grid points in ±1.3 (some beyond the border), never on an integer pixel position or a
# clipping border; x has non-square planes.
k = 0
for mode in ("bilinear", "nearest"):
    for pm in ("zeros", "border", "reflection"):
        for ac in (False, True):
            fx.case(f"gridSample/{mode}_{pm}_{'ac' if ac else 'noac'}",
                    lambda x, grid, mode=mode, pm=pm, ac=ac: F.grid_sample(x, grid, mode=mode, padding_mode=pm, align_corners=ac),
                    {"x": randn(2, 2, 4, 5, seed=450 + k), "grid": rand(2, 3, 4, 2, seed=470 + k, lo=-1.3, hi=1.3)},
                    {"mode": mode, "paddingMode": pm, "alignCorners": ac})
            k += 1
for ac in (False, True):
    # far outside: several reflections
    fx.case(f"gridSample/bilinear_reflection_far_{'ac' if ac else 'noac'}",
            lambda x, grid, ac=ac: F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=ac),
            {"x": randn(1, 2, 3, 4, seed=490 + ac), "grid": rand(1, 2, 5, 2, seed=492 + ac, lo=-4.0, hi=4.0)},
            {"mode": "bilinear", "paddingMode": "reflection", "alignCorners": ac})
fx.case("gridSample/bilinear_zeros_upsample_grid",
        lambda x, grid: F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False),
        {"x": randn(1, 3, 3, 3, seed=495), "grid": rand(1, 6, 5, 2, seed=496, lo=-1.05, hi=1.05)},
        {"mode": "bilinear", "paddingMode": "zeros", "alignCorners": False})


# ---------------------------------------------------------------------------- layerNorm / groupNorm
ln_cases = [
    # tag, x shape, normalized shape, weight, bias, eps
    ("last", (2, 3, 5), (5,), True, True, 1e-5),
    ("last2", (2, 3, 4), (3, 4), True, True, 1e-5),
    ("noaffine", (4, 6), (6,), False, False, 1e-5),
    ("weightonly", (2, 2, 5), (5,), True, False, 1e-6),
    ("biasonly", (3, 4), (4,), False, True, 1e-5),
]
for i, (tag, xs, ns, w, b, eps) in enumerate(ln_cases):
    ins = {"x": randn(*xs, seed=500 + i, scale=1.5) + 0.3}
    if w:
        ins["w"] = randn(*ns, seed=510 + i)
    if b:
        ins["b"] = randn(*ns, seed=520 + i)
    fx.case(f"layerNorm/{tag}", lambda x, w=None, b=None, ns=ns, eps=eps: F.layer_norm(x, ns, w, b, eps), ins, {"normalizedShape": list(ns), "eps": eps})

gn_cases = [
    # tag, x shape, groups, affine
    ("g3", (2, 6, 3, 4), 3, True),
    ("g1", (2, 4, 3, 3), 1, True),
    ("instance", (2, 4, 2, 3), 4, True),
    ("noaffine", (1, 6, 3, 2), 2, False),
    ("rank3", (2, 4, 5), 2, True),
]
for i, (tag, xs, G, affine) in enumerate(gn_cases):
    ins = {"x": randn(*xs, seed=530 + i, scale=2.0) - 0.4}
    if affine:
        ins["w"] = randn(xs[1], seed=540 + i)
        ins["b"] = randn(xs[1], seed=550 + i)
    fx.case(f"groupNorm/{tag}", lambda x, w=None, b=None, G=G: F.group_norm(x, G, w, b, 1e-5), ins, {"numGroups": G})

# ---------------------------------------------------------------------------- cosineSimilarity / normalize
fx.case("cosineSimilarity/2d", lambda a, b: F.cosine_similarity(a, b, dim=1), {"a": randn(3, 5, seed=560), "b": randn(3, 5, seed=561)}, {"dim": 1})
fx.case("cosineSimilarity/3d_last", lambda a, b: F.cosine_similarity(a, b, dim=-1), {"a": randn(2, 4, 3, seed=562), "b": randn(2, 4, 3, seed=563)}, {"dim": -1})
fx.case("cosineSimilarity/broadcast", lambda a, b: F.cosine_similarity(a, b, dim=1), {"a": randn(2, 4, 3, seed=564), "b": randn(4, 1, seed=565)}, {"dim": 1})
fx.case("normalize/d1", lambda x: F.normalize(x, p=2.0, dim=1), {"x": randn(3, 4, seed=570)}, {"dim": 1})
fx.case("normalize/d2", lambda x: F.normalize(x, p=2.0, dim=2), {"x": randn(2, 3, 4, seed=571)}, {"dim": 2})
zero_row = randn(3, 4, seed=572)
zero_row[1] = 0.0
fx.case("normalize/zero_row", lambda x: F.normalize(x, p=2.0, dim=1), {"x": zero_row}, {"dim": 1})


# ---------------------------------------------------------------------------- losses
def away(*shape, seed):
    """Values in ±[0.2, 2]: a difference that is never 0 (the kink of l1)."""
    m = rand(*shape, seed=seed, lo=0.2, hi=2.0)
    return m * torch.where(rand(*shape, seed=seed + 1) > 0.5, 1.0, -1.0).double()


for red in ("mean", "sum", "none"):
    a = randn(3, 4, seed=600)
    fx.case(f"mseLoss/{red}", lambda input, target, red=red: F.mse_loss(input, target, reduction=red), {"input": a, "target": randn(3, 4, seed=601)}, {"reduction": red})
    fx.case(f"l1Loss/{red}", lambda input, target, red=red: F.l1_loss(input, target, reduction=red), {"input": a, "target": a + away(3, 4, seed=602)}, {"reduction": red})


def hrnet_joints_mse(output, target, target_weight, use_target_weight):
    """HRNet's JointsMSELoss (lib/core/loss.py), re-stated: per joint, 0.5·MSE of the weighted heatmaps."""
    B, K = output.shape[:2]
    pred = output.reshape(B, K, -1)
    gt = target.reshape(B, K, -1)
    loss = 0
    for k in range(K):
        p, g = pred[:, k], gt[:, k]
        if use_target_weight:
            w = target_weight[:, k]  # [B, 1]
            loss = loss + 0.5 * F.mse_loss(p * w, g * w)
        else:
            loss = loss + 0.5 * F.mse_loss(p, g)
    return loss / K


tw = rand(2, 3, 1, seed=612, lo=0.2, hi=1.0)
tw[1, 2, 0] = 0.0  # an invisible joint
for use in (True, False):
    fx.case(f"jointsMseLoss/{'weighted' if use else 'unweighted'}", lambda pred, target, tw, use=use: hrnet_joints_mse(pred, target, tw, use),
            {"pred": randn(2, 3, 4, 3, seed=610), "target": rand(2, 3, 4, 3, seed=611), "tw": tw}, {"useTargetWeight": use})
fx.case("jointsMseLoss/batch1", lambda pred, target, tw: hrnet_joints_mse(pred, target, tw, True),
        {"pred": randn(1, 4, 3, 5, seed=613), "target": rand(1, 4, 3, 5, seed=614), "tw": rand(1, 4, 1, seed=615)}, {"useTargetWeight": True})


def ce(red, weight=False, eps=0.0, ignore=-100):
    def fn(x, t, w=None):
        return F.cross_entropy(x, t.long() if not t.is_floating_point() else t, weight=w, reduction=red, ignore_index=ignore, label_smoothing=eps)
    return fn


labels = torch.tensor([2, 0, 3, 1, 3], dtype=torch.int32)
labels_ign = torch.tensor([2, -100, 3, 1, -100], dtype=torch.int32)
labels_nd = torch.tensor([[0, 2, 1], [3, -1, 2]], dtype=torch.int32)  # ignoreIndex -1
cw = rand(4, seed=622, lo=0.5, hi=2.0)
logits = randn(5, 4, seed=620, scale=2.0)
ce_cases = [
    # tag, reduction, weight, smoothing, ignore, target
    ("idx_mean", "mean", False, 0.0, -100, labels),
    ("idx_sum", "sum", False, 0.0, -100, labels),
    ("idx_none", "none", False, 0.0, -100, labels),
    ("idx_ignore_mean", "mean", False, 0.0, -100, labels_ign),
    ("idx_weight_ignore_mean", "mean", True, 0.0, -100, labels_ign),
    ("idx_weight_none", "none", True, 0.0, -100, labels),
    ("idx_smooth_mean", "mean", False, 0.15, -100, labels_ign),
    ("idx_smooth_weight_mean", "mean", True, 0.15, -100, labels_ign),
    ("idx_smooth_weight_sum", "sum", True, 0.1, -100, labels),
    ("idx_smooth_none", "none", False, 0.2, -100, labels_ign),
]
for tag, red, w, eps, ign, t in ce_cases:
    ins = {"x": logits, "t": t}
    if w:
        ins["w"] = cw
    fx.case(f"crossEntropy/{tag}", ce(red, w, eps, ign), ins, {"reduction": red, "labelSmoothing": eps, "ignoreIndex": ign}, grad=["x"])
x_nd = randn(2, 4, 3, seed=623)
fx.case("crossEntropy/nd_ignore_mean", ce("mean", False, 0.0, -1), {"x": x_nd, "t": labels_nd}, {"reduction": "mean", "labelSmoothing": 0.0, "ignoreIndex": -1}, grad=["x"])
fx.case("crossEntropy/nd_weight_smooth_none", ce("none", True, 0.1, -1), {"x": x_nd, "t": labels_nd, "w": cw}, {"reduction": "none", "labelSmoothing": 0.1, "ignoreIndex": -1}, grad=["x"])
fx.case("crossEntropy/unbatched", ce("mean"), {"x": randn(4, seed=624), "t": torch.tensor(2, dtype=torch.int32)}, {"reduction": "mean", "labelSmoothing": 0.0, "ignoreIndex": -100}, grad=["x"])
probs = torch.softmax(randn(5, 4, seed=625), 1)
probs_nd = torch.softmax(randn(2, 4, 3, seed=626), 1)
for tag, red, w, eps, p in [("prob_mean", "mean", False, 0.0, probs), ("prob_sum_weight", "sum", True, 0.0, probs),
                            ("prob_none_smooth", "none", False, 0.2, probs), ("prob_nd_weight_smooth_mean", "mean", True, 0.1, probs_nd)]:
    ins = {"x": logits if p.dim() == 2 else x_nd, "t": p}
    if w:
        ins["w"] = cw
    fx.case(f"crossEntropy/{tag}", ce(red, w, eps), ins, {"reduction": red, "labelSmoothing": eps, "ignoreIndex": -100}, grad=["x", "t"])

fx.save()
