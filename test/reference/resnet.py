"""PyTorch reference for posegrad's ResNet and SimpleBaseline (models/backbones/resnet.ts).

Run: /usr/bin/python3 test/reference/resnet.py   (Debian's python3-torch 1.13 + torchvision 0.14)
Writes test/fixtures/models/resnet.safetensors:
- for each tiny configuration: seeded weights (float32 values, used in float64) (every parameter and buffer of the state
  dict, BN statistics randomized), an input, the output in training mode (batch statistics), a
  random upstream gradient `gout`, the gradients of sum(out * gout) for the input and every
  parameter, the running statistics after the step, and an eval-mode output;
- the state-dict keys and shapes of torchvision's resnet18 and resnet50, to check the naming.

The modules below are written here (not torchvision's) because the tiny configurations use
narrower stages than torchvision allows; the keys follow torchvision and the official
SimpleBaseline (PoseResNet): conv1, bn1, layerN.i.{conv,bn}k, downsample.{0,1}, deconv_layers.N,
final_layer.
"""
import json

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from common import FIXTURES, save_safetensors
import os


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        idt = self.downsample(x) if self.downsample is not None else x
        return F.relu(out + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # stride on the 3x3 (v1.5)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        idt = self.downsample(x) if self.downsample is not None else x
        return F.relu(out + idt)


class ResNet(nn.Module):
    def __init__(self, block, layers, widths=(64, 128, 256, 512), stem=64):
        super().__init__()
        self.inplanes = stem
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, widths[0], layers[0], 1)
        self.layer2 = self._make_layer(block, widths[1], layers[1], 2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], 2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], 2)

    def _make_layer(self, block, planes, blocks, stride):
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                 nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, down)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def features(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x):
        return self.features(x)


class SimpleBaseline(ResNet):
    """Official PoseResNet: trunk + 3 x [ConvTranspose2d 4x4/2 pad 1 (no bias), BN, ReLU] + final_layer."""

    def __init__(self, block, layers, widths, stem, deconv_channels, num_joints, num_deconv=3):
        super().__init__(block, layers, widths, stem)
        mods = []
        cin = self.inplanes
        for _ in range(num_deconv):
            mods += [nn.ConvTranspose2d(cin, deconv_channels, 4, 2, 1, output_padding=0, bias=False),
                     nn.BatchNorm2d(deconv_channels), nn.ReLU(inplace=True)]
            cin = deconv_channels
        self.deconv_layers = nn.Sequential(*mods)
        self.final_layer = nn.Conv2d(cin, num_joints, 1, 1, 0) if num_joints else None

    def forward(self, x):
        x = self.deconv_layers(self.features(x))
        return self.final_layer(x) if self.final_layer is not None else x


def randomize(model, seed):
    """Seeded weights and BN statistics that keep activations O(1) (fan-in scaled normals)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:
                fan_in = p[0].numel() if not name.startswith("deconv_layers") else p.shape[0] * p.shape[2] * p.shape[3] // 4
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * (2.0 / fan_in) ** 0.5)
            elif name.endswith("weight"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g, dtype=p.dtype))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.2 * torch.randn(b.shape, generator=g, dtype=b.dtype))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g, dtype=b.dtype))
            elif name.endswith("num_batches_tracked"):
                b.fill_(3)


def record_case(tensors, cases, name, model, x, seed):
    """Stores the state dict, a train-mode step (output, grads, updated statistics) and an eval output."""
    model = model.double()
    randomize(model, seed)
    # Weights and inputs are rounded to float32 values and stored as F32 (half the bytes); the
    # float64 reference computation then sees exactly the stored values.
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                v.copy_(v.float().double())
    for k, v in model.state_dict().items():
        tensors[f"{name}/state/{k}"] = v.float() if v.is_floating_point() else v.clone()
    x = x.float().double().requires_grad_(True)
    model.train()
    out = model(x)
    gout = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64).float().double()
    (out * gout).sum().backward()
    tensors[f"{name}/x"] = x.detach().float()
    tensors[f"{name}/out"] = out.detach()
    tensors[f"{name}/gout"] = gout.float()
    # stored as float32 values (compared with a relative tolerance of 1e-6 in float64 runs)
    tensors[f"{name}/grad_x"] = x.grad.detach().float()
    # Parameter gradients of the first and last layers (the weight-gradient kernels are checked
    # in depth by the op tests; these confirm the wiring through the module tree).
    for k, p in model.named_parameters():
        if k.split(".")[0] in ("conv1", "bn1", "final_layer") or k.startswith(("layer1.0.conv1", "deconv_layers.0", "layer4.0.downsample")):
            tensors[f"{name}/grad/{k}"] = p.grad.detach()
    for k, b in model.named_buffers():
        tensors[f"{name}/after/{k}"] = b.detach().clone()
    model.eval()
    with torch.no_grad():
        tensors[f"{name}/eval_out"] = model(x.detach())
    cases.append({"name": name, "shape": list(x.shape), "out": list(out.shape)})


def main():
    torch.manual_seed(0)
    tensors, cases = {}, []
    x1 = torch.randn(2, 3, 32, 24, generator=torch.Generator().manual_seed(1))
    record_case(tensors, cases, "basic", ResNet(BasicBlock, [2, 1, 1, 1], (4, 6, 8, 8), 4), x1, 10)
    record_case(tensors, cases, "bottleneck", ResNet(Bottleneck, [1, 2, 1, 1], (2, 3, 4, 4), 4), x1, 20)
    record_case(tensors, cases, "simplebaseline", SimpleBaseline(BasicBlock, [1, 1, 1, 1], (4, 8, 8, 8), 4, 8, 5), x1, 30)
    record_case(tensors, cases, "simplebaseline_nohead", SimpleBaseline(Bottleneck, [1, 1, 1, 1], (2, 2, 4, 4), 4, 6, None),
                torch.randn(1, 3, 40, 40, generator=torch.Generator().manual_seed(2)), 40)

    keys = {}
    for arch in ("resnet18", "resnet50"):
        m = getattr(torchvision.models, arch)()
        keys[arch] = [[k, list(v.shape)] for k, v in m.state_dict().items()]
    path = os.path.join(FIXTURES, "models", "resnet.safetensors")
    save_safetensors(path, tensors, {"cases": json.dumps(cases), "torchvision_keys": json.dumps(keys)})
    print(f"wrote {path}: {len(cases)} cases, {os.path.getsize(path) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
