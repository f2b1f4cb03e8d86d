"""PyTorch reference for posegrad's VREMD (models/vremd/*.ts), written for this test from the paper
(Jiao et al., "Optimizing Human Pose Estimation Through Focused Human and Joint Regions"; no public
code) with the same choices as the TS model (see docs/models/vremd.md): the same module names, so
that torch's state_dict loads into the TS model key for key.

Run: /usr/bin/python3 test/reference/vremd.py   (Debian's python3-torch 1.13)
Writes, for the `tiny` preset with 5 joints (ViT tiny: 64x48 input, 4x3 tokens of width 16):
- test/fixtures/models/vremd_tiny.zip.pth      model.state_dict(), torch.save (zip format)
- test/fixtures/models/vremd_tiny.legacy.pth   the same, _use_new_zipfile_serialization=False
- test/fixtures/models/vremd_tiny.safetensors  inputs, outputs and gradients:
    frames   [1, 3, 3, 64, 48]  crops, a closed-form pattern (frames_formula; only a checksum is
                                stored)                   -> tokens_f, heatmaps_f
    tokens   [2, 3, 12, 16]     backbone tokens (B = 2)   -> heatmaps, hk, hm, F, M, mask_h, mask_k,
                                                             key_tokens, points_f, points_b
    gout     [2, 5, 16, 12]     upstream gradient of heatmaps
    grad_tokens, grad.<param>   gradients of sum(heatmaps * gout)
Weights are rounded to float16 (and stored so) before the float64 computation, so both sides start
from the same values. Eval mode (BatchNorm uses the running statistics, which are randomized).

torch 1.13 has no scaled_dot_product_attention: attention is written out (softmax(q·kᵀ·scale)·v).
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import FIXTURES, save_safetensors

D, DEPTH, HEADS, IMG, GRID = 16, 2, 2, (64, 48), (4, 3)
N = GRID[0] * GRID[1]
T, J = 3, 5
CFG = dict(num_heads=2, mlp_ratio=2, human_depth=1, keypoint_depth=1, spatial_depth=1, temporal_depth=1,
           adc_depth=1, adc_mlp_ratio=2, dca_heads=2, dca_points=3, offset_range=2.0, kernel=3, head_channels=8)


# ---------------------------------------------------------------------------------------- ViT parts
class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, L, C = x.shape
        qkv = self.qkv(x).reshape(B, L, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)) * self.hd ** -0.5
        return self.proj((a.softmax(-1) @ v).transpose(1, 2).reshape(B, L, C))


class Mlp(nn.Module):
    def __init__(self, i, h, o=None):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(i, h), nn.Linear(h, o or i)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def blocks(depth, dim, heads, ratio):
    return nn.ModuleList([Block(dim, heads, ratio) for _ in range(depth)])


def run(bs, x):
    for b in bs:
        x = b(x)
    return x


class PatchEmbed(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, D, 16, stride=16, padding=2)


class ViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_embed = PatchEmbed()
        self.pos_embed = nn.Parameter(torch.zeros(1, N + 1, D))
        self.blocks = blocks(DEPTH, D, HEADS, 4)
        self.last_norm = nn.LayerNorm(D, eps=1e-6)

    def forward(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = x + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        return self.last_norm(run(self.blocks, x))


# ---------------------------------------------------------------------------------------- HKME
class HumanMask(nn.Module):
    def __init__(self):
        super().__init__()
        self.human_token = nn.Parameter(torch.zeros(T, 1, D))
        self.blocks = blocks(CFG["human_depth"], D, CFG["num_heads"], CFG["mlp_ratio"])

    def forward(self, f):  # f [B, T, N, D]
        B = f.shape[0]
        tok = self.human_token.unsqueeze(0).expand(B, T, 1, D).reshape(B * T, 1, D)
        y = run(self.blocks, torch.cat([f.reshape(B * T, N, D), tok], 1))
        fbar, th = y[:, :N], y[:, N:]
        mask = fbar @ th.transpose(1, 2)  # Eq 1: raw dot product [B*T, N, 1]
        return (fbar * mask).reshape(B, T, N, D), mask.reshape(B, T, N, 1)


class KeypointMask(nn.Module):
    def __init__(self):
        super().__init__()
        self.keypoint_tokens = nn.Parameter(torch.zeros(T, J, D))
        self.blocks = blocks(CFG["keypoint_depth"], D, CFG["num_heads"], CFG["mlp_ratio"])

    def forward(self, fc):
        B = fc.shape[0]
        seq = torch.cat([fc, self.keypoint_tokens.unsqueeze(0).expand(B, T, J, D)], 2).reshape(B, T * (N + J), D)
        y = run(self.blocks, seq).reshape(B, T, N + J, D)
        fhat = y[:, :, :N].reshape(B, T * N, D)
        tk = y[:, :, N:].reshape(B, T * J, D)
        mp = torch.softmax(tk @ fhat.transpose(1, 2), dim=2)  # Eq 2: softmax over the 3N tokens
        mask = mp.sum(1, keepdim=True).transpose(1, 2)  # summed over the 3J keypoint tokens
        return fhat * mask, tk, mask


class SpatioTemporal(nn.Module):
    def __init__(self):
        super().__init__()
        self.spatial_blocks = blocks(CFG["spatial_depth"], D, CFG["num_heads"], CFG["mlp_ratio"])
        self.temporal_blocks = blocks(CFG["temporal_depth"], D, CFG["num_heads"], CFG["mlp_ratio"])

    def forward(self, x):
        B = x.shape[0]
        s = run(self.spatial_blocks, x.reshape(B * T, N, D))
        p = s.reshape(B, T, N, D).permute(0, 2, 1, 3).reshape(B * N, T, D)
        t = run(self.temporal_blocks, p)
        return t.reshape(B, N, T, D).permute(0, 2, 1, 3).reshape(B, T * N, D)


class TokenReduction(nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = Mlp(T * N, N, N)

    def forward(self, x):
        return self.mlp(x.transpose(1, 2)).transpose(1, 2)


class HKME(nn.Module):
    def __init__(self):
        super().__init__()
        self.human_mask = HumanMask()
        self.keypoint_mask = KeypointMask()
        self.spatio_temporal = SpatioTemporal()
        self.token_reduction = TokenReduction()

    def forward(self, f):
        fc, mh = self.human_mask(f)
        ff, tk, mk = self.keypoint_mask(fc)
        Fe = self.token_reduction(self.spatio_temporal(ff))
        return Fe, tk[:, J:2 * J], mh, mk


# ---------------------------------------------------------------------------------------- BMD
class DCA(nn.Module):
    """Eqs 3-4; see models/vremd/dca.ts for the choices (heads, points, ψ, θ, p_z, coordinates)."""

    def __init__(self):
        super().__init__()
        H, P, k = CFG["dca_heads"], CFG["dca_points"], CFG["kernel"]
        self.H, self.P, self.d, self.r = H, P, D // H, CFG["offset_range"]
        self.q_proj = nn.Linear(D, D)
        self.z_proj = nn.Linear(D, D)
        self.offset_conv = nn.Conv2d(2 * D, 2 * D, k, padding=k // 2, groups=2 * D)
        self.sampling_offsets = nn.Linear(2 * D, H * P * 2)
        self.k_proj = nn.Linear(D, D)
        self.v_proj = nn.Linear(D, D)

    def forward(self, x, f):
        B = x.shape[0]
        Hp, Wp = GRID
        H, P, d = self.H, self.P, self.d
        q, z = self.q_proj(x), self.z_proj(f)
        qz = torch.cat([q, z], 2).permute(0, 2, 1).reshape(B, 2 * D, Hp, Wp)
        psi = F.gelu(self.offset_conv(qz)).reshape(B, 2 * D, N).permute(0, 2, 1)
        off = self.sampling_offsets(psi)
        off = self.r * torch.tanh(off / self.r)
        off = off.reshape(B, N, H, P, 2)
        idx = torch.arange(N)
        ref = torch.stack([idx % Wp, idx // Wp], -1).to(x.dtype).reshape(N, 1, 1, 2)
        pts = off + ref  # tokens, x = column, y = row
        # align_corners=False: token centre c sits at (2c + 1)/W - 1
        g = pts * torch.tensor([2 / Wp, 2 / Hp], dtype=x.dtype) + torch.tensor([1 / Wp - 1, 1 / Hp - 1], dtype=x.dtype)
        grid = g.permute(0, 2, 1, 3, 4).reshape(B * H, N, P, 2)

        def heads(t):
            return t.reshape(B, N, H, d).permute(0, 2, 3, 1).reshape(B * H, d, Hp, Wp)

        kv = torch.cat([heads(self.k_proj(x)), heads(self.v_proj(x))], 1)
        s = F.grid_sample(kv, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # [B*H, 2d, N, P]
        ks = s[:, :d].permute(0, 2, 1, 3)  # [B*H, N, d, P]
        vs = s[:, d:].permute(0, 2, 3, 1)  # [B*H, N, P, d]
        qh = q.reshape(B, N, H, d).permute(0, 2, 1, 3).reshape(B * H, N, 1, d)
        a = torch.softmax((qh @ ks) / math.sqrt(d), -1)  # Eq 4: softmax over the points
        o = (a @ vs).reshape(B, H, N, d).permute(0, 2, 1, 3).reshape(B, N, D)
        return o, pts


class ADCBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm_x = nn.LayerNorm(D, eps=1e-6)
        self.norm_f = nn.LayerNorm(D, eps=1e-6)
        self.dca = DCA()
        self.cross_attn = nn.MultiheadAttention(D, CFG["num_heads"], batch_first=True)
        self.norm_mlp = nn.LayerNorm(2 * D, eps=1e-6)
        self.mlp = Mlp(2 * D, round(CFG["adc_mlp_ratio"] * D), D)

    def forward(self, x, f):
        xn, fn = self.norm_x(x), self.norm_f(f)
        a, pts = self.dca(xn, fn)
        c = self.cross_attn(xn, fn, fn, need_weights=False)[0]
        return x + self.mlp(self.norm_mlp(torch.cat([a, c], 2))), pts


class ADCBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.fwd = ADCBranch()
        self.bwd = ADCBranch()

    def forward(self, mf, mb, f):
        mf, pf = self.fwd(mf, f)
        mb, pb = self.bwd(mb, f)
        return mf, mb, pf, pb


class BMD(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([ADCBlock() for _ in range(CFG["adc_depth"])])
        self.fusion_norm = nn.LayerNorm(2 * D, eps=1e-6)
        self.fusion = nn.Linear(2 * D, D)

    def forward(self, frames, f):
        ft = frames[:, 1]
        mf, mb = frames[:, 2] - ft, frames[:, 0] - ft
        pf = pb = None
        for b in self.blocks:
            mf, mb, pf, pb = b(mf, mb, f)
        return self.fusion(self.fusion_norm(torch.cat([mf, mb], 2))), pf, pb


# ---------------------------------------------------------------------------------------- heads
class TokenHead(nn.Module):
    def __init__(self):
        super().__init__()
        hw = 16 * 12
        hidden = hw // 8
        assert not D <= hidden * 0.5  # the one-layer TokenPose head at this size
        self.mlp_head = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, hw))

    def forward(self, t):
        return self.mlp_head(t).reshape(t.shape[0], J, 16, 12)


class DeconvHead(nn.Module):
    def __init__(self):
        super().__init__()
        c = CFG["head_channels"]
        self.deconv_layers = nn.Sequential(
            nn.ConvTranspose2d(D, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
            nn.ConvTranspose2d(c, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.final_layer = nn.Conv2d(c, J, 1)

    def forward(self, x):
        return self.final_layer(self.deconv_layers(x))


class VREMD(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = ViT()
        self.hkme = HKME()
        self.bmd = BMD()
        self.token_head = TokenHead()
        self.motion_head = DeconvHead()

    def forward_tokens(self, feats):  # [B, 3, N, D]
        B = feats.shape[0]
        ft = feats[:, 1]
        Fe, tt, mh, mk = self.hkme(feats)
        hk = self.token_head(tt)
        M, pf, pb = self.bmd(feats, Fe)
        hm = self.motion_head((ft + M).permute(0, 2, 1).reshape(B, D, *GRID))
        return dict(heatmaps=hk + hm, hk=hk, hm=hm, F=Fe, M=M, mask_h=mh, mask_k=mk, key_tokens=tt, points_f=pf, points_b=pb)

    def encode(self, frames):  # [B, 3, 3, H, W] -> [B, 3, N, D]
        B = frames.shape[0]
        return self.backbone(frames.reshape(B * 3, 3, *IMG)).reshape(B, 3, N, D)


def frames_formula():
    """The crops [1, 3, 3, 64, 48], closed form (the TS test evaluates the same expression)."""
    t, c, y, x = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in (3, 3, *IMG)], indexing="ij")
    return (torch.sin(0.37 * x + 0.23 * y + 1.1 * c + 0.7 * t) + 0.5 * torch.cos(0.05 * x * y - 0.4 * c + t)).unsqueeze(0)


def main():
    torch.manual_seed(0)
    model = VREMD()
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if name.endswith("sampling_offsets.bias"):
                v = 0.8 * r  # offsets spread over the map, some outside it (zeros padding)
            elif name.endswith("sampling_offsets.weight"):
                v = 0.15 * r
            elif name.endswith("_token") or name.endswith("_tokens"):
                v = 0.5 * r
            elif p.dim() > 1:
                v = 0.3 * r
            elif name.endswith("weight"):
                v = 1 + 0.1 * r
            else:
                v = 0.1 * r
            p.copy_(v.half().float())  # float16 values: exact in float32 and float64
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_((0.1 * torch.randn(b.shape, generator=g)).half().float())
            elif name.endswith("running_var"):
                b.copy_((0.5 + torch.rand(b.shape, generator=g)).half().float())
    model.eval()
    os.makedirs(f"{FIXTURES}/models", exist_ok=True)
    # stored as float16 to keep the files small (the values were rounded to float16 above)
    sd = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(sd, f"{FIXTURES}/models/vremd_tiny.zip.pth")
    torch.save(sd, f"{FIXTURES}/models/vremd_tiny.legacy.pth", _use_new_zipfile_serialization=False)

    model = model.double()
    out = {}
    frames = frames_formula()
    with torch.no_grad():
        tf = model.encode(frames)
        out["frames_checksum"] = torch.stack([frames.sum(), (frames * frames).sum(), frames[0, 2, 1, 40, 7]])
        out["tokens_f"] = tf
        out["heatmaps_f"] = model.forward_tokens(tf)["heatmaps"]

    tokens = torch.randn(2, 3, N, D, generator=g, dtype=torch.float64).requires_grad_(True)
    res = model.forward_tokens(tokens)
    gout = torch.randn(res["heatmaps"].shape, generator=g, dtype=torch.float64)
    (res["heatmaps"] * gout).sum().backward()
    out["tokens"] = tokens.detach()
    out["gout"] = gout
    out["grad_tokens"] = tokens.grad
    for k, v in res.items():
        out[k] = v.detach()
    params = dict(model.named_parameters())
    for name in ["hkme.human_mask.human_token", "hkme.keypoint_mask.keypoint_tokens",
                 "hkme.human_mask.blocks.0.attn.qkv.weight", "hkme.token_reduction.mlp.fc1.weight",
                 "hkme.spatio_temporal.temporal_blocks.0.mlp.fc2.weight",
                 "bmd.blocks.0.fwd.dca.sampling_offsets.weight", "bmd.blocks.0.fwd.dca.sampling_offsets.bias",
                 "bmd.blocks.0.bwd.dca.offset_conv.weight", "bmd.blocks.0.bwd.dca.z_proj.weight",
                 "bmd.blocks.0.fwd.dca.q_proj.bias", "bmd.blocks.0.fwd.dca.v_proj.weight",
                 "bmd.blocks.0.bwd.cross_attn.in_proj_weight", "bmd.blocks.0.fwd.mlp.fc1.bias", "bmd.fusion.weight",
                 "token_head.mlp_head.1.bias", "motion_head.deconv_layers.0.weight", "motion_head.final_layer.weight"]:
        out[f"grad.{name}"] = params[name].grad
    save_safetensors(f"{FIXTURES}/models/vremd_tiny.safetensors", out,
                     {"config": "vremd tiny, J=5: ViT 64x48 D=16 depth 2; HKME 1/1/1/1 blocks; ADC 1 block, DCA 2 heads x 3 points, range 2"})
    for f in ["vremd_tiny.zip.pth", "vremd_tiny.legacy.pth", "vremd_tiny.safetensors"]:
        print(f, os.path.getsize(f"{FIXTURES}/models/{f}") // 1024, "KiB")


if __name__ == "__main__":
    main()
