"""Peak memory of the four papers' networks at the `paper` preset in PyTorch, eval mode under no_grad:
the PyTorch side of the bench's `--mode paper` memory comparison (issue 14 item 6).

Run: /usr/bin/python3 test/reference/torch_peak_memory.py NETWORK [--threads N] [--preset paper|tiny]
         NETWORK: rpstn | fasrnet | vremd | glpose. Prints one JSON object on stdout.
     /usr/bin/python3 test/reference/torch_peak_memory.py --all [--threads N] [--preset paper|tiny]
         Each network in a fresh subprocess, one after another; one JSON object per line.
     The bench runs it under `npm run bench -- --suite networks --mode paper` (bench/peers/torch-memory.ts).
     `--preset tiny` builds the reference scripts' own tiny configurations (close to, not always
     equal to, posegrad's `tiny` presets): a seconds-long smoke test of this script for `--quick`.

The networks are the PyTorch references of posegrad's parity tests (test/reference/rpstn.py,
fasrnet.py, vremd.py, glpose.py, hrnet.py), built at posegrad's `paper` preset instead of `tiny`:
their classes are loaded without running those scripts (only the imports, classes, functions and
UPPERCASE constants are executed, see `definitions`), the size constants are set to the preset's,
and where a reference hard-codes its tiny size it is replaced here:
- RPSTN (models/rpstn/presets.ts `paper`): rpstn.py's official DKD_Network with pose_net
  SimpleBaseline-ResNet-101 and fea_ext SimpleBaseline-ResNet-50 (256 deconv channels), K = 13,
  T = 5 frames of 256x256 (rpstn.py's own `--full` structure).
- FaSRnet (`paper`): fasrnet.py's head at C = 48, K = 17 (PRF 68→34 in 2 RSB blocks, PTM 51→17 in 1,
  combination 51→64 in 2, PCN dilation 1) on hrnet.py's HRNet-W48 (stem 64, layer1 4 Bottlenecks
  of 64 planes, stage modules 1/4/3, 4 blocks per branch; fasrnet.py's own HRNet is tiny-only),
  cur/prev/next 384x288, margin weights 0.5.
- VREMD (`paper`): vremd.py at ViT-L (D = 1024, 24 blocks, 16 heads, 256x192 → 16x12 tokens),
  K = 17, MLP ratio 4, human/keypoint masks 2 blocks, spatial/temporal 1, 2 ADC blocks (MLP ratio
  2), DCA 8 heads × 4 points (range 4), H_m 256 channels; the token head maps to the 64x48
  heatmap (vremd.py's is fixed at tiny's 16x12).
- GLPose (`paper`): glpose.py with HRNet-W48 (its HRNet class, paper widths) run to stage 3, k = 4
  (8 local frames), n = 6 of G = 20 global candidates, 29 crops of 384x288, C = 48, K = 17.
Weights are PyTorch's default initialization (fasrnet.py's deformable convs, which it leaves `torch.empty`,
the same as a conv's; `init_empty`); their values do not change the memory. The
parameter count is reported so that it can be checked against posegrad's.

Memory, by the same method as the posegrad side (bench/networks/suite.ts):
1. After the imports (torch, torchvision, the reference classes) and one garbage collection, the
   baseline is the process's resident set (VmRSS), and the peak-RSS mark is reset there
   (`/proc/self/clear_refs` "5", Linux ≥ 4.0; without it, ru_maxrss is a process maximum since start).
2. The network is built and put in eval mode, and its input made; `buildPeakAboveBaseline` is the
   peak RSS (VmHWM, = getrusage ru_maxrss) above the baseline so far.
3. The peak mark is reset again, one forward runs under torch.no_grad(); `inferPeakAboveBaseline`
   is the peak RSS during it above the baseline: the weights and the input (resident) plus the
   forward's largest live set and allocator overhead. That is the figure compared.
ru_maxrss is a process maximum, hence one fresh process per network (`--all`, or the bench).
"""
import ast
import gc
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NETWORKS = ("rpstn", "fasrnet", "vremd", "glpose")


def status_kib(field):
    """A field of /proc/self/status in KiB (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes():
    v = status_kib("VmRSS")
    return v * 1024 if v is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_rss_bytes():
    """The peak resident set since the last reset (getrusage ru_maxrss reads the same mark)."""
    v = status_kib("VmHWM")
    return v * 1024 if v is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak():
    """Resets the peak-RSS mark to the current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def definitions(name, **constants):
    """The classes and functions of test/reference/<name>.py, without running the script: only its
    imports, class and function definitions and UPPERCASE constants are executed (hrnet.py writes its
    fixture at import time). `constants` then replace module constants (the classes read them at
    call time)."""
    path = os.path.join(HERE, f"{name}.py")
    with open(path) as f:
        tree = ast.parse(f.read(), path)

    def keep(node):
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
            return True
        if isinstance(node, ast.Assign):
            names = [n for t in node.targets for n in (t.elts if isinstance(t, ast.Tuple) else [t])]
            return all(isinstance(n, ast.Name) and n.id.isupper() for n in names)
        return False

    tree.body = [n for n in tree.body if keep(n)]
    ns = {"__name__": f"reference_{name}", "__file__": path}
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    exec(compile(tree, path, "exec"), ns)
    ns.update(constants)
    return ns


# ----------------------------------------------------------------------------- the paper networks
def build_rpstn(torch):
    ns = definitions("rpstn")
    bottleneck = ns["Bottleneck"]
    pose_arch = {"block": bottleneck, "layers": [3, 4, 23, 3], "widths": (64, 128, 256, 512), "stem": 64, "C": 256}
    fea_arch = {"block": bottleneck, "layers": [3, 4, 6, 3], "widths": (64, 128, 256, 512), "stem": 64, "C": 256}
    model = ns["RPSTN"](13, pose_arch, fea_arch).eval()
    clip = torch.randn(1, 5, 3, 256, 256)
    return model, lambda: model(clip), {"input": "clip [1, 5, 3, 256, 256]", "framesPerForward": 5}


def hrnet_w48(hr, K):
    """hrnet.py's HRNet at HRNET_PRESETS.w48 (the official PoseHighResolutionNet W48)."""
    return hr["HRNet"](W=48, K=K, stem=64, l1planes=64, l1blocks=4, modules=(1, 4, 3), blocks=4)


def init_empty(torch, model):
    """fasrnet.py's deformable convs hold `torch.empty` weights (its tests load seeded values):
    initialize them as nn.Conv2d is (uniform ±1/√fan_in), so that no garbage reaches the offsets
    (NaN offsets crash torchvision's deform_conv2d)."""
    with torch.no_grad():
        for m in model.modules():
            if type(m).__name__ in ("DCN_2", "DCNv2"):
                bound = 1 / (m.weight[0].numel() ** 0.5)
                m.weight.uniform_(-bound, bound)
                m.bias.uniform_(-bound, bound)
    return model


def build_fasrnet(torch):
    import torch.nn as nn

    hr = definitions("hrnet")
    ns = definitions("fasrnet", K=17, WIDTH=48, PRF_INNER=34, PRF_BLOCKS=2, PTM_BLOCKS=1, COMB_INNER=64, COMB_BLOCKS=2, B=1, H=384, W=288)

    class Backbone(nn.Module):
        """HRNet-W48 returning (heatmaps, features) as fasrnet.py's HRNet does."""

        def __init__(self):
            super().__init__()
            self.net = hrnet_w48(hr, 17)

        def forward(self, x):
            heat, feat, _ = self.net(x)
            return heat, feat

    model = init_empty(torch, ns["FaSRnet"]())
    model.rough_pose_estimation_net = Backbone()
    model.eval()
    cur, prev, nxt = (torch.randn(1, 3, 384, 288) for _ in range(3))
    w = torch.full((1,), 0.5)

    def forward():
        (fc, fp, fn), (_, hp, hn) = model.backbone(cur, prev, nxt)
        return model.head(fc, fp, fn, hp, hn, w, w)

    return model, forward, {"input": "cur, prev, next [1, 3, 384, 288]", "framesPerForward": 1}


def build_vremd(torch):
    import torch.nn as nn

    cfg = dict(num_heads=16, mlp_ratio=4, human_depth=2, keypoint_depth=2, spatial_depth=1, temporal_depth=1,
               adc_depth=2, adc_mlp_ratio=2, dca_heads=8, dca_points=4, offset_range=4.0, kernel=3, head_channels=256)
    ns = definitions("vremd", D=1024, DEPTH=24, HEADS=16, IMG=(256, 192), GRID=(16, 12), N=192, T=3, J=17, CFG=cfg)
    hm = (64, 48)  # 4x the token grid

    class TokenHead(nn.Module):
        """vremd.py's TokenHead at the paper's 64x48 heatmap: D = 1024 > hw/16, so the one-layer form."""

        def __init__(self):
            super().__init__()
            hw = hm[0] * hm[1]
            assert not 1024 <= (hw // 8) * 0.5
            self.mlp_head = nn.Sequential(nn.LayerNorm(1024), nn.Linear(1024, hw))

        def forward(self, t):
            return self.mlp_head(t).reshape(t.shape[0], 17, *hm)

    ns["TokenHead"] = TokenHead
    model = ns["VREMD"]().eval()
    frames = torch.randn(1, 3, 3, 256, 192)
    return model, lambda: model.forward_tokens(model.encode(frames))["heatmaps"], {"input": "frames [1, 3, 3, 256, 192]", "framesPerForward": 1}


def build_glpose(torch):
    k, n, g = 4, 6, 20
    ns = definitions("glpose", B=1, H=384, W=288, K_SIDE=k, N_KEEP=n, G=g, WIDTH=48, JOINTS=17, T=1 + 2 * k + g)
    model = ns["GLPose"]()
    model.backbone = ns["HRNet"](Wd=48, K=17, stem=64, l1planes=64, l1blocks=4, modules=(1, 4, 3), blocks=4)
    model.eval()
    clip = torch.randn(1, 1 + 2 * k + g, 3, 384, 288)
    offsets = [[d for i in range(1, k + 1) for d in (-i, i)]]
    return model, lambda: model(clip[:, 0], clip[:, 1:1 + 2 * k], clip[:, 1 + 2 * k:], offsets), {"input": f"frames [1, {1 + 2 * k + g}, 3, 384, 288] (key, {2 * k} locals, {g} global candidates)", "framesPerForward": 1}


BUILDERS = {"rpstn": build_rpstn, "fasrnet": build_fasrnet, "vremd": build_vremd, "glpose": build_glpose}


# ----------------------------------------------------------------------------- tiny (smoke test)
def tiny_rpstn(torch):
    ns = definitions("rpstn")
    arch = {"block": ns["BasicBlock"], "layers": [1, 1, 1, 1], "widths": (4, 4, 8, 8), "stem": 4, "C": 8}
    model = ns["RPSTN"](13, arch, arch).eval()
    clip = torch.randn(1, 3, 3, 128, 128)
    return model, lambda: model(clip), {"input": "clip [1, 3, 3, 128, 128]", "framesPerForward": 3}


def tiny_fasrnet(torch):
    ns = definitions("fasrnet", B=1)
    model = init_empty(torch, ns["FaSRnet"]()).eval()
    cur, prev, nxt = (torch.randn(1, 3, 64, 64) for _ in range(3))
    w = torch.full((1,), 0.5)

    def forward():
        (fc, fp, fn), (_, hp, hn) = model.backbone(cur, prev, nxt)
        return model.head(fc, fp, fn, hp, hn, w, w)

    return model, forward, {"input": "cur, prev, next [1, 3, 64, 64]", "framesPerForward": 1}


def tiny_vremd(torch):
    ns = definitions("vremd")
    model = ns["VREMD"]().eval()
    frames = torch.randn(1, 3, 3, 64, 48)
    return model, lambda: model.forward_tokens(model.encode(frames))["heatmaps"], {"input": "frames [1, 3, 3, 64, 48]", "framesPerForward": 1}


def tiny_glpose(torch):
    ns = definitions("glpose", B=1)
    model = ns["GLPose"]().eval()
    clip = torch.randn(1, 6, 3, 64, 64)
    return model, lambda: model(clip[:, 0], clip[:, 1:3], clip[:, 3:], [[-1, 1]]), {"input": "frames [1, 6, 3, 64, 64]", "framesPerForward": 1}


TINY = {"rpstn": tiny_rpstn, "fasrnet": tiny_fasrnet, "vremd": tiny_vremd, "glpose": tiny_glpose}


def measure(name, threads, preset="paper"):
    """Builds network `name` at `preset` in this process and returns the measurement (see the file comment)."""
    if name not in BUILDERS:
        raise ValueError(f"torch_peak_memory: expected one of {list(NETWORKS)}, got '{name}'")
    if preset not in ("paper", "tiny"):
        raise ValueError(f"torch_peak_memory: expected preset paper or tiny, got '{preset}'")
    import torch
    import torchvision  # noqa: F401  (deform_conv2d; imported before the baseline, as the networks need it)

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    for mod in ("hrnet", "rpstn", "fasrnet", "vremd", "glpose"):
        definitions(mod)  # the reference classes: imported before the baseline too
    gc.collect()
    resettable = reset_peak()
    baseline = rss_bytes()

    t0 = time.perf_counter()
    model, forward, info = (BUILDERS if preset == "paper" else TINY)[name](torch)
    build_ms = (time.perf_counter() - t0) * 1000
    params = sum(p.numel() for p in model.parameters())
    after_build = rss_bytes()
    build_peak = peak_rss_bytes()
    reset_peak()

    t0 = time.perf_counter()
    with torch.no_grad():
        out = forward()
    infer_ms = (time.perf_counter() - t0) * 1000
    infer_peak = peak_rss_bytes()
    outs = out if isinstance(out, (tuple, list)) else [out]
    return {
        "network": name,
        "preset": preset,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "parameters": params,
        "input": info["input"],
        "framesPerForward": info["framesPerForward"],
        "output": [list(o.shape) for o in outs],
        "finite": bool(all(torch.isfinite(o).all() for o in outs)),
        "baselineRssBytes": baseline,
        "rssAfterBuildBytes": after_build,
        "buildPeakAboveBaselineBytes": build_peak - baseline,
        "inferPeakAboveBaselineBytes": infer_peak - baseline,
        "peakReset": resettable,
        "buildMs": build_ms,
        "inferMs": infer_ms,
    }


def main(argv):
    opts = {"--threads": "1", "--preset": "paper"}
    rest = []
    i = 0
    while i < len(argv):
        if argv[i] in opts and i + 1 < len(argv):
            opts[argv[i]] = argv[i + 1]
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    threads, preset = opts["--threads"], opts["--preset"]
    if not threads.isdigit() or int(threads) < 1 or preset not in ("paper", "tiny"):
        sys.stderr.write(f"torch_peak_memory: expected --threads N (N >= 1) and --preset paper|tiny, got --threads {threads} --preset {preset}\n")
        return 2
    if rest == ["--all"]:
        code = 0
        for name in NETWORKS:
            r = subprocess.run([sys.executable, os.path.abspath(__file__), name, "--threads", threads, "--preset", preset], stdout=subprocess.PIPE, text=True)
            sys.stdout.write(r.stdout)
            sys.stdout.flush()
            code = code or r.returncode
        return code
    if len(rest) != 1 or rest[0] not in NETWORKS:
        sys.stderr.write(f"torch_peak_memory: expected one of {list(NETWORKS)} or --all, got {rest}\n")
        return 2
    print(json.dumps(measure(rest[0], int(threads), preset)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
