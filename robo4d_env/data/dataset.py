"""Load Robo4D episodes for world-model training: fixed-length clips, training windows, statistics.

Episodes are stored whole (T+1 frames); clipping happens here. ``clip_indices`` subsamples an
episode of any length uniformly to ``clip_frames`` frames (Kinema4D §3.3 uses 49; 17 suits a small
world model: 1 + 4k frames for a 4x temporal VAE). A window is ``context_frames + future_frames``
consecutive clip frames; with the default ``future_frames`` every clip is exactly one window.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from robo4d_env.data.storage import CAMERA_KEYS, MANIFEST, camera_key, episode_names, list_shards, open_h5

DEFAULT_CLIP_FRAMES = 17
STATS_KEYS = ("pointmap", "robot_pointmap")
STATS_MASK = {"pointmap": "valid", "robot_pointmap": "robot_mask"}
STATS_VERSION = 1


class MissingKeysError(KeyError, ValueError):
    """An HDF5 episode lacks keys the loader needs (e.g. a LIBERO/robomimic file without 4D keys)."""

    def __str__(self) -> str:           # KeyError would print the message in quotes
        return str(self.args[0])


def clip_indices(n_frames: int, clip_frames: int = DEFAULT_CLIP_FRAMES) -> np.ndarray:
    """(clip_frames,) int64 frame indices spanning [0, n_frames - 1] uniformly, first and last included.

    Episodes shorter than the clip repeat frames, so every clip still spans start to end."""
    if n_frames < 1 or clip_frames < 1:
        raise ValueError(f"need n_frames >= 1 and clip_frames >= 1, got {n_frames}, {clip_frames}")
    return np.round(np.linspace(0, n_frames - 1, clip_frames)).astype(np.int64)


def required_keys(cameras: tuple[str, ...]) -> list[str]:
    return ["actions"] + [f"obs/{camera_key(c, k)}" for c in cameras for k in CAMERA_KEYS]


def expand_paths(paths) -> list[Path]:
    """Files and shard directories -> a sorted list of HDF5 files."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += list_shards(p)
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"no such dataset file or directory: {p}")
    if not files:
        raise FileNotFoundError(f"no .hdf5 shards in {[str(p) for p in paths]}")
    return files


def truncated_at_success(paths) -> list[Path]:
    """Shard directories among ``paths`` whose ``manifest.json`` says the episodes stop at the first success
    frame (generated without ``--run-to-horizon``). Such data never shows the world after success, e.g. a
    lifted cube held up, so a world model trained on it cannot generate one
    (``benchmarks/results/trials/dit_fit``)."""
    dirs = sorted({f.parent for f in expand_paths(paths)})
    return [d for d in dirs if (d / MANIFEST).exists()
            and json.loads((d / MANIFEST).read_text()).get("run_to_horizon") is False]


def robot_fingers(paths) -> str | None:
    """The finger opening the robot pointmaps of ``paths`` show: "commanded", "measured" (manifests of
    ``--robot-pointmap measured`` or ``measured_fingers``), or None when no shard directory has a manifest.
    Raises ValueError when the directories disagree: one model cannot learn both."""
    dirs = sorted({f.parent for f in expand_paths(paths)})
    found = {d: json.loads((d / MANIFEST).read_text()).get("robot_pointmap_from", "commanded")
             for d in dirs if (d / MANIFEST).exists()}
    kinds = {d: "commanded" if v == "commanded" else "measured" for d, v in found.items()}
    if len(set(kinds.values())) > 1:
        raise ValueError(f"training data mixes robot pointmaps with commanded and measured fingers: {kinds}. "
                         f"Regenerate one part with `robo4d data generate ... --robot-pointmap <the other's>`")
    return next(iter(kinds.values()), None)


def check_episode(path: Path, name: str, g: h5py.Group, cameras: tuple[str, ...]) -> None:
    """Raise MissingKeysError naming the file, the episode and the missing keys."""
    have = sorted([f"obs/{k}" for k in g.get("obs", {})] + [k for k in g if k != "obs"])
    missing = [k for k in required_keys(cameras) if k not in g]
    missing += [f"attrs/{c}_{a}" for c in cameras for a in ("K", "T_world_cam") if f"{c}_{a}" not in g.attrs]
    if missing:
        raise MissingKeysError(f"file {path} {name} lacks keys {missing}; it has {have}. Robo4DDataset "
                               f"needs the 4D keys written by `robo4d data generate` (cameras={list(cameras)})")


@dataclass(frozen=True)
class EpisodeRef:
    path: Path
    name: str
    n_frames: int              # T + 1
    success: bool
    perturbed: bool


class Robo4DDataset(Dataset):
    """Training windows over Robo4D shards.

    Item (torch tensors; ``cameras`` a name gives (T, ...) arrays, a tuple of names (V, T, ...)),
    T = context_frames + future_frames:
      rgb uint8 (T, H, W, 3); pointmap float32 (T, H, W, 3) world frame, metres; valid bool (T, H, W);
      robot_pointmap float32 world frame; robot_mask bool; K (3, 3); T_world_cam (4, 4) OpenCV;
      actions float32 (T-1, 7): the ee_abs target (base frame) in effect when frame i+1 was
      recorded, i.e. ``actions[frame_index[1:] - 1]``; q_cmd (T, 7); finger_cmd (T,);
      T_world_base (4, 4); frame_index int64 (T,) into the stored episode; success; perturbed.
    """

    def __init__(self, paths, context_frames: int = 1, future_frames: int | None = None,
                 clip_frames: int = DEFAULT_CLIP_FRAMES, cameras: str | tuple[str, ...] = "main",
                 kind: str = "all", cache_stats: bool = True):
        if kind not in ("all", "demos", "perturbed"):
            raise ValueError(f"kind must be 'all', 'demos' or 'perturbed', got {kind!r}")
        self.single_view = isinstance(cameras, str)
        self.cameras = (cameras,) if self.single_view else tuple(cameras)
        self.context_frames, self.clip_frames = context_frames, clip_frames
        self.future_frames = clip_frames - context_frames if future_frames is None else future_frames
        self.window = self.context_frames + self.future_frames
        if context_frames < 1 or self.future_frames < 0 or self.window > clip_frames:
            raise ValueError(f"need context_frames >= 1 and context + future <= clip_frames, got "
                             f"{context_frames} + {self.future_frames} > {clip_frames}")
        self.files = expand_paths(paths)
        self.cache_stats = cache_stats
        self.episodes = [e for e in self._index() if kind == "all" or e.perturbed == (kind == "perturbed")]
        self.windows_per_episode = clip_frames - self.window + 1
        self._handles: dict[Path, h5py.File] = {}
        self._stats: dict | None = None

    def _index(self) -> list[EpisodeRef]:
        refs = []
        for path in self.files:
            with open_h5(path) as f:
                if "data" not in f:
                    raise MissingKeysError(f"file {path} lacks the group 'data' (robomimic layout); "
                                           f"it has {sorted(f.keys())}")
                for name in episode_names(f):
                    g = f["data"][name]
                    check_episode(path, name, g, self.cameras)
                    pert = json.loads(g.attrs.get("perturbation", '{"type": "none"}'))
                    refs.append(EpisodeRef(path, name, len(g["actions"]) + 1, bool(g.attrs.get("success", False)),
                                           pert.get("type", "none") != "none"))
        return refs

    def __len__(self) -> int:
        return len(self.episodes) * self.windows_per_episode

    def __getstate__(self):
        # h5py handles do not survive pickling into DataLoader workers: reopen there.
        return {**self.__dict__, "_handles": {}}

    def _file(self, path: Path) -> h5py.File:
        if path not in self._handles:
            self._handles[path] = open_h5(path)
        return self._handles[path]

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < len(self):
            raise IndexError(i)
        ep = self.episodes[i // self.windows_per_episode]
        start = i % self.windows_per_episode
        idx = clip_indices(ep.n_frames, self.clip_frames)[start:start + self.window]
        return self.frames(i // self.windows_per_episode, idx)

    def frames(self, episode: int, idx: np.ndarray) -> dict:
        """The item of episode ``episode`` (index into ``episodes``) at stored frame indices ``idx``
        (any order, repeats allowed): same keys as ``__getitem__``."""
        ep = self.episodes[episode]
        idx = np.asarray(idx, dtype=np.int64)
        g = self._file(ep.path)["data"][ep.name]
        out = {k: self._views(g, k, idx) for k in CAMERA_KEYS}
        out["K"] = self._cam_attr(g, "K")
        out["T_world_cam"] = self._cam_attr(g, "T_world_cam")
        out["actions"] = torch.from_numpy(_take(g["actions"], np.maximum(idx[1:] - 1, 0)).astype(np.float32))
        for k in ("q_cmd", "finger_cmd"):
            if k in g["obs"]:
                out[k] = torch.from_numpy(_take(g["obs"][k], idx).astype(np.float32))
        out["T_world_base"] = torch.as_tensor(np.asarray(g.attrs.get("T_world_base", np.eye(4))), dtype=torch.float32)
        out["frame_index"] = torch.from_numpy(idx)
        out["success"], out["perturbed"] = ep.success, ep.perturbed
        return out

    def _views(self, g: h5py.Group, key: str, idx: np.ndarray) -> torch.Tensor:
        arrs = [_take(g["obs"][camera_key(c, key)], idx) for c in self.cameras]
        arrs = [a.astype(np.float32) if a.dtype == np.float16 else a for a in arrs]
        return torch.from_numpy(arrs[0] if self.single_view else np.stack(arrs))

    def _cam_attr(self, g: h5py.Group, name: str) -> torch.Tensor:
        arrs = [np.asarray(g.attrs[f"{c}_{name}"], np.float32) for c in self.cameras]
        return torch.from_numpy(arrs[0] if self.single_view else np.stack(arrs))

    # ------------------------------------------------------------------ statistics
    @property
    def stats(self) -> dict:
        """Per-axis min, max, mean, std (each a list of 3, metres, world frame) of ``pointmap`` over
        valid pixels and ``robot_pointmap`` over robot pixels, all frames of every file and selected
        camera. Computed once per file and cached next to it (``<file>.stats.json``)."""
        if self._stats is None:
            acc = {k: _Acc() for k in STATS_KEYS}
            for path in self.files:
                per_file = _file_stats(path, self.cameras, self.cache_stats)
                for c in self.cameras:
                    for k in STATS_KEYS:
                        acc[k].merge(per_file[c][k])
            self._stats = {k: a.summary() for k, a in acc.items()}
        return self._stats


def _take(ds: h5py.Dataset, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` (any order, repeats allowed) of an h5py dataset, read as one slice per run of
    consecutive rows: h5py's list indexing (a point selection) took 50 ms for a 17-frame rollout window of
    five arrays, the slices 5.6 ms (stop 21)."""
    u, inv = np.unique(idx, return_inverse=True)
    if u.size == 0:
        return ds[0:0]
    runs = np.split(u, np.flatnonzero(np.diff(u) != 1) + 1)
    return np.concatenate([ds[r[0]:r[-1] + 1] for r in runs])[inv]


class _Acc:
    """Streaming per-axis count, sum, sum of squares, min, max."""

    def __init__(self, d: dict | None = None):
        d = d or {"n": 0, "sum": [0.0] * 3, "sumsq": [0.0] * 3, "min": [np.inf] * 3, "max": [-np.inf] * 3}
        self.n, self.sum, self.sumsq = d["n"], np.array(d["sum"]), np.array(d["sumsq"])
        self.min, self.max = np.array(d["min"], float), np.array(d["max"], float)

    def add(self, pts: np.ndarray) -> None:
        if len(pts):
            p = pts.astype(np.float64)
            self.n += len(p)
            self.sum += p.sum(0)
            self.sumsq += (p * p).sum(0)
            self.min, self.max = np.minimum(self.min, p.min(0)), np.maximum(self.max, p.max(0))

    def merge(self, d: dict) -> None:
        o = _Acc(d)
        self.n += o.n
        self.sum, self.sumsq = self.sum + o.sum, self.sumsq + o.sumsq
        self.min, self.max = np.minimum(self.min, o.min), np.maximum(self.max, o.max)

    def state(self) -> dict:
        return {"n": self.n, "sum": self.sum.tolist(), "sumsq": self.sumsq.tolist(),
                "min": self.min.tolist(), "max": self.max.tolist()}

    def summary(self) -> dict:
        n = max(self.n, 1)
        mean = self.sum / n
        std = np.sqrt(np.maximum(self.sumsq / n - mean ** 2, 0.0))
        return {"min": self.min.tolist(), "max": self.max.tolist(), "mean": mean.tolist(), "std": std.tolist(),
                "count": int(self.n)}


def _file_stats(path: Path, cameras: tuple[str, ...], use_cache: bool) -> dict:
    """{camera: {key: accumulator state}} for one file, from the sidecar cache when it is current."""
    cache = path.with_name(path.name + ".stats.json")
    st = path.stat()
    stamp = {"version": STATS_VERSION, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    cached = {}
    if use_cache and cache.exists():
        try:
            c = json.loads(cache.read_text())
            cached = c["cameras"] if all(c.get(k) == v for k, v in stamp.items()) else {}
        except (OSError, ValueError, KeyError):
            cached = {}
    todo = [c for c in cameras if c not in cached]
    if todo:
        with h5py.File(path, "r") as f:
            for cam in todo:
                acc = {k: _Acc() for k in STATS_KEYS}
                for name in episode_names(f):
                    obs = f["data"][name]["obs"]
                    for k in STATS_KEYS:
                        pts = obs[camera_key(cam, k)][()]
                        acc[k].add(pts[obs[camera_key(cam, STATS_MASK[k])][()]])
                cached[cam] = {k: a.state() for k, a in acc.items()}
        if use_cache:
            try:
                cache.write_text(json.dumps({**stamp, "cameras": cached}))
            except OSError:
                pass                  # read-only dataset: recompute next time
    return cached
