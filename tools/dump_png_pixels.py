#!/usr/bin/env python3
"""Dev helper (branch vq): decode fixture PNGs to uint8 HWC .npy files with Pillow, for the VQ
tokenizer tests to read while DigitImage's PNG decoder is not merged yet.

    python3 tools/dump_png_pixels.py OUT_DIR PNG...

Writes OUT_DIR/<png basename without .png>.npy (uint8, [H, W, 3]).
"""
import os
import sys

import numpy as np
from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for path in sys.argv[2:]:
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
    name = os.path.splitext(os.path.basename(path))[0]
    np.save(os.path.join(out, name + ".npy"), a)
    print(name, a.shape)
