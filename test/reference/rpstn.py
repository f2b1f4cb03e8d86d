"""PyTorch reference for posegrad's RPSTN (models/rpstn/*.ts).

Run: /usr/bin/python3 test/reference/rpstn.py   (Debian's python3-torch 1.13)
Writes test/fixtures/models/rpstn.safetensors with float64 cases:
- jre_official / jre_clean: the JRE alone (both reshape variants), train mode, with conv_o's BN
  randomized so that every path carries gradient;
- jrpsp: the JRPSP kernel generator;
- dynamic: the per-sample depthwise ("dynamic") convolution of Eq 3, odd and even kernels;
- rpstn_tiny: the whole T-frame network at a tiny size (B=2, T=3, K=5, 64x48 input), in train mode
  (output, input gradient, some parameter gradients, shared running statistics after the step) and
  in eval mode (stored as float32).

The RPSTN module here is written for this test after the official DKD_Network (YHDang/
pose-estimation): same module names (pose_net, fea_ext, conv1x1_reduce_dim, pose_conv1x1_V/U, bn_u,
bn, dkd_param_adapter, non_local_conv2d) and the official JRE parameter layout including its unused
theta/phi convs, so that the TS test also exercises fromOfficialStateDict.

The tiny clip is not stored: both sides compute it from the same formula (`clip_formula`), and
large tensors (weights, inputs, input gradients) are stored as float32 values (weights and inputs
are rounded to float32 before the float64 computation, so they are exact).
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import FIXTURES, save_safetensors
from resnet import BasicBlock, SimpleBaseline


class JRE(nn.Module):
    """Official joint-mode _JREModule(in_channels=K, sub_sample=False, in_split=False, is_joint=True)."""

    def __init__(self, K, official=True):
        super().__init__()
        self.official = official
        self.g = nn.Conv2d(K, K, 1)
        self.W = nn.Sequential(nn.Conv2d(K, K, 1), nn.BatchNorm2d(K))
        nn.init.constant_(self.W[1].weight, 0)
        nn.init.constant_(self.W[1].bias, 0)
        self.theta = nn.Conv2d(K, K, 1)  # registered but never used in joint mode
        self.phi = nn.Conv2d(K, K, 1)

    def forward(self, x):
        B, K, H, W = x.shape
        g_x = self.g(x).view(B, K, -1)
        theta_x = x.view(B, K, -1)
        phi_x = x.view(B, K, -1).permute(0, 2, 1)
        f = torch.matmul(theta_x, phi_x)
        w = F.softmax(f, dim=1)
        y = torch.matmul(w, g_x)
        if self.official:
            y = y.permute(0, 2, 1).contiguous().view(B, K, H, W)
        else:
            y = y.view(B, K, H, W)
        return self.W(y) + x


def jrpsp(C):
    return nn.Sequential(
        nn.Conv2d(C, C, 3, 1, 0), nn.BatchNorm2d(C), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(C, C, 3, 1, 1), nn.BatchNorm2d(C), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(C, C, 3, 1, 1), nn.BatchNorm2d(C), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(C, C, 3, 1, 1), nn.BatchNorm2d(C))


def dynamic_conv(f, k):
    """The official AdaptiveConv2d: one grouped conv over the batch folded into channels."""
    B, C, H, W = f.shape
    kh, kw = k.shape[2:]
    pad = (kh // 2, kw // 2) if kh % 2 and kw % 2 else "same"
    out = F.conv2d(f.reshape(1, B * C, H, W), k.reshape(B * C, 1, kh, kw), None, 1, pad, 1, B * C)
    return out.view(B, C, H, W)


class RPSTN(nn.Module):
    def __init__(self, K, C, trunk):
        super().__init__()
        self.pose_net = SimpleBaseline(BasicBlock, trunk["layers"], trunk["widths"], trunk["stem"], C, K)
        self.fea_ext = SimpleBaseline(BasicBlock, trunk["layers"], trunk["widths"], trunk["stem"], C, None)
        self.conv1x1_reduce_dim = nn.Conv2d(C + K, C, 1, 1)
        self.pose_conv1x1_V = nn.Conv2d(C, C, 1, 1)
        self.pose_conv1x1_U = nn.Conv2d(C, K, 1, 1)
        self.bn_u = nn.BatchNorm2d(K)
        self.bn = nn.BatchNorm2d(C)
        self.dkd_param_adapter = jrpsp(C)
        self.non_local_conv2d = JRE(K)

    def forward(self, x):
        T = x.shape[1]
        x0 = x[:, 0]
        h = self.bn_u(self.non_local_conv2d(self.pose_net(x0)))
        f_prev = self.fea_ext(x0)
        beliefs = [h]
        for t in range(1, T):
            f = self.bn(self.pose_conv1x1_V(self.fea_ext(x[:, t])))
            c = self.bn(self.conv1x1_reduce_dim(torch.cat([h, f_prev], dim=1)))
            k = self.dkd_param_adapter(c)
            m = dynamic_conv(f, k)
            h = self.bn_u(self.pose_conv1x1_U(m))
            h = self.bn_u(self.non_local_conv2d(h))
            beliefs.append(h)
            f_prev = f
        return torch.stack(beliefs, 1)


def clip_formula(B, T, H, W):
    """x[b, t, c, y, x] = sin(0.05·(y+1)·(c+1) + 0.07·x + 0.9·t + 1.3·b) + 0.3·cos(0.011·x·y + c)."""
    b = torch.arange(B, dtype=torch.float64).view(B, 1, 1, 1, 1)
    t = torch.arange(T, dtype=torch.float64).view(1, T, 1, 1, 1)
    c = torch.arange(3, dtype=torch.float64).view(1, 1, 3, 1, 1)
    y = torch.arange(H, dtype=torch.float64).view(1, 1, 1, H, 1)
    xx = torch.arange(W, dtype=torch.float64).view(1, 1, 1, 1, W)
    return torch.sin(0.05 * (y + 1) * (c + 1) + 0.07 * xx + 0.9 * t + 1.3 * b) + 0.3 * torch.cos(0.011 * xx * y + c)


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:
                fan_in = p[0].numel()
                if ".deconv_layers." in "." + name:
                    fan_in = p.shape[0] * p.shape[2] * p.shape[3] // 4
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * (2.0 / fan_in) ** 0.5)
            elif name.endswith("weight"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g, dtype=p.dtype))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))
            p.copy_(p.float().double())
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_((0.2 * torch.randn(b.shape, generator=g, dtype=b.dtype)).float().double())
            elif name.endswith("running_var"):
                b.copy_((0.5 + torch.rand(b.shape, generator=g, dtype=b.dtype)).float().double())


def store_state(tensors, name, model):
    for k, v in model.state_dict().items():
        tensors[f"{name}/state/{k}"] = v.float() if v.is_floating_point() else v.clone()


def run_module_case(tensors, cases, name, model, inputs, seed, store_inputs=True, param_grads=(), full_grad=True):
    """Train-mode forward of model(*inputs) with input grads, plus an eval-mode output."""
    model = model.double()
    randomize(model, seed)
    store_state(tensors, name, model)
    ins = [x.double().float().double().requires_grad_(True) for x in inputs]
    model.train()
    out = model(*ins)
    gout = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64).float().double()
    (out * gout).sum().backward()
    if store_inputs:
        for i, x in enumerate(ins):
            tensors[f"{name}/x{i}"] = x.detach().float()
    tensors[f"{name}/out"] = out.detach()
    tensors[f"{name}/gout"] = gout.float()
    for i, x in enumerate(ins):
        if full_grad:
            tensors[f"{name}/grad_x{i}"] = x.grad.detach().float()
        else:
            # To keep the fixture small: the full gradient of sample 0, channel 0 (every frame),
            # and the sum of the gradient over each (b, t, c) plane.
            tensors[f"{name}/grad_x{i}_b0c0"] = x.grad.detach()[0, :, 0]
            tensors[f"{name}/grad_x{i}_sums"] = x.grad.detach().sum(dim=(-2, -1))
    for k, p in model.named_parameters():
        if k in param_grads:
            tensors[f"{name}/grad/{k}"] = p.grad.detach()
    for k, b in model.named_buffers():
        if k.endswith(("running_mean", "running_var")):
            tensors[f"{name}/after/{k}"] = b.detach().clone()
    model.eval()
    with torch.no_grad():
        tensors[f"{name}/eval_out"] = model(*[x.detach() for x in ins]).float()
    cases.append({"name": name, "inputs": [list(x.shape) for x in ins], "out": list(out.shape)})


class DynamicConv(nn.Module):
    def forward(self, f, k):
        return dynamic_conv(f, k)


def main():
    torch.manual_seed(0)
    tensors, cases = {}, []
    gen = torch.Generator().manual_seed(5)
    # JRE: heatmap-like inputs, positive with one bump per joint
    m = torch.rand(2, 5, 6, 4, generator=gen, dtype=torch.float64)
    run_module_case(tensors, cases, "jre_official", JRE(5, official=True), [m], 100,
                    param_grads=("g.weight", "W.0.weight", "W.1.weight"))
    run_module_case(tensors, cases, "jre_clean", JRE(5, official=False), [m], 100,
                    param_grads=("g.weight", "W.0.weight", "W.1.weight"))
    run_module_case(tensors, cases, "jrpsp", jrpsp(3), [torch.randn(2, 3, 32, 32, generator=gen, dtype=torch.float64)], 200,
                    param_grads=("0.weight", "12.weight", "13.bias"))
    dyn = DynamicConv()
    for tag, ks in (("odd", (3, 3)), ("even", (2, 2)), ("rect", (3, 1))):
        f = torch.randn(2, 3, 7, 6, generator=gen, dtype=torch.float64)
        k = torch.randn(2, 3, *ks, generator=gen, dtype=torch.float64)
        run_module_case(tensors, cases, f"dynamic_{tag}", dyn, [f, k], 300)

    trunk = {"layers": [1, 1, 1, 1], "widths": (4, 4, 8, 8), "stem": 4}
    model = RPSTN(5, 8, trunk)
    clip = clip_formula(2, 3, 64, 48)
    run_module_case(tensors, cases, "rpstn_tiny", model, [clip], 400, store_inputs=False, full_grad=False,
                    param_grads=("pose_net.conv1.weight", "fea_ext.conv1.weight", "conv1x1_reduce_dim.weight",
                                 "dkd_param_adapter.0.weight", "non_local_conv2d.g.weight", "non_local_conv2d.W.1.weight",
                                 "pose_conv1x1_U.bias", "bn.weight", "bn_u.bias"))

    path = os.path.join(FIXTURES, "models", "rpstn.safetensors")
    save_safetensors(path, tensors, {"cases": json.dumps(cases)})
    print(f"wrote {path}: {len(cases)} cases, {os.path.getsize(path) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
