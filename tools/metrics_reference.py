"""Reference values for Tests/DigitMetricsTests that are not in shared/fixtures/metrics.

    python3 tools/metrics_reference.py        # prints the values pasted into the tests

* SSIM / PSNR: scikit-image's structural_similarity / peak_signal_noise_ratio on two
  deterministic uint8 images (TestRNG = SplitMix64, as Tests/_DigitTestSupport/Compare.swift),
  (a) on the uint8 images (float64 inside skimage, data_range 255) and (b) as Open-MAGVIT2's
  evaluation_image.py feeds them (float32 /255, data_range=1.0, channel_axis=-1).
* ADM Inception Score: the numpy part of guided-diffusion evaluations/evaluator.py
  compute_inception_score (float32 softmax here by numpy, since TensorFlow is not installed),
  on the isc_n5000 / isc_n1237 logits of shared/fixtures/metrics.
"""
import sys, os
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tools"))
M64 = (1 << 64) - 1


class TestRNG:
    def __init__(self, seed):
        self.state = seed

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)


def test_images(h, w, c, seed):
    """a: gradient + texture; b: a + noise in [-12, 12], clipped (integers only, exact in Swift)."""
    rng = TestRNG(seed)
    a = np.zeros((h, w, c), np.uint8)
    b = np.zeros((h, w, c), np.uint8)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                r = rng.next()
                v = (3 * x + 5 * y + 40 * ch + (r % 48)) % 256
                n = int((r >> 8) % 25) - 12
                a[y, x, ch] = v
                b[y, x, ch] = min(255, max(0, v + n))
    return a, b


def ssim_psnr():
    from skimage.metrics import structural_similarity as ssim, peak_signal_noise_ratio as psnr
    import skimage
    print("skimage", skimage.__version__, "numpy", np.__version__)
    for (h, w, seed) in [(32, 40, 1), (17, 23, 2)]:
        a, b = test_images(h, w, 3, seed)
        print(f"images {h}x{w}x3 seed {seed}: sum a {int(a.sum())} sum b {int(b.sum())}")
        print("  uint8 ssim  %.17g" % ssim(a, b, channel_axis=-1, data_range=255))
        print("  uint8 psnr  %.17g" % psnr(a, b, data_range=255))
        af, bf = a.astype(np.float32) / 255.0, b.astype(np.float32) / 255.0
        print("  om2 ssim    %.17g" % ssim(bf, af, data_range=1.0, channel_axis=-1))
        print("  om2 psnr    %.17g" % psnr(af, bf))
        print("  gray ssim   %.17g" % ssim(a[..., 0], b[..., 0], data_range=255))


def adm_is():
    from seeded_weights import seeded_tensor
    for key, n in [("fixtures/metrics/isc_n5000/logits", 5000), ("fixtures/metrics/isc_n1237/logits", 1237)]:
        L = np.float32(20) * seeded_tensor(key, [n, 1008])
        for i in range(n):
            L[i, (i * 7919) % 1008] += np.float32(8)
        z = L - L.max(axis=1, keepdims=True)
        e = np.exp(z)
        preds = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        scores = []
        for i in range(0, len(preds), 5000):
            part = preds[i: i + 5000]
            kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
            kl = np.mean(np.sum(kl, 1))
            scores.append(np.exp(kl))
        print(f"adm IS {key}: %.17g" % float(np.mean(scores)))


if __name__ == "__main__":
    ssim_psnr()
    adm_is()
