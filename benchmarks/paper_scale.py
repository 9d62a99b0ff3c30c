"""The paper-scale path (preset ``wan2.1-i2v-14b``) on one GPU: loading, LoRA training and sampling cost.

    python -m benchmarks.paper_scale --out results.json [--workdir /tmp/wan14b] [--train-steps 3]

Real Wan2.1-I2V-14B weights cannot be fetched here, so the benchmark first writes random weights of the
same shapes in the diffusers layout (``transformer/`` in bf16 safetensors shards, ``vae/``): they cost the
same time and memory. Then, through the project's own code:
- ``load``: ``from_wan_pretrained`` (bf16 frozen DiT + fp32 LoRA rank 64 + our new modules) onto the GPU;
- ``train``: LoRA steps of ``training_loss`` on one 49-frame 480x832 chunk (cached-latent batch: random
  latents of the real shapes), bf16 autocast, gradient checkpointing, AdamW: s/step and peak memory;
- ``sample``: one denoising step of a chunk (forward only; x2 with CFG), and the VAE's encode + decode of
  one 49-frame clip: the time of one generated chunk follows from the preset's 50 steps;
- ``cli`` (with ``--data``): the user's path, ``robo4d train --preset wan2.1-i2v-14b --pretrained <dir>`` for a
  few steps with a checkpoint, resumed for one more, then ``load_world_model`` of the result and a rollout
  of one chunk (2 sampling steps) from a real episode upsampled to 480x832: times and sizes on disk.
Results are written after every stage, so a stage that runs out of time keeps the earlier ones.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from benchmarks.common import parser, peak_rss_mb, run_cli, write_results

GIB = 2 ** 30


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _peak_gib() -> float:
    return torch.cuda.max_memory_allocated() / GIB if torch.cuda.is_available() else float("nan")


def write_random_wan(cfg, path: Path, device: str) -> dict:
    """Random Wan2.1-I2V-14B-shaped weights -> ``path/transformer`` (bf16) and ``path/vae`` (fp32)."""
    from robo4d_env.world_model.modeling_world_model import build_transformer, build_vae
    t0 = time.perf_counter()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            transformer = build_transformer(cfg)
    finally:
        torch.set_default_dtype(torch.float32)
    n_params = sum(p.numel() for p in transformer.parameters())
    transformer.to("cpu").save_pretrained(path / "transformer", max_shard_size="5GB")
    del transformer
    build_vae(cfg).save_pretrained(path / "vae")
    size = sum(f.stat().st_size for f in path.rglob("*.safetensors"))
    return {"dit_params_b": n_params / 1e9, "bytes_on_disk_gb": size / 1e9, "write_s": time.perf_counter() - t0}


def load(cfg, path: Path, device: str):
    from robo4d_env.world_model.pretrained import from_wan_pretrained, trainable_parameter_names
    t0 = time.perf_counter()
    model = from_wan_pretrained(path, cfg, base_dtype=torch.bfloat16).to(device)
    _sync()
    trainable = trainable_parameter_names(model)
    n_train = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad)
    lora_dtypes = sorted({str(p.dtype) for n, p in model.named_parameters() if "lora_" in n})
    return model, {"load_s": time.perf_counter() - t0, "trainable_params_m": n_train / 1e6,
                   "trainable_tensors": len(trainable), "lora_dtypes": lora_dtypes,
                   "gpu_gib_after_load": torch.cuda.memory_allocated() / GIB if device == "cuda" else None}


def latent_batch(model, device: str, generator: torch.Generator) -> dict:
    """One chunk as the latent cache stores it, with random latents of the preset's real shapes."""
    wm = model.wm
    s = wm.vae_spatial_factor
    f, h, w = wm.latent_frames, wm.height // s, wm.width // s
    z = wm.vae_z_dim
    mask = torch.zeros(1, wm.frames_per_chunk, wm.height, wm.width, dtype=torch.bool)
    mask[..., wm.height // 3: 2 * wm.height // 3, wm.width // 3: wm.width // 2] = True     # a robot-sized blob
    return {"x0": torch.randn(1, z, f, h, 2 * w, generator=generator).to(device),
            "robot_latents": torch.randn(1, z, f, h, w, generator=generator).to(device),
            "robot_mask": mask.to(device), "null_robot": torch.zeros(1, z, f, h, w, device=device)}


def train_steps(model, n_steps: int, device: str) -> dict:
    model.train()
    model.transformer.enable_gradient_checkpointing()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-5)
    g = torch.Generator().manual_seed(0)
    batch = latent_batch(model, device, g)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    for _ in range(n_steps):
        t0 = time.perf_counter()
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            loss = model.training_loss(batch, g)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync()
        times.append(time.perf_counter() - t0)
        losses.append(float(loss))
    wm = model.wm
    tokens = wm.latent_frames * (wm.height // wm.vae_spatial_factor // wm.patch_size[1]) * \
        (2 * wm.width // wm.vae_spatial_factor // wm.patch_size[2])
    return {"step_s": times, "step_s_after_first": sum(times[1:]) / max(len(times) - 1, 1), "losses": losses,
            "dit_tokens": tokens, "peak_gpu_gib": _peak_gib()}


@torch.no_grad()
def sample_cost(model, device: str) -> dict:
    from robo4d_env.world_model.modeling_world_model import RGB
    model.eval()
    wm = model.wm
    g = torch.Generator().manual_seed(1)
    batch = latent_batch(model, device, g)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.autocast(device_type=device, dtype=torch.bfloat16):
        x0, inputs = model.prepare_cached_batch(batch, g)
        ts = torch.full((1,), 500.0, device=device)
        model.velocity(x0, ts, inputs)              # warm-up
        _sync()
        t0 = time.perf_counter()
        model.velocity(x0, ts, inputs)
        _sync()
        step_s = time.perf_counter() - t0
        clip = torch.rand(1, 3, wm.frames_per_chunk, wm.height, wm.width, generator=g).to(device) * 2 - 1
        t0 = time.perf_counter()
        model.decode(model.encode(clip, RGB), RGB)
        _sync()
        vae_s = time.perf_counter() - t0
    passes = 2 if wm.guidance_scale > 1 else 1
    n_new = wm.frames_per_chunk - wm.context_frames
    chunk_s = wm.num_sampling_steps * passes * step_s + 3 * vae_s   # context, robot and output through the VAE
    return {"denoise_step_s": step_s, "vae_encode_decode_clip_s": vae_s, "sampling_steps": wm.num_sampling_steps,
            "cfg_passes": passes, "chunk_s_estimate": chunk_s, "s_per_generated_frame_estimate": chunk_s / n_new,
            "peak_gpu_gib": _peak_gib()}


def _dir_gb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e9


def cli_finetune(path: Path, data: list[str], workdir: Path, steps: int, overrides: list[str], device: str) -> dict:
    """``robo4d train`` of the preset from the Wan directory (checkpoint every 2 steps), resumed for one more step;
    then the final model loaded back and rolled out for one chunk."""
    from benchmarks.world_model import load_episodes, rollout_batch
    from robo4d_env.world_model.modeling_world_model import load_world_model
    run = workdir / "run"
    base = ["train", "--preset", "wan2.1-i2v-14b", "--pretrained", str(path), "--data", *data, "--out", str(run),
            "--checkpoint-every", "2", "--eval-every", "0", "--latent-cache", "off", "--no-progress"] + \
        [x for o in overrides for x in ("--set", o)]
    out = {}
    for name, n in (("train", steps), ("resume", steps + 1)):
        r = run_cli(base + ["--steps", str(n)])
        if "error" in r:
            raise RuntimeError(f"{r['command']} failed:\n{r['error']}")
        out[f"{name}_wall_s"] = r["wall_s"]
    rows = [line for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    out["logged_steps"] = len(rows)
    out["checkpoint_gb"] = _dir_gb(sorted((run / "checkpoints").iterdir())[-1])
    out["final_model_gb"] = _dir_gb(run / "model")
    t0 = time.perf_counter()
    model = load_world_model(run / "model").to(device)
    out["load_final_s"] = time.perf_counter() - t0
    n_new = model.wm.frames_per_chunk - model.wm.context_frames
    eps = load_episodes(data, n_new + 1, 1)
    t0 = time.perf_counter()
    with torch.autocast(device_type=device, dtype=torch.bfloat16):
        gen = rollout_batch(model, eps, n_new, seed=0, num_steps=2)[0]
    out["rollout_one_chunk_2_steps_s"] = time.perf_counter() - t0
    out["rollout_rgb_shape"] = list(gen["rgb"].shape)
    out["rollout_pointmap_finite"] = bool(torch.isfinite(torch.as_tensor(gen["pointmap"])).all())
    out["command"] = "robo4d " + " ".join(base + ["--steps", str(steps)])
    return out


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--workdir", default="/tmp/wan14b", help="where the random-weight Wan directory is written")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--train-steps", type=int, default=3)
    p.add_argument("--preset", default="wan2.1-i2v-14b")
    p.add_argument("--stages", nargs="+", default=["write", "load", "train", "sample"],
                   choices=["write", "load", "train", "sample", "cli"])
    p.add_argument("--data", nargs="+", default=None, help="shards for the cli stage (episodes >= 49 frames)")
    p.add_argument("--set", action="append", default=[], dest="overrides", metavar="FIELD=VALUE",
                   help="model-config overrides as `robo4d train --set` (e.g. a scaled-down check on CPU)")
    a = p.parse_args(argv)
    from robo4d_env.world_model.configuration_world_model import get_preset, parse_overrides
    cfg, _ = get_preset(a.preset, **parse_overrides(a.overrides))
    res: dict = {"preset": a.preset, "device": a.device, "height": cfg.height, "width": cfg.width,
                 "frames_per_chunk": cfg.frames_per_chunk, "lora_rank": cfg.lora_rank, "overrides": a.overrides}
    if a.device == "cuda":
        res["gpu"] = torch.cuda.get_device_name()
    path = Path(a.workdir)
    stages = [("write", lambda: write_random_wan(cfg, path, a.device))]
    model = None

    def do_load():
        nonlocal model
        model, info = load(cfg, path, a.device)
        return info
    stages += [("load", do_load), ("train", lambda: train_steps(model, a.train_steps, a.device)),
               ("sample", lambda: sample_cost(model, a.device)),
               ("cli", lambda: cli_finetune(path, a.data, path.parent / "cli", a.train_steps, a.overrides, a.device))]
    for name, fn in [(n, f) for n, f in stages if n in a.stages]:
        t0 = time.perf_counter()
        res[name] = fn()
        res[name]["stage_wall_s"] = time.perf_counter() - t0
        res["peak_rss_mb"] = peak_rss_mb()
        write_results(a.out, res)
        print(f"[{name}] {res[name]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
