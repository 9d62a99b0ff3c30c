"""Grasp contact rule (robo4d_env/envs/grasp.py) on ground-truth frames: does the finger opening it
predicts from the scene points and the commanded TCP match the simulator's measured one?

PYTHONPATH=. python benchmarks/results/trials/grasp_contact/gt_check.py --data data/lift_calib
"""
import argparse, glob, json
import h5py, numpy as np, torch
from scipy.stats import mannwhitneyu
from robo4d_env.envs.grasp import GraspConfig, SceneMemory, blocked_finger_m
from robo4d_env.envs.tasks import get_task
from robo4d_env.kinematics import RobotModel

OPEN_M = 0.04


def auc(y, s):
    y = np.asarray(y, bool); s = np.asarray(s, float)
    return float(mannwhitneyu(s[y], s[~y]).statistic / (y.sum() * (~y).sum()))


def predict(g, robot, table_z, cfg, memory_from="gt"):
    pm, valid, rmask = g["obs/main_pointmap"][:].astype(np.float32), g["obs/main_valid"][:], g["obs/main_robot_mask"][:]
    fc, q = g["obs/finger_cmd"][:], torch.as_tensor(g["obs/q_cmd"][:])
    T_wb = np.asarray(g.attrs["T_world_base"], np.float64)
    T_tcp = T_wb @ robot.fk(q).double().numpy()
    mem = SceneMemory(pm[0], valid[0], rmask[0])
    pred, stop = [float(fc[0])], None
    for t in range(1, len(fc)):
        f = float(fc[t])
        if stop is not None and f > stop:
            stop = None                    # opening past the object: released
        if stop is None and f < pred[-1]:
            s = blocked_finger_m(mem.scene_points(), T_tcp[t], pred[-1], OPEN_M, table_z, cfg)
            if s is not None and f <= s:
                stop = s
        pred.append(max(f, stop) if stop is not None else f)
        mem.update(pm[t], valid[t], rmask[t])
    return np.array(pred)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/lift_calib")
    ap.add_argument("--task", default="lift")
    ap.add_argument("--frame", type=int, default=40)
    ap.add_argument("--held-m", type=float, default=0.01, help="opening above this = something held")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    robot, cfg = RobotModel(), GraspConfig()
    table_z = get_task(a.task).table_center_m[2]
    rows = []
    for f in sorted(glob.glob(f"{a.data}/*.hdf5")):
        with h5py.File(f) as h:
            for n in h["data"]:
                g = h["data"][n]
                p = predict(g, robot, table_z, cfg)
                meas = g["obs/gripper_states"][:, 0]
                t = min(a.frame, len(p) - 1)
                rows.append({"episode": f"{f}:{n}", "success": bool(g.attrs["success"]), "pred_m": float(p[t]),
                             "meas_m": float(meas[t]), "cmd_m": float(g["obs/finger_cmd"][t]),
                             "mae_m": float(np.abs(p - meas).mean()),
                             "held_frames_agree": float(((p > a.held_m) == (meas > a.held_m)).mean())})
    s = np.array([r["success"] for r in rows]); pr = np.array([r["pred_m"] for r in rows])
    me = np.array([r["meas_m"] for r in rows])
    out = {"episodes": len(rows), "successes": int(s.sum()), "frame": a.frame,
           "held_agreement": float(((pr > a.held_m) == (me > a.held_m)).mean()),
           "auc_success_pred": auc(s, pr), "auc_success_meas": auc(s, me),
           "held_pred_given_success": int((pr[s] > a.held_m).sum()), "held_pred_given_fail": int((pr[~s] > a.held_m).sum()),
           "mean_abs_err_m": float(np.mean([r["mae_m"] for r in rows])),
           "held_frames_agreement": float(np.mean([r["held_frames_agree"] for r in rows])), "episodes_detail": rows}
    print(json.dumps({k: v for k, v in out.items() if k != "episodes_detail"}, indent=1))
    if a.out:
        json.dump(out, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
