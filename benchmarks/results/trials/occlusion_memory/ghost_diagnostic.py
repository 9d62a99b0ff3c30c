"""Where a lift rollout's point errors are: per pixel class, error of the generated world point.

PYTHONPATH=. python benchmarks/results/trials/occlusion_memory/ghost_diagnostic.py [MODEL]
(6 held-out episodes of data/lift_eval, 48 frames). Classes: static_disoccluded (the scene point is within
1 cm of frame 0's, the robot covered the pixel earlier but not now), static_never_robot, changed_nonrobot
(the true point moved more than 1 cm since frame 0, not robot now: the cube, and the arm where the simulated
arm lags the commanded one).
"""
import numpy as np, torch, sys
sys.path.insert(0, '.')
from benchmarks.world_model import load_episodes, load_model, rollout_batch, camera_depth
torch.set_num_threads(2)
T = 48
eps = load_episodes('data/lift_eval', T + 1, 6)
m = load_model(sys.argv[1] if len(sys.argv) > 1 else 'assets/world_model/lift')
preds = rollout_batch(m, eps, T, 0)
acc = {}
for ep, pr in zip(eps, preds):
    Twc = ep['T_world_cam'].numpy().astype(np.float64)
    rms = ep['robot_mask'].numpy()
    for t in range(1, T + 1):
        valid = ep['valid'][t].numpy(); gt = ep['pointmap'][t].numpy(); rm = rms[t]
        chg = np.linalg.norm(gt - ep['pointmap'][0].numpy(), axis=-1) > 0.01
        was = rms[:t].any(0)
        p = pr['pointmap'][t - 1]
        e = np.linalg.norm(p - gt, axis=-1)
        dz = camera_depth(p, Twc) - camera_depth(gt, Twc)
        for name, sel in {'static_disoccluded': valid & ~chg & ~rm & was, 'static_never_robot': valid & ~chg & ~rm & ~was,
                          'changed_nonrobot': valid & chg & ~rm}.items():
            a = acc.setdefault(name, [0, 0.0, 0, 0])
            a[0] += sel.sum(); a[1] += e[sel].sum(); a[2] += (sel & (dz < -0.02)).sum(); a[3] += (sel & (e > 0.02)).sum()
for k, (n, s, front, big) in acc.items():
    print(f"{k:20s} n={n:7d} sum_err={s:8.1f} mean={s/n*1000:6.1f}mm  >2cm: {big/n:.3f}  in front >2cm: {front/n:.3f}")
