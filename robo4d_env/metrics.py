"""Policy-evaluation metrics: how well success rates in the generated world track the real ones.

``sr_real`` / ``sr_gen``: (P,) success rates of P policies (setups) in the simulator and in Kinema4D-v0.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def mean_abs_diff(sr_real, sr_gen) -> float:
    return float(np.mean(np.abs(np.asarray(sr_real, float) - np.asarray(sr_gen, float))))


def pearson(sr_real, sr_gen) -> float:
    """Pearson r; NaN when either side is constant (r is undefined then)."""
    x, y = np.asarray(sr_real, float), np.asarray(sr_gen, float)
    if x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def mmrv(sr_real, sr_gen) -> float:
    """Mean Maximum Rank Violation (SIMPLER, Li et al. 2024).

    For each policy i: the largest real-success gap |R_i - R_j| over the policies j that the
    simulator ranks the wrong way round ((R_i < R_j) != (S_i < S_j)); averaged over policies."""
    r, s = np.asarray(sr_real, float), np.asarray(sr_gen, float)
    n = len(r)
    worst = np.zeros(n)
    for i in range(n):
        for j in range(n):
            if i != j and (r[i] < r[j]) != (s[i] < s[j]):
                worst[i] = max(worst[i], abs(r[i] - r[j]))
    return float(worst.mean()) if n else float("nan")


def bootstrap_ci(successes_real: list[np.ndarray], successes_gen: list[np.ndarray],
                 metric: Callable, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile CI of ``metric(sr_real, sr_gen)`` by resampling episodes within each setup.

    successes_*: per setup, (N,) bool outcomes of its episodes (paired by initial state)."""
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        sr, sg = [], []
        for a, b in zip(successes_real, successes_gen):
            idx = rng.integers(0, len(a), len(a))
            sr.append(np.mean(np.asarray(a)[idx]))
            sg.append(np.mean(np.asarray(b)[idx]))
        v = metric(sr, sg)
        if np.isfinite(v):
            vals.append(v)
    if not vals:
        return float("nan"), float("nan")
    return float(np.quantile(vals, alpha / 2)), float(np.quantile(vals, 1 - alpha / 2))


# --------------------------------------------------------------------------------------- 4D video quality
# World-model metrics (benchmarks.world_model). Images (H, W, 3) uint8; pointmaps (H, W, 3) metres.
SSIM_WINDOW = 11            # Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03
SSIM_SIGMA = 1.5
SSIM_K = (0.01, 0.03)
DELTA1_RATIO = 1.25         # depth accuracy threshold (Eigen et al.)


def psnr(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR (dB) of uint8 images over all pixels, or over the (H, W) bool ``mask`` (NaN if empty)."""
    err = (pred.astype(np.float64) - gt.astype(np.float64)) ** 2
    if mask is not None:
        if not mask.any():
            return float("nan")
        err = err[mask]
    mse = max(float(err.mean()), 1e-10)
    return float(10.0 * np.log10(255.0 ** 2 / mse))


def ssim(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean SSIM of two (H, W, 3) uint8 images (Gaussian window, per channel, valid region)."""
    import torch
    import torch.nn.functional as F

    r = SSIM_WINDOW // 2
    g = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float64) ** 2 / (2 * SSIM_SIGMA ** 2))
    g = g / g.sum()
    win = (g[:, None] * g[None, :]).expand(3, 1, SSIM_WINDOW, SSIM_WINDOW)
    x, y = (torch.from_numpy(a.astype(np.float64) / 255.0).permute(2, 0, 1)[None] for a in (pred, gt))
    mu_x, mu_y = F.conv2d(x, win, groups=3), F.conv2d(y, win, groups=3)
    sxx = F.conv2d(x * x, win, groups=3) - mu_x ** 2
    syy = F.conv2d(y * y, win, groups=3) - mu_y ** 2
    sxy = F.conv2d(x * y, win, groups=3) - mu_x * mu_y
    c1, c2 = SSIM_K[0] ** 2, SSIM_K[1] ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return float(s.mean())


def depth_errors(pred_depth: np.ndarray, gt_depth: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(AbsRel, delta1) of (H, W) depths (metres) over ``mask`` pixels with positive true depth."""
    m = mask & (gt_depth > 0)
    if not m.any():
        return float("nan"), float("nan")
    d, t = np.maximum(pred_depth[m], 1e-6), gt_depth[m]
    absrel = float(np.mean(np.abs(d - t) / t))
    delta1 = float(np.mean(np.maximum(d / t, t / d) < DELTA1_RATIO))
    return absrel, delta1


def chamfer_fscore(pred_pts: np.ndarray, gt_pts: np.ndarray, threshold_m: float = 0.01) -> tuple[float, float]:
    """(Chamfer-L1 in metres, F-score at ``threshold_m``) of point clouds (N, 3), (M, 3).

    Chamfer-L1 = mean of the two directions' mean nearest-neighbour Euclidean distances; F-score =
    harmonic mean of precision (pred points within the threshold of gt) and recall (the converse)."""
    from scipy.spatial import cKDTree

    p, g = np.asarray(pred_pts, np.float64), np.asarray(gt_pts, np.float64)
    if len(p) == 0 or len(g) == 0:
        return float("nan"), float("nan")
    d_pg, d_gp = cKDTree(g).query(p)[0], cKDTree(p).query(g)[0]     # exact nearest neighbours
    chamfer = 0.5 * float(d_pg.mean() + d_gp.mean())
    prec, rec = float((d_pg < threshold_m).mean()), float((d_gp < threshold_m).mean())
    f = 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)
    return chamfer, f
