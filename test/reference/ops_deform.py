"""PyTorch fixtures for deformConv2d (torchvision.ops.deform_conv2d) and the deformable-conv modules.

Run: /usr/bin/python3 test/reference/ops_deform.py   (Debian's torch 1.13 + torchvision 0.14)
Writes test/fixtures/ops/deform.safetensors.

Offsets are drawn as "integer + fraction in [0.1, 0.9]", so no sampling point lies on an integer
pixel position (the kinks of bilinear sampling) and the gradients are unambiguous. The `kink/*`
cases put sampling points exactly on pixels and on the zero-border (y = -1, y = H, ...) and are
checked forward only.
"""
import torch
import torch.nn.functional as F
from torch.nn.utils import stateless
from torchvision.ops import DeformConv2d, deform_conv2d

from common import Fixture, rand, randn

torch.manual_seed(0)
fx = Fixture("ops", "deform")


def off_kink(*shape, seed, lo=-2, hi=2):
    """Integers in [lo, hi] plus a fraction in [0.1, 0.9], with random signs via the integer part."""
    ints = torch.randint(lo, hi + 1, shape, generator=torch.Generator().manual_seed(seed)).double()
    return ints + rand(*shape, seed=seed + 1, lo=0.1, hi=0.9)


def out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def case(name, B, C, H, W, Cout, k, stride=1, pad=0, dil=1, og=1, groups=1, mask=True, bias=True, lo=-2, hi=2, seed=0):
    kh, kw = (k, k) if isinstance(k, int) else k
    s = (stride, stride) if isinstance(stride, int) else stride
    p = (pad, pad) if isinstance(pad, int) else pad
    d = (dil, dil) if isinstance(dil, int) else dil
    Ho, Wo = out_size(H, kh, s[0], p[0], d[0]), out_size(W, kw, s[1], p[1], d[1])
    ins = {
        "x": randn(B, C, H, W, seed=seed + 1),
        "offset": off_kink(B, 2 * og * kh * kw, Ho, Wo, seed=seed + 2, lo=lo, hi=hi),
        "w": randn(Cout, C // groups, kh, kw, seed=seed + 4, scale=0.5),
    }
    if mask:
        ins["mask"] = rand(B, og * kh * kw, Ho, Wo, seed=seed + 5, lo=-0.5, hi=1.5)
    if bias:
        ins["b"] = randn(Cout, seed=seed + 6)
    params = {"stride": list(s), "padding": list(p), "dilation": list(d)}

    def fn(x, offset, w, mask=None, b=None):
        return deform_conv2d(x, offset, w, b, stride=s, padding=p, dilation=d, mask=mask)

    fx.case(name, fn, ins, params)


# ---------------------------------------------------------------------------- forward + gradients
case("basic/v1", 2, 3, 5, 6, 4, 3, pad=1, mask=False, seed=10)
case("basic/v2", 1, 3, 5, 6, 4, 3, pad=1, seed=20)
case("dilation/3", 1, 2, 6, 5, 3, 3, pad=3, dil=3, seed=30)
case("dilation/5", 1, 2, 6, 7, 2, 3, pad=5, dil=5, lo=-3, hi=3, seed=40)
case("stride/2", 2, 2, 7, 8, 3, 3, stride=2, pad=1, bias=False, seed=50)
case("stride/2x1_k3x2", 1, 3, 6, 5, 2, (3, 2), stride=(2, 1), pad=(1, 0), dil=(1, 2), mask=False, seed=60)
case("offsetGroups/2_groups2", 1, 4, 4, 5, 6, 3, pad=1, og=2, groups=2, seed=70)
case("offsetGroups/17", 1, 17, 4, 4, 3, 3, pad=0, og=17, seed=80)
case("weightGroups/3_v1_nobias", 1, 6, 4, 4, 3, 3, pad=1, groups=3, mask=False, bias=False, seed=90)
# Sampling points far beyond the border (offsets up to ±5 on a 4x5 image) and just inside it.
case("border/far", 1, 2, 4, 5, 2, 3, pad=1, lo=-5, hi=5, seed=100)
case("border/nopad", 2, 2, 4, 4, 2, 2, pad=0, lo=-1, hi=1, seed=110)

# ---------------------------------------------------------------------------- kinks (forward only)
# Integer offsets put every sampling point on a pixel; ±(H) offsets put points exactly on the
# zero-border y = -1, y = H, x = -1, x = W and beyond; half-integers sit midway.
H, W = 4, 5
kx = randn(1, 2, H, W, seed=200)
kw_ = randn(2, 2, 3, 3, seed=201)
ints = torch.randint(-5, 6, (1, 18, H, W), generator=torch.Generator().manual_seed(202)).double()
fx.case("kink/integer", lambda x, offset, w: deform_conv2d(x, offset, w, padding=(1, 1)), {"x": kx, "offset": ints, "w": kw_}, {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1]}, grad=[])
edge = torch.zeros(1, 18, H, W, dtype=torch.float64)
# With padding 1, tap t = (i, j) of output (oy, ox) samples y = oy - 1 + i + dy, x = ox - 1 + j + dx.
# Channels 2t and 2t + 1 hold (dy, dx) of tap t. The comments give the sampled (y, x).
oy = torch.arange(H, dtype=torch.float64).view(H, 1).expand(H, W)
ox = torch.arange(W, dtype=torch.float64).view(1, W).expand(H, W)
edge[0, 0], edge[0, 1] = -oy, 0.5                           # tap 0: (-1, ox - 0.5)      on the zero-border
edge[0, 2], edge[0, 3] = H + 1 - oy, W - 1 - ox             # tap 1: (H, W - 1)          on the far border
edge[0, 4], edge[0, 5] = H + 0.5 - oy, -1.5 - ox            # tap 2: (H - 0.5, -0.5)     half outside
edge[0, 6], edge[0, 7] = -0.5, -ox                          # tap 3: (oy - 0.5, -1)
edge[0, 8], edge[0, 9] = 0.25, W - ox                       # tap 4: (oy + 0.25, W)
edge[0, 10], edge[0, 11] = -oy, -1 - ox                     # tap 5: (0, 0)              the first pixel
edge[0, 12], edge[0, 13] = -3 - oy, 0.0                     # tap 6: (-2, ox - 1)        far beyond
edge[0, 14], edge[0, 15] = H - 2 - oy, W + 0.5 - ox         # tap 7: (H - 1, W + 0.5)
edge[0, 16], edge[0, 17] = -oy - 1.999, -ox - 1.999         # tap 8: (-0.999, -0.999)    just inside
fx.case("kink/border", lambda x, offset, w, mask: deform_conv2d(x, offset, w, padding=(1, 1), mask=mask), {"x": kx, "offset": edge, "w": kw_, "mask": rand(1, 9, H, W, seed=203)}, {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1]}, grad=[])
fx.case("kink/halfInteger", lambda x, offset, w: deform_conv2d(x, offset, w, padding=(1, 1)), {"x": kx, "offset": ints + 0.5, "w": kw_}, {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1]}, grad=[])


# ---------------------------------------------------------------------------- modules
def module_case(name, module, inputs, call):
    """Stores the module's parameters (under their state-dict keys) as differentiable inputs."""
    params = {k: v.detach().double() for k, v in module.state_dict().items()}
    keys = list(params.keys())

    def fn(**kw):
        p = {k: kw[k] for k in keys}
        rest = {k: v for k, v in kw.items() if k not in p}
        return call(module, p, rest)

    fx.case(name, fn, {**inputs, **params}, {"keys": keys})


# torchvision.ops.DeformConv2d: weights only; offset and mask passed to forward.
torch.manual_seed(1)
m1 = DeformConv2d(4, 3, 3, stride=1, padding=2, dilation=2, bias=True).double()
module_case(
    "module/DeformConv2d",
    m1,
    {"x": randn(1, 4, 4, 5, seed=300), "offset": off_kink(1, 2 * 2 * 9, 4, 5, seed=301), "mask": rand(1, 2 * 9, 4, 5, seed=302)},
    lambda m, p, r: stateless.functional_call(m, p, (r["x"], r["offset"], r["mask"])),
)


class DCNv2PackRef(torch.nn.Module):
    """The EDVR / BasicSR DCNv2Pack, in plain torch: conv_offset produces 3·OG·kh·kw channels,
    torch.chunk(…, 3) gives o1, o2, m; offset = cat(o1, o2) (torchvision's interleaved layout),
    mask = sigmoid(m) (or m itself without the sigmoid, as FaSRnet's PCN)."""

    def __init__(self, cin, cout, k, stride, padding, dilation, og, sigmoid, off_padding, off_dilation, reinterpret=False):
        super().__init__()
        self.reinterpret = reinterpret
        self.weight = torch.nn.Parameter(torch.empty(cout, cin, k, k))
        self.bias = torch.nn.Parameter(torch.empty(cout))
        self.conv_offset = torch.nn.Conv2d(cin, og * 3 * k * k, k, stride, off_padding, off_dilation, bias=True)
        self.stride, self.padding, self.dilation, self.sigmoid = stride, padding, dilation, sigmoid

    def forward(self, x, feat):
        out = self.conv_offset(feat)
        o1, o2, m = torch.chunk(out, 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        mask = torch.sigmoid(m) if self.sigmoid else m
        if self.reinterpret:
            # What the mmdet/EDVR CUDA kernels do with an offset map larger than the output: each
            # sample's contiguous buffer is indexed as [C, Ho, Wo], i.e. its first C·Ho·Wo values.
            B = x.shape[0]
            Ho = (x.shape[2] + 2 * self.padding - self.dilation * 2 - 1) // self.stride + 1
            Wo = (x.shape[3] + 2 * self.padding - self.dilation * 2 - 1) // self.stride + 1
            offset = offset.reshape(B, -1)[:, : offset.shape[1] * Ho * Wo].reshape(B, -1, Ho, Wo)
            mask = mask.reshape(B, -1)[:, : mask.shape[1] * Ho * Wo].reshape(B, -1, Ho, Wo)
        return deform_conv2d(x, offset, self.weight, self.bias, (self.stride,) * 2, (self.padding,) * 2, (self.dilation,) * 2, mask)


def dcn_pack_case(name, cin, cout, H, W, dil, og, sigmoid, off_padding, off_dilation, seed, reinterpret=False, B=1):
    torch.manual_seed(seed)
    m = DCNv2PackRef(cin, cout, 3, 1, dil, dil, og, sigmoid, off_padding, off_dilation, reinterpret).double()
    with torch.no_grad():
        # Non-zero offsets (mmcv zero-initializes them, which would test nothing), kept small so that
        # sampling points stay away from pixel positions for these inputs.
        m.weight.copy_(randn(*m.weight.shape, seed=seed + 1, scale=0.3))
        m.bias.copy_(randn(*m.bias.shape, seed=seed + 2))
        m.conv_offset.weight.copy_(randn(*m.conv_offset.weight.shape, seed=seed + 3, scale=0.15))
        m.conv_offset.bias.copy_(rand(*m.conv_offset.bias.shape, seed=seed + 4, lo=0.15, hi=0.85))
    module_case(
        name, m,
        {"x": randn(B, cin, H, W, seed=seed + 5), "feat": randn(B, cin, H, W, seed=seed + 6)},
        lambda mod, p, r: stateless.functional_call(mod, p, (r["x"], r["feat"])),
    )


dcn_pack_case("module/DCNv2Pack_sigmoid_d3", 3, 4, 6, 5, 3, 1, True, 3, 3, 400)
dcn_pack_case("module/DCNv2Pack_nosigmoid_og2", 2, 2, 4, 5, 1, 2, False, 1, 1, 410)
# FaSRnet's quirk (NOTES.md): the offset conv pads by d with dilation 1 while the deformable conv
# has dilation d, so for d > 1 its output is (H + 2d - 2) x (W + 2d - 2), larger than H x W.
# torchvision rejects that; the fixed variant pads the offset conv by 1 ...
dcn_pack_case("module/DCNv2Pack_offsetPad1_d2", 2, 3, 6, 6, 2, 1, True, 1, 1, 420)
# ... and the legacy variant reproduces the official CUDA kernels' reading of the larger buffer
# (our emulation of it: no CUDA build is available here to compare with).
dcn_pack_case("module/DCNv2Pack_legacyQuirk_d3", 2, 2, 4, 5, 3, 1, True, 3, 1, 430, reinterpret=True, B=2)

fx.save()
