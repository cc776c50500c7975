#!/usr/bin/env python3
"""Local development aid (not used by the final tests): decode the Inception fixture PNGs to
uint8 HWC .npy files so InceptionTests can run before DigitImage's PNG decoder is merged.

    python3 tools/inception_png_to_npy.py [/work/shared] [/tmp/digit-bench-inception]
"""
import os
import sys

import numpy as np
from PIL import Image

shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared")
out = sys.argv[2] if len(sys.argv) > 2 else "/tmp/digit-bench-inception"
os.makedirs(out, exist_ok=True)
src = os.path.join(shared, "fixtures", "inception", "images")
for name in sorted(os.listdir(src)):
    if name.endswith(".png"):
        arr = np.asarray(Image.open(os.path.join(src, name)).convert("RGB"), dtype=np.uint8)
        np.save(os.path.join(out, name[:-4] + ".npy"), arr)
        print(name, arr.shape)
