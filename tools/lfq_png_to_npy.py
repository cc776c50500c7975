#!/usr/bin/env python3
"""Development helper (not used by the test suite once DigitImage decodes PNG):
dumps the Open-MAGVIT2 fixture photos as uint8 HWC .npy files and checks the model-input hash.

usage: python3 tools/lfq_png_to_npy.py [OUT_DIR]   (default /tmp/digit-bench-lfq)
"""
import hashlib, json, os, sys
import numpy as np
from PIL import Image

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "fixtures", "lfq")
out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/digit-bench-lfq"
os.makedirs(out, exist_ok=True)
expected = json.load(open(os.path.join(root, "expected.json")))
hashes = {}
for model in expected["models"].values():
    for inp in model["inputs"]:
        hashes[inp["file"]] = inp["input_sha256_f32_nchw"]
for f, h in sorted(hashes.items()):
    u8 = np.array(Image.open(os.path.join(root, f)).convert("RGB"))
    x = (u8 / 127.5 - 1.0).astype(np.float32).transpose(2, 0, 1)[None]
    ok = hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest() == h
    name = os.path.splitext(os.path.basename(f))[0]
    np.save(os.path.join(out, name + ".npy"), u8)
    print(f"{name}: {u8.shape} input sha256 {'ok' if ok else 'MISMATCH'}")
