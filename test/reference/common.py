"""Shared helpers for the PyTorch reference scripts that write posegrad's test fixtures.

Run with Debian's torch:  /usr/bin/python3 test/reference/<script>.py
Each script writes test/fixtures/<group>/<name>.safetensors: float64 inputs, the output, a random
upstream gradient `gout`, and the gradient of sum(out * gout) for every differentiable input.
Case parameters travel as JSON in the safetensors metadata ("cases").
"""
import json
import os
import struct

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")

_ST = {torch.float64: "F64", torch.float32: "F32", torch.int32: "I32", torch.int64: "I64", torch.bool: "BOOL", torch.uint8: "U8"}


def save_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} (contiguous, little-endian) and string metadata as safetensors."""
    header = {}
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        if t.dtype not in _ST:
            raise ValueError(f"unsupported dtype {t.dtype} for {name}")
        b = t.numpy().tobytes()
        header[name] = {"dtype": _ST[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class Fixture:
    """Collects cases for one fixture file.

    case(name, fn, inputs, params, grad=[...]) runs fn(**inputs) in float64, draws gout with the
    case's own seed, backpropagates sum(out * gout) and stores everything under "<name>/".
    fn may return a tensor or a tuple (the first element is `out`; others are stored as out1, out2...).
    """

    def __init__(self, group, name):
        self.path = os.path.join(FIXTURES, group, f"{name}.safetensors")
        self.tensors = {}
        self.cases = []

    def case(self, name, fn, inputs, params=None, grad=None, seed=0):
        assert name not in [c["name"] for c in self.cases], name
        grad = list(inputs.keys()) if grad is None else grad
        ins = {}
        for k, v in inputs.items():
            v = v.detach().clone()
            if v.is_floating_point():
                v = v.double()
                v.requires_grad_(k in grad)
            ins[k] = v
        res = fn(**ins)
        outs = list(res) if isinstance(res, (tuple, list)) else [res]
        out = outs[0]
        meta = {"name": name, "inputs": {k: str(v.dtype).replace("torch.", "") for k, v in ins.items()},
                "params": params or {}, "grads": [], "outputs": len(outs)}
        for k, v in ins.items():
            self.tensors[f"{name}/{k}"] = v.detach()
        for i, o in enumerate(outs):
            self.tensors[f"{name}/out" if i == 0 else f"{name}/out{i}"] = o.detach()
        if out.is_floating_point() and any(ins[k].requires_grad for k in grad if k in ins):
            g = torch.Generator().manual_seed(1000 + seed + len(self.cases))
            gout = torch.randn(out.shape, generator=g, dtype=torch.float64)
            (out * gout).sum().backward()
            self.tensors[f"{name}/gout"] = gout
            for k in grad:
                if ins[k].grad is not None:
                    self.tensors[f"{name}/grad_{k}"] = ins[k].grad.detach()
                    meta["grads"].append(k)
        self.cases.append(meta)

    def save(self):
        save_safetensors(self.path, self.tensors, {"cases": json.dumps(self.cases)})
        size = os.path.getsize(self.path)
        print(f"wrote {os.path.relpath(self.path, ROOT)}: {len(self.cases)} cases, {size / 1024:.1f} KiB")


def randn(*shape, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(tuple(shape), generator=g, dtype=torch.float64) * scale


def rand(*shape, seed=0, lo=0.0, hi=1.0):
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(tuple(shape), generator=g, dtype=torch.float64)
