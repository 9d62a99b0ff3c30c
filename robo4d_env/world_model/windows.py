"""Training windows laid out exactly as a chunked rollout sees them (one frame per control step).

A rollout that knows frames ``0..n-1`` (``n >= 1``: the real initial frame, then generated ones)
generates the next ``frames_per_chunk - context_frames`` frames from the context "frame 0 (memory) +
the latest ``context_frames - 1`` frames" (frame 0 repeated while fewer exist). Kinema4D-v0 calls the
rollout after every env step, so ``n`` takes every value. ``RolloutWindowDataset`` serves one training
window per (episode, n) with the same indices (``rollout_window_indices``), so the DiT trains on the
frame spacing, context layout and padding it meets in the env.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from robo4d_env.world_model.configuration_world_model import WorldModelConfig


def context_indices(cfg: WorldModelConfig, n_known: int) -> torch.Tensor:
    """(context_frames,) indices of the context among ``n_known`` known frames: [0] + the latest c-1
    (repeating frame 0 when fewer exist); with c == 1, only the latest."""
    c = cfg.context_frames
    if c == 1:
        return torch.tensor([n_known - 1])
    recent = torch.arange(n_known - (c - 1), n_known).clamp(min=0)
    return torch.cat([torch.zeros(1, dtype=torch.long), recent])


def rollout_window_indices(cfg: WorldModelConfig, n_known: int, n_frames: int) -> torch.Tensor:
    """(frames_per_chunk,) frame indices of the chunk generated after ``n_known`` known frames of an
    episode of ``n_frames``: context, then the next frames (the last repeated past the end, as the
    rollout pads its final chunk)."""
    n_new = cfg.frames_per_chunk - cfg.context_frames
    future = torch.arange(n_known, n_known + n_new).clamp(max=n_frames - 1)
    return torch.cat([context_indices(cfg, n_known), future])


class RolloutWindowDataset(Dataset):
    """One item per (episode, n_known): the ``frames_per_chunk`` frames of ``rollout_window_indices``,
    with the keys of ``Robo4DDataset`` items (rgb, pointmap, valid, robot_pointmap, robot_mask,
    q_cmd, finger_cmd, ...), each (frames_per_chunk, ...).

    ``known_stride`` thins the n_known values (1: every one) to bound the latent-cache size;
    ``holdout_episodes`` leaves out the last episodes (the VAE stage's held-out ones)."""

    def __init__(self, paths, cfg: WorldModelConfig, known_stride: int = 1, holdout_episodes: int = 0):
        from robo4d_env.data.dataset import Robo4DDataset
        if known_stride < 1:
            raise ValueError(f"known_stride must be >= 1, got {known_stride}")
        self.cfg, self.known_stride = cfg, known_stride
        self.data = Robo4DDataset(paths, context_frames=1, future_frames=0, clip_frames=1)
        n_eps = len(self.data.episodes) - holdout_episodes
        if n_eps < 1:
            raise ValueError(f"holdout_episodes={holdout_episodes} leaves no training episode of "
                             f"{len(self.data.episodes)}")
        self.episodes = self.data.episodes[:n_eps]      # for the latent cache's fingerprint
        self.index = [(e, n) for e in range(n_eps)
                      for n in range(1, self.data.episodes[e].n_frames, known_stride)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        e, n = self.index[i]
        idx = rollout_window_indices(self.cfg, n, self.data.episodes[e].n_frames)
        return self.data.frames(e, idx.numpy().astype(np.int64))
