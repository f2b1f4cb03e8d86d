"""PyTorch CPU as a peer of `npm run bench`.

Run by bench/index.ts as `python3 bench/peers/torch_bench.py` with a WorkerJob (bench/protocol.ts)
as JSON on stdin; it answers with the same line protocol as bench/worker.ts (one JSON message per
line, prefixed with MARK), so the parent summarizes its samples exactly as it does for the JS
engines.

Timing mirrors bench/timing.ts: one untimed first call, then a warm-up, then N timed runs
(time.perf_counter), with the same plan thresholds. Each engine entry (torch-1t, torch-2t) sets
torch.set_num_threads before its runs.

Ops: torch.mm, F.conv2d, torchvision.ops.deform_conv2d (with mask, i.e. DCNv2), torch.softmax,
F.layer_norm, F.grid_sample, and attention as softmax(q·kᵀ·scale)·v (torch 1.13 has no
F.scaled_dot_product_attention; it is used when present). "fwd" runs under torch.no_grad();
"fwd+bwd" runs the forward with requires_grad inputs and backward(dy).
"""
import json
import math
import os
import sys
import time

MARK = "@@posegrad-bench "


def send(msg):
    sys.stdout.write(MARK + json.dumps(msg) + "\n")
    sys.stdout.flush()


def plan_timing(first_ms, quick):
    """Same thresholds as planTiming in bench/timing.ts."""
    if quick:
        return {"warmupIterations": 1, "iterations": 3, "timeMs": 0}
    if first_ms > 10000:
        return {"warmupIterations": 0, "iterations": 1, "timeMs": 0}
    if first_ms > 2000:
        return {"warmupIterations": 1, "iterations": 3, "timeMs": 0}
    if first_ms > 300:
        return {"warmupIterations": 1, "iterations": 5, "timeMs": 0}
    if first_ms > 30:
        return {"warmupIterations": 3, "iterations": 10, "timeMs": 1000}
    return {"warmupIterations": 10, "iterations": 20, "timeMs": 1000}


def measure(fn, quick):
    t0 = time.perf_counter()
    fn()
    first_ms = (time.perf_counter() - t0) * 1e3
    plan = plan_timing(first_ms, quick)
    for _ in range(plan["warmupIterations"]):
        fn()
    samples = []
    start = time.perf_counter()
    while len(samples) < plan["iterations"] or (time.perf_counter() - start) * 1e3 < plan["timeMs"]:
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1e3)
    return samples, first_ms, plan


def conv_out(size, k, stride, pad, dilation):
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def prepare(torch, F, tv_ops, spec, mode):
    """Returns (step, note) or raises. `step` runs one iteration."""
    gen = torch.Generator().manual_seed(1)
    bwd = mode == "fwd+bwd"

    def rand(shape, lo=-1.0, hi=1.0, grad=False):
        t = torch.rand(*shape, generator=gen) * (hi - lo) + lo
        return t.requires_grad_(grad and bwd)

    note = None
    op = spec["op"]
    if op == "matmul":
        a, b = rand([spec["M"], spec["K"]], grad=True), rand([spec["K"], spec["N"]], grad=True)
        inputs = [a, b]
        fwd = lambda: torch.mm(a, b)
    elif op in ("conv2d", "deformConv2d"):
        s = spec
        ho = conv_out(s["H"], s["kh"], s["stride"], s["padding"], s["dilation"])
        wo = conv_out(s["W"], s["kw"], s["stride"], s["padding"], s["dilation"])
        x = rand([s["N"], s["Cin"], s["H"], s["W"]], grad=True)
        w = rand([s["Cout"], s["Cin"] // s["groups"], s["kh"], s["kw"]], grad=True)
        if op == "conv2d":
            inputs = [x, w]
            fwd = lambda: F.conv2d(x, w, None, s["stride"], s["padding"], s["dilation"], s["groups"])
        else:
            if tv_ops is None:
                raise RuntimeError("no op (torchvision is not installed)")
            if s["groups"] != 1:
                raise RuntimeError("not supported: torchvision deform_conv2d infers groups from the weight; only groups=1 is benchmarked")
            taps = s["offsetGroups"] * s["kh"] * s["kw"]
            off = rand([s["N"], 2 * taps, ho, wo], -2.0, 2.0, grad=True)
            mask = rand([s["N"], taps, ho, wo], 0.0, 1.0, grad=True)
            inputs = [x, w, off, mask]
            fwd = lambda: tv_ops.deform_conv2d(x, off, w, None, (s["stride"],) * 2, (s["padding"],) * 2, (s["dilation"],) * 2, mask)
            note = "torchvision.ops.deform_conv2d"
    elif op == "softmax":
        x = rand(spec["shape"], grad=True)
        inputs = [x]
        fwd = lambda: torch.softmax(x, -1)
    elif op == "attention":
        s = spec
        q = rand([s["B"], s["H"], s["Lq"], s["D"]], grad=True)
        k = rand([s["B"], s["H"], s["Lk"], s["D"]], grad=True)
        v = rand([s["B"], s["H"], s["Lk"], s["D"]], grad=True)
        inputs = [q, k, v]
        scale = 1.0 / math.sqrt(s["D"])
        if hasattr(F, "scaled_dot_product_attention"):
            fwd = lambda: F.scaled_dot_product_attention(q, k, v)
        else:
            fwd = lambda: torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * scale, -1).matmul(v)
            note = "composed: matmul, softmax, matmul (torch %s has no scaled_dot_product_attention)" % torch.__version__
    elif op == "layerNorm":
        s = spec
        x, g, b = rand([s["rows"], s["cols"]], grad=True), rand([s["cols"]], grad=True), rand([s["cols"]], grad=True)
        inputs = [x, g, b]
        fwd = lambda: F.layer_norm(x, (s["cols"],), g, b, s["eps"])
    elif op == "gridSample":
        s = spec
        x = rand([s["N"], s["C"], s["H"], s["W"]], grad=True)
        grid = rand([s["N"], s["Ho"], s["Wo"], 2], -1.1, 1.1, grad=True)
        inputs = [x, grid]
        fwd = lambda: F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    else:
        raise RuntimeError("no op '%s'" % op)

    if not bwd:
        def step():
            with torch.no_grad():
                fwd()
        return step, note

    with torch.no_grad():
        dy = torch.rand_like(fwd(), dtype=torch.float32)

    def step_bwd():
        for t in inputs:
            t.grad = None
        fwd().backward(dy)
    return step_bwd, note


def loaded_blas():
    """The BLAS libraries this process mapped (torch.mm, bmm and torchvision's deform_conv2d go
    through BLAS; a Debian torch uses the system's libblas.so.3, which may be the reference BLAS or
    OpenBLAS): their resolved paths from /proc/self/maps, or torch's BLAS_INFO elsewhere."""
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if "blas" in line.lower() and "/" in line})
        return ", ".join(os.path.realpath(x) for x in libs) or "none mapped"
    except OSError:
        return "unknown"


def main():
    job = json.load(sys.stdin)
    engines = job["engines"]
    ids = [e["id"] for e in engines]
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001 - any import failure means "not installed" here
        send({"type": "engine", "engineIds": ids, "ok": False, "error": "torch: not installed (%s)" % e})
        send({"type": "done", "maxRssBytes": 0})
        return
    try:
        import torchvision
        import torchvision.ops as tv_ops
        tv_version = torchvision.__version__
    except Exception:  # noqa: BLE001
        tv_ops, tv_version = None, "not installed"
    details = {
        "torchvision": tv_version,
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "threads": ",".join(str(e["threads"]) for e in engines),
        "python": sys.version.split()[0],
        "blas": loaded_blas(),
    }
    send({"type": "engine", "engineIds": ids, "ok": True, "start": {"version": "torch %s" % torch.__version__, "details": details}})
    quick = bool(job["quick"])
    for k in job["kernels"]:
        for mode in k["modes"]:
            for e in engines:
                torch.set_num_threads(int(e["threads"]))
                base = {"type": "cell", "engineId": e["id"], "workload": k["id"], "mode": mode}
                try:
                    step, note = prepare(torch, F, tv_ops, k["spec"], mode)
                    samples, first_ms, plan = measure(step, quick)
                    cell = dict(base, status="ok", samples=samples, firstMs=first_ms, plan=plan)
                    if note:
                        cell["note"] = note
                    send(cell)
                except Exception as ex:  # noqa: BLE001 - reported in the table, not raised
                    msg = str(ex).splitlines()[0] if str(ex) else type(ex).__name__
                    na = any(w in msg.lower() for w in ("not supported", "not implemented", "no op"))
                    send(dict(base, status="na" if na else "error", reason=msg))
    import resource
    send({"type": "done", "maxRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})


if __name__ == "__main__":
    main()
