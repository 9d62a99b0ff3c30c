"""Train the Kinema4D world model with accelerate: EMA, resume, NaN guard, atomic checkpoints, eval clips.

Output directory layout:
  checkpoints/step-00000100/{model/, ema/, training_state.pt, state.json}   (kept: the last few)
  model/            the final weights (EMA when enabled), ``save_pretrained`` layout, for inference
  eval/step-*.mp4   ground truth | generated RGB | generated depth, one per ``eval_every`` steps
  log.jsonl         one line per step: step, loss, lr, seconds
  latent_cache.safetensors   the frozen VAE's latents of every training window (``latent_cache``)

Every directory is written under a temporary name and renamed into place, so an interrupted run never
leaves a half-written checkpoint; ``train`` resumes from the latest complete one.

Cached latents: the VAE is frozen, so ``latent_cache="on"`` encodes every training window once into
``out/latent_cache.safetensors`` and trains from it (the VAE encode dominates a CPU step); "auto" (the
default) uses a cache already there when it matches the VAE, config and data; "off" never does.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from robo4d_env.world_model.configuration_world_model import (TrainingConfig, WorldModelConfig, add_set_argument,
                                                          get_preset, parse_overrides, with_overrides)
from robo4d_env.world_model.adapter_checkpoint import is_adapter_dir, load_trainable, save_adapter
from robo4d_env.world_model.modeling_world_model import (Kinema4DWorldModel, NonFiniteLossError,
                                                         check_checkpoint_config, load_world_model,
                                                         training_window_indices)

VIDEO_KEYS = ("rgb", "pointmap", "valid", "robot_pointmap", "robot_mask")
ACTION_KEYS = ("q_cmd", "finger_cmd")          # the action-conditioned baseline's inputs
# Model-config overrides of the benchmark's ablations (``robo4d train --variant``).
VARIANTS = {"kinema4d": {}, "action": {"robot_condition": "action"}, "rgb_only": {"predict_pointmap": False}}
CKPT_PREFIX = "step-"
STEP_DIGITS = 8


# --------------------------------------------------------------------------------------- data
class WindowCollate:
    """Dataset items (whole clips, (T, ...)) -> a batch of training windows (B, frames_per_chunk, ...)
    drawn by ``training_window_indices`` (memory frame + random contiguous run)."""

    def __init__(self, cfg: WorldModelConfig, seed: int):
        self.cfg = cfg
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, items: list[dict]) -> dict:
        keys = VIDEO_KEYS + tuple(k for k in ACTION_KEYS if all(k in it for it in items))
        out = {k: [] for k in keys}
        for item in items:
            n = item["rgb"].shape[0]
            if n == self.cfg.frames_per_chunk:          # already a window (RolloutWindowDataset)
                idx = torch.arange(n)
            elif n == self.cfg.clip_frames:
                idx = training_window_indices(self.cfg, self.generator)
            else:
                raise ValueError(f"dataset items have {n} frames, the config expects clip_frames="
                                 f"{self.cfg.clip_frames} or frames_per_chunk={self.cfg.frames_per_chunk}")
            for k in keys:
                out[k].append(item[k][idx])
        return {k: torch.stack(v) for k, v in out.items()}


def make_dataset(data, cfg: WorldModelConfig, windows: str = "clip", known_stride: int = 1,
                 holdout_episodes: int = 0):
    """Training items from a path (file / shard dir / list) or a torch Dataset (passed through), without
    the last ``holdout_episodes`` episodes (the VAE stage's held-out ones).

    ``windows`` "rollout": ``RolloutWindowDataset`` (stride-1 windows as a rollout sees them, every
    ``known_stride``-th known-frame count); "clip": ``Robo4DDataset`` of whole episodes resampled to
    ``clip_frames`` (the VAE stage's clips)."""
    if windows not in ("rollout", "clip"):
        raise ValueError(f"windows must be 'rollout' or 'clip', got {windows!r}")
    if not isinstance(data, torch.utils.data.Dataset) and windows == "rollout":
        from robo4d_env.world_model.windows import RolloutWindowDataset
        return RolloutWindowDataset(data, cfg, known_stride, holdout_episodes)
    if isinstance(data, torch.utils.data.Dataset):
        dataset = data
    else:
        from robo4d_env.data.dataset import Robo4DDataset
        dataset = Robo4DDataset(data, context_frames=1, future_frames=cfg.clip_frames - 1, clip_frames=cfg.clip_frames)
    if not holdout_episodes:
        return dataset
    from robo4d_env.world_model.vae_training import holdout_split
    return holdout_split(dataset, holdout_episodes)[0]


def warn_if_truncated(data) -> None:
    """Warn when the training data's episodes end at the first success frame (see ``truncated_at_success``)."""
    if isinstance(data, torch.utils.data.Dataset):
        return
    from robo4d_env.data.dataset import truncated_at_success
    dirs = truncated_at_success(data)
    if dirs:
        warnings.warn(f"{', '.join(map(str, dirs))}: episodes end at the first success frame, so the world model "
                      f"never sees the world after it (a lift ends as the cube leaves the table) and will not "
                      f"generate it. Regenerate with `robo4d data generate ... --run-to-horizon --max-steps N`, "
                      f"N at least the rollout horizon.", UserWarning, stacklevel=3)


def with_data_fingers(cfg: WorldModelConfig, data) -> WorldModelConfig:
    """``cfg`` with ``robot_fingers`` read from the data's manifests, so that Kinema4D-v0 draws the fingers
    as the model learned them (a torch Dataset, or shards without manifests, keep the config's)."""
    if isinstance(data, torch.utils.data.Dataset):
        return cfg
    from robo4d_env.data.dataset import robot_fingers
    fingers = robot_fingers(data)
    return cfg if fingers is None else dataclasses.replace(cfg, robot_fingers=fingers)


# --------------------------------------------------------------------------------------- checkpoints
def atomic_dir(final: Path, write) -> Path:
    """Call ``write(tmp_dir)`` then move tmp_dir to ``final`` (replacing it)."""
    tmp = final.with_name(f".tmp-{final.name}")
    old = final.with_name(f".old-{final.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write(tmp)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(out: Path) -> list[Path]:
    d = out / "checkpoints"
    return sorted(d.glob(f"{CKPT_PREFIX}*")) if d.exists() else []


def save_weights(model: Kinema4DWorldModel, path: Path, pretrained: str | Path | None = None) -> None:
    """``save_pretrained``; a LoRA fine-tune of ``pretrained`` stores only its trainable weights and the base's
    path (``adapter_checkpoint``: 0.8 GB instead of 33-66 GB at the paper's scale)."""
    if pretrained is not None:
        save_adapter(model, path, pretrained)
    else:
        model.save_pretrained(path, safe_serialization=True)


def save_model(model: Kinema4DWorldModel, ema, path: Path, pretrained: str | Path | None = None) -> None:
    """``save_weights`` of the model with its EMA weights (when given) swapped in."""
    params = [p for p in model.parameters() if p.requires_grad]
    if ema is not None:
        ema.store(params)
        ema.copy_to(params)
    try:
        save_weights(model, path, pretrained)
    finally:
        if ema is not None:
            ema.restore(params)


def save_checkpoint(out: Path, step: int, model, ema, optimizer, lr_scheduler, keep: int,
                    pretrained: str | Path | None = None) -> Path:
    def write(tmp: Path) -> None:
        save_weights(model, tmp / "model", pretrained)
        if ema is not None:
            save_model(model, ema, tmp / "ema", pretrained)
        torch.save({"optimizer": optimizer.state_dict(), "lr_scheduler": lr_scheduler.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None}, tmp / "training_state.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step}))

    path = atomic_dir(out / "checkpoints" / f"{CKPT_PREFIX}{step:0{STEP_DIGITS}d}", write)
    for stale in list_checkpoints(out)[:-keep]:
        shutil.rmtree(stale, ignore_errors=True)
    return path


def resume(out: Path, model, ema, optimizer, lr_scheduler) -> int:
    """Load the latest complete checkpoint under ``out`` (if any) and return its step (else 0).
    A checkpoint of another preset or resolution raises ``CheckpointMismatchError``."""
    ckpts = list_checkpoints(out)
    if not ckpts:
        return 0
    last = ckpts[-1]
    cfg = model.wm
    if is_adapter_dir(last / "model"):     # the base is already in ``model``: load what training changed
        check_checkpoint_config(last / "model", preset=cfg.preset, height=cfg.height, width=cfg.width)
        load_trainable(model, last / "model")
    else:
        saved = load_world_model(last / "model", preset=cfg.preset, height=cfg.height, width=cfg.width)
        model.load_state_dict(saved.state_dict())
    state, step = load_training_state(last, optimizer, lr_scheduler)
    if ema is not None and state["ema"] is not None:
        ema.load_state_dict(state["ema"])
    return step


def load_training_state(ckpt: Path, optimizer, lr_scheduler) -> tuple[dict, int]:
    """Optimizer and LR-scheduler state of a checkpoint this project wrote (``weights_only``: tensors
    and plain containers only, never arbitrary pickled objects); returns (state, step)."""
    try:
        state = torch.load(ckpt / "training_state.pt", weights_only=True)
        step = json.loads((ckpt / "state.json").read_text())["step"]
    except Exception as e:  # truncated or foreign files surface as many different errors
        raise ValueError(f"checkpoint {ckpt} is unreadable ({e}); delete that directory to resume from the "
                         "previous checkpoint, or start over with a new --out") from e
    optimizer.load_state_dict(state["optimizer"])
    lr_scheduler.load_state_dict(state["lr_scheduler"])
    return state, step


# --------------------------------------------------------------------------------------- eval
@torch.no_grad()
def write_eval_clip(model: Kinema4DWorldModel, item: dict, path: Path, fps: int, seed: int) -> Path:
    """Roll the model out one chunk from a clip's context; write GT | generated RGB | generated depth."""
    from robo4d_env.video import colorize_depth, write_mp4

    from robo4d_env.world_model.modeling_world_model import action_vectors

    c = model.wm.context_frames
    n = model.wm.frames_per_chunk       # one chunk: cheap enough to run during training
    act = {}
    if model.wm.robot_condition == "action":
        a = action_vectors(item["q_cmd"], item["finger_cmd"])
        act = {"context_actions": a[:c], "actions": a[c:n]}
    out = model.rollout(item["rgb"][:c], item["pointmap"][:c], item["robot_pointmap"][c:n], item["robot_mask"][c:n],
                        context_valid=item["valid"][:c], context_robot_pointmap=item["robot_pointmap"][:c],
                        context_robot_mask=item["robot_mask"][:c], generator=torch.Generator().manual_seed(seed), **act)
    gt = item["rgb"][c:n].numpy()
    gen = out["rgb"].numpy()
    gt = np.stack([np.asarray(_resize_np(g, gen.shape[1:3])) for g in gt])
    panels = [gt, gen]
    if "pointmap" in out:
        panels.append(np.stack([colorize_depth(p[..., 2], np.ones(p.shape[:2], bool)) for p in out["pointmap"].numpy()]))
    frames = np.concatenate(panels, axis=2)
    return write_mp4(path, frames, fps=fps)


def _resize_np(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    if img.shape[:2] == tuple(hw):
        return img
    t = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    return torch.nn.functional.interpolate(t, size=hw, mode="bilinear")[0].permute(1, 2, 0).round().byte().numpy()


# --------------------------------------------------------------------------------------- training
def build_model(cfg: WorldModelConfig, pretrained: str | Path | None = None,
                vae: str | Path | None = None, mixed_precision: str = "no") -> Kinema4DWorldModel:
    """Fresh model; ``pretrained``: a local Wan2.1 directory (transformer + VAE, LoRA; its frozen DiT in
    bf16 when training in bf16); ``vae``: a local pretrained Wan VAE only (the tiny/default DiT stays random)."""
    if pretrained is not None:
        from robo4d_env.world_model.pretrained import from_wan_pretrained
        return from_wan_pretrained(pretrained, cfg, torch.bfloat16 if mixed_precision == "bf16" else None)
    if vae is not None:
        # a VAE from ``robo4d train-vae`` carries its latent stats: the DiT sees unit-scale latents
        from robo4d_env.world_model.vae_training import load_latent_stats
        cfg = dataclasses.replace(cfg, **load_latent_stats(vae))
    model = Kinema4DWorldModel.from_world_model_config(cfg)
    if vae is not None:
        from robo4d_env.world_model.pretrained import load_wan_vae
        model.vae = load_wan_vae(vae, cfg).requires_grad_(False)
    return model


def make_loader(dataset, model, cfg: WorldModelConfig, train_cfg: TrainingConfig, out: Path,
                latent_cache: str, progress: bool) -> DataLoader:
    """Batches of windows: from the latent cache (``latent_cache`` "on" builds it, "auto" uses a matching
    one) or drawn from the raw clips and encoded each step."""
    from robo4d_env.world_model.latent_cache import CACHE_FILE, LatentCacheDataset, ensure_latent_cache

    if latent_cache not in ("auto", "on", "off"):
        raise ValueError(f"latent_cache must be 'auto', 'on' or 'off', got {latent_cache!r}")
    cache = None
    if latent_cache != "off":
        cache = ensure_latent_cache(model, dataset, out / CACHE_FILE, build=latent_cache == "on", progress=progress,
                                    clips_per_call=train_cfg.latent_cache_clips_per_call,
                                    num_workers=train_cfg.num_workers)
    g = torch.Generator().manual_seed(train_cfg.seed)
    if cache is not None:
        return DataLoader(LatentCacheDataset(cache), batch_size=train_cfg.batch_size, shuffle=True,
                          drop_last=True, num_workers=train_cfg.num_workers, generator=g)
    return DataLoader(dataset, batch_size=train_cfg.batch_size, shuffle=True, drop_last=True,
                      num_workers=train_cfg.num_workers, collate_fn=WindowCollate(cfg, train_cfg.seed), generator=g)


def train(model_cfg: WorldModelConfig, train_cfg: TrainingConfig, data, out: str | Path,
          pretrained: str | Path | None = None, vae: str | Path | None = None,
          progress: bool = True, latent_cache: str = "auto") -> Path:
    """Train (or resume) a world model on ``data`` (dataset path(s) or a torch Dataset of clips);
    returns the path of the final ``save_pretrained`` directory (``out/model``). ``latent_cache``:
    "auto" | "on" | "off" (see the module docstring)."""
    from accelerate import Accelerator
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(train_cfg.seed)
    if train_cfg.num_threads:
        torch.set_num_threads(train_cfg.num_threads)
    accelerator = Accelerator(mixed_precision=train_cfg.mixed_precision)
    if accelerator.is_main_process:
        warn_if_truncated(data)
    model_cfg = with_data_fingers(model_cfg, data)
    dataset = make_dataset(data, model_cfg, train_cfg.windows, train_cfg.window_known_stride,
                           train_cfg.holdout_episodes)
    # on the accelerator's device before the latent cache, which then encodes on the GPU too
    model = build_model(model_cfg, pretrained, vae, train_cfg.mixed_precision).to(accelerator.device)
    with accelerator.main_process_first():      # one process encodes the latent cache; the others then read it
        loader = make_loader(dataset, model, model.wm, train_cfg, out, latent_cache, progress)
    if len(loader) == 0:
        raise ValueError(f"dataset has {len(dataset)} clips, fewer than batch_size={train_cfg.batch_size}")
    if train_cfg.gradient_checkpointing:
        model.transformer.enable_gradient_checkpointing()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=train_cfg.learning_rate, betas=tuple(train_cfg.adam_betas),
                                  weight_decay=train_cfg.weight_decay)
    # supp. B.1: warm-up, then constant
    lr_scheduler = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=train_cfg.warmup_steps)
    ema = EMAModel(params, decay=train_cfg.ema_decay) if train_cfg.use_ema else None
    step = resume(out, model, ema, optimizer, lr_scheduler)
    model, optimizer, loader, lr_scheduler = accelerator.prepare(model, optimizer, loader, lr_scheduler)
    core = accelerator.unwrap_model(model)
    eval_item = dataset[0] if train_cfg.eval_every else None
    log = open_step_log(out / "log.jsonl", step) if accelerator.is_main_process else None
    bar = tqdm(total=train_cfg.max_steps, initial=step, desc="train", unit="step",
               disable=not progress or not accelerator.is_main_process)
    while step < train_cfg.max_steps:
        for batch in loader:
            if step >= train_cfg.max_steps:
                break
            t0 = time.time()
            loss = train_step(accelerator, model, batch, optimizer, lr_scheduler, params, train_cfg, step)
            if ema is not None:
                ema.step(params)
            step += 1
            if log is not None:
                row = {"step": step, "loss": loss, "lr": lr_scheduler.get_last_lr()[0], "sec": time.time() - t0}
                log.write(json.dumps(row) + "\n")
                log.flush()
            bar.update()
            bar.set_postfix(loss=f"{loss:.4f}")
            on_step_end(out, step, core, ema, optimizer, lr_scheduler, train_cfg, eval_item, accelerator, pretrained)
    bar.close()
    if log is not None:
        log.close()
    check_replicas_in_sync(accelerator, params, "world-model training")
    if accelerator.is_main_process:
        atomic_dir(out / "model", lambda tmp: save_model(core, ema, tmp, pretrained))
    end_processes(accelerator)
    return out / "model"


def open_step_log(path: Path, step: int):
    """``path`` opened for appending, after dropping the rows of steps later than ``step`` (the checkpoint a
    run resumes from): the steps it redoes are logged once, and sums of step times stay right."""
    if path.exists():
        rows = [r for r in path.read_text().splitlines() if r.strip() and json.loads(r)["step"] <= step]
        tmp = path.with_name(f".tmp-{path.name}")
        tmp.write_text("".join(r + "\n" for r in rows))
        tmp.replace(path)
    return path.open("a")


GLOO_SETTLE_S = 0.5     # time for gloo's worker thread to release the last collective's tensors (below)


def end_processes(accelerator) -> None:
    """With several processes: wait until the main one has written everything, then close the process group.
    A process that exits while the others still use the group aborts the run ("terminate called without an
    active exception", seen with 2 CPU processes).

    The pause after the barrier is for a deadlock seen with gloo (stop 24, py-spy): gloo's worker thread frees
    the finished barrier's tensors, which needs the GIL, while the main thread, holding the GIL, frees the DDP
    reducer, whose process-group destructor joins that worker thread. Sleeping releases the GIL, so the worker
    finishes first."""
    if accelerator.num_processes > 1:
        accelerator.wait_for_everyone()
        time.sleep(GLOO_SETTLE_S)
        accelerator.end_training()


def check_replicas_in_sync(accelerator, params: list[torch.Tensor], what: str) -> None:
    """Under ``accelerate launch`` with several processes, raise if their trainable weights differ (a checksum
    per process, gathered): gradients that are not all-reduced would let the replicas drift apart silently."""
    if accelerator.num_processes == 1:
        return
    checksum = torch.stack([p.detach().double().sum() for p in params]).sum().reshape(1).to(accelerator.device)
    sums = accelerator.gather(checksum)
    if not torch.allclose(sums, sums[:1].expand_as(sums), rtol=1e-6, atol=1e-8):
        raise RuntimeError(f"{what}: the {accelerator.num_processes} processes hold different weights (checksums "
                           f"{sums.tolist()}): gradients are not being synchronised across processes")


def train_step(accelerator, model, batch, optimizer, lr_scheduler, params, train_cfg, step: int) -> float:
    """One optimiser step; raises ``NonFiniteLossError`` naming the step on a NaN/inf loss (in every process
    when one of them sees it, so that none waits for the others' gradients)."""
    model.train()
    with accelerator.autocast():
        loss = model(batch)             # through the DDP wrapper under `accelerate launch`: gradients all-reduced
    finite = torch.isfinite(loss.detach()).reshape(1)
    if accelerator.num_processes > 1:
        finite = accelerator.gather(finite).all().reshape(1)
    if not finite:
        raise NonFiniteLossError(f"training loss is {loss.item()} at step {step + 1}; lower the learning rate "
                                 f"(now {lr_scheduler.get_last_lr()[0]:g}) or check the data for NaNs")
    accelerator.backward(loss)
    if train_cfg.max_grad_norm:
        accelerator.clip_grad_norm_(params, train_cfg.max_grad_norm)
    optimizer.step()
    lr_scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def on_step_end(out, step, core, ema, optimizer, lr_scheduler, train_cfg, eval_item, accelerator,
                pretrained=None) -> None:
    if not accelerator.is_main_process:
        return
    if train_cfg.checkpoint_every and step % train_cfg.checkpoint_every == 0:
        save_checkpoint(out, step, core, ema, optimizer, lr_scheduler, train_cfg.keep_checkpoints, pretrained)
    if eval_item is not None and step % train_cfg.eval_every == 0:
        core.eval()
        write_eval_clip(core, eval_item, out / "eval" / f"{CKPT_PREFIX}{step:0{STEP_DIGITS}d}.mp4",
                        train_cfg.eval_fps, train_cfg.seed)


# --------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="default", help="tiny | default | wan2.1-i2v-14b")
    p.add_argument("--data", required=True, nargs="+", help="HDF5 shard files or directories")
    p.add_argument("--out", required=True, help="output directory (resumed when it holds checkpoints)")
    p.add_argument("--steps", type=int, help="total optimiser steps (default: the preset's)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"])
    p.add_argument("--pretrained", help="LOCAL Wan2.1-I2V diffusers directory (transformer/ + vae/); LoRA")
    p.add_argument("--vae", help="LOCAL pretrained Wan VAE directory (for tiny/default)")
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument("--eval-every", type=int, help="0 disables eval clips")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="torch intra-op threads (1 on a busy 2-core CPU)")
    p.add_argument("--holdout-episodes", type=int, help="leave out the last N clips (e.g. the VAE eval ones)")
    p.add_argument("--workers", type=int, help="data loader processes (raw windows, latent-cache build)")
    p.add_argument("--latent-cache", choices=["auto", "on", "off"], default="auto",
                   help="on: encode the data once with the frozen VAE into <out>/latent_cache.safetensors and "
                        "train from it; auto: use a matching cache when present; off: encode every step")
    p.add_argument("--variant", choices=sorted(VARIANTS), default="kinema4d",
                   help="kinema4d: the paper's model; action / rgb_only: the benchmark's ablations "
                        "(action-vector conditioning / RGB-only output), same DiT and training")
    p.add_argument("--windows", choices=["rollout", "clip"],
                   help="rollout: stride-1 windows as Kinema4D-v0 rolls out (default); clip: whole episodes")
    add_set_argument(p)
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    model_cfg, train_cfg = get_preset(args.preset, **VARIANTS[args.variant], **parse_overrides(args.overrides))
    train_cfg = with_overrides(train_cfg, max_steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr,
                               mixed_precision=args.mixed_precision, checkpoint_every=args.checkpoint_every,
                               eval_every=args.eval_every, seed=args.seed, num_threads=args.threads,
                               holdout_episodes=args.holdout_episodes, windows=args.windows,
                               num_workers=args.workers)
    path = train(model_cfg, train_cfg, args.data, args.out, pretrained=args.pretrained, vae=args.vae,
                 progress=not args.no_progress, latent_cache=args.latent_cache)
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m robo4d_env.world_model.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
