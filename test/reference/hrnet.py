"""A PyTorch HRNet (the official PoseHighResolutionNet structure and key names) at a tiny size, for
posegrad's parity test: seeded weights, an input, the heatmaps, the stage-3 and stage-4 features,
and the input gradient of sum(heatmaps * gout).

Run: /usr/bin/python3 test/reference/hrnet.py  -> test/fixtures/models/hrnet_tiny.safetensors
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import FIXTURES, randn, save_safetensors

torch.manual_seed(0)


def conv3(cin, cout, stride):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = conv3(c, c, 1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = conv3(c, c, 1), nn.BatchNorm2d(c)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + x)


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
        self.branches = nn.ModuleList([nn.Sequential(*[BasicBlock(c) for _ in range(blocks)]) for c in ch])
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
    def __init__(self, W=2, K=5, stem=4, l1planes=2, l1blocks=1, modules=(1, 1, 1), blocks=1):
        super().__init__()
        self.conv1, self.bn1 = conv3(3, stem, 2), nn.BatchNorm2d(stem)
        self.conv2, self.bn2 = conv3(stem, stem, 2), nn.BatchNorm2d(stem)
        l1 = []
        for b in range(l1blocks):
            inc = stem if b == 0 else l1planes * 4
            down = nn.Sequential(nn.Conv2d(inc, l1planes * 4, 1, bias=False), nn.BatchNorm2d(l1planes * 4)) if inc != l1planes * 4 else None
            l1.append(Bottleneck(inc, l1planes, down))
        self.layer1 = nn.Sequential(*l1)
        c2, c3, c4 = [W, 2 * W], [W, 2 * W, 4 * W], [W, 2 * W, 4 * W, 8 * W]
        self.transition1 = transition([l1planes * 4], c2)
        self.stage2 = nn.Sequential(*[HRModule(c2, blocks, True) for _ in range(modules[0])])
        self.transition2 = transition(c2, c3)
        self.stage3 = nn.Sequential(*[HRModule(c3, blocks, True) for _ in range(modules[1])])
        self.transition3 = transition(c3, c4)
        self.stage4 = nn.Sequential(*[HRModule(c4, blocks, m < modules[2] - 1) for m in range(modules[2])])
        self.final_layer = nn.Conv2d(W, K, 1)

    def run_stage(self, stage, xs):
        for m in stage:
            xs = m(xs)
        return xs

    def trans(self, t, ys):
        return [m(ys[-1]) if m is not None else ys[i] for i, m in enumerate(t)]

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        ys = self.run_stage(self.stage2, self.trans(self.transition1, [x]))
        ys = self.run_stage(self.stage3, self.trans(self.transition2, ys))
        s3 = ys[0]
        ys = self.run_stage(self.stage4, self.trans(self.transition3, ys))
        return self.final_layer(ys[0]), ys[0], s3


model = HRNet().double()
# Random weights and BN statistics, so that every parameter and buffer matters in the comparison.
g = torch.Generator().manual_seed(1)
with torch.no_grad():
    for name, p in model.named_parameters():
        r = torch.randn(p.shape, generator=g, dtype=torch.float64)
        if p.dim() > 1:
            p.copy_(0.3 * r)
        elif name.endswith("weight"):  # BN gamma
            p.copy_(1 + 0.1 * r)
        else:
            p.copy_(0.1 * r)
    for name, b in model.named_buffers():
        if name.endswith("running_mean"):
            b.copy_(torch.randn(b.shape, generator=g, dtype=torch.float64) * 0.1)
        elif name.endswith("running_var"):
            b.copy_(torch.rand(b.shape, generator=g, dtype=torch.float64) + 0.5)
model.eval()

x = randn(2, 3, 32, 32, seed=5).requires_grad_(True)
heat, feat4, feat3 = model(x)
gout = randn(*heat.shape, seed=6)
(heat * gout).sum().backward()

tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
tensors.update({"x": x.detach(), "heatmaps": heat.detach(), "features4": feat4.detach(), "features3": feat3.detach(), "gout": gout, "grad_x": x.grad})
save_safetensors(f"{FIXTURES}/models/hrnet_tiny.safetensors", tensors, {"config": "W=2 K=5 stem=4 l1planes=2 l1blocks=1 modules=1,1,1 blocks=1", "mode": "eval"})
print("wrote hrnet_tiny.safetensors", len(tensors), "tensors")
