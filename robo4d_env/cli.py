"""`robo4d` command line: rollouts now; `robo4d data ...` and `robo4d train ...` hook in as sub-commands."""
from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command providers: module path -> function(subparsers) that registers its parsers.
PROVIDERS = ("robo4d_env.data.cli:add_parser", "robo4d_env.world_model.cli:add_parser")


def _rollout(args) -> int:
    import gymnasium as gym
    import numpy as np
    from tqdm import tqdm

    import robo4d_env  # noqa: F401  (registers the envs)
    from robo4d_env.experts import make_expert
    from robo4d_env.video import compose_frame, write_mp4

    env = gym.make("Robo4DSim-v0", task=args.task, action_mode="ee_abs", resolution=args.resolution)
    expert = make_expert(env)
    frames, successes = [], []
    for ep in range(args.episodes):
        obs, _ = env.reset(seed=args.seed + ep)
        expert.reset()
        frames.append(compose_frame(obs))
        done = False
        with tqdm(desc=f"episode {ep}", unit="step", leave=False) as bar:
            while not done:
                obs, _, term, trunc, info = env.step(expert.act(obs))
                frames.append(compose_frame(obs))
                done = term or trunc
                bar.update()
        successes.append(bool(info["is_success"]))
    env.close()
    path = write_mp4(args.out, np.asarray(frames), fps=env.metadata["render_fps"], upscale=args.upscale)
    print(f"{args.task}: success {sum(successes)}/{len(successes)}; wrote {path} (RGB | depth | robot overlay)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="robo4d", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("rollout", help="roll out the scripted expert in Robo4DSim-v0 and write an mp4")
    r.add_argument("--task", default="lift")
    r.add_argument("--episodes", type=int, default=1)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--resolution", type=int, default=64)
    r.add_argument("--upscale", type=int, default=4, help="pixel repeat factor of the written video")
    r.add_argument("--out", default="out/rollout.mp4")
    r.set_defaults(func=_rollout)
    for spec in PROVIDERS:
        mod, fn = spec.split(":")
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name and mod.startswith(e.name):
                continue      # provider not installed in this build
            raise
        getattr(module, fn)(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError) as e:
        print(f"robo4d: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
