"""A PyTorch ViTPose (mmpose key names) at a tiny size for posegrad's parity test: seeded weights,
an input, the heatmaps, the backbone tokens and the input gradient of sum(heatmaps * gout).

Run: /usr/bin/python3 test/reference/vit.py -> test/fixtures/models/vitpose_tiny.safetensors
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import FIXTURES, randn, save_safetensors


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)) * self.hd ** -0.5
        x = (a.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, 16, stride=16, padding=2)


class ViT(nn.Module):
    def __init__(self, dim, depth, heads, grid):
        super().__init__()
        self.patch_embed = PatchEmbed(dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid[0] * grid[1] + 1, dim))
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.last_norm = nn.LayerNorm(dim, eps=1e-6)

    def tokens(self, x):
        x = self.patch_embed.proj(x)
        B, C, Hp, Wp = x.shape
        x = x.flatten(2).transpose(1, 2)
        x = x + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        for b in self.blocks:
            x = b(x)
        return self.last_norm(x), Hp, Wp

    def forward(self, x):
        t, Hp, Wp = self.tokens(x)
        return t.permute(0, 2, 1).reshape(x.shape[0], -1, Hp, Wp)


class Head(nn.Module):
    def __init__(self, cin, K, ch):
        super().__init__()
        self.deconv_layers = nn.Sequential(
            nn.ConvTranspose2d(cin, ch, 4, 2, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(),
            nn.ConvTranspose2d(ch, ch, 4, 2, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU())
        self.final_layer = nn.Conv2d(ch, K, 1)

    def forward(self, x):
        return self.final_layer(self.deconv_layers(x))


class ViTPose(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = ViT(16, 2, 2, (4, 3))
        self.keypoint_head = Head(16, 5, 8)

    def forward(self, x):
        return self.keypoint_head(self.backbone(x))


model = ViTPose().double()
g = torch.Generator().manual_seed(2)
with torch.no_grad():
    for name, p in model.named_parameters():
        r = torch.randn(p.shape, generator=g, dtype=torch.float64)
        p.copy_(0.3 * r if p.dim() > 1 else (1 + 0.1 * r if name.endswith("weight") else 0.1 * r))
    for name, b in model.named_buffers():
        if name.endswith("running_mean"):
            b.copy_(0.1 * torch.randn(b.shape, generator=g, dtype=torch.float64))
        elif name.endswith("running_var"):
            b.copy_(0.5 + torch.rand(b.shape, generator=g, dtype=torch.float64))
model.eval()
x = randn(1, 3, 64, 48, seed=8).requires_grad_(True)
heat = model(x)
tokens = model.backbone.tokens(x)[0]
gout = randn(*heat.shape, seed=9)
(heat * gout).sum().backward()
t = {f"model.{k}": v for k, v in model.state_dict().items()}
t.update({"x": x.detach(), "heatmaps": heat.detach(), "tokens": tokens.detach(), "gout": gout, "grad_x": x.grad})
save_safetensors(f"{FIXTURES}/models/vitpose_tiny.safetensors", t, {"config": "img 64x48 dim 16 depth 2 heads 2 K 5 deconv 8"})
print("wrote vitpose_tiny.safetensors")
