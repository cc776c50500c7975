#!/usr/bin/env python3
"""Pillow baseline for `digit-bench bench decode`: decode + ADM center_crop_arr(size), one process.

Usage: python3 tools/bench_pillow_decode.py DIR [--size 256] [--limit 500]   (pip install pillow numpy)
center_crop_arr is restated from openai/guided-diffusion guided_diffusion/image_datasets.py.
"""
import argparse
import os
import time

import numpy as np
from PIL import Image


def center_crop_arr(pil_image, image_size):
    while min(*pil_image.size) >= 2 * image_size:
        pil_image = pil_image.resize(tuple(x // 2 for x in pil_image.size), resample=Image.BOX)
    scale = image_size / min(*pil_image.size)
    pil_image = pil_image.resize(tuple(round(x * scale) for x in pil_image.size), resample=Image.BICUBIC)
    arr = np.array(pil_image)
    crop_y = (arr.shape[0] - image_size) // 2
    crop_x = (arr.shape[1] - image_size) // 2
    return arr[crop_y:crop_y + image_size, crop_x:crop_x + image_size]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--limit", type=int, default=500)
    a = ap.parse_args()
    exts = {"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp"}
    files = sorted(
        os.path.relpath(os.path.join(r, f), a.dir)
        for r, _, fs in os.walk(a.dir) for f in fs if f.rsplit(".", 1)[-1].lower() in exts
    )[: a.limit]
    for f in files:  # warm the page cache, as the Swift bench does
        with open(os.path.join(a.dir, f), "rb") as fh:
            fh.read()
    t0 = time.perf_counter()
    checksum = 0
    for f in files:
        arr = center_crop_arr(Image.open(os.path.join(a.dir, f)).convert("RGB"), a.size)
        checksum += int(arr[0, 0, 0])
    dt = time.perf_counter() - t0
    import PIL
    print(f"images          {len(files)} from {a.dir}")
    print(f"Pillow {PIL.__version__:8s} {len(files) / dt:.1f} images/s (1 process)")
    print(f"checksum        {checksum}")


if __name__ == "__main__":
    main()
