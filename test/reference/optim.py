"""PyTorch fixtures for the optimizers, schedules and gradient clipping (models/nn/optim.ts).

Run: /usr/bin/python3 test/reference/optim.py   (Debian's python3-torch, torch 1.13)
Writes test/fixtures/optim/optim.safetensors.

The problem is a small linear regression, loss = mean((X Wᵀ + b - Y)²), with W [3, 4] and b [3],
which posegrad differentiates with its own ops. Each config runs 5 steps in float64 and stores W and
b after every step (`<config>/W/<k>`, `<config>/b/<k>`), plus the lr of every group after each
step when a scheduler runs (`<config>/lr`) and the total norm returned by clip_grad_norm_
(`<config>/norm`). The configs travel as JSON in the metadata ("configs").
"""
import json

import torch

from common import FIXTURES, randn, save_safetensors  # noqa: F401

STEPS = 5
X = randn(6, 4, seed=1)
Y = randn(6, 3, seed=2)
W0 = randn(3, 4, seed=3, scale=0.5)
B0 = randn(3, seed=4, scale=0.5)

CONFIGS = [
    # name, optimizer, options (posegrad names), groups (None: one group of [W, b]), scheduler, clip
    dict(name="sgd", opt="SGD", options=dict(lr=0.1)),
    dict(name="sgd_momentum", opt="SGD", options=dict(lr=0.05, momentum=0.9, dampening=0.1)),
    dict(name="sgd_nesterov_wd", opt="SGD", options=dict(lr=0.05, momentum=0.9, nesterov=True, weightDecay=0.01)),
    dict(name="sgd_groups", opt="SGD", options=dict(lr=0.1, momentum=0.5),
         groups=[dict(params=["W"]), dict(params=["b"], lr=0.01, momentum=0.9)]),
    dict(name="adam", opt="Adam", options=dict(lr=0.05)),
    dict(name="adam_wd_amsgrad", opt="Adam", options=dict(lr=0.1, betas=[0.8, 0.5], eps=1e-6, weightDecay=0.1, amsgrad=True)),
    dict(name="adamw", opt="AdamW", options=dict(lr=0.05, weightDecay=0.1)),
    dict(name="adamw_amsgrad", opt="AdamW", options=dict(lr=0.1, betas=[0.8, 0.5], amsgrad=True)),
    dict(name="adam_groups", opt="Adam", options=dict(lr=0.05),
         groups=[dict(params=["W"], lr=0.02), dict(params=["b"], betas=[0.5, 0.9], weightDecay=0.2)]),
    dict(name="multistep", opt="SGD", options=dict(lr=0.1, momentum=0.9),
         scheduler=dict(kind="MultiStepLR", milestones=[2, 4, 4], gamma=0.5)),
    dict(name="multistep_groups", opt="AdamW", options=dict(lr=0.05),
         groups=[dict(params=["W"]), dict(params=["b"], lr=0.2)],
         scheduler=dict(kind="MultiStepLR", milestones=[1, 3], gamma=0.1)),
    dict(name="lambda", opt="Adam", options=dict(lr=0.1), scheduler=dict(kind="LambdaLR", fn="1/(1+e)")),
    dict(name="clip2", opt="SGD", options=dict(lr=0.1, momentum=0.9), clip=dict(maxNorm=0.5, normType=2)),
    dict(name="clip_inf", opt="SGD", options=dict(lr=0.1), clip=dict(maxNorm=0.3, normType="inf")),
    dict(name="clip1_adam", opt="Adam", options=dict(lr=0.05), clip=dict(maxNorm=1.0, normType=1)),
    dict(name="clip3_loose", opt="SGD", options=dict(lr=0.1), clip=dict(maxNorm=100.0, normType=3)),
]

TORCH_NAMES = dict(weightDecay="weight_decay")


def torch_opts(o):
    out = {}
    for k, v in o.items():
        if k == "params":
            continue
        out[TORCH_NAMES.get(k, k)] = tuple(v) if k == "betas" else v
    return out


def run(cfg):
    W = W0.clone().requires_grad_(True)
    b = B0.clone().requires_grad_(True)
    named = dict(W=W, b=b)
    if cfg.get("groups"):
        params = [dict(params=[named[n] for n in g["params"]], **torch_opts(g)) for g in cfg["groups"]]
    else:
        params = [W, b]
    opt = getattr(torch.optim, cfg["opt"])(params, **torch_opts(cfg["options"]))
    sched = None
    s = cfg.get("scheduler")
    if s and s["kind"] == "MultiStepLR":
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=s["milestones"], gamma=s["gamma"])
    elif s and s["kind"] == "LambdaLR":
        assert s["fn"] == "1/(1+e)"
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1 / (1 + e))
    out = {}
    lrs, norms = [], []
    for k in range(STEPS):
        opt.zero_grad()
        loss = ((X @ W.t() + b - Y) ** 2).mean()
        loss.backward()
        c = cfg.get("clip")
        if c:
            nt = float("inf") if c["normType"] == "inf" else c["normType"]
            norms.append(float(torch.nn.utils.clip_grad_norm_([W, b], c["maxNorm"], nt)))
        opt.step()
        if sched:
            sched.step()
            lrs.append(sched.get_last_lr())
        out[f"{cfg['name']}/W/{k}"] = W.detach().clone()
        out[f"{cfg['name']}/b/{k}"] = b.detach().clone()
    if lrs:
        out[f"{cfg['name']}/lr"] = torch.tensor(lrs, dtype=torch.float64)
    if norms:
        out[f"{cfg['name']}/norm"] = torch.tensor(norms, dtype=torch.float64)
    return out


tensors = dict(X=X, Y=Y, W0=W0, b0=B0)
for cfg in CONFIGS:
    tensors.update(run(cfg))

# Sanity: amsgrad must change the trajectory on this problem, or the amsgrad cases test nothing.
plain = run(dict(name="t", opt="Adam", options=dict(lr=0.1, betas=[0.8, 0.5], eps=1e-6, weightDecay=0.1)))
assert not torch.allclose(plain["t/W/4"], tensors["adam_wd_amsgrad/W/4"]), "amsgrad has no effect"
# Sanity: clipping must be active in the clipping cases (and inactive in clip3_loose).
assert tensors["clip2/norm"].max() > 0.5 and tensors["clip_inf/norm"].max() > 0.3
assert tensors["clip3_loose/norm"].max() < 100

path = f"{FIXTURES}/optim/optim.safetensors"
save_safetensors(path, tensors, {"configs": json.dumps(CONFIGS), "steps": str(STEPS)})
print(f"wrote {path}: {len(CONFIGS)} configs")
