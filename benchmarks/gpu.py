"""The same code on a CUDA GPU: agreement with the CPU, sampling, training and env speed.

    python -m benchmarks.gpu --out results.json --data <shards> [--checkpoint assets/world_model/lift]

The paper's scale (Wan2.1-I2V-14B + LoRA) has its own benchmark: ``benchmarks.paper_scale``.

Parts (each in its own try block: a failure is recorded with its traceback, the rest still runs):
- ``cross_device``: one batched rollout chunk of the checkpoint from the same seeds on the CPU, on the GPU in
  fp32 and under bf16 autocast; PSNR of the GPU frames against the CPU's, and the world-pointmap gap (m).
- ``sampling``: ``sample_ms_per_frame`` (as benchmarks.world_model) per batch size, fp32 and bf16.
- ``training``: ``robo4d train`` (the real CLI, one process per run) of the default preset on ``--data``:
  the full preset (2000 steps, batch 1, its own fp32) and short bf16 / large-batch runs; median s/step.
- ``vae_training``: ``robo4d train-vae`` for a few steps; median s/step.
- ``env``: batched ``Kinema4D-v0`` on the GPU (init frames from ``--data``), generated frames/s per env count.
- ``renderer``: the robot-pointmap z-buffer on the GPU against the CPU's, same robot states: mask agreement,
  point gap and time per frame.
- ``latent_cache``: building the DiT's latent cache (``robo4d train --latent-cache on``) from the checkpoint's VAE:
  clips/s with one clip per VAE call and one process, against batched calls and loader processes.
- ``tools``: the other training commands on ``--device``: ``train-refiner`` (its rollout pairs and steps),
  then ``export-vae`` -> ``train-vae --decoder-only`` -> ``swap-vae`` (needs episodes of >= 37 frames).
"""
from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import parser, peak_rss_mb, run_cli, write_results
from robo4d_env.metrics import psnr

TRAIN_RUNS = (   # (name, steps, batch, mixed precision); steps None: the preset's own
    ("default_preset_b1_fp32", None, None, "no"),
    ("b1_bf16", 200, 1, "bf16"),
    ("b32_fp32", 200, 32, "no"),
    ("b32_bf16", 200, 32, "bf16"),
)
CHUNK_FRAMES = 13        # the context frame + one 12-frame chunk of the default preset
VAE_STEPS = 40
REFINER_STEPS = 300
PROFILE_LINES = 40
CACHE_RUNS = ((1, 0), (16, 0), (16, 4))     # (clips per VAE call, loader processes)
CACHE_CLIPS = 256                          # rollout windows encoded per run


def guarded(results: dict, name: str, fn, *args) -> None:
    t0 = time.perf_counter()
    try:
        results[name] = fn(*args)
    except Exception:      # noqa: BLE001 - recorded, and the other parts still run
        results[name] = {"error": traceback.format_exc(limit=6)}
        print(results[name]["error"], file=sys.stderr)
    print(f"[{name}] {time.perf_counter() - t0:.1f} s: {json.dumps(results[name])[:400]}", flush=True)


def autocast(dtype: str, device: str):
    if dtype == "bf16":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cross_device(checkpoint: str, eps: list[dict], device: str) -> dict:
    from benchmarks.world_model import load_model, rollout_batch
    model = load_model(checkpoint)
    n_new = model.wm.frames_per_chunk - model.wm.context_frames
    ref = rollout_batch(model, eps, n_new, seed=0)
    model.to(device)
    out = {}
    for dtype in ("fp32", "bf16"):
        with autocast(dtype, device):
            got = rollout_batch(model, eps, n_new, seed=0)
        out[dtype] = {"rgb_identical_to_cpu": all(np.array_equal(r["rgb"], g["rgb"]) for r, g in zip(ref, got)),
                      "rgb_psnr_vs_cpu_db": float(np.mean([psnr(g["rgb"], r["rgb"]) for r, g in zip(ref, got)])),
                      "pointmap_mean_abs_diff_vs_cpu_m": float(np.mean([np.abs(r["pointmap"] - g["pointmap"]).mean()
                                                                        for r, g in zip(ref, got)]))}
    return out


def sampling(checkpoint: str, eps: list[dict], device: str, batches: list[int]) -> dict:
    from benchmarks.world_model import load_model, sample_ms_per_frame
    model = load_model(checkpoint).to(device)
    out = {}
    for dtype in ("fp32", "bf16"):
        for b in batches:
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            with autocast(dtype, device):
                out[f"sample_ms_per_frame_b{b}_{dtype}"] = sample_ms_per_frame(model, eps, b)
            if device == "cuda":
                out[f"peak_gpu_mb_b{b}_{dtype}"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return out


def training(data: list[str], workdir: Path, steps_override: int | None) -> dict:
    out = {}
    for name, steps, batch, precision in TRAIN_RUNS:
        steps = steps_override or steps
        run_dir = workdir / name
        cmd = ["train", "--preset", "default", "--data", *data, "--out", str(run_dir), "--mixed-precision", precision,
               "--latent-cache", "on", "--eval-every", "0", "--checkpoint-every", "100000", "--no-progress"]
        cmd += ["--steps", str(steps)] if steps else []
        cmd += ["--batch-size", str(batch)] if batch else []
        out[name] = run_cli(cmd, run_dir / "log.jsonl")
    return out


def latent_cache(checkpoint: str, data: list[str], workdir: Path, device: str) -> dict:
    from torch.utils.data import Subset

    from benchmarks.world_model import load_model
    from robo4d_env.world_model.configuration_world_model import TrainingConfig
    from robo4d_env.world_model.latent_cache import LatentCacheDataset, build_latent_cache
    from robo4d_env.world_model.train import make_dataset
    model = load_model(checkpoint).to(device)
    full = make_dataset(data, model.wm, "rollout", TrainingConfig.window_known_stride)
    dataset = Subset(full, range(min(CACHE_CLIPS, len(full))))
    out, ref = {"clips": len(dataset)}, None
    for per_call, workers in CACHE_RUNS:
        t0 = time.perf_counter()
        path = build_latent_cache(model, dataset, workdir / f"cache_{per_call}_{workers}.safetensors", progress=False,
                                  clips_per_call=per_call, num_workers=workers)
        out[f"clips_per_s_{per_call}per_call_{workers}workers"] = len(dataset) / (time.perf_counter() - t0)
        x0 = LatentCacheDataset(path).tensors["x0"]
        ref = x0 if ref is None else ref
        out[f"max_abs_diff_{per_call}per_call_{workers}workers"] = float((x0 - ref).abs().max())
    return out


def vae_training(data: list[str], workdir: Path, steps: int | None) -> dict:
    run_dir = workdir / "vae"
    return run_cli(["train-vae", "--preset", "default", "--data", *data, "--out", str(run_dir),
                   "--steps", str(steps or VAE_STEPS), "--eval-episodes", "1", "--no-progress"], run_dir / "log.jsonl")


def tools(checkpoint: str, data: list[str], workdir: Path, device: str, steps: int | None) -> dict:
    w = workdir / "tools"
    out = {"train_refiner": run_cli(["train-refiner", "--model", checkpoint, "--data", *data, "--out", str(w / "ref"),
                                    "--cache-dir", str(w / "ref_cache"), "--steps", str(steps or REFINER_STEPS),
                                    "--max-episodes", "3", "--eval-episodes", "1", "--device", device,
                                    "--no-progress"])}
    from robo4d_env.world_model.refiner_training import EVAL_FILE
    if (w / "ref" / EVAL_FILE).exists():
        report = json.loads((w / "ref" / EVAL_FILE).read_text())
        out["train_refiner"].update(before=report["before"], after=report["after"], train_s=report["train_s"])
    out["export_vae"] = run_cli(["export-vae", "--model", checkpoint, "--out", str(w / "vae_src")])
    out["train_vae_decoder_only"] = run_cli(
        ["train-vae", "--preset", "default", "--init-vae", str(w / "vae_src"), "--decoder-only",
         "--dynamic-loss-weight", "10", "--weighted-videos", "xyz", "--steps", str(steps or VAE_STEPS), "--data",
         *data, "--out", str(w / "vae_dec"), "--eval-episodes", "1", "--no-progress"])
    out["swap_vae"] = run_cli(["swap-vae", "--model", checkpoint, "--vae", str(w / "vae_dec" / "vae"),
                              "--out", str(w / "swapped")])
    return out


def renderer(device: str, urdf: str | None, n_frames: int = 256) -> dict:
    from robo4d_env.kinematics import RobotConfig, RobotModel
    from robo4d_env.projection import RobotPointmapRenderer
    robot = RobotModel(RobotConfig(urdf_path=urdf) if urdf else RobotConfig())
    g = torch.Generator().manual_seed(0)
    lo, hi = robot.q_low.float(), robot.q_high.float()
    q = lo + (hi - lo) * torch.rand(n_frames, lo.numel(), generator=g)
    finger = torch.rand(n_frames, generator=g) * 0.04
    T = torch.eye(4).expand(n_frames, 4, 4).clone()
    T[:, :3, :3] = torch.tensor([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])   # looking along base +x
    T[:, 2, 3] = 1.6
    K = torch.tensor([[60.0, 0.0, 31.5], [0.0, 60.0, 31.5], [0.0, 0.0, 1.0]]).expand(n_frames, 3, 3)
    out, pms = {}, {}
    for dev in ("cpu", device):
        r = RobotPointmapRenderer(robot, device=dev)
        r.render(q[:8], finger[:8], T[:8], K[:8], 64, 64)      # samples drawn, kernels loaded
        t0 = time.perf_counter()
        pms[dev] = r.render(q, finger, T, K, 64, 64)
        out[f"ms_per_frame_{dev}"] = 1000 * (time.perf_counter() - t0) / n_frames
    (pc, mc), (pg, mg) = pms["cpu"], pms[device]
    both = mc & mg
    out.update(robot_pixel_fraction=float(mc.float().mean()), mask_agreement=float((mc == mg).float().mean()),
               max_point_gap_m=float((pc - pg).norm(dim=-1)[both].max()) if both.any() else 0.0)
    return out


def env_speed(checkpoint: str, data: list[str], device: str, counts: list[int], urdf: str | None,
              profile: bool = False) -> dict:
    import gymnasium as gym

    import robo4d_env  # noqa: F401  (registers the envs)
    from benchmarks.env_speed import _actions, frames_per_s
    from benchmarks.world_model import load_model
    from robo4d_env.kinematics import RobotConfig
    model = load_model(checkpoint).to(device)
    chunk = model.wm.frames_per_chunk - model.wm.context_frames

    def make(n: int):
        return gym.make_vec("Kinema4D-v0", num_envs=n, vectorization_mode="vector_entry_point", world_model=model,
                            action_chunk=chunk, init_source="dataset", dataset=data, device=device,
                            robot=RobotConfig(urdf_path=urdf) if urdf else RobotConfig())
    out = {f"gen_frames_per_s_{n}env": frames_per_s(make(n), chunk, n, steps=2) for n in counts}
    if profile:             # where one step of the largest batch spends its time (cumulative, top functions)
        import cProfile
        import io
        import pstats
        env = make(counts[-1])
        env.reset(seed=0)
        rng = np.random.default_rng(0)
        env.step(_actions(env.action_space, counts[-1], rng))
        prof = cProfile.Profile()
        prof.enable()
        env.step(_actions(env.action_space, counts[-1], rng))
        if device == "cuda":
            torch.cuda.synchronize()
        prof.disable()
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(PROFILE_LINES)
        out["profile_top"] = text.getvalue().splitlines()
    return out


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--data", nargs="+", default=["data/lift_eval"], help="shards: init frames and training data")
    p.add_argument("--checkpoint", default="assets/world_model/lift")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64, 256])
    p.add_argument("--envs", type=int, nargs="+", default=[8, 64, 256])
    p.add_argument("--urdf", default=None, help="robot URDF (default: robosuite's Panda)")
    p.add_argument("--profile", action="store_true", help="env part: cProfile one step of the largest batch")
    p.add_argument("--train-steps", type=int, default=None, help="steps of every training run (a quick check)")
    p.add_argument("--parts", nargs="+", default=["cross_device", "sampling", "training", "vae_training", "env"],
                   choices=["cross_device", "sampling", "training", "vae_training", "env", "renderer", "tools",
                            "latent_cache"])
    a = p.parse_args(argv)
    from benchmarks.world_model import load_episodes
    res: dict = {"device": a.device, "torch": torch.__version__, "checkpoint": a.checkpoint, "data": a.data}
    if a.device == "cuda":
        res["gpu"] = torch.cuda.get_device_name()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False   # fp32 means fp32
    eps = load_episodes(a.data, CHUNK_FRAMES, 8) if {"cross_device", "sampling"} & set(a.parts) else []
    work = Path(tempfile.mkdtemp(prefix="robo4d-gpu-"))
    parts = {"cross_device": (cross_device, a.checkpoint, eps[:4], a.device),
             "sampling": (sampling, a.checkpoint, eps, a.device, a.batches),
             "training": (training, a.data, work, a.train_steps),
             "vae_training": (vae_training, a.data, work, a.train_steps),
             "env": (env_speed, a.checkpoint, a.data, a.device, a.envs, a.urdf, a.profile),
             "renderer": (renderer, a.device, a.urdf),
             "latent_cache": (latent_cache, a.checkpoint, a.data, work, a.device),
             "tools": (tools, a.checkpoint, a.data, work, a.device, a.train_steps)}
    for name in a.parts:          # results written after every part: a timeout keeps the finished ones
        fn, *args = parts[name]
        guarded(res, name, fn, *args)
        res["peak_rss_mb"] = peak_rss_mb()
        write_results(a.out, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
