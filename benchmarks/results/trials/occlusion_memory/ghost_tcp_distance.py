"""How far from the hand are the generated points that lie > 2 cm in front of the truth? (6 held-out lift
episodes, shipped model as of stop 24, no ghost removal.) PYTHONPATH=. python <this file>"""
import numpy as np, torch, sys
sys.path.insert(0, '.')
from benchmarks.world_model import load_episodes, load_model, rollout_batch
from robo4d_env.kinematics import RobotModel
torch.set_num_threads(2)
T = 48
eps = load_episodes('data/lift_eval', T + 1, 6)
m = load_model('assets/world_model/lift')
robot = RobotModel()
preds = rollout_batch(m, eps, T, 0)
dist_bins = [0, 0.04, 0.06, 0.08, 0.12, 0.2, 10]
hist_ghost = np.zeros(len(dist_bins) - 1); hist_err = np.zeros(len(dist_bins) - 1)
for ep, pr in zip(eps, preds):
    Twc = ep['T_world_cam'].numpy().astype(np.float64); o = Twc[:3, 3]
    tcp_b = robot.fk(ep['q_cmd'].float())[:, :3, 3].numpy()
    Twb = ep['T_world_base'].numpy()
    tcp = tcp_b @ Twb[:3, :3].T + Twb[:3, 3]
    rms = ep['robot_mask'].numpy()
    for t in range(1, T + 1):
        valid = ep['valid'][t].numpy(); gt = ep['pointmap'][t].numpy(); rm = rms[t]
        p = pr['pointmap'][t - 1]
        front = np.linalg.norm(p - o, axis=-1) < np.linalg.norm(gt - o, axis=-1) - 0.02
        sel = valid & ~rm & front
        d = np.linalg.norm(gt - tcp[t], axis=-1)
        e = np.linalg.norm(p - gt, axis=-1)
        idx = np.digitize(d[sel], dist_bins) - 1
        np.add.at(hist_ghost, idx, 1); np.add.at(hist_err, idx, e[sel])
print('TCP-distance bins', dist_bins)
print('n front pixels', hist_ghost.astype(int).tolist())
print('sum err m', np.round(hist_err, 1).tolist())
