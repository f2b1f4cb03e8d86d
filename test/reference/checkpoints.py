"""PyTorch checkpoints for the .pth loader (models/nn/checkpoint/), written by torch.save itself.

Run: /usr/bin/python3 test/reference/checkpoints.py   (Debian's python3-torch, torch 1.13)
Writes into test/fixtures/checkpoints/ (a few KB each):

  model.{zip,legacy}.pth    state_dict of a tiny nn.Sequential(conv, bn, relu, flatten, linear),
                            with BN running stats and the int64 num_batches_tracked
  misc.{zip,legacy}.pth     float16/bfloat16/float64, int64/32/16/8, uint8, bool tensors, a
                            transposed view, a strided slice with a storage offset, two views of
                            one storage, a 0-d and an empty tensor
  nested.{zip,legacy}.pth   {'epoch', 'state_dict' with 'module.' prefixes, 'optimizer' (Adam after
                            3 steps), numpy scalar, tuple, list, None, bool, str}
  model.tar.pth             the oldest (tar) container, built by hand in the layout that
                            torch.serialization._legacy_load reads, and checked by torch.load
  model.deflate.pth         the zip re-packed with deflate (as `zip -r` would), checked by torch.load
  model.zip64.pth           the zip re-packed with zip64 records, checked by torch.load
  model.bigendian.pth       the zip with byte-swapped storages and byteorder = 'big' (torch >= 2.1's record)
  pyvalues.*.pth            sets, bytes, torch.Size/device/dtype, numpy scalars and arrays (a big-endian
                            Fortran-order one), unicode; pickle protocols 2 and 5 (zip) and 4 (legacy)
  bad_*.pth                 malicious or unsupported files (never loaded here): a pickle calling
                            os.system, one calling builtins.eval, a pickled user class, a complex
                            tensor, a tensor whose view runs past its storage, a TorchScript archive
  expected.safetensors      the expected values: every tensor above, converted as posegrad converts
                            (halves → float32, integers → int32), plus the model's output on a
                            fixed input and the Adam continuation (2 more steps) for the optimizer
"""
import copy
import io
import os
import pickle
import struct
import tarfile
import zipfile
from collections import OrderedDict

import numpy as np
import torch

from common import FIXTURES, save_safetensors

OUT = os.path.join(FIXTURES, "checkpoints")
os.makedirs(OUT, exist_ok=True)
expected = {}


def path(name):
    return os.path.join(OUT, name)


def save_both(obj, name):
    torch.save(obj, path(f"{name}.zip.pth"))
    torch.save(obj, path(f"{name}.legacy.pth"), _use_new_zipfile_serialization=False)
    for fmt in ("zip", "legacy"):
        back = torch.load(path(f"{name}.{fmt}.pth"))
        assert type(back) is type(obj)


def host(t):
    """posegrad's host conversion of a tensor: contiguous; floats to float32 (float64 kept), ints to int32."""
    t = t.detach().contiguous()
    if t.dtype == torch.float64:
        return t.clone()
    if t.is_floating_point():
        return t.float()
    return t.to(torch.int32)


# ---------------------------------------------------------------------------- the tiny model
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Conv2d(2, 3, 3),
    torch.nn.BatchNorm2d(3),
    torch.nn.ReLU(),
    torch.nn.Flatten(),
    torch.nn.Linear(12, 4),
).double()
model.train()
model(torch.randn(5, 2, 4, 4, dtype=torch.float64))  # moves the BN running stats, num_batches_tracked = 1
model.eval()
sd = copy.deepcopy(model.state_dict())  # a snapshot (training below moves the live tensors), keeping _metadata
assert sd["1.num_batches_tracked"].dtype == torch.int64 and hasattr(sd, "_metadata")
save_both(sd, "model")
for k, v in sd.items():
    expected[f"model/{k}"] = host(v)
x = torch.randn(2, 2, 4, 4, dtype=torch.float64)
expected["model_input"] = x
expected["model_output"] = model(x).detach()

# ---------------------------------------------------------------------------- dtypes and views
base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8 - 1
shared = torch.arange(10, dtype=torch.float32)
misc = OrderedDict(
    f16=torch.tensor([0.5, -1.25, 65504.0, 6.1e-5, 0.0], dtype=torch.float16),
    bf16=torch.tensor([1.5, -3.0, 1e20, 0.0078125], dtype=torch.bfloat16),
    f64=torch.tensor([[1 / 3, -2.5e-300], [1e300, 7.0]], dtype=torch.float64),
    i64=torch.tensor([-(2 ** 31), 2 ** 31 - 1, 0, -7], dtype=torch.int64),
    i32=torch.tensor([[-5, 6], [7, -(2 ** 31)]], dtype=torch.int32),
    i16=torch.tensor([-32768, 32767], dtype=torch.int16),
    i8=torch.tensor([-128, 127, 3], dtype=torch.int8),
    u8=torch.tensor([0, 255, 17], dtype=torch.uint8),
    b=torch.tensor([True, False, True]),
    transposed=base.t(),
    sliced=base[1:, ::2],
    head=shared[:4],
    tail=shared[6:].view(2, 2),
    scalar=torch.tensor(3.5),
    empty=torch.zeros(0, 3),
)
assert not misc["transposed"].is_contiguous() and misc["sliced"].storage_offset() == 6
save_both(misc, "misc")
for k, v in misc.items():
    expected[f"misc/{k}"] = host(v)

# ---------------------------------------------------------------------------- a training checkpoint
opt = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9), weight_decay=0.01, amsgrad=True)
target = torch.randn(2, 4, dtype=torch.float64)


def train_step():
    opt.zero_grad()
    loss = ((model(x) - target) ** 2).mean()
    loss.backward()
    opt.step()


for _ in range(3):
    train_step()
nested = {
    "epoch": 7,
    "arch": "tiny",
    "state_dict": OrderedDict((f"module.{k}", v) for k, v in model.state_dict().items()),
    "optimizer": opt.state_dict(),
    "best_perf": np.float64(0.8125),
    "lrs": [0.1, 0.01],
    "pair": (1, 2.5, "x"),
    "flag": True,
    "nothing": None,
    "big": 2 ** 40,
}
save_both(nested, "nested")
for k, v in model.state_dict().items():
    expected[f"nested/{k}"] = host(v)
expected["nested/target"] = target
for _ in range(2):
    train_step()
for k, v in model.state_dict().items():
    expected[f"continued/{k}"] = host(v)

# ---------------------------------------------------------------------------- the tar container
def write_tar(obj_sd, name):
    """The pre-0.1.10 layout read by torch.serialization._legacy_load: 'storages', 'tensors', 'pickle'."""
    tensors = list(obj_sd.values())
    storages = []
    for t in tensors:
        if not any(s is t.storage() or s.data_ptr() == t.storage().data_ptr() for s in storages):
            storages.append(t.storage())
    skey = {s.data_ptr(): i for i, s in enumerate(storages)}
    sbuf = io.BytesIO()
    pickle.dump(len(storages), sbuf, protocol=2)
    for i, s in enumerate(storages):
        pickle.dump((i, "cpu", getattr(torch, s.pickle_storage_type())), sbuf, protocol=2)
        sbuf.write(struct.pack("<q", s.size()))
        sbuf.write(bytes(bytearray(s.untyped())))
    pickle.dump([], sbuf, protocol=2)  # no storage views
    tbuf = io.BytesIO()
    pickle.dump(len(tensors), tbuf, protocol=2)
    tkey = {}
    for j, t in enumerate(tensors):
        key = 100 + j
        tkey[id(t)] = key
        pickle.dump((key, skey[t.storage().data_ptr()], torch.FloatTensor), tbuf, protocol=2)
        tbuf.write(struct.pack("<i", t.dim()) + b"\0\0\0\0")
        tbuf.write(struct.pack(f"<{t.dim()}q", *t.shape))
        tbuf.write(struct.pack(f"<{t.dim()}q", *t.stride()))
        tbuf.write(struct.pack("<q", t.storage_offset()))

    class P(pickle.Pickler):
        def persistent_id(self, o):
            return str(tkey[id(o)]) if isinstance(o, torch.Tensor) else None

    pbuf = io.BytesIO()
    P(pbuf, protocol=2).dump(obj_sd)
    with tarfile.open(path(name), "w", format=tarfile.PAX_FORMAT) as tar:
        for member, buf in (("storages", sbuf), ("tensors", tbuf), ("pickle", pbuf)):
            data = buf.getvalue()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


tar_sd = OrderedDict(
    w=torch.arange(6, dtype=torch.float32).reshape(2, 3) - 2.5,
    wt=torch.arange(6, dtype=torch.float32).reshape(2, 3).t(),
    n=torch.tensor(5, dtype=torch.int64),
    h=torch.tensor([0.25, -2.0], dtype=torch.float16),
)
write_tar(tar_sd, "model.tar.pth")
back = torch.load(path("model.tar.pth"))
for k, v in tar_sd.items():
    assert torch.equal(back[k], v), k
    expected[f"tar/{k}"] = host(v)

# ---------------------------------------------------------------------------- deflate
with zipfile.ZipFile(path("model.zip.pth")) as src, zipfile.ZipFile(path("model.deflate.pth"), "w", zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        dst.writestr(info.filename, src.read(info.filename))
back = torch.load(path("model.deflate.pth"))
orig = torch.load(path("model.zip.pth"))
assert all(torch.equal(back[k], v) for k, v in orig.items())
assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zipfile.ZipFile(path("model.deflate.pth")).infolist())

# ---------------------------------------------------------------------------- Python values, pickle protocols 2 to 5
pyvalues = {
    "w": torch.arange(6, dtype=torch.float32).reshape(2, 3),
    "set": {1, 2},
    "frozen": frozenset([3]),
    "bytes": b"xy\x00\xff",
    "size": torch.Size([2, 3]),
    "device": torch.device("cuda", 0),
    "dtype": torch.float16,
    "np_f32": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
    "np_f64_be_fortran": np.asfortranarray(np.array([[1.5, -2.0, 3.0], [4.0, 5.25, -6.0]], dtype=">f8")),
    "np_i64": np.int64(-5),
    "np_bool": np.bool_(True),
    "unicode": "pose \u00e9\u4e2d",
}
torch.save(pyvalues, path("pyvalues.p2.zip.pth"))
torch.save(pyvalues, path("pyvalues.p5.zip.pth"), pickle_protocol=5)
torch.save(pyvalues, path("pyvalues.p4.legacy.pth"), pickle_protocol=4, _use_new_zipfile_serialization=False)
for f in ("pyvalues.p2.zip.pth", "pyvalues.p5.zip.pth", "pyvalues.p4.legacy.pth"):
    back = torch.load(path(f))
    assert back["set"] == {1, 2} and back["dtype"] == torch.float16 and torch.equal(back["w"], pyvalues["w"]), f
expected["pyvalues/w"] = host(pyvalues["w"])
expected["pyvalues/np_f32"] = torch.from_numpy(pyvalues["np_f32"].copy())
expected["pyvalues/np_f64_be_fortran"] = torch.from_numpy(np.ascontiguousarray(pyvalues["np_f64_be_fortran"]).astype("<f8"))

# ---------------------------------------------------------------------------- zip64 records and a big-endian archive
_limits = (zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT)
zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 0, 0  # force zip64 extra fields and end records
with zipfile.ZipFile(path("model.zip.pth")) as src, zipfile.ZipFile(path("model.zip64.pth"), "w", zipfile.ZIP_STORED) as dst:
    for info in src.infolist():
        dst.writestr(info.filename, src.read(info.filename))
zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = _limits
raw64 = bytearray(open(path("model.zip64.pth"), "rb").read())
assert b"PK\x06\x06" in raw64 and b"PK\x06\x07" in raw64, "no zip64 end records"
# Python keeps the real (small) values in the classic end record; saturate them, as writers of
# large archives do, so that readers must follow the zip64 locator.
assert raw64[-22:-18] == b"PK\x05\x06"
raw64[-14:-6] = struct.pack("<HHI", 0xFFFF, 0xFFFF, 0xFFFFFFFF)
raw64[-6:-2] = struct.pack("<I", 0xFFFFFFFF)
open(path("model.zip64.pth"), "wb").write(bytes(raw64))
back = torch.load(path("model.zip64.pth"))
assert all(torch.equal(back[k], v) for k, v in orig.items())

# torch >= 2.1 records the byte order in '<archive>/byteorder'; torch 1.13 cannot write a big-endian
# archive, so this one is made by byte-swapping each storage of model.zip.pth (element sizes from
# the state dict) and adding byteorder = 'big'.
with zipfile.ZipFile(path("model.zip.pth")) as src, zipfile.ZipFile(path("model.bigendian.pth"), "w", zipfile.ZIP_STORED) as dst:
    names = src.namelist()
    prefix = names[0].split("/")[0]
    sizes = {}
    for i, (k, v) in enumerate(orig.items()):
        sizes[f"{prefix}/data/{i}"] = v.element_size()
    for n in names:
        data = src.read(n)
        if n in sizes:
            w = sizes[n]
            data = b"".join(data[j:j + w][::-1] for j in range(0, len(data), w))
        dst.writestr(n, data)
    dst.writestr(f"{prefix}/byteorder", "big")

# ---------------------------------------------------------------------------- bad files (never loaded)
def zip_pickle(name, payload, storages=()):
    with zipfile.ZipFile(path(name), "w", zipfile.ZIP_STORED) as z:
        z.writestr("bad/data.pkl", payload)
        for key, data in storages:
            z.writestr(f"bad/data/{key}", data)
        z.writestr("bad/version", "3\n")


class CallsSystem:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


class CallsEval:
    def __reduce__(self):
        return (eval, ("1+1",))


class UserThing:
    def __init__(self):
        self.value = 3


zip_pickle("bad_system.pth", pickle.dumps({"w": CallsSystem()}, protocol=2))
zip_pickle("bad_eval.pth", pickle.dumps({"w": CallsEval()}, protocol=2))
torch.save({"thing": UserThing(), "w": torch.ones(2)}, path("bad_class.pth"))
torch.save({"c": torch.zeros(2, dtype=torch.complex64)}, path("bad_complex.pth"))


class FakeStorage:
    pass


class FakeTensor:
    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, (FakeStorage(), 1, (4,), (1,), False, OrderedDict()))


class StoragePickler(pickle.Pickler):
    def persistent_id(self, o):
        return ("storage", torch.FloatStorage, "0", "cpu", 3) if isinstance(o, FakeStorage) else None


buf = io.BytesIO()
StoragePickler(buf, protocol=2).dump({"w": FakeTensor()})
zip_pickle("bad_bounds.pth", buf.getvalue(), [("0", struct.pack("<3f", 1, 2, 3))])
try:
    torch.load(path("bad_bounds.pth"))
    raise AssertionError("torch accepted an out-of-bounds view")
except RuntimeError:
    pass

torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path("bad_script.pth"))

save_safetensors(path("expected.safetensors"), expected)
for f in sorted(os.listdir(OUT)):
    print(f"{f}: {os.path.getsize(os.path.join(OUT, f))} bytes")
