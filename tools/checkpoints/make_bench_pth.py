"""Writes a large zip-format .pth (torch.save layout, without torch) for `digit-bench bench load`.

Usage: python3 tools/checkpoints/make_bench_pth.py OUT.pth [MEGABYTES]
Tensors are float32 [1024, 1024] (4 MiB each) of random values under an OrderedDict, pickled with
protocol 2 exactly as torch.save does (GLOBAL torch._utils._rebuild_tensor_v2, persistent ids
('storage', torch.FloatStorage, key, 'cpu', numel)); records are stored, not compressed.
"""
import collections
import pickle
import sys
import types
import zipfile

import numpy as np

torch = types.ModuleType("torch")
utils = types.ModuleType("torch._utils")
sys.modules["torch"], sys.modules["torch._utils"] = torch, utils


class FloatStorage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


FloatStorage.__module__ = "torch"
torch.FloatStorage = FloatStorage


def _rebuild_tensor_v2(*args):
    raise RuntimeError("never called")


_rebuild_tensor_v2.__module__ = "torch._utils"
utils._rebuild_tensor_v2 = _rebuild_tensor_v2


class Tensor:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, shape

    def __reduce__(self):
        stride = (self.shape[1], 1)
        return (_rebuild_tensor_v2, (self.storage, 0, self.shape, stride, False, collections.OrderedDict()))


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FloatStorage):
            return ("storage", FloatStorage, obj.key, "cpu", obj.numel)
        return None


def main():
    out = sys.argv[1]
    mb = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    n = max(1, mb // 4)
    rng = np.random.default_rng(0)
    sd = collections.OrderedDict()
    arrays = {}
    for i in range(n):
        key = str(i)
        arrays[key] = rng.standard_normal((1024, 1024), dtype=np.float32)
        sd["layers.%d.weight" % i] = Tensor(FloatStorage(key, 1024 * 1024), (1024, 1024))
    import io
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(sd)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        for key, a in arrays.items():
            z.writestr("archive/data/" + key, a.tobytes())
        z.writestr("archive/version", "3\n")


main()
