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
