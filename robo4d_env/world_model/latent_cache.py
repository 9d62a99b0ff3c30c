"""Cached VAE latents for DiT training: the VAE is frozen, so every training window is encoded once.

One safetensors file (written to a temporary name, then renamed) holds, for N clips x W windows
(W = ``num_training_windows``: clip_frames - frames_per_chunk + 1):
  x0            float32 (N, W, z, f, h, 2w)   normalised [RGB | world XYZ] latents, posterior mode
  robot_latents float32 (N, W, z, f, h, w)    normalised robot-XYZ latents (robot NOT dropped)
  robot_mask    bool    (N, W, F, H, W_px)    pixel robot mask (the soft mask is redrawn each step)
  null_robot    float32 (z, f, h, w)          latents of the empty robot pointmap (CFG dropout)
  actions       float32 (N, W, F, 8)          joint_pos action vectors (when the data has q_cmd)
and in its metadata a fingerprint of the VAE weights, the config fields the latents depend on and
the dataset's episodes; a stale cache (other VAE, preset or data) is never used.

Exact w.r.t. the fresh path for ``pointmap_norm="workspace"`` and ``vae_sample_posterior=False``
(the defaults): per-step randomness (dropout, soft mask, context noise, window choice) stays live.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch.utils.data import DataLoader, Dataset, Subset

from robo4d_env.world_model.modeling_world_model import (RGB, XYZ, Kinema4DWorldModel, action_vectors, num_training_windows,
                                                         pointmap_to_unit, resize_video, rgb_to_unit,
                                                         window_indices)

CACHE_FILE = "latent_cache.safetensors"
KEYS = ("rgb", "pointmap", "valid", "robot_pointmap", "robot_mask")
# Config fields the cached latents depend on (the DiT's fields do not matter).
CONFIG_KEYS = ("height", "width", "frames_per_chunk", "context_frames", "clip_frames", "vae_z_dim",
               "vae_sample_posterior", "rgb_latent_mean", "rgb_latent_std", "xyz_latent_mean", "xyz_latent_std",
               "pointmap_norm", "workspace_min", "workspace_max", "minmax_eps")


def fingerprint(model: Kinema4DWorldModel, dataset) -> str:
    """sha256 of the VAE weights + its config, the latent-relevant config fields and the dataset's
    episodes (path, name, frames) or, for another Dataset, its class and length."""
    h = hashlib.sha256()
    for name, t in sorted(model.vae.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps(dict(model.vae.config), sort_keys=True, default=str).encode())
    h.update(json.dumps({k: getattr(model.wm, k) for k in CONFIG_KEYS}, sort_keys=True).encode())
    h.update(_dataset_id(dataset).encode())
    return h.hexdigest()


def _dataset_id(dataset) -> str:
    if isinstance(dataset, Subset):
        return json.dumps([_dataset_id(dataset.dataset), list(dataset.indices)])
    eps = getattr(dataset, "episodes", None)
    if eps is not None:
        return json.dumps([type(dataset).__name__, getattr(dataset, "known_stride", None),
                           [(str(e.path), e.name, e.n_frames) for e in eps]])
    return f"{type(dataset).__name__}:{len(dataset)}"


def encode_clip(model: Kinema4DWorldModel, clip: dict) -> dict:
    """One whole clip (T, ...) -> its W windows' latents, normalised exactly as ``prepare_batch``
    (with the robot not dropped): {"x0", "robot_latents", "robot_mask"[, "actions"]} each (W, ...)."""
    return {k: v[0] for k, v in encode_clips(model, [clip]).items()}


@torch.no_grad()
def encode_clips(model: Kinema4DWorldModel, clips: list[dict]) -> dict:
    """N clips of the same length -> {key: (N, W, ...)}, as ``encode_clip`` of each, with one VAE call per
    video kind for all N x W windows (the causal VAE loops over time, so one call per clip left a GPU idle)."""
    cfg = model.wm
    lengths = {c["rgb"].shape[0] for c in clips}
    if len(lengths) > 1:
        raise ValueError(f"clips of one VAE call must have the same length, got {sorted(lengths)} frames; "
                         f"build the latent cache with clips_per_call=1 for a dataset of mixed lengths")
    if clips[0]["rgb"].shape[0] == cfg.frames_per_chunk:      # already one window (RolloutWindowDataset)
        idx = torch.arange(cfg.frames_per_chunk)[None]
    else:
        idx = torch.stack([window_indices(cfg, s) for s in range(num_training_windows(cfg))])   # (W, F)
    n, w = len(clips), idx.shape[0]
    v = {k: resize_video(torch.cat([c[k][idx] for c in clips]).to(model.device), cfg.height, cfg.width,
                         "bilinear" if k == "rgb" else "nearest") for k in KEYS}     # (N*W, F, ...)
    c = cfg.context_frames
    lo, hi = model.normalisation_bounds(v["pointmap"][:, :c], v["valid"][:, :c], v["robot_pointmap"],
                                        v["robot_mask"])
    # always [RGB | XYZ] (not encode_pair): one cache serves the RGB-only ablation too
    x0 = torch.cat([model.encode(rgb_to_unit(v["rgb"]), RGB),
                    model.encode(pointmap_to_unit(v["pointmap"], v["valid"], lo, hi), XYZ)], dim=-1)
    robot = model.encode(pointmap_to_unit(v["robot_pointmap"], v["robot_mask"], lo, hi), XYZ)
    out = {"x0": x0.float().cpu(), "robot_latents": robot.float().cpu(), "robot_mask": v["robot_mask"].bool().cpu()}
    if all("q_cmd" in c and "finger_cmd" in c for c in clips):       # the action-conditioned baseline's input
        out["actions"] = torch.cat([action_vectors(c["q_cmd"][idx], c["finger_cmd"][idx]) for c in clips])
    return {k: t.reshape(n, w, *t.shape[1:]) for k, t in out.items()}


def build_latent_cache(model: Kinema4DWorldModel, dataset, path: str | Path, progress: bool = True,
                       clips_per_call: int = 1, num_workers: int = 0) -> Path:
    """Encode every window of every clip of ``dataset`` with the model's (frozen) VAE into ``path``:
    ``clips_per_call`` clips per VAE call, read by ``num_workers`` loader processes."""
    from tqdm import tqdm

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    # spawn: the workers get the dataset pickled (h5py handles reopened there), never forked open files
    loader = DataLoader(dataset, batch_size=clips_per_call, num_workers=num_workers, collate_fn=list,
                        multiprocessing_context="spawn" if num_workers > 0 else None)
    parts = []
    with tqdm(total=len(dataset), desc="cache latents", unit="clip", disable=not progress) as bar:
        for clips in loader:
            parts.append(encode_clips(model, clips))
            bar.update(len(clips))
    tensors = {k: torch.cat([p[k] for p in parts]).contiguous() for k in parts[0]}
    tensors["null_robot"] = model.null_robot_latents()[0].float().cpu().contiguous()
    meta = {"fingerprint": fingerprint(model, dataset), "preset": model.wm.preset,
            "num_clips": str(len(dataset)), "windows_per_clip": str(num_training_windows(model.wm))}
    tmp = path.with_name(f".tmp-{path.name}")
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, path)          # atomic: a reader never sees a half-written cache
    return path


def cache_fingerprint(path: str | Path) -> str | None:
    """The fingerprint stored in a cache file (None when the file is absent)."""
    if not Path(path).exists():
        return None
    with safe_open(str(path), framework="pt") as f:
        return (f.metadata() or {}).get("fingerprint")


def ensure_latent_cache(model: Kinema4DWorldModel, dataset, path: str | Path, build: bool = True,
                        progress: bool = True, **build_kwargs) -> Path | None:
    """``path`` when it holds a cache matching (model VAE, config, dataset); else builds it when
    ``build`` (returning the path) or returns None."""
    have = cache_fingerprint(path)
    if have is None and not build:
        return None
    if have == fingerprint(model, dataset):
        return Path(path)
    return build_latent_cache(model, dataset, path, progress, **build_kwargs) if build else None


class LatentCacheDataset(Dataset):
    """The cached windows, one item per (clip, window): {"x0", "robot_latents", "robot_mask",
    "null_robot"}, the inputs of ``Kinema4DWorldModel.prepare_cached_batch`` after collation."""

    def __init__(self, path: str | Path):
        with safe_open(str(path), framework="pt") as f:
            t = {k: f.get_tensor(k) for k in f.keys()}
        self.null_robot = t.pop("null_robot")
        n, w = t["x0"].shape[:2]
        self.tensors = {k: v.reshape(n * w, *v.shape[2:]) for k, v in t.items()}

    def __len__(self) -> int:
        return self.tensors["x0"].shape[0]

    def __getitem__(self, i: int) -> dict:
        return {**{k: v[i] for k, v in self.tensors.items()}, "null_robot": self.null_robot}


def config_of_cache(path: str | Path) -> dict:
    """The metadata of a cache file (fingerprint, preset, sizes)."""
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})

