"""Kinema4D-v0 against Robo4DSim-v0: generated vs simulated frames per second, memory, detectors.

    python -m benchmarks.env_speed --out results.json [--data data/lift_train]

Both envs run the same task, resolution, observations and action chunk, in the same process. The
world model is the preset's architecture (``--checkpoint`` for trained weights; speed does not
depend on the weights, so a randomly initialised model of the preset is used by default).
"""
from __future__ import annotations

import time

import robo4d_env  # noqa: F401  (first: sets MUJOCO_GL)
import gymnasium as gym  # noqa: I001
import numpy as np
import torch

from benchmarks.common import parser, peak_rss_mb, write_results


def _actions(space, n_envs: int | None, rng) -> np.ndarray:
    """Tiny ee_delta moves, open gripper: every step costs the same (no unreachable-IK restarts,
    no early termination), so the figure is the envs' cost, not the policy's luck."""
    a = rng.uniform(-0.02, 0.02, size=space.shape).astype(np.float32)
    a[..., -1] = -1.0
    return a


def frames_per_s(env, chunk: int, n_envs: int, steps: int) -> float:
    """Generated or simulated frames per second over ``steps`` timed env steps (after a warm-up)."""
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    env.step(_actions(env.action_space, n_envs, rng))     # warm-up: first-call allocations
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step(_actions(env.action_space, n_envs, rng))
    dt = time.perf_counter() - t0
    env.close()
    return steps * chunk * n_envs / dt


def make_sim(task: str, res: int, chunk: int, n_envs: int):
    kw = dict(task=task, resolution=res, action_chunk=chunk)
    if n_envs == 1:
        return gym.make("Robo4DSim-v0", **kw)
    return gym.vector.SyncVectorEnv([lambda: gym.make("Robo4DSim-v0", **kw) for _ in range(n_envs)])


def make_gen(task: str, res: int, chunk: int, n_envs: int, model):
    kw = dict(task=task, resolution=res, action_chunk=chunk, world_model=model)
    if n_envs == 1:
        return gym.make("Kinema4D-v0", **kw)
    return gym.make_vec("Kinema4D-v0", num_envs=n_envs, vectorization_mode="vector_entry_point", **kw)


def load_model(preset: str, checkpoint: str | None):
    from robo4d_env.world_model.configuration_world_model import get_preset
    from robo4d_env.world_model.modeling_world_model import Kinema4DWorldModel, load_world_model
    if checkpoint:
        return load_world_model(checkpoint).eval()
    torch.manual_seed(0)
    return Kinema4DWorldModel.from_world_model_config(get_preset(preset)[0]).eval()


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--task", default="lift")
    p.add_argument("--preset", default="default")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--steps", type=int, default=2, help="env steps timed per configuration")
    p.add_argument("--envs", type=int, nargs="+", default=[1, 8])
    p.add_argument("--data", nargs="*", default=[], help="ground-truth shards for detector agreement")
    a = p.parse_args()
    model = load_model(a.preset, a.checkpoint)
    wm = model.wm
    chunk = wm.frames_per_chunk - wm.context_frames       # frames one world-model call adds
    res = {"task": a.task, "preset": wm.preset, "resolution": wm.height, "action_chunk": chunk,
           "sampling_steps": wm.num_sampling_steps, "trained_weights": bool(a.checkpoint)}
    for n in a.envs:
        res[f"sim_frames_per_s_{n}env"] = frames_per_s(make_sim(a.task, wm.height, chunk, n), chunk, n, a.steps)
        res[f"gen_frames_per_s_{n}env"] = frames_per_s(make_gen(a.task, wm.height, chunk, n, model), chunk, n,
                                                       a.steps)
        res[f"gen_steps_per_s_{n}env"] = res[f"gen_frames_per_s_{n}env"] / chunk / n
        res[f"sim_steps_per_s_{n}env"] = res[f"sim_frames_per_s_{n}env"] / chunk / n
    best = max(a.envs)
    res["goal_gen_faster_than_sim_batched"] = res[f"gen_frames_per_s_{best}env"] > res[f"sim_frames_per_s_{best}env"]
    if a.data:
        from benchmarks.detectors import evaluate
        res["detectors"] = evaluate(a.data, a.task)
        res["detector_agreement"] = res["detectors"]["detector_agreement"]
    res["peak_rss_mb"] = peak_rss_mb()
    write_results(a.out, res)


if __name__ == "__main__":
    main()
