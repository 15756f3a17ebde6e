"""FID and KID on image patches, for small evaluation sets.

FID (Heusel et al., "GANs trained by a two time-scale update rule converge to a local Nash
equilibrium", NeurIPS 2017) is the Frechet distance between Gaussians fitted to Inception-v3 pool3
features (2048-d) of two image sets; KID (Binkowski et al., "Demystifying MMD GANs", ICLR 2018) is
the unbiased squared MMD with the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``, which has
no bias from small sample sizes.

A codec test set has tens of images, far too few for a 2048-d covariance. HiFiC (Mentzer et al.,
"High-Fidelity Generative Image Compression", NeurIPS 2020, Sec. 4 and App. A) therefore computes
both on 256x256 patches: every image is cut into non-overlapping patches on a grid, and again on the
grid shifted by half a patch (128 px), which roughly doubles the count. :func:`extract_patches` does
exactly that. Each patch is resized to 299x299 (bilinear) by the Inception wrapper, as pytorch-fid.

With fewer patches than feature dimensions the covariance is rank-deficient; FID is still defined
(and computed exactly, see :func:`frechet_distance`) but has a large positive bias, so only compare
FIDs computed on the same patch set. KID is the better number for small sets.
"""

from __future__ import annotations

import numpy as np


def extract_patches(img: np.ndarray, size: int = 256) -> np.ndarray:
    """HiFiC patches of an HxWx3 uint8 image: grid at offset 0 and at offset ``size // 2``.

    Returns:
        uint8 array (N, size, size, 3); N is 0 for images smaller than ``size``.
    """
    h, w = img.shape[:2]
    out = []
    for off in (0, size // 2):
        for y in range(off, h - size + 1, size):
            for x in range(off, w - size + 1, size):
                out.append(img[y : y + size, x : x + size])
    if not out:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    return np.stack(out)


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2)`` between two feature sets (N, d).

    ``tr sqrt(S1 S2)`` is computed without ``scipy.linalg.sqrtm`` (slow and complex-valued on
    near-singular matrices): with centred features ``A_i`` and ``S_i = A_i^T A_i / (n_i - 1)``, the
    non-zero eigenvalues of ``S1 S2`` are the squared singular values of
    ``A1 A2^T / sqrt((n1-1)(n2-1))``, an n1 x n2 matrix, which is small exactly when the set is. For
    large sets the d x d route ``eig(sqrt(S1) S2 sqrt(S1))`` is used. Both are exact.
    """
    f1 = np.asarray(f1, dtype=np.float64)
    f2 = np.asarray(f2, dtype=np.float64)
    n1, d = f1.shape
    n2 = f2.shape[0]
    if n1 < 2 or n2 < 2:
        raise ValueError("FID needs at least 2 samples per set")
    mu1, mu2 = f1.mean(0), f2.mean(0)
    a1, a2 = f1 - mu1, f2 - mu2
    c1, c2 = n1 - 1.0, n2 - 1.0
    tr1 = float(np.sum(a1 * a1) / c1)
    tr2 = float(np.sum(a2 * a2) / c2)
    if max(n1, n2) <= d:
        s = np.linalg.svd(a1 @ a2.T / np.sqrt(c1 * c2), compute_uv=False)
        tr_sqrt = float(np.sum(s))
    else:
        s1 = a1.T @ a1 / c1
        s2 = a2.T @ a2 / c2
        w, v = np.linalg.eigh(s1)
        root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        ev = np.linalg.eigvalsh(root @ s2 @ root)
        tr_sqrt = float(np.sum(np.sqrt(np.clip(ev, 0, None))))
    diff = mu1 - mu2
    return float(diff @ diff + tr1 + tr2 - 2.0 * tr_sqrt)


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    m, n = len(x), len(y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def kernel_inception_distance(
    f1: np.ndarray, f2: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float | None]:
    """KID as (mean, std) over random subsets; one subset of all samples when the sets are small.

    Follows Binkowski et al. (2018) and the reference implementation (100 subsets of 1000).
    The std is ``None`` when a single subset is used.
    """
    f1 = np.asarray(f1, dtype=np.float64)
    f2 = np.asarray(f2, dtype=np.float64)
    m = min(subset_size, len(f1), len(f2))
    if m < 2:
        raise ValueError("KID needs at least 2 samples per set")
    if m == len(f1) and m == len(f2):
        return _mmd2_unbiased(f1, f2), None
    rng = np.random.default_rng(seed)
    vals = [
        _mmd2_unbiased(f1[rng.choice(len(f1), m, replace=False)], f2[rng.choice(len(f2), m, replace=False)])
        for _ in range(subsets)
    ]
    return float(np.mean(vals)), float(np.std(vals))
