"""Train the robot refiner of a world model on that model's own rollouts (``robo4d train-refiner``).

1. Pairs: the world model (refiner off) rolls out training episodes from their first frame exactly as
   ``Kinema4D-v0`` and ``benchmarks.world_model`` do; each generated frame is paired with the true
   frame and the robot's pointmap and mask. Cached in ``<cache_dir>/pairs.npz`` (no pickle; default
   ``out/refiner_cache``, not beside the weights), reused when the model, data and rollout settings are
   the same.
2. Training: L1 between refined and true RGB on the refiner's region (the dilated robot mask).
   Episodes are split before training; the last ``eval_episodes`` are held out.
3. Output (``--out``, default ``<model>/robot_refiner``): the ``RobotRefiner`` (safetensors),
   ``refiner_eval.json`` (held-out PSNR on the region and the whole frame, before and after) and
   ``refiner_log.jsonl`` (loss per step), written all at once (``train.atomic_dir``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from robo4d_env.world_model.modeling_world_model import load_world_model, pointmap_to_unit, rollout_episodes
from robo4d_env.world_model.robot_refiner import SUBFOLDER, RobotRefiner
from robo4d_env.world_model.train import atomic_dir

PAIRS_FILE, EVAL_FILE, LOG_FILE = "pairs.npz", "refiner_eval.json", "refiner_log.jsonl"
DEFAULT_CACHE_DIR = "out/refiner_cache"


@dataclass
class RefinerTrainingConfig:
    rollout_frames: int = 48          # generated frames per episode (4 chunks of 12, as the benchmark)
    rollout_batch: int = 8
    max_episodes: int = 100
    eval_episodes: int = 10           # the last episodes, held out
    steps: int = 3000
    batch_size: int = 16              # frames per step
    learning_rate: float = 1e-3
    # 48 channels / 3 px beat 32 / 2 px by 0.34 dB on held-out stack episodes (README, "Robot refiner")
    hidden_channels: int = 48
    mask_dilation_px: int = 3
    seed: int = 0
    num_threads: int = 2
    device: str = "cpu"               # where the rollouts and the refiner's training run ("cuda" on a GPU)


# --------------------------------------------------------------------------------------- pairs
def _episodes(data, n_frames: int, max_episodes: int):
    from robo4d_env.data.dataset import Robo4DDataset
    ds = Robo4DDataset(data, context_frames=1, future_frames=0, clip_frames=1)
    ids = [i for i, e in enumerate(ds.episodes) if e.n_frames >= n_frames][:max_episodes]
    if len(ids) < 2:
        raise ValueError(f"{data} has {len(ids)} episodes of >= {n_frames} frames; the refiner needs at least 2 "
                         f"(lower --rollout-frames or generate more data with `robo4d data generate`)")
    return ds, ids


def _rollout_pairs(model, eps: list[dict], T: int, seed: int) -> dict:
    """One batched rollout (refiner off) -> per generated frame: gen/true RGB, robot XYZ (unit), mask."""
    st = lambda k, sl: torch.stack([e[k][sl] for e in eps])  # noqa: E731
    first, future = slice(0, 1), slice(1, T + 1)
    out = rollout_episodes(model, eps, T, torch.Generator().manual_seed(seed), refine_robot=False)
    seen = slice(0, T + 1)
    lo, hi = model.normalisation_bounds(st("pointmap", first), st("valid", first), st("robot_pointmap", seen),
                                        st("robot_mask", seen))
    robot_x = pointmap_to_unit(st("robot_pointmap", future), st("robot_mask", future), lo, hi)   # (B, 3, T, H, W)
    flat = lambda x: x.reshape(-1, *x.shape[2:])  # noqa: E731
    return {"gen": flat(out["rgb"]).numpy(), "true": flat(st("rgb", future)).numpy(),
            "robot_x": flat(robot_x.permute(0, 2, 1, 3, 4)).numpy().astype(np.float16),
            "mask": flat(st("robot_mask", future)).numpy()}


def _pairs_key(model_dir, data, cfg: RefinerTrainingConfig) -> str:
    """What the cached pairs depend on: the weights, the rollout settings in config.json (editable
    after training, e.g. contact_radius_m), the data and the rollout's size and seeds."""
    weights, config = (Path(model_dir) / n for n in ("diffusion_pytorch_model.safetensors", "config.json"))
    stamp = [str(Path(model_dir).resolve()), weights.stat().st_mtime if weights.exists() else 0,
             config.read_text() if config.exists() else "",
             sorted(str(Path(d).resolve()) for d in data), cfg.rollout_frames, cfg.max_episodes, cfg.rollout_batch,
             cfg.seed]
    return hashlib.sha1(json.dumps(stamp).encode()).hexdigest()


def make_pairs(model, model_dir, data, cfg: RefinerTrainingConfig, cache_dir: Path, progress: bool = True) -> dict:
    """Generated/true frame pairs of up to ``max_episodes`` episodes (cached in ``cache_dir/pairs.npz``)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key, cache = _pairs_key(model_dir, data, cfg), cache_dir / PAIRS_FILE
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if str(z["key"]) == key:
                return {k: z[k] for k in z.files if k != "key"}
    ds, ids = _episodes(data, cfg.rollout_frames + 1, cfg.max_episodes)
    parts = []
    for s in tqdm(range(0, len(ids), cfg.rollout_batch), desc="refiner pairs", unit="batch", disable=not progress):
        eps = [ds.frames(i, np.arange(cfg.rollout_frames + 1)) for i in ids[s:s + cfg.rollout_batch]]
        p = _rollout_pairs(model, eps, cfg.rollout_frames, cfg.seed + s)
        p["episode"] = np.repeat(np.arange(s, s + len(eps)), cfg.rollout_frames)
        parts.append(p)
    pairs = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    tmp = cache_dir / f".tmp-{PAIRS_FILE}"
    with tmp.open("wb") as f:                    # an interrupted write leaves only the .tmp file
        np.savez(f, key=np.array(key), **pairs)
    tmp.replace(cache)
    return pairs


# --------------------------------------------------------------------------------------- training
def _tensors(pairs: dict, idx: np.ndarray, device: str = "cpu") -> tuple[torch.Tensor, ...]:
    unit = lambda a: torch.from_numpy(a[idx]).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # noqa: E731
    out = (unit(pairs["gen"]), torch.from_numpy(pairs["robot_x"][idx].astype(np.float32)),
           torch.from_numpy(pairs["mask"][idx])[:, None], unit(pairs["true"]))
    return tuple(t.to(device) for t in out)


def region_l1(refiner: RobotRefiner, gen, robot_x, mask, true) -> torch.Tensor:
    region = refiner.region(mask).float()
    err = (refiner(gen, robot_x, mask) - true).abs() * region
    return err.sum() / (3 * region.sum()).clamp(min=1)


@torch.no_grad()
def _psnr(refiner: RobotRefiner, pairs: dict, idx: np.ndarray, refine: bool) -> dict:
    se_region = se_all = n_region = 0.0
    for s in range(0, len(idx), 64):
        gen, rx, m, true = _tensors(pairs, idx[s:s + 64], refiner.device)
        pred = refiner(gen, rx, m) if refine else gen
        se = ((pred - true) / 2.0).pow(2).sum(1, keepdim=True)     # [0, 1] units, summed over channels
        region = refiner.region(m).float()
        se_region += float((se * region).sum())
        n_region += float(region.sum()) * 3
        se_all += float(se.sum())
    n_all = len(idx) * 3 * pairs["gen"].shape[1] * pairs["gen"].shape[2]
    to_db = lambda se, n: float(10 * np.log10(n / max(se, 1e-12)))  # noqa: E731
    return {"psnr_region": to_db(se_region, n_region), "psnr": to_db(se_all, n_all)}


def train_refiner(model_dir, data, cfg: RefinerTrainingConfig, out: str | Path | None = None,
                  cache_dir: str | Path = DEFAULT_CACHE_DIR, progress: bool = True) -> Path:
    """Roll out ``model_dir`` on ``data``, train its refiner, save it to ``out`` (default
    ``<model_dir>/robot_refiner``); returns ``out``."""
    out = Path(out) if out else Path(model_dir) / SUBFOLDER
    torch.manual_seed(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    model = load_world_model(model_dir).to(cfg.device).eval()
    pairs = make_pairs(model, model_dir, data, cfg, Path(cache_dir), progress)
    n_eps = int(pairs["episode"].max()) + 1
    if n_eps <= cfg.eval_episodes:
        raise ValueError(f"{n_eps} episodes cannot hold out {cfg.eval_episodes}; lower --eval-episodes or add data")
    held = pairs["episode"] >= n_eps - cfg.eval_episodes
    train_idx, eval_idx = np.flatnonzero(~held), np.flatnonzero(held)
    refiner = RobotRefiner(hidden_channels=cfg.hidden_channels, mask_dilation_px=cfg.mask_dilation_px).to(cfg.device)
    before = _psnr(refiner, pairs, eval_idx, refine=False)
    opt = torch.optim.AdamW(refiner.parameters(), lr=cfg.learning_rate)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.time()
    live_log = Path(cache_dir) / LOG_FILE            # followed during training; copied beside the weights
    with live_log.open("w") as log:
        for step in tqdm(range(1, cfg.steps + 1), desc="train-refiner", unit="step", disable=not progress):
            loss = region_l1(refiner, *_tensors(pairs, rng.choice(train_idx, cfg.batch_size), cfg.device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"refiner loss is {loss.item()} at step {step}; nothing was saved. "
                                         f"Lower --lr or check the pairs ({Path(cache_dir) / PAIRS_FILE})")
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            log.write(json.dumps({"step": step, "loss": loss.item()}) + "\n")
    refiner.eval()
    report = {"before": before, "after": _psnr(refiner, pairs, eval_idx, refine=True),
              "train_frames": int(len(train_idx)), "eval_frames": int(len(eval_idx)),
              "train_s": round(time.time() - t0, 1), "params": sum(p.numel() for p in refiner.parameters()),
              "config": asdict(cfg), "model": str(model_dir), "data": [str(d) for d in data]}

    def write(tmp: Path) -> None:              # all or nothing: an interrupted save leaves the old folder
        refiner.to("cpu").save_pretrained(tmp, safe_serialization=True)
        (tmp / EVAL_FILE).write_text(json.dumps(report, indent=1))
        shutil.copyfile(live_log, tmp / LOG_FILE)

    return atomic_dir(out, write)


# --------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    d = RefinerTrainingConfig()
    p.add_argument("--model", required=True, help="world-model checkpoint directory (its rollouts are the inputs)")
    p.add_argument("--data", required=True, nargs="+", help="HDF5 shard files or directories (training episodes)")
    p.add_argument("--out", help="output directory (default: <model>/robot_refiner, which load_world_model uses)")
    p.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR, help="where the rollout pairs are cached")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.learning_rate)
    p.add_argument("--rollout-frames", type=int, default=d.rollout_frames)
    p.add_argument("--max-episodes", type=int, default=d.max_episodes)
    p.add_argument("--eval-episodes", type=int, default=d.eval_episodes)
    p.add_argument("--hidden-channels", type=int, default=d.hidden_channels)
    p.add_argument("--mask-dilation-px", type=int, default=d.mask_dilation_px,
                   help="pixels around the robot mask the refiner may change")
    p.add_argument("--threads", type=int, default=d.num_threads)
    p.add_argument("--device", default=d.device, help="where the rollouts and the training run (cpu, cuda)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    cfg = RefinerTrainingConfig(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr,
                                rollout_frames=args.rollout_frames, max_episodes=args.max_episodes,
                                eval_episodes=args.eval_episodes, num_threads=args.threads,
                                hidden_channels=args.hidden_channels, mask_dilation_px=args.mask_dilation_px,
                                device=args.device)
    out = train_refiner(args.model, args.data, cfg, args.out, args.cache_dir, progress=not args.no_progress)
    print(f"wrote {out} ({json.loads((out / EVAL_FILE).read_text())['after']})")
    return 0
