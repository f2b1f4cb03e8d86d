"""Reference fixtures for the top-down data pipeline: heatmap targets and the flip test.

Run: /usr/bin/python3 test/reference/pose_data.py   (Debian's python3-torch, torch 1.13)
Writes test/fixtures/pose-data/pipeline.safetensors.

- targets/*: HRNet's generate_target (JointsDataset), re-implemented here from its definition in
  numpy/float32 exactly as HRNet computes it (int() truncation of the rounded centre, a 3-sigma
  patch, weight 0 when the patch is entirely outside the heatmap or the joint is invisible).
- flip/*: HRNet's validate() flip test around a small conv "model" (F.conv2d with a bias, 5 output
  channels, flip pairs (1, 2) and (3, 4)): flip the input, run, flip back, swap the pairs, shift
  one pixel right, average with the plain output.
"""
import numpy as np
import torch
import torch.nn.functional as F

from common import Fixture, randn

fx = Fixture("pose-data", "pipeline")


def hrnet_target(joints, vis, image_size, heatmap_size, sigma):
    """joints [K, 2] in input pixels, vis [K]; sizes as [width, height]. Returns target [K, h, w], weight [K]."""
    k_n = joints.shape[0]
    weight = np.array(vis, dtype=np.float32).reshape(k_n).copy()
    target = np.zeros((k_n, heatmap_size[1], heatmap_size[0]), dtype=np.float32)
    tmp = sigma * 3
    stride = np.array(image_size) / np.array(heatmap_size)
    for k in range(k_n):
        mu_x = int(joints[k][0] / stride[0] + 0.5)
        mu_y = int(joints[k][1] / stride[1] + 0.5)
        ul = [int(mu_x - tmp), int(mu_y - tmp)]
        br = [int(mu_x + tmp + 1), int(mu_y + tmp + 1)]
        if ul[0] >= heatmap_size[0] or ul[1] >= heatmap_size[1] or br[0] < 0 or br[1] < 0:
            weight[k] = 0
            continue
        size = 2 * tmp + 1
        xs = np.arange(0, size, 1, np.float32)
        ys = xs[:, None]
        c = size // 2
        g = np.exp(-((xs - c) ** 2 + (ys - c) ** 2) / (2 * sigma ** 2))
        gx = max(0, -ul[0]), min(br[0], heatmap_size[0]) - ul[0]
        gy = max(0, -ul[1]), min(br[1], heatmap_size[1]) - ul[1]
        ix = max(0, ul[0]), min(br[0], heatmap_size[0])
        iy = max(0, ul[1]), min(br[1], heatmap_size[1])
        if weight[k] > 0.5:
            target[k][iy[0]:iy[1], ix[0]:ix[1]] = g[gy[0]:gy[1], gx[0]:gx[1]]
    return target, weight


target_cases = [
    # name, image [w, h], heatmap [w, h], sigma, joints, vis
    ("sigma2_64x48", [192, 256], [48, 64], 2,
     [[96.0, 128.0], [3.1, 5.9], [-2.5, 30.0], [-30.0, 10.0], [50.0, 50.0], [10.2, 249.7]],
     [1, 1, 1, 1, 0, 1]),
    ("sigma2_64x64", [256, 256], [64, 64], 2,
     [[255.0, 255.0], [283.0, 20.0], [-26.0, -26.0], [61.5, 200.49]],
     [1, 1, 1, 1]),
    ("sigma3_96x72", [288, 384], [72, 96], 3,
     [[1.0, 1.0], [-40.0, 100.0], [-37.0, 100.0]],
     [1, 1, 1]),
]
for name, image, heat, sigma, joints, vis in target_cases:
    j = np.array(joints, dtype=np.float64)
    t, w = hrnet_target(j, vis, image, heat, sigma)
    fx.case(f"targets/{name}", lambda joints, vis: (torch.from_numpy(t), torch.from_numpy(w)),
            {"joints": torch.from_numpy(j), "vis": torch.tensor(vis, dtype=torch.float64)},
            params={"imageSize": image, "heatmapSize": heat, "sigma": sigma}, grad=[])


FLIP_PAIRS = [(1, 2), (3, 4)]


def flip_test(x, weight, bias):
    def model(inp):
        return F.conv2d(inp, weight, bias, padding=1)
    out = model(x)
    out_f = model(torch.flip(x, [3]))
    out_f = torch.flip(out_f, [3])
    perm = list(range(out_f.shape[1]))
    for a, b in FLIP_PAIRS:
        perm[a], perm[b] = b, a
    out_f = out_f[:, perm]
    shifted = out_f.clone()
    shifted[:, :, :, 1:] = out_f[:, :, :, 0:-1]
    return (out + shifted) * 0.5


fx.case("flip/conv", flip_test,
        {"x": randn(2, 3, 6, 7, seed=1), "weight": randn(5, 3, 3, 3, seed=2, scale=0.5), "bias": randn(5, seed=3)},
        params={"flipPairs": FLIP_PAIRS}, grad=[])

fx.save()
