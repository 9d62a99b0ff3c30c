"""Grid over the stack rule's thresholds on per-frame features (features.py); episode agreement with
the simulator's predicate holding at any frame.

    python benchmarks/results/trials/stack_detector/grid.py out/stack_detector/calib_features.npy out/stack_detector/fresh_features.npy

The per-frame rule (as in robo4d_env/success.py: stack_success): A's mass left at its spot (last readable
value) <= f0, fingers open > fo, and either the TCP within rr of B at height hlo..hhi, or >= k A-coloured
pixels on B within RADII_M[ri]; episode success: m frames in a row.
"""
import itertools
import sys

import numpy as np

RADII_M = (0.02, 0.03, 0.04, 0.05, 0.06)
SHIPPED = (0.3, 0.04, 0.03, 0.12, 2, 1, 2, 0.015)


def load(path: str) -> list[dict]:
    r, eps = np.load(path), []
    for e in np.unique(r[:, 0]):
        x = r[r[:, 0] == e]
        left, last = x[:, 6].copy(), np.nan
        for i in range(len(left)):          # the tracker's memory: the arm hiding the spot keeps the last value
            last = left[i] = last if np.isnan(left[i]) else left[i]
        eps.append(dict(lab=x[:, 2] > 0.5, fing=x[:, 3], dxy=x[:, 4], th=x[:, 5], left=left, a_px=x[:, 7:12]))
    return eps


def agreement(eps, f0, rr, hlo, hhi, ri, k, m, fo) -> float:
    ok = []
    for e in eps:
        release = (e["dxy"] < rr) & (e["th"] > hlo) & (e["th"] < hhi)
        det = (e["left"] <= f0) & (e["fing"] > fo) & (release | (e["a_px"][:, ri] >= k))
        hit = len(det) >= m and np.convolve(det, np.ones(m), "valid").max() >= m     # m frames in a row
        ok.append(hit == e["lab"].any())
    return float(np.mean(ok))


def main(paths: list[str]) -> None:
    sets = [load(p) for p in paths]
    pool = sum(sets, [])
    grid = itertools.product((0.2, 0.3), (0.0, 0.03, 0.035, 0.04, 0.045, 0.05, 0.055, 0.06), (0.03, 0.04, 0.05),
                             (0.12, 0.14, 0.16), range(len(RADII_M)), (1, 2, 3, 5), (1, 2, 3), (0.015,))
    res = sorted(((agreement(pool, *a), [round(agreement(s, *a), 3) for s in sets], a) for a in grid), key=lambda z: -z[0])
    for z in res[:10]:
        print(f"{z[0]:.4f} per set {z[1]} f0, rr, hlo, hhi, ri, k, m, fo = {z[2]}")
    print("shipped", SHIPPED, f"{agreement(pool, *SHIPPED):.4f}", [round(agreement(s, *SHIPPED), 3) for s in sets])


if __name__ == "__main__":
    main(sys.argv[1:])
