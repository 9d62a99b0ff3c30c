"""VAE stage: train the preset's ``AutoencoderKLWan`` on our clips, before the DiT (``robo4d train-vae``).

The world model pushes three kinds of video through ONE VAE: RGB, the world XYZ pointmap and the
robot XYZ pointmap, the last two normalised to [-1, 1] exactly as ``Kinema4DWorldModel.prepare_batch``
does (``pointmap_bounds`` + ``pointmap_to_unit``). This stage trains on all three with
L1 + L2 reconstruction + a small KL, on short clips (``VaeTrainingConfig.clip_frames``) cut from the
same ``clip_frames``-frame dataset clips the DiT sees.

Output directory layout:
  checkpoints/step-00000050/{vae/, training_state.pt, state.json}   (the last few; resumed from)
  vae/                  the final ``AutoencoderKLWan.save_pretrained`` (safetensors), its config's
                        latents_mean/std = the measured RGB latent stats; + latent_stats.json
  vae_eval.json         {"vae_recon_psnr": {...}} on held-out episodes (full ``clip_frames`` clips)
  log.jsonl             one line per step: step, loss, l1, l2, kl, lr, sec

Schedule used for the ``default`` preset on the 2-core CPU (1 torch thread; see
``VaeTrainingConfig.clip_frames`` for why the second phase is needed):
  robo4d train-vae --preset default --data data/lift_train --out OUT --steps 600 --batch-size 1 --lr 2e-4
  robo4d train-vae --preset default --data data/lift_train --out OUT --steps 750 --batch-size 1 --lr 2e-4 \
      --clip-frames 17          # resumes at step 600, fine-tunes on 17-frame clips

Use the result with ``robo4d train --vae <out>/vae``: ``train.build_model`` loads it and applies
``latent_stats.json`` to the model config (rgb_latent_*, xyz_latent_*).
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import torch
from accelerate.utils import send_to_device
from torch.utils.data import DataLoader, Subset

from robo4d_env.world_model.configuration_world_model import (VAE_TRAINING_PRESETS, VaeTrainingConfig,
                                                              WorldModelConfig, add_set_argument, get_preset,
                                                              parse_overrides, with_overrides)
from robo4d_env.world_model.modeling_world_model import (build_vae, pointmap_bounds, pointmap_to_unit,
                                                         resize_video, rgb_to_unit, unit_to_pointmap)
from robo4d_env.world_model.train import (CKPT_PREFIX, STEP_DIGITS, atomic_dir, check_replicas_in_sync,
                                          end_processes, list_checkpoints, load_training_state, make_dataset,
                                          open_step_log)

LATENT_STATS_FILE = "latent_stats.json"
EVAL_FILE = "vae_eval.json"
KEYS = ("rgb", "pointmap", "valid", "robot_pointmap", "robot_mask")


# --------------------------------------------------------------------------------------- data
def clip_to_units(cfg: WorldModelConfig, clip: dict) -> dict:
    """Clips (B, T, ...) -> {"rgb", "xyz", "robot"}: (B, 3, T, H, W) in [-1, 1], plus "lo"/"hi" (B, 3)
    metres, normalised exactly as the world model does (bounds from the scene + robot points)."""
    v = {k: resize_video(clip[k], cfg.height, cfg.width, "bilinear" if k == "rgb" else "nearest") for k in KEYS}
    B = v["rgb"].shape[0]
    pts = torch.cat([v["pointmap"].reshape(B, -1, 3), v["robot_pointmap"].reshape(B, -1, 3)], 1)
    msk = torch.cat([v["valid"].reshape(B, -1), v["robot_mask"].reshape(B, -1)], 1)
    lo, hi = pointmap_bounds(cfg, pts, msk)
    return {"rgb": rgb_to_unit(v["rgb"]), "xyz": pointmap_to_unit(v["pointmap"], v["valid"], lo, hi),
            "robot": pointmap_to_unit(v["robot_pointmap"], v["robot_mask"], lo, hi), "lo": lo, "hi": hi,
            "pointmap": v["pointmap"], "valid": v["valid"], "robot_mask": v["robot_mask"]}


def object_pixels(tcfg: VaeTrainingConfig, u: dict) -> torch.Tensor:
    """(B, T, H, W) bool: valid scene pixels (not the robot) whose world point lies in the object box."""
    p = u["pointmap"]
    lo, hi = (torch.tensor(b, dtype=p.dtype, device=p.device) for b in (tcfg.object_box_min_m, tcfg.object_box_max_m))
    return ((p > lo) & (p < hi)).all(-1) & u["valid"].bool() & ~u["robot_mask"].bool()


class SubClipCollate:
    """Whole clips -> random contiguous ``n_frames`` sub-clips (B, n_frames, ...) of the VIDEO keys."""

    def __init__(self, n_frames: int, seed: int):
        self.n_frames = n_frames
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, items: list[dict]) -> dict:
        out = {k: [] for k in KEYS}
        for item in items:
            T = item["rgb"].shape[0]
            s = int(torch.randint(0, T - self.n_frames + 1, (1,), generator=self.generator))
            for k in KEYS:
                out[k].append(item[k][s:s + self.n_frames])
        return {k: torch.stack(v) for k, v in out.items()}


def holdout_split(dataset, n_eval: int) -> tuple[Subset, Subset]:
    """(train, eval): eval = the last ``n_eval`` clips, i.e. the last episodes of the last data file
    (``Robo4DDataset`` lists files sorted, one clip per episode when window == clip_frames)."""
    n = len(dataset)
    if not 0 <= n_eval < n:
        raise ValueError(f"eval_episodes={n_eval} must be in [0, {n}) for a dataset of {n} clips")
    return Subset(dataset, range(n - n_eval)), Subset(dataset, range(n - n_eval, n))


# --------------------------------------------------------------------------------------- loss
def vae_loss(vae, x: torch.Tensor, tcfg: VaeTrainingConfig, generator: torch.Generator | None = None,
             weights: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """x (N, 3, T, H, W) in [-1, 1] -> (loss, parts). Reconstructs a posterior SAMPLE (so the decoder
    learns the latent neighbourhood the DiT will produce); every term is a per-element mean, weighted by
    ``weights`` (N, 1, T, H, W) when given."""
    post = vae.encode(x).latent_dist
    rec = vae.decode(post.sample(generator)).sample
    if weights is None:
        wmean = torch.mean
    else:
        wmean = lambda e: (e * weights).sum() / (weights.sum() * x.shape[1])  # noqa: E731
    l1, l2 = wmean((rec - x).abs()), wmean((rec - x).pow(2))
    kl = 0.5 * (post.mean.pow(2) + post.var - 1.0 - post.logvar).mean()
    loss = tcfg.l1_weight * l1 + tcfg.l2_weight * l2 + tcfg.kl_weight * kl
    return loss, {"l1": float(l1.detach()), "l2": float(l2.detach()), "kl": float(kl.detach())}


def batch_videos(cfg: WorldModelConfig, clip: dict,
                 tcfg: VaeTrainingConfig | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A clip batch (B, T, ...) -> the 3B videos (3B, 3, T, H, W) the VAE sees (RGB, XYZ, robot XYZ) and
    their loss weights (3B, 1, T, H, W) for the RGB and XYZ videos: 1, + ``object_loss_weight`` on object
    pixels, + ``dynamic_loss_weight`` on changing non-robot pixels (None when both are 0 or no ``tcfg``)."""
    u = clip_to_units(cfg, clip)
    x = torch.cat([u["rgb"], u["xyz"], u["robot"]])
    if tcfg is None or (tcfg.object_loss_weight <= 0 and tcfg.dynamic_loss_weight <= 0):
        return x, None
    w = 1.0 + tcfg.object_loss_weight * object_pixels(tcfg, u).float()
    if tcfg.dynamic_loss_weight > 0:
        rgb = u["rgb"]
        moving = ((rgb - rgb[:, :, :1]).abs().amax(1) > tcfg.dynamic_threshold).any(1, keepdim=True)
        w = w + tcfg.dynamic_loss_weight * (moving & ~u["robot_mask"].bool()).float()
    w = w.unsqueeze(1)
    one = torch.ones_like(w)
    pick = [w if name in tcfg.weighted_videos else one for name in ("rgb", "xyz")]
    return x, torch.cat([*pick, one])


# --------------------------------------------------------------------------------------- eval
def psnr(mse: float, peak_to_peak: float = 2.0) -> float:
    """PSNR in dB of a mean squared error for signals spanning ``peak_to_peak`` ([-1, 1]: 2)."""
    return 10.0 * math.log10(peak_to_peak ** 2 / max(mse, 1e-12))


@torch.no_grad()
def evaluate_vae(vae, cfg: WorldModelConfig, dataset, tcfg: VaeTrainingConfig | None = None) -> dict:
    """Reconstruction of held-out whole clips through the posterior mode (what the world model uses).

    rgb_psnr / xyz_psnr / robot_psnr: dB in the [-1, 1] space (pooled MSE over all clips).
    rgb_object_psnr: RGB PSNR pooled over the object pixels only (``object_pixels``; the box of ``tcfg``).
    xyz_err_m_mean / _median: Euclidean error in metres on valid pixels after de-normalisation, against
    the normalisation round trip of the ground truth (so the workspace clamp is not counted)."""
    vae.eval()
    tcfg = tcfg or VaeTrainingConfig()
    sq = {"rgb": [], "xyz": [], "robot": []}
    errs, obj_sq = [], []
    for i in range(len(dataset)):
        clip = {k: dataset[i][k].unsqueeze(0).to(vae.device) for k in KEYS}
        u = clip_to_units(cfg, clip)
        for k in sq:
            rec = vae.decode(vae.encode(u[k]).latent_dist.mode()).sample.clamp(-1, 1)
            sq[k].append((rec - u[k]).pow(2).flatten())
            if k == "rgb":
                obj_sq.append((rec - u[k]).pow(2).mean(1)[object_pixels(tcfg, u)])
            if k == "xyz":
                pm_rec = unit_to_pointmap(rec, u["lo"], u["hi"])
                pm_ref = unit_to_pointmap(u["xyz"], u["lo"], u["hi"])
                errs.append((pm_rec - pm_ref).norm(dim=-1)[u["valid"]])
    err = torch.cat(errs)
    out = {f"{k}_psnr": psnr(float(torch.cat(v).mean())) for k, v in sq.items()}
    obj = torch.cat(obj_sq)
    out["rgb_object_psnr"] = psnr(float(obj.mean())) if obj.numel() else None
    out.update(xyz_err_m_mean=float(err.mean()), xyz_err_m_median=float(err.median()),
               n_clips=len(dataset), clip_frames=int(dataset[0]["rgb"].shape[0]))
    return out


@torch.no_grad()
def measure_latent_stats(vae, cfg: WorldModelConfig, loader, n_clips: int) -> dict:
    """Raw-latent (posterior mode) statistics on ~``n_clips`` training clips, in the model-config fields:
    RGB per channel (lists of z), XYZ pooled over channels and over scene + robot pointmaps (scalars)."""
    vae.eval()
    rgb, xyz, seen = [], [], 0
    for clip in loader:
        u = clip_to_units(cfg, send_to_device(clip, vae.device))
        rgb.append(vae.encode(u["rgb"]).latent_dist.mode().transpose(0, 1).flatten(1))
        xyz.append(vae.encode(torch.cat([u["xyz"], u["robot"]])).latent_dist.mode().flatten())
        seen += u["rgb"].shape[0]
        if seen >= n_clips:
            break
    r, x = torch.cat(rgb, 1), torch.cat(xyz)
    return {"rgb_latent_mean": r.mean(1).tolist(), "rgb_latent_std": r.std(1).clamp_min(1e-3).tolist(),
            "xyz_latent_mean": float(x.mean()), "xyz_latent_std": max(float(x.std()), 1e-3)}


def load_latent_stats(vae_dir: str | Path) -> dict:
    """The ``latent_stats.json`` a VAE stage wrote next to its weights ({} when absent)."""
    for d in (Path(vae_dir), Path(vae_dir) / "vae"):
        if (d / LATENT_STATS_FILE).exists():
            return json.loads((d / LATENT_STATS_FILE).read_text())
    return {}


# --------------------------------------------------------------------------------------- checkpoints
def save_vae(vae, path: Path, stats: dict | None = None) -> None:
    """Atomic ``save_pretrained`` (safetensors); with ``stats`` also the latent stats (config + json)."""
    def write(tmp: Path) -> None:
        if stats:
            vae.register_to_config(latents_mean=stats["rgb_latent_mean"], latents_std=stats["rgb_latent_std"])
            (tmp / LATENT_STATS_FILE).write_text(json.dumps(stats, indent=1))
        vae.save_pretrained(tmp, safe_serialization=True)
    atomic_dir(path, write)


def save_vae_checkpoint(out: Path, step: int, vae, optimizer, lr_scheduler, keep: int) -> None:
    def write(tmp: Path) -> None:
        vae.save_pretrained(tmp / "vae", safe_serialization=True)
        torch.save({"optimizer": optimizer.state_dict(), "lr_scheduler": lr_scheduler.state_dict()},
                   tmp / "training_state.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step}))

    atomic_dir(out / "checkpoints" / f"{CKPT_PREFIX}{step:0{STEP_DIGITS}d}", write)
    for stale in list_checkpoints(out)[:-keep]:
        shutil.rmtree(stale, ignore_errors=True)


def resume_vae(out: Path, vae, optimizer, lr_scheduler) -> int:
    """Load the latest complete VAE checkpoint under ``out`` (if any); returns its step (else 0)."""
    from diffusers import AutoencoderKLWan

    ckpts = list_checkpoints(out)
    if not ckpts:
        return 0
    last = ckpts[-1]
    saved = AutoencoderKLWan.from_pretrained(last / "vae", local_files_only=True)
    vae.load_state_dict(saved.state_dict())
    return load_training_state(last, optimizer, lr_scheduler)[1]


# --------------------------------------------------------------------------------------- training
def train_vae(model_cfg: WorldModelConfig, tcfg: VaeTrainingConfig, data, out: str | Path,
              init_vae: str | Path | None = None, progress: bool = True) -> Path:
    """Train (or resume) the preset's VAE on ``data`` (paths or a Dataset of whole clips); writes
    ``out/vae`` (+ latent stats) and ``out/vae_eval.json``; returns ``out/vae``."""
    from accelerate import Accelerator
    from diffusers.optimization import get_scheduler
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(tcfg.seed)
    if tcfg.num_threads:
        torch.set_num_threads(tcfg.num_threads)
    if (tcfg.clip_frames - 1) % model_cfg.vae_temporal_factor or tcfg.clip_frames > model_cfg.clip_frames:
        raise ValueError(f"VAE clip_frames={tcfg.clip_frames} must be 1 + {model_cfg.vae_temporal_factor}k "
                         f"and <= the dataset clip_frames={model_cfg.clip_frames}")
    accelerator = Accelerator(mixed_precision=tcfg.mixed_precision)
    train_set, eval_set = holdout_split(make_dataset(data, model_cfg), tcfg.eval_episodes)
    loader = DataLoader(train_set, batch_size=tcfg.batch_size, shuffle=True, drop_last=True,
                        num_workers=tcfg.num_workers, collate_fn=SubClipCollate(tcfg.clip_frames, tcfg.seed),
                        generator=torch.Generator().manual_seed(tcfg.seed))
    if len(loader) == 0:        # an empty loader would loop forever below
        raise ValueError(f"{len(train_set)} training clips are fewer than batch_size={tcfg.batch_size}: add data, or "
                         f"lower --batch-size or --eval-episodes")
    vae = build_vae(model_cfg) if init_vae is None else _load_init(init_vae, model_cfg)
    if not tcfg.train_encoder and init_vae is None:
        raise ValueError("train_encoder=False fine-tunes the decoder of an existing VAE: pass --init-vae")
    vae.requires_grad_(True)
    if not tcfg.train_encoder:
        vae.encoder.requires_grad_(False)
        vae.quant_conv.requires_grad_(False)
    trainable = [p for p in vae.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=tcfg.learning_rate, weight_decay=tcfg.weight_decay)
    lr_scheduler = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=tcfg.warmup_steps)
    step = resume_vae(out, vae, optimizer, lr_scheduler)
    stats_loader = loader       # read by the main process alone at the end: not the distributed one
    module, optimizer, loader, lr_scheduler = accelerator.prepare(VaeLoss(vae, tcfg), optimizer, loader, lr_scheduler)
    core = accelerator.unwrap_model(module).vae
    log = open_step_log(out / "log.jsonl", step) if accelerator.is_main_process else None
    bar = tqdm(total=tcfg.max_steps, initial=step, desc="train-vae", unit="step",
               disable=not progress or not accelerator.is_main_process)
    while step < tcfg.max_steps:
        for clip in loader:
            if step >= tcfg.max_steps:
                break
            t0 = time.time()
            parts = vae_train_step(accelerator, module, core, clip, optimizer, lr_scheduler, model_cfg, tcfg)
            step += 1
            row = {"step": step, **parts, "lr": lr_scheduler.get_last_lr()[0], "sec": time.time() - t0}
            if log is not None:
                log.write(json.dumps(row) + "\n")
                log.flush()
            bar.update()
            bar.set_postfix(loss=f"{parts['loss']:.4f}", sec=f"{row['sec']:.1f}")
            if tcfg.checkpoint_every and step % tcfg.checkpoint_every == 0 and accelerator.is_main_process:
                save_vae_checkpoint(out, step, core, optimizer, lr_scheduler, tcfg.keep_checkpoints)
    bar.close()
    if log is not None:
        log.close()
    check_replicas_in_sync(accelerator, [p for p in core.parameters() if p.requires_grad], "VAE training")
    if accelerator.is_main_process:
        finish(core, model_cfg, tcfg, stats_loader, eval_set, out, step)
    end_processes(accelerator)
    return out / "vae"


def _load_init(path, cfg):
    from robo4d_env.world_model.pretrained import load_wan_vae
    return load_wan_vae(path, cfg)


class VaeLoss(torch.nn.Module):
    """The VAE with its training loss as the forward (``vae_loss``): under ``accelerate launch`` the DDP
    wrapper then sees encode + decode and all-reduces the gradients."""

    def __init__(self, vae, tcfg: VaeTrainingConfig):
        super().__init__()
        self.vae, self.tcfg = vae, tcfg

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        return vae_loss(self.vae, x, self.tcfg, weights=weights)


def vae_train_step(accelerator, module, core, clip, optimizer, lr_scheduler, cfg, tcfg) -> dict:
    module.train()
    with accelerator.autocast():
        x, weights = batch_videos(cfg, clip, tcfg)
        loss, parts = module(x, weights)
    finite = torch.isfinite(loss.detach()).reshape(1)
    if accelerator.num_processes > 1:        # every process stops, none waits for the others' gradients
        finite = accelerator.gather(finite).all().reshape(1)
    if not finite:
        from robo4d_env.world_model.modeling_world_model import NonFiniteLossError
        raise NonFiniteLossError(f"VAE loss is {loss.item()}; lower the learning rate or check the data")
    accelerator.backward(loss)
    if tcfg.max_grad_norm:
        accelerator.clip_grad_norm_([p for p in core.parameters() if p.requires_grad], tcfg.max_grad_norm)
    optimizer.step()
    lr_scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return {"loss": float(loss.detach()), **parts}


def finish(vae, cfg, tcfg, loader, eval_set, out: Path, step: int) -> None:
    """Latent stats -> ``out/vae``; held-out reconstruction -> ``out/vae_eval.json``."""
    stats = measure_latent_stats(vae, cfg, loader, tcfg.stats_clips)
    save_vae(vae, out / "vae", stats)
    report = {"vae_recon_psnr": evaluate_vae(vae, cfg, eval_set, tcfg) if len(eval_set) else None,
              "steps": step, "preset": cfg.preset, "vae_params": sum(p.numel() for p in vae.parameters()),
              "train_clip_frames": tcfg.clip_frames, "latent_stats": stats}
    tmp = out / f".tmp-{EVAL_FILE}"
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(out / EVAL_FILE)


# --------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="default", help="tiny | default | wan2.1-i2v-14b")
    p.add_argument("--data", required=True, nargs="+", help="HDF5 shard files or directories")
    p.add_argument("--out", required=True, help="output directory (resumed when it holds checkpoints)")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--clip-frames", type=int, help="frames per VAE training clip (1 + 4k)")
    p.add_argument("--kl-weight", type=float)
    p.add_argument("--eval-episodes", type=int, help="held-out episodes: the last of the last file")
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument("--threads", type=int, help="torch intra-op threads (default 1)")
    p.add_argument("--init-vae", help="LOCAL Wan VAE directory to fine-tune instead of a random one")
    p.add_argument("--decoder-only", action="store_true",
                   help="freeze the encoder (latents unchanged: a trained DiT stays valid, see swap-vae)")
    p.add_argument("--object-loss-weight", type=float, help="extra weight of object pixels (default 0)")
    p.add_argument("--dynamic-loss-weight", type=float, help="extra weight of changing pixels (default 0)")
    p.add_argument("--weighted-videos", nargs="+", choices=("rgb", "xyz"), help="videos those weights apply to")
    add_set_argument(p)
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    model_cfg, _ = get_preset(args.preset, **parse_overrides(args.overrides))
    tcfg = with_overrides(VAE_TRAINING_PRESETS[args.preset], max_steps=args.steps, batch_size=args.batch_size,
                          learning_rate=args.lr, clip_frames=args.clip_frames, kl_weight=args.kl_weight,
                          eval_episodes=args.eval_episodes, checkpoint_every=args.checkpoint_every,
                          num_threads=args.threads, object_loss_weight=args.object_loss_weight,
                          dynamic_loss_weight=args.dynamic_loss_weight,
                          weighted_videos=tuple(args.weighted_videos) if args.weighted_videos else None,
                          train_encoder=False if args.decoder_only else None)
    path = train_vae(model_cfg, tcfg, args.data, args.out, init_vae=args.init_vae, progress=not args.no_progress)
    print(f"wrote {path} and {Path(args.out) / EVAL_FILE}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m robo4d_env.world_model.vae_training", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
