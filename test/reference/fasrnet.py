"""A PyTorch FaSRnet, written from the paper and the official code's structure (Elvis-Aron/FaSRnet:
FaSRnet.py, layers/pcda.py, layers/RSN_model.py, layers/basic_model.py, backbones/hrnet.py) with the
official module and parameter names, at posegrad's `tiny` preset, for posegrad's parity test.

The deformable convolutions use torchvision.ops.deform_conv2d (the official code uses the DCNv2
CUDA extension, whose offset layout is the same). The official offset-padding quirk (FRM DCNs whose
offset conv is padded by d with dilation 1, read with H·W strides) is reproduced in both of its
forms: 'batch' (the official forward: the batch's buffer read flat) and 'sample' (per sample).

Run: /usr/bin/python3 test/reference/fasrnet.py
Writes (seeded, deterministic):
- test/fixtures/models/fasrnet_tiny.zip.pth     the state dict, torch.save zip format (all tensors
  views of one storage, see `shared_storage`)
- test/fixtures/models/fasrnet_tiny.legacy.pth  the same values, _use_new_zipfile_serialization=False,
  one storage per tensor (as DCPose's checkpoints)
  (weights and buffers stored as float16 to keep the files small; the values are exactly
  representable in float32/float64, so the float64 comparison stays exact)
- test/fixtures/models/fasrnet.safetensors      outputs, intermediate features, gradients, loss.
Re-running rewrites the legacy file with different bytes but the same content: torch's legacy
format names each storage by its memory address. The input clip is not stored: it is the closed-form pattern `clip()` below, which the TS test
evaluates identically (a checksum is stored to catch any drift).
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import deform_conv2d

from common import FIXTURES, save_safetensors

torch.manual_seed(0)

# ----------------------------------------------------------------------------- the tiny preset
K = 4  # joints
WIDTH = 4  # HRNet width = FRM feature channels
STEM, L1_PLANES = 8, 4
PRF_INNER, PRF_BLOCKS, PTM_BLOCKS, COMB_INNER, COMB_BLOCKS = 8, 2, 1, 8, 2
B, H, W = 2, 64, 64


# ----------------------------------------------------------------------------- HRNet (official names)
class BasicBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + x)


class Bottleneck(nn.Module):
    def __init__(self, cin, planes):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4)) if cin != planes * 4 else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class Upsample(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.f, mode="nearest")


class HRModule(nn.Module):
    def __init__(self, ch, multi):
        super().__init__()
        nb = len(ch)
        self.branches = nn.ModuleList([nn.Sequential(BasicBlock(c)) for c in ch])
        rows = []
        for i in range(nb if multi else 1):
            row = []
            for j in range(nb):
                if j > i:
                    row.append(nn.Sequential(nn.Conv2d(ch[j], ch[i], 1, bias=False), nn.BatchNorm2d(ch[i]), Upsample(2 ** (j - i))))
                elif j == i:
                    row.append(None)
                else:
                    steps = []
                    for k in range(i - j):
                        if k == i - j - 1:
                            steps.append(nn.Sequential(nn.Conv2d(ch[j], ch[i], 3, 2, 1, bias=False), nn.BatchNorm2d(ch[i])))
                        else:
                            steps.append(nn.Sequential(nn.Conv2d(ch[j], ch[j], 3, 2, 1, bias=False), nn.BatchNorm2d(ch[j]), nn.ReLU()))
                    row.append(nn.Sequential(*steps))
            rows.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(rows)

    def forward(self, xs):
        xs = [b(x) for b, x in zip(self.branches, xs)]
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, len(xs)):
                y = y + (xs[j] if i == j else row[j](xs[j]))
            out.append(F.relu(y))
        return out


def transition(pre, cur):
    layers = []
    for i, c in enumerate(cur):
        if i < len(pre):
            layers.append(nn.Sequential(nn.Conv2d(pre[i], c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()) if c != pre[i] else None)
        else:
            steps = []
            for j in range(i + 1 - len(pre)):
                cin = pre[-1]
                cout = c if j == i - len(pre) else cin
                steps.append(nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()))
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class HRNet(nn.Module):
    """Official PoseHighResolutionNet at HRNET_PRESETS.tiny: one module per stage, one block per branch."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, STEM, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM)
        self.conv2 = nn.Conv2d(STEM, STEM, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(STEM)
        self.layer1 = nn.Sequential(Bottleneck(STEM, L1_PLANES))
        c2, c3, c4 = [WIDTH, 2 * WIDTH], [WIDTH, 2 * WIDTH, 4 * WIDTH], [WIDTH, 2 * WIDTH, 4 * WIDTH, 8 * WIDTH]
        self.transition1 = transition([4 * L1_PLANES], c2)
        self.stage2 = nn.Sequential(HRModule(c2, True))
        self.transition2 = transition(c2, c3)
        self.stage3 = nn.Sequential(HRModule(c3, True))
        self.transition3 = transition(c3, c4)
        self.stage4 = nn.Sequential(HRModule(c4, False))
        self.final_layer = nn.Conv2d(WIDTH, K, 1)

    @staticmethod
    def _trans(t, ys):
        return [m(ys[-1]) if m is not None else ys[i] for i, m in enumerate(t)]

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.layer1(y)
        ys = self.stage2[0](self._trans(self.transition1, [y]))
        ys = self.stage3[0](self._trans(self.transition2, ys))
        ys = self.stage4[0](self._trans(self.transition3, ys))
        return self.final_layer(ys[0]), ys[0]  # (heatmaps, features), as the official USE_F_HM


# ----------------------------------------------------------------------------- FRM
def cat_alignment(a, b):
    """The official channel-interleaving concatenation: [a0, b0, a1, b1, ...]."""
    return torch.stack([a, b], 2).reshape(a.shape[0], 2 * a.shape[1], *a.shape[2:])


class DCN_2(nn.Module):
    """DCN_2 of pcda.py: weight, bias, conv_offset_mask (3x3, dilation 1, padding 1 or d)."""

    quirk = "off"

    def __init__(self, cin, cout, dilation):
        super().__init__()
        self.dilation = dilation
        self.weight = nn.Parameter(torch.empty(cout, cin, 3, 3))
        self.bias = nn.Parameter(torch.empty(cout))
        pad = 1 if DCN_2.quirk == "off" else dilation
        self.conv_offset_mask = nn.Conv2d(cin, 27, 3, 1, pad)

    def forward(self, x, feat):
        out = self.conv_offset_mask(feat)
        o1, o2, m = torch.chunk(out, 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        mask = torch.sigmoid(m)
        b, _, ho, wo = x.shape  # stride 1, padding d, dilation d: same size
        if offset.shape[2:] != (ho, wo):
            if DCN_2.quirk == "batch":
                offset = offset.reshape(-1)[: b * 18 * ho * wo].reshape(b, 18, ho, wo)
                mask = mask.reshape(-1)[: b * 9 * ho * wo].reshape(b, 9, ho, wo)
            else:
                offset = offset.reshape(b, -1)[:, : 18 * ho * wo].reshape(b, 18, ho, wo)
                mask = mask.reshape(b, -1)[:, : 9 * ho * wo].reshape(b, 9, ho, wo)
        d = self.dilation
        return deform_conv2d(x, offset, self.weight, self.bias, padding=(d, d), dilation=(d, d), mask=mask)


def conv3(cin, cout):
    return nn.Conv2d(cin, cout, 3, 1, 1)


class PCDAlignment_3(nn.Module):
    def __init__(self, c, dilations=(5, 3, 1)):
        super().__init__()
        self.offset_conv1, self.offset_conv2, self.offset_conv3 = nn.ModuleDict(), nn.ModuleDict(), nn.ModuleDict()
        self.dcn_pack, self.feat_conv = nn.ModuleDict(), nn.ModuleDict()
        n = len(dilations)
        self.levels = [f"l{n - b}" for b in range(n)]
        for b, lv in enumerate(self.levels):
            self.offset_conv1[lv] = conv3(2 * c, c)
            self.offset_conv2[lv] = conv3(c if b == 0 else 2 * c, c)
            if b > 0:
                self.offset_conv3[lv] = conv3(c, c)
            self.dcn_pack[lv] = DCN_2(c, c, dilations[b])
            if b > 0:
                self.feat_conv[lv] = conv3(2 * c, c)
        self.cas_offset_conv1 = conv3(2 * c, c)
        self.cas_offset_conv2 = conv3(c, c)
        self.cas_dcnpack = DCN_2(c, c, 1)

    def forward(self, nbr, ref):
        lrelu = lambda t: F.leaky_relu(t, 0.1)
        o_prev = a_prev = None
        n = len(self.levels)
        for b, lv in enumerate(self.levels):
            o = lrelu(self.offset_conv1[lv](cat_alignment(nbr, ref)))
            if b == 0:
                o = lrelu(self.offset_conv2[lv](o))
            else:
                o = lrelu(self.offset_conv3[lv](lrelu(self.offset_conv2[lv](cat_alignment(o, o_prev)))))
            a = self.dcn_pack[lv](nbr, o)
            if b > 0:
                a = self.feat_conv[lv](cat_alignment(a, a_prev))
            if b < n - 1:
                a = lrelu(a)
            o_prev, a_prev = o, a
        oc = lrelu(self.cas_offset_conv2(lrelu(self.cas_offset_conv1(cat_alignment(a_prev, ref)))))
        return lrelu(self.cas_dcnpack(a_prev, oc))


class TSAFusion(nn.Module):
    def __init__(self, c, t=3, center=1):
        super().__init__()
        self.center = center
        self.temporal_attn1 = conv3(c, c)
        self.temporal_attn2 = conv3(c, c)
        self.feat_fusion = nn.Conv2d(t * c, c, 1)
        self.spatial_attn1 = nn.Conv2d(t * c, c, 1)
        self.spatial_attn2 = nn.Conv2d(2 * c, c, 1)
        self.spatial_attn3 = conv3(c, c)
        self.spatial_attn4 = nn.Conv2d(c, c, 1)
        self.spatial_attn5 = conv3(c, c)
        self.spatial_attn_l1 = nn.Conv2d(c, c, 1)
        self.spatial_attn_l2 = conv3(2 * c, c)
        self.spatial_attn_l3 = conv3(c, c)
        self.spatial_attn_add1 = nn.Conv2d(c, c, 1)
        self.spatial_attn_add2 = nn.Conv2d(c, c, 1)

    def forward(self, aligned):  # (b, t, c, h, w)
        lrelu = lambda t: F.leaky_relu(t, 0.1)
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)
        b, t, c, h, w = aligned.shape
        e_ref = self.temporal_attn1(aligned[:, self.center])
        emb = self.temporal_attn2(aligned.reshape(-1, c, h, w)).reshape(b, t, -1, h, w)
        corr = torch.sigmoid(torch.cat([torch.sum(emb[:, i] * e_ref, 1, keepdim=True) for i in range(t)], 1))
        corr = corr.unsqueeze(2).expand(b, t, c, h, w).reshape(b, -1, h, w)
        aligned = aligned.reshape(b, -1, h, w) * corr
        feat = lrelu(self.feat_fusion(aligned))
        pool = lambda x: torch.cat([F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 3, 2, 1)], 1)
        attn = lrelu(self.spatial_attn1(aligned))
        attn = lrelu(self.spatial_attn2(pool(attn)))
        lv = lrelu(self.spatial_attn_l1(attn))
        lv = lrelu(self.spatial_attn_l2(pool(lv)))
        lv = up(lrelu(self.spatial_attn_l3(lv)))
        attn = lrelu(self.spatial_attn3(attn)) + lv
        attn = up(lrelu(self.spatial_attn4(attn)))
        attn = self.spatial_attn5(attn)
        add = self.spatial_attn_add2(lrelu(self.spatial_attn_add1(attn)))
        return feat * torch.sigmoid(attn) * 2 + add


# ----------------------------------------------------------------------------- SRM
class conv_bn_relu(nn.Module):
    def __init__(self, cin, cout, k, p, has_relu=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, 1, p)
        self.bn = nn.BatchNorm2d(cout)
        self.has_relu = has_relu

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.relu(x) if self.has_relu else x


class RSB_BLOCK(nn.Module):
    def __init__(self, cin, planes, downsample=None):
        super().__init__()
        br = self.br = cin * 26 // 64
        self.conv_bn_relu1 = conv_bn_relu(cin, 4 * br, 1, 0)
        for n in ["2_1_1", "2_2_1", "2_2_2", "2_3_1", "2_3_2", "2_3_3", "2_4_1", "2_4_2", "2_4_3", "2_4_4"]:
            setattr(self, f"conv_bn_relu{n}", conv_bn_relu(br, br, 3, 1))
        self.conv_bn_relu3 = conv_bn_relu(4 * br, planes, 1, 0, False)
        self.downsample = downsample

    def forward(self, x):
        s = torch.split(self.conv_bn_relu1(x), self.br, 1)
        o11 = self.conv_bn_relu2_1_1(s[0])
        o21 = self.conv_bn_relu2_2_1(s[1] + o11)
        o22 = self.conv_bn_relu2_2_2(o21)
        o31 = self.conv_bn_relu2_3_1(s[2] + o21)
        o32 = self.conv_bn_relu2_3_2(o31 + o22)
        o33 = self.conv_bn_relu2_3_3(o32)
        o41 = self.conv_bn_relu2_4_1(s[3] + o31)
        o42 = self.conv_bn_relu2_4_2(o41 + o32)
        o43 = self.conv_bn_relu2_4_3(o42 + o33)
        o44 = self.conv_bn_relu2_4_4(o43)
        out = self.conv_bn_relu3(torch.cat((o11, o22, o33, o44), 1))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class CHAIN_RSB_BLOCKS(nn.Module):
    def __init__(self, cin, cout, n):
        super().__init__()
        layers = [RSB_BLOCK(cin, cout, conv_bn_relu(cin, cout, 1, 0, False))]
        layers += [RSB_BLOCK(cout, cout) for _ in range(1, n)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


class DeformableCONV(nn.Module):
    class DCNv2(nn.Module):
        def __init__(self, k, d):
            super().__init__()
            self.d = d
            self.weight = nn.Parameter(torch.empty(k, k, 3, 3))
            self.bias = nn.Parameter(torch.empty(k))

        def forward(self, x, offsets, mask):
            return deform_conv2d(x, offsets, self.weight, self.bias, padding=(self.d, self.d), dilation=(self.d, self.d), mask=mask)

    def __init__(self, k, d):
        super().__init__()
        self.deform_conv = DeformableCONV.DCNv2(k, d)

    def forward(self, x, offsets, mask):
        return self.deform_conv(x, offsets, mask)


def per_joint(parts):
    return torch.stack(parts, 2).reshape(parts[0].shape[0], len(parts) * parts[0].shape[1], *parts[0].shape[2:])


class net2(nn.Module):
    def __init__(self, dilations=(1,)):
        super().__init__()
        self.dilations = dilations
        self.diff_temporal_fuse = CHAIN_RSB_BLOCKS(4 * K, PRF_INNER, PRF_BLOCKS)
        self.support_temporal_fuse = CHAIN_RSB_BLOCKS(3 * K, K, PTM_BLOCKS)
        self.offset_mask_combine_conv = CHAIN_RSB_BLOCKS(PRF_INNER + K, COMB_INNER, COMB_BLOCKS)
        self.offsets_list = nn.ModuleList([nn.Sequential(nn.Conv2d(COMB_INNER, 18 * K, 3, 1, d, d, bias=False)) for d in dilations])
        self.masks_list = nn.ModuleList([nn.Sequential(nn.Conv2d(COMB_INNER, 9 * K, 3, 1, d, d, bias=False)) for d in dilations])
        self.modulated_deform_conv_list = nn.ModuleList([DeformableCONV(K, d) for d in dilations])

    def forward(self, hr, hp, hn, wp, wn):
        wp, wn = wp.reshape(-1, 1, 1, 1), wn.reshape(-1, 1, 1, 1)
        da, db = hr - hp, hr - hn
        diff = self.diff_temporal_fuse(per_joint([da, da * wp, db, db * wn]))
        support = self.support_temporal_fuse(per_joint([hr, hp * wp, hn * wn]))
        f = self.offset_mask_combine_conv(torch.cat([diff, support], 1))
        out = None
        for i in range(len(self.dilations)):
            warped = self.modulated_deform_conv_list[i](support, self.offsets_list[i](f), self.masks_list[i](f))
            out = warped if out is None else out + warped
        return out


class FaSRnet(nn.Module):
    def __init__(self, order="paper"):
        super().__init__()
        self.order = order
        self.rough_pose_estimation_net = HRNet()
        self.pcda_p = PCDAlignment_3(WIDTH)
        self.pcda_n = PCDAlignment_3(WIDTH)
        self.TSA_Fusion = TSAFusion(WIDTH)
        self.final_layer = nn.Conv2d(WIDTH, K, 1)
        self.hm_improve = net2()

    def backbone(self, cur, prev, nxt):
        hm, feat = self.rough_pose_estimation_net(torch.cat([cur, prev, nxt], 0))
        return feat.split(cur.shape[0], 0), hm.split(cur.shape[0], 0)

    def head(self, fc, fp, fn, hp, hn, wp, wn, keep=None):
        if self.order == "official":
            pa, na = self.pcda_p(fc, fp), self.pcda_n(fc, fn)
        else:
            pa, na = self.pcda_p(fp, fc), self.pcda_n(fn, fc)
        fused = self.TSA_Fusion(torch.stack([pa, fc, na], 1))
        hr = self.final_layer(fused)
        hf = self.hm_improve(hr, hp, hn, wp, wn)
        if keep is not None:
            keep.update(prevA=pa, nextA=na, fused=fused)
        return hr, hf


def joints_mse(pred, gt, w):
    b, k = pred.shape[:2]
    p, g = pred.reshape(b, k, -1), gt.reshape(b, k, -1)
    return 0.5 * ((p * w - g * w) ** 2).mean()


# ----------------------------------------------------------------------------- the input clip
def clip():
    """frames [cur, prev, next], each [B, 3, H, W]: a closed-form float64 pattern (see the TS test)."""
    f, b, c, i, j = torch.meshgrid(torch.arange(3.0), torch.arange(float(B)), torch.arange(3.0), torch.arange(float(H)), torch.arange(float(W)), indexing="ij")
    f, b, c, i, j = (t.double() for t in (f, b, c, i, j))
    x = torch.sin(0.23 * i * (1 + 0.15 * c) + 0.17 * j + 0.9 * f + 1.7 * b + 0.5 * c) + 0.4 * torch.cos(0.11 * (i - 2 * f) * (j + 3 * b) / 8 + 0.3 * c)
    return x[0], x[1], x[2]


def upstream(shape):
    """The upstream gradients of hr and hFinal (closed form, as the TS test)."""
    b, k, i, j = torch.meshgrid(*(torch.arange(float(n)) for n in shape), indexing="ij")
    b, k, i, j = (t.double() for t in (b, k, i, j))
    return torch.sin(1.3 * b + 0.7 * k + 0.37 * i - 0.23 * j), torch.cos(0.4 * b - 1.1 * k + 0.29 * i + 0.31 * j)


def loss_target(shape):
    """Loss targets in [0, 1] and visibility weights [B, K, 1] with two zeros (closed form, as the TS test)."""
    b, k, i, j = torch.meshgrid(*(torch.arange(float(n)) for n in shape), indexing="ij")
    b, k, i, j = (t.double() for t in (b, k, i, j))
    target = 0.5 + 0.5 * torch.sin(0.5 * i + 0.3 * j + k + 2 * b)
    tw = torch.ones(shape[0], shape[1], 1, dtype=torch.float64)
    tw[0, 1, 0] = 0
    tw[1, 2, 0] = 0
    return target, tw


# ----------------------------------------------------------------------------- weights
def seeded_weights(model):
    """Seeded float16 weights: convs uniform ±√(3/fan_in) (unit-variance outputs), biases and BN
    affine parameters small Gaussians around 0 (γ around 1), BN running statistics random (mean
    N(0, 0.2²), var U(0.5, 1.5)). Rounded to float16 (exact in float32 and float64)."""
    g = torch.Generator().manual_seed(7)
    bn = {n for n, mod in model.named_modules() if isinstance(mod, nn.BatchNorm2d)}
    sd = {}
    for name, t in model.state_dict().items():
        prefix, leaf = name.rsplit(".", 1)
        if leaf == "num_batches_tracked":
            sd[name] = torch.tensor(3, dtype=torch.int64)
            continue
        if prefix in bn:
            v = {"weight": lambda: 1 + 0.2 * torch.randn(t.shape, generator=g), "bias": lambda: 0.1 * torch.randn(t.shape, generator=g),
                 "running_mean": lambda: 0.2 * torch.randn(t.shape, generator=g), "running_var": lambda: 0.5 + torch.rand(t.shape, generator=g)}[leaf]()
        elif t.dim() == 4:
            v = (torch.rand(t.shape, generator=g) * 2 - 1) * math.sqrt(3 / (t.shape[1] * t.shape[2] * t.shape[3]))
        else:  # conv and DCN biases
            v = 0.1 * torch.randn(t.shape, generator=g)
        sd[name] = v.half()
    return sd


def shared_storage(sd):
    """The same state dict with every float tensor a view into one float16 storage (torch.save then
    writes one storage with offsets, as for tied or flattened weights): a third of the zip's
    per-entry overhead, and it exercises storage offsets in the TS loader."""
    floats = [v.reshape(-1) for v in sd.values() if v.is_floating_point()]
    flat = torch.cat(floats)
    out, off = {}, 0
    for k, v in sd.items():
        if v.is_floating_point():
            out[k] = flat[off:off + v.numel()].view(v.shape)
            off += v.numel()
        else:
            out[k] = v
    return out


def main():
    out_dir = os.path.join(FIXTURES, "models")
    os.makedirs(out_dir, exist_ok=True)
    model = FaSRnet()
    sd = seeded_weights(model)
    torch.save(shared_storage(sd), os.path.join(out_dir, "fasrnet_tiny.zip.pth"))
    torch.save(sd, os.path.join(out_dir, "fasrnet_tiny.legacy.pth"), _use_new_zipfile_serialization=False)

    def build(order="paper", quirk="off"):
        DCN_2.quirk = quirk
        m = FaSRnet(order)
        m.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in sd.items()})
        m.double()
        m.train()
        m.rough_pose_estimation_net.eval()  # the frozen backbone runs in eval mode
        for p in m.rough_pose_estimation_net.parameters():
            p.requires_grad_(False)
        return m

    cur, prev, nxt = clip()
    wp = torch.tensor([0.5, 1.0], dtype=torch.float64)  # sample 1: no next frame (border)
    wn = torch.tensor([0.5, 0.0], dtype=torch.float64)
    T = {}
    T["clip_checksum"] = torch.stack([torch.stack([x.sum(), (x * x).sum()]) for x in (cur, prev, nxt)])
    T["wPrev"], T["wNext"] = wp, wn

    # --- main case: train mode (head BN with batch statistics), paper order, quirk off
    m = build()
    cur_g = cur.clone().requires_grad_(True)
    (fc, fp, fn), (hc, hp, hn) = m.backbone(cur_g, prev, nxt)
    for t in (fc, fp, fn, hp, hn):
        t.retain_grad()
    keep = {}
    hr, hf = m.head(fc, fp, fn, hp, hn, wp, wn, keep)
    g1, g2 = upstream(hr.shape)
    (hr * g1).sum().add((hf * g2).sum()).backward()
    T.update({"hr": hr, "hFinal": hf, "prevA": keep["prevA"]})
    for n, t in (("fCur", fc), ("fPrev", fp), ("fNext", fn), ("hPrev", hp), ("hNext", hn)):
        T[f"grad_{n}"] = t.grad
    # The input-frame gradient of sample 0, as float32 to keep the file small (see the TS test).
    T["grad_cur0"] = cur_g.grad[0].float()
    grad_params = [
        "pcda_p.dcn_pack.l3.weight", "pcda_p.dcn_pack.l3.conv_offset_mask.weight", "pcda_p.dcn_pack.l2.conv_offset_mask.bias",
        "pcda_n.cas_dcnpack.weight", "pcda_n.offset_conv1.l1.bias", "TSA_Fusion.temporal_attn2.weight", "TSA_Fusion.spatial_attn5.weight",
        "TSA_Fusion.spatial_attn_l2.bias", "final_layer.weight", "hm_improve.masks_list.0.0.weight",
        "hm_improve.modulated_deform_conv_list.0.deform_conv.weight", "hm_improve.modulated_deform_conv_list.0.deform_conv.bias",
        "hm_improve.diff_temporal_fuse.layers.0.conv_bn_relu2_4_4.bn.weight", "hm_improve.support_temporal_fuse.layers.0.downsample.conv.weight",
    ]
    params = dict(m.named_parameters())
    for n in grad_params:
        T[f"pgrad/{n}"] = params[n].grad
    bufs = dict(m.named_buffers())
    for n in ["hm_improve.offset_mask_combine_conv.layers.1.conv_bn_relu3.bn.running_mean", "hm_improve.offset_mask_combine_conv.layers.1.conv_bn_relu3.bn.running_var",
              "hm_improve.diff_temporal_fuse.layers.0.downsample.bn.running_var"]:
        T[f"after/{n}"] = bufs[n]
    # loss (Eqs 17-19) on the train-mode outputs
    target, tw = loss_target(hr.shape)
    T["loss"] = (0.4 * joints_mse(hr, target, tw) + 0.6 * joints_mse(hf, target, tw)).reshape(1)

    # --- eval mode (running statistics everywhere)
    m = build()
    m.eval()
    with torch.no_grad():
        (fc, fp, fn), (hc, hp, hn) = m.backbone(cur, prev, nxt)
        T["eval/hFinal"] = m.head(fc, fp, fn, hp, hn, wp, wn)[1]
        # --- the official quirks, eval mode: offset padding read batch-flat (the official forward)
        # with the official argument order; and per sample with the paper's order.
        for tag, order, quirk in (("official_batch", "official", "batch"), ("paper_sample", "paper", "sample")):
            q = build(order, quirk)
            q.eval()
            keep = {}
            _, hf = q.head(fc, fp, fn, hp, hn, wp, wn, keep)
            T[f"{tag}/prevA"] = keep["prevA"]
            if tag == "official_batch":
                T[f"{tag}/hFinal"] = hf
        DCN_2.quirk = "off"

    meta = {"B": str(B), "H": str(H), "W": str(W)}
    save_safetensors(os.path.join(out_dir, "fasrnet.safetensors"), {k: v.detach() for k, v in T.items()}, meta)
    for f in ("fasrnet_tiny.zip.pth", "fasrnet_tiny.legacy.pth", "fasrnet.safetensors"):
        p = os.path.join(out_dir, f)
        print(f"wrote test/fixtures/models/{f}: {os.path.getsize(p) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
