"""Grasp contact in the generated world: replay each held-out episode's actions open-loop in Kinema4D-v0
(from the episode's true frame 0) and compare the env's finger opening and success with the simulator's.

PYTHONPATH=. python benchmarks/results/trials/grasp_contact/gen_replay.py --data data/lift_calib_mf \
    --checkpoint out/s26/kin_mf_ref --out gen_replay.json [--set grasp_scene_tolerance_m=0.03]
"""
import argparse, json, time
import gymnasium as gym
import h5py, numpy as np, torch
from tqdm import tqdm
import robo4d_env  # noqa: F401
from robo4d_env.data.dataset import Robo4DDataset


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--held-m", type=float, default=0.01)
    ap.add_argument("--grasp-contact", choices=("auto", "on", "off"), default="auto")
    ap.add_argument("--tolerance", type=float, default=None, help="grasp_scene_tolerance_m (<0: off)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    contact = {"auto": None, "on": True, "off": False}[a.grasp_contact]
    env = gym.make("Kinema4D-v0", task="lift", action_mode="ee_abs", action_chunk=a.chunk, checkpoint=a.checkpoint,
                   init_source="dataset", dataset=a.data, grasp_contact=contact, grasp_scene_tolerance_m=a.tolerance)
    refs = Robo4DDataset(a.data, context_frames=1, clip_frames=2).episodes
    rows, t0 = [], time.time()
    for i, ref in enumerate(tqdm(refs)):
        with h5py.File(ref.path) as f:
            g = f["data"][ref.name]
            actions = g["actions"][:a.frames]
            meas = float(g["obs/gripper_states"][min(a.frames, len(actions)), 0])
            success = bool(g.attrs["success"])
        env.reset(seed=i)
        finger, gen_success = None, False
        for t in range(0, len(actions), a.chunk):
            obs, _, term, trunc, info = env.step(actions[t:t + a.chunk])
            finger, gen_success = float(obs["proprio"][7]), gen_success or bool(info["is_success"])
            if term or trunc:
                break
        rows.append({"episode": f"{ref.path}:{ref.name}", "success": success, "meas_m": meas, "gen_m": finger,
                     "gen_success": gen_success})
    s = np.array([r["success"] for r in rows]); held = np.array([r["gen_m"] > a.held_m for r in rows])
    real_held = np.array([r["meas_m"] > a.held_m for r in rows]); gs = np.array([r["gen_success"] for r in rows])
    out = {"episodes": len(rows), "successes": int(s.sum()), "held_agreement": float((held == real_held).mean()),
           "held_given_success": int(held[s].sum()), "held_given_fail": int(held[~s].sum()),
           "gen_success_given_success": int(gs[s].sum()), "gen_success_given_fail": int(gs[~s].sum()),
           "sr_real": float(s.mean()), "sr_gen": float(gs.mean()), "wall_s": round(time.time() - t0, 1),
           "args": vars(a), "rows": rows}
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=1))
    if a.out:
        json.dump(out, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
