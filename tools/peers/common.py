"""Shared helpers of the peer benchmarks (`digit-bench bench peers`): threads, timing, peak RSS,
seeded weights by state-dict key (shared/spec/seeded-weights.md) and the one-line JSON result."""
import json
import os
import resource
import sys
import time


def setup(threads: int, shared: str):
    """Pins every BLAS/OpenMP pool to `threads` (before numpy/torch import) and makes
    shared/tools/seeded_weights.py importable."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    sys.path.insert(0, os.path.join(shared, "tools"))


def torch_threads(threads: int):
    import torch
    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    return torch


def peak_rss_kb() -> int:
    """This process's peak resident set in kB: VmHWM of /proc/self/status. (ru_maxrss is not used:
    Linux carries the parent's high-water mark across fork + exec, so a child started by a large
    process would report the parent's peak.)"""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def best_of(repeats: int, body, warmup: bool = True):
    """Minimum wall seconds of `body()` over `repeats` runs (after one warm-up run), and its last result."""
    out = body() if warmup else None
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = body()
        best = min(best, time.perf_counter() - t0)
    return best, out


def seeded_state_dict(module, manifest: str = None):
    """Every float entry of `module.state_dict()` filled with seeded values by key (integer buffers
    left alone). With `manifest` (a shared/fixtures/manifests/*.json), first asserts that the module's
    keys and shapes are exactly upstream's."""
    import numpy as np
    import torch
    from seeded_weights import seeded_tensor

    sd = module.state_dict()
    if manifest:
        with open(manifest) as f:
            want = {e["key"]: list(e["shape"]) for e in json.load(f)["entries"]}
        have = {k: list(v.shape) for k, v in sd.items()}
        if have != want:
            missing = sorted(set(want) - set(have))[:5]
            extra = sorted(set(have) - set(want))[:5]
            shape = [k for k in set(want) & set(have) if want[k] != have[k]][:5]
            raise SystemExit(f"state-dict keys differ from {manifest}: missing {missing}, unexpected {extra}, shapes {shape}")
    out = {}
    for k, v in sd.items():
        out[k] = torch.from_numpy(np.ascontiguousarray(seeded_tensor(k, list(v.shape)))) if v.is_floating_point() else v
    return out


def emit(result: dict):
    """The one line `digit-bench bench peers` parses (last line of stdout)."""
    result.setdefault("peak_rss_kb", peak_rss_kb())
    print(json.dumps(result), flush=True)
