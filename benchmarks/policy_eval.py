"""Does a policy's success rate in the generated world match the real simulator's?

    python -m benchmarks.policy_eval --out results.json [--episodes 10] [--checkpoint DIR]

For every setup (a graded scripted policy, policies/scripted.py) and every eval seed, the episode is
run in Robo4DSim-v0 and in Kinema4D-v0 from the same initial scene, in two modes:
``replay`` (the real rollout's actions replayed open-loop, Kinema4D Table 3) and ``closed_loop``
(the policy acts on generated frames). The real rollout runs to the horizon and succeeds if the
simulator's predicate ever held: cut at its first success frame, the replayed actions would end before
the generated world could show it, while failing policies would replay to the horizon. Writes JSON, a
markdown table, a scatter plot of sr_gen against sr_real, and side-by-side mp4s (real | generated) of the
first episode of every setup.

Closed loop runs first. When every action chunk it fed the generated env equals the chunk replay would
feed (a policy that plans from the initial scene and ignores frames, like the scripted ones), the replay
episode would be the same call sequence from the same seed, and ``Kinema4D-v0`` is deterministic for a
seed: its result is reused instead of generated twice (counted in ``replay_reused``).
"""
from __future__ import annotations

from pathlib import Path

import robo4d_env  # noqa: F401  (first: sets MUJOCO_GL)
import gymnasium as gym  # noqa: I001
import numpy as np
import torch
from tqdm import tqdm

from benchmarks.common import detector_overrides, parser, peak_rss_mb, write_results
from policies.scripted import SETUPS, ScriptedPolicy
from robo4d_env.data.generate import split_seeds
from robo4d_env.metrics import bootstrap_ci, mean_abs_diff, mmrv, pearson
from robo4d_env.video import compose_frame, write_mp4

MODES = ("replay", "closed_loop")


def make_real_env(task: str, resolution: int, horizon: int | None):
    """The ground-truth env of the benchmark: it runs past the first success (see the module docstring)."""
    return gym.make("Robo4DSim-v0", task=task, action_mode="ee_abs", resolution=resolution, horizon=horizon,
                    terminate_on_success=False)


def run_real(env, policy, seed: int) -> tuple[bool, np.ndarray, list]:
    """One episode to the horizon (``env`` from ``make_real_env``): success if the simulator's predicate
    held at any step, the actions, the frames."""
    obs, _ = env.reset(seed=seed)
    policy.reset(env, seed)
    actions, frames, done, success = [], [compose_frame(obs)], False, False
    while not done:
        a = policy.act(obs)
        obs, _, term, trunc, info = env.step(a)
        actions.append(a)
        frames.append(compose_frame(obs))
        success |= bool(info["is_success"])
        done = term or trunc
    return success, np.asarray(actions), frames


def replay_chunks(actions: np.ndarray, chunk: int) -> list[np.ndarray]:
    """The (chunk, A) action arrays replay feeds, in order: the last one padded with its final action."""
    out = []
    for t in range(0, len(actions), chunk):
        a = actions[t:t + chunk]
        out.append(np.concatenate([a, np.repeat(a[-1:], chunk - len(a), 0)]))
    return out


def run_gen(env, chunk: int, seed: int, actions: np.ndarray | None, policy=None) -> tuple[bool, list, list]:
    """Replay ``actions`` (``replay_chunks``), or let ``policy`` act on generated frames when ``actions`` is
    None. Returns success, the frames and the action chunks fed."""
    obs, _ = env.reset(seed=seed)
    if actions is None:
        policy.reset(env.unwrapped._sim, seed)     # the gen env's simulator holds the initial scene
    todo = None if actions is None else replay_chunks(actions, chunk)
    frames, fed, done, info = [compose_frame(obs)], [], False, {"is_success": False}
    while not done and (todo is None or len(fed) < len(todo)):
        a = np.stack([policy.act(obs) for _ in range(chunk)]) if todo is None else todo[len(fed)]
        obs, _, term, trunc, info = env.step(a.reshape(env.action_space.shape))
        fed.append(a)
        frames.extend(compose_frame({k: v[i] for k, v in info["frames"].items()})
                      for i in range(info["control_steps"]))
        done = term or trunc
    return bool(info["is_success"]), frames, fed


def same_calls(fed: list[np.ndarray], todo: list[np.ndarray]) -> bool:
    """Whether a closed-loop episode that fed ``fed`` is exactly the replay of ``todo``: the same chunks
    in order, ending (terminated or truncated) no later than replay would."""
    return len(fed) <= len(todo) and all(np.array_equal(f, t) for f, t in zip(fed, todo))


def summarize(real: dict, gen: dict) -> dict:
    names = list(real)
    sr_r = [float(np.mean(real[n])) for n in names]
    sr_g = [float(np.mean(gen[n])) for n in names]
    r_l, g_l = [np.asarray(real[n]) for n in names], [np.asarray(gen[n]) for n in names]
    out = {"setups": {n: {"sr_real": a, "sr_gen": b, "abs_diff": abs(a - b)} for n, a, b in zip(names, sr_r, sr_g)}}
    for key, fn in (("mean_abs_diff", mean_abs_diff), ("pearson", pearson), ("mmrv", mmrv)):
        out[key] = fn(sr_r, sr_g)
        out[key + "_ci95"] = bootstrap_ci(r_l, g_l, fn)
    return out


def write_report(res: dict, out: Path) -> None:
    lines = [f"# Policy evaluation: {res['task']}, {res['episodes']} episodes per setup", "",
             f"World model: `{res['checkpoint']}`, robot refiner {'on' if res.get('robot_refiner') else 'off'}.", ""]
    for mode in MODES:
        m = res[mode]
        lines += [f"## {mode}", "", "| setup | sr_real | sr_gen | abs_diff |", "|---|---|---|---|"]
        lines += [f"| {n} | {v['sr_real']:.2f} | {v['sr_gen']:.2f} | {v['abs_diff']:.2f} |" for n, v in m["setups"].items()]
        lines += ["", f"mean_abs_diff {m['mean_abs_diff']:.3f} {m['mean_abs_diff_ci95']}, pearson {m['pearson']:.3f} "
                      f"{m['pearson_ci95']}, mmrv {m['mmrv']:.3f} {m['mmrv_ci95']}", ""]
    lines += ["Replay episodes reused from closed loop (the same action chunks from the same seed): "
              + ", ".join(f"{n} {k}/{res['episodes']}" for n, k in res["replay_reused"].items()), ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for mode, marker in zip(MODES, "os"):
        s = res[mode]["setups"]
        ax.scatter([v["sr_real"] for v in s.values()], [v["sr_gen"] for v in s.values()], marker=marker, label=mode)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="success rate, Robo4DSim-v0", ylabel="success rate, Kinema4D-v0", xlim=(-0.05, 1.05),
           ylim=(-0.05, 1.05), title=res["task"])
    ax.legend()
    fig.tight_layout()
    fig.savefig(out.with_name(out.stem + "_scatter.png"), dpi=120)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--task", default="lift")
    p.add_argument("--episodes", type=int, default=10, help="episodes per setup (full run: 50)")
    p.add_argument("--setups", type=int, default=None, help="use only the first N setups")
    p.add_argument("--checkpoint", default=None, help="world model (default: assets/world_model/<task>)")
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--horizon", type=int, default=None, help="control steps per episode")
    p.add_argument("--sampling-steps", type=int, default=None)
    p.add_argument("--refine-robot", choices=["on", "off"], default=None,
                   help="the checkpoint's robot refiner (default: on when it has one)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: torch's; use 1 when another job shares the cores)")
    p.add_argument("--detector", nargs="*", metavar="FIELD=VALUE",
                   help="override the generated world's DetectorConfig fields, e.g. lift_mass_frac=0.3")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    real_env = make_real_env(a.task, a.resolution, a.horizon)
    gen_env = gym.make("Kinema4D-v0", task=a.task, action_mode="ee_abs", resolution=a.resolution,
                       checkpoint=a.checkpoint, horizon=a.horizon, num_inference_steps=a.sampling_steps,
                       action_chunk=_chunk(a), refine_robot=None if a.refine_robot is None else a.refine_robot == "on",
                       detector=detector_overrides(a.task, a.detector))
    chunk = gen_env.unwrapped.action_cfg.chunk
    setups = SETUPS[a.task][:a.setups]
    seeds = split_seeds("eval", a.episodes)
    real, gen, reused = {}, {m: {} for m in MODES}, {}
    for setup in setups:
        real[setup.name], gen["replay"][setup.name], gen["closed_loop"][setup.name] = [], [], []
        reused[setup.name] = 0
        for k, seed in enumerate(tqdm(seeds, desc=setup.name)):
            ok, actions, real_frames = run_real(real_env, ScriptedPolicy(setup), seed)
            real[setup.name].append(ok)
            ok_c, gen_frames, fed = run_gen(gen_env, chunk, seed, None, ScriptedPolicy(setup))
            gen["closed_loop"][setup.name].append(ok_c)
            if same_calls(fed, replay_chunks(actions, chunk)):
                ok_r, reused[setup.name] = ok_c, reused[setup.name] + 1
            else:
                ok_r, gen_frames, _ = run_gen(gen_env, chunk, seed, actions)
            gen["replay"][setup.name].append(ok_r)
            if k == 0:
                n = max(len(real_frames), len(gen_frames))
                pad = lambda f: f + [f[-1]] * (n - len(f))  # noqa: E731
                side = [np.concatenate([r, g], axis=0) for r, g in zip(pad(real_frames), pad(gen_frames))]
                write_mp4(out.with_name(f"{out.stem}_{setup.name}.mp4"), side, fps=20, upscale=2)
    res = {"task": a.task, "episodes": a.episodes, "seeds": [seeds.start, seeds.stop],
           "checkpoint": a.checkpoint or "assets/world_model/" + a.task,
           "robot_refiner": gen_env.unwrapped.model.robot_refiner is not None and a.refine_robot != "off",
           "detector_overrides": a.detector or [],
           **{m: summarize(real, gen[m]) for m in MODES}, "replay_reused": reused, "peak_rss_mb": peak_rss_mb()}
    write_report(res, out)
    write_results(out, res)


def _chunk(a) -> int:
    """Frames one world-model call adds (its chunk), read from the checkpoint's config."""
    import json
    from robo4d_env.envs.kinema4d_env import default_checkpoint
    cfg = json.loads((Path(a.checkpoint or default_checkpoint(a.task)) / "config.json").read_text())
    return cfg["frames_per_chunk"] - cfg["context_frames"]


if __name__ == "__main__":
    main()
