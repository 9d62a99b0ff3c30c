"""Foundation figures: FK vs MuJoCo, robot pointmap vs the simulator, IK, tracking, speed, experts.

    python -m benchmarks.foundation --out results.json
"""
from __future__ import annotations

import time

import robo4d_env  # noqa: F401  (first: sets MUJOCO_GL before mujoco is imported)
import gymnasium as gym  # noqa: I001
import mujoco
import numpy as np
import torch
from tqdm import tqdm

from benchmarks.common import parser, peak_rss_mb, write_results
from robo4d_env.experts import make_expert
from robo4d_env.kinematics import RobotModel
from robo4d_env.projection import RobotPointmapRenderer


def fk_vs_mujoco(n: int, seed: int) -> dict:
    """TCP position of our URDF FK against MuJoCo's grip site over n random joint configurations."""
    env = gym.make("Robo4DSim-v0", task="lift", render_observations=False).unwrapped
    env.reset(seed=seed)
    b, robot = env.backend, env.robot
    q = robot.random_q(n, torch.Generator().manual_seed(seed))
    ours = robot.fk(q)
    T_wb = b.T_world_base
    errs = []
    for i in range(n):
        b.data.qpos[b.robot._ref_joint_pos_indexes] = q[i].numpy()
        mujoco.mj_kinematics(b.model, b.data)
        p_ours = T_wb[:3, :3] @ ours[i, :3, 3].numpy() + T_wb[:3, 3]
        errs.append(np.linalg.norm(p_ours - b.tcp_world()))
    env.close()
    return {"fk_vs_mujoco_max_err_m": float(np.max(errs)), "fk_vs_mujoco_median_err_m": float(np.median(errs))}


def pointmap_vs_sim(resolution: int, min_frames: int, seed: int) -> dict:
    """Our robot mask/depth (from measured joints) against the simulator's segmentation and depth."""
    env = gym.make("Robo4DSim-v0", task="lift", action_mode="ee_abs", resolution=resolution,
                   sim_robot_segmentation=True, robot_pointmap_from="measured")
    expert = make_expert(env)
    ious, derr = [], []
    ep = 0
    with tqdm(total=min_frames, desc=f"pointmap {resolution}px", leave=False) as bar:
        while len(ious) < min_frames:
            obs, info = env.reset(seed=seed + ep)
            expert.reset()
            done = False
            while not done:
                obs, _, term, trunc, info = env.step(expert.act(obs))
                sim = info["sim_robot_mask"]["main"][-1]
                ours = obs["robot_mask"]
                ious.append((sim & ours).sum() / max((sim | ours).sum(), 1))
                both = sim & ours & obs["valid"]
                derr.append(np.median(np.abs(obs["robot_pointmap"][both][:, 2] - obs["pointmap"][both][:, 2])))
                done = term or trunc
                bar.update()
            ep += 1
    env.close()
    return {f"robot_mask_iou_{resolution}": float(np.mean(ious)),
            f"robot_depth_median_err_m_{resolution}": float(np.median(derr)),
            f"pointmap_frames_{resolution}": len(ious)}


def ik_figures(n: int, seed: int) -> dict:
    """IK over n reachable targets (FK of random configurations), cold-started from home."""
    robot = RobotModel()
    g = torch.Generator().manual_seed(seed)
    q_true = robot.random_q(n, g)
    T = robot.fk(q_true)
    t0 = time.perf_counter()
    res = robot.ik(T, None, generator=g)
    batched_ms = (time.perf_counter() - t0) * 1e3 / n
    ok = (res.pos_err_m < 1e-3) & (res.rot_err_rad < np.deg2rad(1.0))
    # The env's use: one target per control step, warm-started from the previous joints.
    q_prev = torch.clamp(q_true[:200] + 0.05 * torch.randn(200, 7, generator=g), robot.q_low, robot.q_high)
    t0 = time.perf_counter()
    warm_ok = 0
    for i in range(200):
        r = robot.ik(T[i:i + 1], q_prev[i:i + 1], generator=g)
        warm_ok += bool((r.pos_err_m[0] < 1e-3) & (r.rot_err_rad[0] < np.deg2rad(1.0)))
    single_ms = (time.perf_counter() - t0) * 1e3 / 200
    return {"ik_success_rate": float(ok.float().mean()), "ik_median_pos_err_m": float(res.pos_err_m.median()),
            "ik_median_rot_err_rad": float(res.rot_err_rad.median()), "ik_ms_per_solve": single_ms,
            "ik_ms_per_solve_batched_cold": batched_ms, "ik_warm_success_rate": warm_ok / 200,
            "ik_targets": n}


def tracking_and_experts(task: str, episodes: int, seed: int) -> tuple[dict, list]:
    """Expert success and TCP distance between the simulated robot and the commanded kinematic robot."""
    env = gym.make("Robo4DSim-v0", task=task, action_mode="ee_abs", render_observations=False)
    u = env.unwrapped
    expert = make_expert(env)
    succ, errs = [], []
    for ep in tqdm(range(episodes), desc=f"expert {task}", leave=False):
        obs, _ = env.reset(seed=seed + ep)
        expert.reset()
        done = False
        while not done:
            obs, _, term, trunc, info = env.step(expert.act(obs))
            T_wb = u.T_world_base
            p_cmd = T_wb[:3, :3] @ u.robot.fk(u.commander.q_cmd[None])[0, :3, 3].numpy() + T_wb[:3, 3]
            errs.append(float(np.linalg.norm(p_cmd - u.backend.tcp_world())))
            done = term or trunc
        succ.append(bool(info["is_success"]))
    env.close()
    return {"rate": float(np.mean(succ)), "episodes": episodes}, errs


def speed(seed: int) -> dict:
    out = {}
    for render in (True, False):
        env = gym.make("Robo4DSim-v0", task="lift", action_mode="ee_abs", render_observations=render)
        expert = make_expert(env)
        env.reset(seed=seed)
        expert.reset()
        n, t0 = 60, time.perf_counter()
        for _ in range(n):
            env.step(expert.act())
        out["sim_steps_per_s_render" if render else "sim_steps_per_s_norender"] = n / (time.perf_counter() - t0)
        env.close()
    robot = RobotModel()
    r = RobotPointmapRenderer(robot)
    env = gym.make("Robo4DSim-v0", task="lift").unwrapped
    env.reset(seed=seed)
    cam = env.cameras["main"]
    T = torch.as_tensor(cam.T_cam_world @ env.T_world_base)
    K = torch.as_tensor(cam.K)
    for b in (1, 64):
        q = robot.random_q(b, torch.Generator().manual_seed(seed))
        f = torch.full((b,), 0.04)
        r.render(q, f, T.expand(b, 4, 4), K.expand(b, 3, 3), 64, 64)   # warm-up (surface sampling)
        reps = 20 if b == 1 else 3
        t0 = time.perf_counter()
        for _ in range(reps):
            r.render(q, f, T.expand(b, 4, 4), K.expand(b, 3, 3), 64, 64)
        out[f"robot_pointmap_fps_b{b}"] = reps * b / (time.perf_counter() - t0)
    env.close()
    return out


def plot(errs: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for task, e in errs.items():
        ax.hist(np.asarray(e) * 1e3, bins=60, range=(0, 15), histtype="step", label=task)
    ax.axvline(5.0, color="k", ls="--", lw=1, label="goal (median)")
    ax.set_xlabel("TCP distance, simulated vs kinematic robot (mm)")
    ax.set_ylabel("control steps")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


SECTIONS = ("fk", "ik", "pointmap", "speed", "experts")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--expert-episodes", type=int, default=50)
    p.add_argument("--pointmap-frames", type=int, default=200)
    p.add_argument("--fk-configs", type=int, default=1000)
    p.add_argument("--ik-targets", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default=None, help="tracking-error histogram (png); default beside --out")
    p.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                   help="run only these sections (e.g. --only speed after a renderer change)")
    a = p.parse_args()
    res = {}
    if "fk" in a.only:
        res.update(fk_vs_mujoco(a.fk_configs, a.seed))
    if "ik" in a.only:
        res.update(ik_figures(a.ik_targets, a.seed))
    if "pointmap" in a.only:
        for px in (64, 128):
            res.update(pointmap_vs_sim(px, a.pointmap_frames, a.seed))
    if "speed" in a.only:
        res.update(speed(a.seed))
    if "experts" in a.only:
        experts, errs = {}, {}
        for task in ("lift", "stack", "pick_place_can"):
            experts[task], errs[task] = tracking_and_experts(task, a.expert_episodes, a.seed + 1000)
        allerr = np.concatenate([np.asarray(e) for e in errs.values()])
        res["tracking_median_err_m"] = float(np.median(allerr))
        res["tracking_p95_err_m"] = float(np.percentile(allerr, 95))
        res["tracking_per_task_median_err_m"] = {t: float(np.median(e)) for t, e in errs.items()}
        res["expert_success"] = {t: v["rate"] for t, v in experts.items()}
        res["expert_episodes"] = a.expert_episodes
        plot(errs, a.plot or str(a.out).replace(".json", "") + "_tracking.png")
    res["peak_rss_mb"] = peak_rss_mb()
    write_results(a.out, res)


if __name__ == "__main__":
    main()
