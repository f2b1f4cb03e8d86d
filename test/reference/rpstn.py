"""PyTorch reference for posegrad's RPSTN (models/rpstn/*.ts).

Run: /usr/bin/python3 test/reference/rpstn.py   (Debian's python3-torch 1.13)
Writes
- test/fixtures/models/rpstn.safetensors with float64 cases:
  - jre_official / jre_clean: the JRE alone (both reshape variants), train mode, with conv_o's BN
    randomized so that every path carries gradient;
  - jrpsp: the JRPSP kernel generator;
  - dynamic: the per-sample depthwise ("dynamic") convolution of Eq 3, odd and even kernels;
  - rpstn_tiny: the whole T-frame network at a tiny size (B=2, T=3, K=5, 64x48 input), in train
    mode (output, input gradient, some parameter gradients, shared running statistics after the
    step) and in eval mode (stored as float32). Its weights are not in this file but in:
- test/fixtures/models/rpstn_tiny.pth: the rpstn_tiny weights as the official training saves them,
  `torch.save({'state_dict': nn.DataParallel(model).state_dict()})` (keys prefixed `module.`),
  float32 values.

The RPSTN module here has the official DKD_Network structure (YHDang/pose-estimation,
lib/models/dkd_net.py and pose_resnet.py), so that its state dict has the official keys:
- `pose_net` is a PoseResNet (named children: conv1, bn1, layerN, deconv_layers, final_layer);
- `fea_ext` is get_pose_net(cfg, 'fea_ext'): `nn.Sequential(*list(PoseResNet.children())[:-1])`.
  PoseResNet registers conv1, bn1, relu, maxpool, layer1..4, deconv_layers, final_layer, so the
  keys are numbered: fea_ext.0 = conv1, .1 = bn1, .4-.7 = layer1-4, .8.* = the deconv layers;
- the JRE (`non_local_conv2d`) registers the theta/phi convs that its joint mode never calls;
- conv1x1_reduce_dim, pose_conv1x1_V/U, bn_u, bn, dkd_param_adapter (a numbered Sequential).
Only the widths are posegrad's tiny ones (the official ResNets start at 64 channels).

`--full DIR` writes instead the official structure at the paper's size (pose_net SBL-ResNet-101,
fea_ext SBL-ResNet-50, 256 channels, K = 13; random weights) to DIR/rpstn_official_full.pth and
an eval-mode reference forward on a 1x3x3x256x256 clip (float32 and float64) to
DIR/rpstn_official_full_ref.safetensors (about 400 MB in all; not a fixture).

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
from resnet import BasicBlock, Bottleneck

BN_MOMENTUM = 0.1


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


class PoseResNet(nn.Module):
    """The official PoseResNet (lib/models/pose_resnet.py) with posegrad's tiny widths allowed. The
    children are registered in the official order: conv1, bn1, relu, maxpool, layer1..4,
    deconv_layers, final_layer (get_pose_net cuts the last one for the feature extractor)."""

    def __init__(self, block, layers, widths, stem, deconv_channels, num_joints):
        super().__init__()
        self.inplanes = stem
        self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        mods = []
        for _ in range(3):  # NUM_DECONV_LAYERS 3, kernels 4 (padding 1, output_padding 0), no bias
            mods += [nn.ConvTranspose2d(self.inplanes, deconv_channels, 4, 2, 1, output_padding=0, bias=False),
                     nn.BatchNorm2d(deconv_channels, momentum=BN_MOMENTUM), nn.ReLU(inplace=True)]
            self.inplanes = deconv_channels
        self.deconv_layers = nn.Sequential(*mods)
        self.final_layer = nn.Conv2d(deconv_channels, num_joints, kernel_size=1, stride=1, padding=0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion, momentum=BN_MOMENTUM))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.final_layer(self.deconv_layers(x))


def get_pose_net(name, arch, K):
    """The official get_pose_net without the checkpoint loading: 'pose_init' is the PoseResNet,
    'fea_ext' the numbered Sequential of its children without final_layer."""
    model = PoseResNet(arch["block"], arch["layers"], arch["widths"], arch["stem"], arch["C"], K)
    if name == "fea_ext":
        model = nn.Sequential(*list(model.children())[:-1])
    return model


class RPSTN(nn.Module):
    """The official DKD_Network (lib/models/dkd_net.py): registration order and names as there."""

    def __init__(self, K, pose_arch, fea_arch):
        super().__init__()
        C = fea_arch["C"]
        self.pose_net = get_pose_net("pose_init", pose_arch, K)
        self.fea_ext = get_pose_net("fea_ext", fea_arch, K)
        self.conv1x1_reduce_dim = nn.Conv2d(C + K, C, 1, 1)
        self.pose_conv1x1_V = nn.Conv2d(C, C, 1, 1)
        self.pose_conv1x1_U = nn.Conv2d(C, K, 1, 1)
        self.bn_u = nn.BatchNorm2d(K)
        self.bn = nn.BatchNorm2d(C)
        self.relu = nn.ReLU(inplace=True)
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
    """Seeded float32-valued weights and BN statistics that keep activations O(1) (fan-in scaled
    normals; a transposed conv's fan-in is Cin·k²/4 for stride 2)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, mod in model.named_modules():
            for pname, p in mod.named_parameters(recurse=False):
                if p.dim() > 1:
                    fan_in = p.shape[0] * p.shape[2] * p.shape[3] // 4 if isinstance(mod, nn.ConvTranspose2d) else p[0].numel()
                    p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * (2.0 / fan_in) ** 0.5)
                elif pname == "weight":
                    p.copy_(0.5 + torch.rand(p.shape, generator=g, dtype=p.dtype))
                else:
                    p.copy_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))
                p.copy_(p.float().to(p.dtype))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_((0.2 * torch.randn(b.shape, generator=g, dtype=b.dtype)).float().to(b.dtype))
            elif name.endswith("running_var"):
                b.copy_((0.5 + torch.rand(b.shape, generator=g, dtype=b.dtype)).float().to(b.dtype))


def store_state(tensors, name, model):
    for k, v in model.state_dict().items():
        tensors[f"{name}/state/{k}"] = v.float() if v.is_floating_point() else v.clone()


def run_module_case(tensors, cases, name, model, inputs, seed, store_inputs=True, param_grads=(), full_grad=True, pth=None):
    """Train-mode forward of model(*inputs) with input grads, plus an eval-mode output. The weights
    go into the fixture, or with `pth` into that file as the official training saves them."""
    randomize(model, seed)
    if pth is None:
        store_state(tensors, name, model.double())
    else:
        torch.save({"state_dict": nn.DataParallel(model.float()).state_dict()}, pth)
    model = model.double()
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

    arch = {"block": BasicBlock, "layers": [1, 1, 1, 1], "widths": (4, 4, 8, 8), "stem": 4, "C": 8}
    model = RPSTN(5, arch, arch)
    clip = clip_formula(2, 3, 64, 48)
    pth = os.path.join(FIXTURES, "models", "rpstn_tiny.pth")
    run_module_case(tensors, cases, "rpstn_tiny", model, [clip], 400, store_inputs=False, full_grad=False, pth=pth,
                    param_grads=("pose_net.conv1.weight", "fea_ext.0.weight", "fea_ext.4.0.conv2.weight", "fea_ext.8.0.weight",
                                 "fea_ext.8.4.bias", "conv1x1_reduce_dim.weight", "dkd_param_adapter.0.weight",
                                 "non_local_conv2d.g.weight", "non_local_conv2d.W.1.weight", "pose_conv1x1_U.bias",
                                 "bn.weight", "bn_u.bias"))
    print(f"wrote {pth}: {os.path.getsize(pth) / 1024:.1f} KiB")

    path = os.path.join(FIXTURES, "models", "rpstn.safetensors")
    save_safetensors(path, tensors, {"cases": json.dumps(cases)})
    print(f"wrote {path}: {len(cases)} cases, {os.path.getsize(path) / 1024:.1f} KiB")


def full(out_dir):
    """The official structure at the paper's size, for a one-off measurement (see the file comment)."""
    torch.manual_seed(0)
    K = 13
    pose_arch = {"block": Bottleneck, "layers": [3, 4, 23, 3], "widths": (64, 128, 256, 512), "stem": 64, "C": 256}
    fea_arch = {"block": Bottleneck, "layers": [3, 4, 6, 3], "widths": (64, 128, 256, 512), "stem": 64, "C": 256}
    model = RPSTN(K, pose_arch, fea_arch)
    randomize(model, 7)
    clip = clip_formula(1, 3, 256, 256).float()
    # Random running statistics let 100+ layers overflow float32 in eval mode: calibrate them once on
    # the clip (momentum 1: each BatchNorm keeps the batch statistics of its last call).
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(clip)
    for m in bns:
        m.momentum = BN_MOMENTUM
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "rpstn_official_full.pth")
    torch.save({"state_dict": nn.DataParallel(model).state_dict()}, path)
    out = {}
    with torch.no_grad():
        out["out_f32"] = model(clip)
        out["out_f64"] = model.double()(clip.double())
    save_safetensors(os.path.join(out_dir, "rpstn_official_full_ref.safetensors"), out)
    n = len(model.state_dict())
    print(f"wrote {path}: {n} keys ({sum(1 for k in model.state_dict() if k.startswith('fea_ext.'))} under fea_ext), "
          f"{os.path.getsize(path) / 2**20:.1f} MiB; output {list(out['out_f32'].shape)}")


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 3 and sys.argv[1] == "--full":
        full(sys.argv[2])
    else:
        main()
