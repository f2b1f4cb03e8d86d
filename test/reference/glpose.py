"""A PyTorch GLPose, written from the paper (Jiao et al., "GLPose: Global-Local Representation Learning
for Human Pose Estimation", ACM TOMM 2022) with the choices posegrad makes where the paper is silent
(docs/models/glpose.md), at posegrad's `tiny` preset, for posegrad's parity test.

Structure (module names = posegrad's state-dict keys):
  backbone             HRNet (official PoseHighResolutionNet names), run up to the stage-3 branch 0
  (no parameters)      W_l = normalized 1/max(|dt|, 1) (Eq. 2); scores s = GAP(V_g)·GAP(V_t), top-n
                       by s, W_g = softmax over the n kept scores (Eq. 3)
  feature_processing   .blocks: 3 torchvision BasicBlocks on cat[V_t, W_l V_l, W_g V_g] (Eq. 4)
  feature_enhancement  .psi: conv3x3-BN-ReLU-conv1x1(->1); .aggregation: 2 BasicBlocks on
                       cat[(1 - sigmoid(psi(V_t))) * S, V_t] (Eq. 5)
  head                 conv3x3 C -> K

Tiny preset: HRNet width 4 (stem 8, layer1 1 Bottleneck of 4 planes, one module per stage, one block
per branch), K = 17, k = 1 (2 local frames), n = 2 kept of G = 3 candidates, 64x64 crops, B = 2.

Run: /usr/bin/python3 test/reference/glpose.py
Writes (seeded, deterministic):
- test/fixtures/models/glpose_tiny.zip.pth     the state dict (torch.save zip format; the float
  tensors are views of one float16 storage)
- test/fixtures/models/glpose_tiny.legacy.pth  the same values, _use_new_zipfile_serialization=False
  (weights and buffers are float16 values, exact in float32 and float64)
- test/fixtures/models/glpose.safetensors      outputs, intermediates, gradients, loss
The input crops are not stored: they are the closed-form pattern `frames()` below, which the TS test
evaluates identically (a checksum is stored to catch any drift).
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import FIXTURES, save_safetensors

B, H, W = 2, 64, 64
K_SIDE, N_KEEP, G = 1, 2, 3
WIDTH, JOINTS = 4, 17
T = 1 + 2 * K_SIDE + G
OFFSETS = [[-1, 1], [-2, 1]]  # per-sample local offsets (sample 1 asymmetric: weights 1/3, 2/3)


# ----------------------------------------------------------------------------- HRNet (official names)
def conv3(cin, cout, stride):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    """torchvision BasicBlock (optional downsample = 1x1 conv + BN)."""

    def __init__(self, cin, cout, downsample=None):
        super().__init__()
        self.conv1, self.bn1 = conv3(cin, cout, 1), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = conv3(cout, cout, 1), nn.BatchNorm2d(cout)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    def __init__(self, inplanes, planes, downsample):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv3(planes, planes, 1), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class HRModule(nn.Module):
    def __init__(self, ch, blocks, multi):
        super().__init__()
        nb = len(ch)
        self.branches = nn.ModuleList([nn.Sequential(*[BasicBlock(c, c) for _ in range(blocks)]) for c in ch])
        fuse = []
        for i in range(nb if multi else 1):
            row = []
            for j in range(nb):
                if j > i:
                    row.append(nn.Sequential(nn.Conv2d(ch[j], ch[i], 1, bias=False), nn.BatchNorm2d(ch[i]), nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                elif j == i:
                    row.append(None)
                else:
                    steps = []
                    for k in range(i - j):
                        if k == i - j - 1:
                            steps.append(nn.Sequential(conv3(ch[j], ch[i], 2), nn.BatchNorm2d(ch[i])))
                        else:
                            steps.append(nn.Sequential(conv3(ch[j], ch[j], 2), nn.BatchNorm2d(ch[j]), nn.ReLU(False)))
                    row.append(nn.Sequential(*steps))
            fuse.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(fuse) if nb > 1 else None

    def forward(self, xs):
        xs = [b(x) for b, x in zip(self.branches, xs)]
        if len(xs) == 1:
            return xs
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, len(xs)):
                y = y + (xs[j] if i == j else row[j](xs[j]))
            out.append(F.relu(y))
        return out


def transition(pre, cur):
    out = []
    for i, c in enumerate(cur):
        if i < len(pre):
            out.append(nn.Sequential(conv3(pre[i], c, 1), nn.BatchNorm2d(c), nn.ReLU()) if c != pre[i] else None)
        else:
            steps = []
            for j in range(i + 1 - len(pre)):
                inc = pre[-1]
                outc = c if j == i - len(pre) else inc
                steps.append(nn.Sequential(conv3(inc, outc, 2), nn.BatchNorm2d(outc), nn.ReLU()))
            out.append(nn.Sequential(*steps))
    return nn.ModuleList(out)


class HRNet(nn.Module):
    """HRNET_PRESETS.tiny: width 4, stem 8, layer1 = 1 Bottleneck (4 planes), modules (1, 1, 1), 1 block."""

    def __init__(self, Wd=WIDTH, K=JOINTS, stem=8, l1planes=4, l1blocks=1, modules=(1, 1, 1), blocks=1):
        super().__init__()
        self.conv1, self.bn1 = conv3(3, stem, 2), nn.BatchNorm2d(stem)
        self.conv2, self.bn2 = conv3(stem, stem, 2), nn.BatchNorm2d(stem)
        l1 = []
        for b in range(l1blocks):
            inc = stem if b == 0 else l1planes * 4
            down = nn.Sequential(nn.Conv2d(inc, l1planes * 4, 1, bias=False), nn.BatchNorm2d(l1planes * 4)) if inc != l1planes * 4 else None
            l1.append(Bottleneck(inc, l1planes, down))
        self.layer1 = nn.Sequential(*l1)
        c2, c3, c4 = [Wd, 2 * Wd], [Wd, 2 * Wd, 4 * Wd], [Wd, 2 * Wd, 4 * Wd, 8 * Wd]
        self.transition1 = transition([l1planes * 4], c2)
        self.stage2 = nn.Sequential(*[HRModule(c2, blocks, True) for _ in range(modules[0])])
        self.transition2 = transition(c2, c3)
        self.stage3 = nn.Sequential(*[HRModule(c3, blocks, True) for _ in range(modules[1])])
        self.transition3 = transition(c3, c4)
        self.stage4 = nn.Sequential(*[HRModule(c4, blocks, m < modules[2] - 1) for m in range(modules[2])])
        self.final_layer = nn.Conv2d(Wd, K, 1)

    @staticmethod
    def trans(t, ys):
        return [m(ys[-1]) if m is not None else ys[i] for i, m in enumerate(t)]

    def stage3_features(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        ys = self.trans(self.transition1, [x])
        for m in self.stage2:
            ys = m(ys)
        ys = self.trans(self.transition2, ys)
        for m in self.stage3:
            ys = m(ys)
        return ys[0]


# ----------------------------------------------------------------------------- GLPose
def block_stack(cin, cout, count):
    blocks = []
    for b in range(count):
        inc = cin if b == 0 else cout
        down = nn.Sequential(nn.Conv2d(inc, cout, 1, bias=False), nn.BatchNorm2d(cout)) if inc != cout else None
        blocks.append(BasicBlock(inc, cout, down))
    return nn.Sequential(*blocks)


class FeatureProcessing(nn.Module):
    def __init__(self, C, frames, Cs, n_blocks=3):
        super().__init__()
        self.blocks = block_stack(C * frames, Cs, n_blocks)

    def forward(self, vt, locals_w, globals_w):
        b, c, h, w = vt.shape
        x = torch.cat([vt, locals_w.reshape(b, -1, h, w), globals_w.reshape(b, -1, h, w)], 1)
        return self.blocks(x)


class FeatureEnhancement(nn.Module):
    def __init__(self, Cs, C, Cout, n_blocks=2):
        super().__init__()
        self.psi = nn.Sequential(nn.Conv2d(C, C, 3, padding=1, bias=False), nn.BatchNorm2d(C), nn.ReLU(), nn.Conv2d(C, 1, 1))
        self.aggregation = block_stack(Cs + C, Cout, n_blocks)

    def forward(self, s, vt):
        mask = 1 - torch.sigmoid(self.psi(vt))
        return self.aggregation(torch.cat([mask * s, vt], 1)), mask


def local_weights(offsets):
    w = torch.tensor([[1 / max(abs(d), 1) for d in row] for row in offsets], dtype=torch.float64)
    return w / w.sum(1, keepdim=True)


class GLPose(nn.Module):
    def __init__(self):
        super().__init__()
        C = WIDTH
        self.backbone = HRNet()
        self.feature_processing = FeatureProcessing(C, 1 + 2 * K_SIDE + N_KEEP, C, 3)
        self.feature_enhancement = FeatureEnhancement(C, C, C, 2)
        self.head = nn.Conv2d(C, JOINTS, 3, padding=1)

    def forward(self, key, locals_, globals_, offsets, keep=None):
        b, L = locals_.shape[:2]
        g = globals_.shape[1]
        crops = torch.cat([key, locals_.reshape(b * L, 3, H, W), globals_.reshape(b * g, 3, H, W)], 0)
        v = self.backbone.stage3_features(crops)  # one batch: key, locals, globals
        _, C, h, w = v.shape
        vt = v[:b]
        vl = v[b:b + b * L].reshape(b, L, C, h, w)
        vg = v[b + b * L:].reshape(b, g, C, h, w)
        wl = local_weights(offsets).to(v.dtype)
        locals_w = vl * wl.reshape(b, L, 1, 1, 1)
        gt = F.adaptive_avg_pool2d(vt, 1).reshape(b, 1, C)
        gg = F.adaptive_avg_pool2d(vg.reshape(b * g, C, h, w), 1).reshape(b, g, C)
        scores = (gg * gt).sum(2)
        idx = scores.detach().topk(N_KEEP, dim=1).indices  # sorted, best first
        wg = torch.softmax(scores.gather(1, idx), 1)
        sel = vg.gather(1, idx.reshape(b, N_KEEP, 1, 1, 1).expand(b, N_KEEP, C, h, w))
        globals_w = sel * wg.reshape(b, N_KEEP, 1, 1, 1)
        s = self.feature_processing(vt, locals_w, globals_w)
        f, mask = self.feature_enhancement(s, vt)
        heat = self.head(f)
        if keep is not None:
            keep.update(vt=vt, s=s, f=f, mask=mask, scores=scores, indices=idx, wg=wg, wl=wl)
        return heat


# ----------------------------------------------------------------------------- data
def frames():
    """The closed-form crops [B, T, 3, H, W] in frames.ts order [key, t-1, t+1, g1, g2, g3], rounded to
    float32 values. The TS test evaluates the same formula."""
    b, t, c, y, x = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in (B, T, 3, H, W)], indexing="ij")
    v = torch.sin(0.13 * x + 0.07 * y * (c + 1) + 1.7 * t + 0.61 * b) * torch.cos(0.05 * (x - y) + 0.3 * c + 0.2 * t) + 0.2 * torch.cos(1.3 * t + 3.1 * b)
    return v.float().double()


def target_of(shape):
    """Gaussian-like heatmap targets and visibility weights (closed form, stored)."""
    b, k, y, x = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in shape], indexing="ij")
    cy = 3 + (k * 5 + b * 3) % 10
    cx = 2 + (k * 7 + b * 5) % 12
    tgt = torch.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 8)
    tw = ((torch.arange(shape[0] * shape[1]) % 5) != 3).double().reshape(shape[0], shape[1], 1)
    return tgt, tw


def upstream(shape):
    """The closed-form upstream gradient for sum(heatmaps * gout) (the TS test evaluates the same)."""
    b, k, y, x = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in shape], indexing="ij")
    return torch.sin(0.37 * x - 0.23 * y + 0.71 * k + 1.1 * b)


def joints_mse(pred, gt, tw):
    b, k = pred.shape[:2]
    p, g = pred.reshape(b, k, -1), gt.reshape(b, k, -1)
    return 0.5 * ((p * tw - g * tw) ** 2).mean()


# ----------------------------------------------------------------------------- weights
def seeded_weights(model):
    """Seeded float16 weights: convs uniform ±√(3/fan_in), biases small, BN γ≈1, β small, running
    mean N(0, 0.2²), running var U(0.5, 1.5). float16 values are exact in float32 and float64."""
    g = torch.Generator().manual_seed(11)
    bn = {n for n, mod in model.named_modules() if isinstance(mod, nn.BatchNorm2d)}
    sd = {}
    for name, t in model.state_dict().items():
        prefix, leaf = name.rsplit(".", 1)
        if leaf == "num_batches_tracked":
            sd[name] = torch.tensor(5, dtype=torch.int64)
            continue
        if prefix in bn:
            v = {"weight": lambda: 1 + 0.2 * torch.randn(t.shape, generator=g), "bias": lambda: 0.1 * torch.randn(t.shape, generator=g),
                 "running_mean": lambda: 0.2 * torch.randn(t.shape, generator=g), "running_var": lambda: 0.5 + torch.rand(t.shape, generator=g)}[leaf]()
        elif t.dim() == 4:
            v = (torch.rand(t.shape, generator=g) * 2 - 1) * math.sqrt(3 / (t.shape[1] * t.shape[2] * t.shape[3]))
        else:
            v = 0.1 * torch.randn(t.shape, generator=g)
        sd[name] = v.half()
    return sd


def one_storage(sd):
    """The same state dict with every float tensor a view into one float16 storage."""
    flat = torch.cat([v.reshape(-1) for v in sd.values() if v.is_floating_point()])
    out, off = {}, 0
    for k, v in sd.items():
        if v.is_floating_point():
            out[k] = flat[off:off + v.numel()].view(v.shape)
            off += v.numel()
        else:
            out[k] = v
    return out


GRAD_PARAMS = ["head.weight", "head.bias", "feature_enhancement.psi.3.weight", "feature_enhancement.psi.0.weight",
               "feature_enhancement.aggregation.0.downsample.0.weight", "feature_processing.blocks.0.downsample.0.weight",
               "feature_processing.blocks.2.bn2.weight", "backbone.conv1.weight", "backbone.stage3.0.fuse_layers.0.2.0.weight"]


def main():
    out_dir = os.path.join(FIXTURES, "models")
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    sd = seeded_weights(GLPose())
    torch.save(one_storage(sd), os.path.join(out_dir, "glpose_tiny.zip.pth"))
    torch.save(sd, os.path.join(out_dir, "glpose_tiny.legacy.pth"), _use_new_zipfile_serialization=False)

    def build():
        m = GLPose()
        m.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in sd.items()})
        return m.double()

    clip = frames()
    Tn = {"clip_checksum": torch.stack([clip.sum(), (clip * clip).sum(), (clip * torch.arange(clip.numel(), dtype=torch.float64).reshape(clip.shape) / clip.numel()).sum()])}
    key = clip[:, 0].clone().requires_grad_(True)
    locs = clip[:, 1:1 + 2 * K_SIDE].clone().requires_grad_(True)
    glob = clip[:, 1 + 2 * K_SIDE:].clone().requires_grad_(True)

    # --- eval mode: heatmaps, intermediates, gradients of sum(heat * gout)
    m = build().eval()
    keep = {}
    heat = m(key, locs, glob, OFFSETS, keep)
    gout = upstream(heat.shape)
    (heat * gout).sum().backward()
    sc = keep["scores"].detach().sort(1, descending=True).values
    print("scores", keep["scores"].detach().numpy(), "indices", keep["indices"].numpy(), "min gap", (sc[:, :-1] - sc[:, 1:]).min().item())
    Tn["eval/heatmaps"] = heat.float()
    for n in ("s", "f", "mask", "scores", "wg", "wl"):
        Tn[f"eval/{n}"] = keep[n]
    Tn["eval/indices"] = keep["indices"].int()
    # input gradients: sample 0's key crop in full (float32), and three projections of every crop's gradient
    Tn["eval/grad_key0"] = key.grad[0].float()
    grads = torch.cat([key.grad.unsqueeze(1), locs.grad, glob.grad], 1)  # [B, T, 3, H, W]
    ramp = torch.arange(3 * H * W, dtype=torch.float64).reshape(3, H, W) / (3 * H * W)
    Tn["eval/grad_proj"] = torch.stack([grads.sum((2, 3, 4)), (grads * ramp).sum((2, 3, 4)), (grads * grads).sum((2, 3, 4))], 2)  # [B, T, 3]
    params = dict(m.named_parameters())
    for n in GRAD_PARAMS:
        Tn[f"eval/pgrad/{n}"] = params[n].grad

    # --- train mode: BatchNorm on batch statistics (the backbone sees all B·T crops as one batch), loss
    m = build().train()
    keep = {}
    heat = m(clip[:, 0], clip[:, 1:1 + 2 * K_SIDE], clip[:, 1 + 2 * K_SIDE:], OFFSETS, keep)
    tgt, tw = target_of(heat.shape)
    loss = joints_mse(heat, tgt, tw)
    loss.backward()
    Tn.update({"train/heatmap_sums": heat.sum((2, 3)), "train/s": keep["s"], "train/indices": keep["indices"].int(), "train/loss": loss.reshape(1), "train/target_weight": tw})
    params = dict(m.named_parameters())
    for n in GRAD_PARAMS:
        Tn[f"train/pgrad/{n}"] = params[n].grad
    bufs = dict(m.named_buffers())
    for n in ("backbone.bn1.running_mean", "backbone.stage3.0.branches.0.0.bn2.running_var", "feature_processing.blocks.0.downsample.1.running_mean", "feature_enhancement.psi.1.running_var"):
        Tn[f"train/after/{n}"] = bufs[n]

    meta = {"B": str(B), "H": str(H), "W": str(W), "offsets": str(OFFSETS)}
    save_safetensors(os.path.join(out_dir, "glpose.safetensors"), {k: v.detach() for k, v in Tn.items()}, meta)
    for f in ("glpose_tiny.zip.pth", "glpose_tiny.legacy.pth", "glpose.safetensors"):
        p = os.path.join(out_dir, f)
        print(f"wrote test/fixtures/models/{f}: {os.path.getsize(p) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
