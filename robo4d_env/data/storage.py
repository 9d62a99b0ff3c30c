"""HDF5 layout of Robo4D episodes (robomimic / LIBERO style) and atomic shard writing.

One shard file::

    data                          attrs: total (transitions), env_args (JSON), num_episodes, format
    data/demo_<k>                 attrs: num_samples (= T), task, seed, success, perturbation (JSON),
                                         scene (JSON), resolution, control_freq_hz, T_world_base (4, 4),
                                         camera_names (JSON), <cam>_K (3, 3), <cam>_T_world_cam (4, 4)
    data/demo_<k>/actions         (T, 7)  float32   ee_abs actions actually executed, robot base frame
    data/demo_<k>/rewards         (T,)    float32
    data/demo_<k>/dones           (T,)    uint8
    data/demo_<k>/obs/<key>       (T+1, ...) frame 0 is the reset observation; action t leads
                                            from frame t to frame t+1 (robomimic stores T obs and
                                            T next_obs instead; here next_obs[t] = obs[t+1]).

Per-camera observation keys (``<cam>`` is ``main`` or a shell camera ``shell<i>``):
``<cam>_rgb`` uint8 (H, W, 3); ``<cam>_pointmap`` float16 (H, W, 3) **world frame**, metres, zero
where invalid; ``<cam>_valid`` bool; ``<cam>_robot_pointmap`` float16 world frame, zero off the
robot; ``<cam>_robot_mask`` bool. Robot-state keys: ``joint_states`` (7) measured arm joints rad,
``gripper_states`` (2) finger qpos m, ``ee_pos`` (3) m and ``ee_quat`` (4, wxyz) TCP pose in the
base frame, ``q_cmd`` (7) commanded joints and ``finger_cmd`` () commanded finger opening m (enough
to re-render the robot pointmap with ``RobotPointmapRenderer``).
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

FORMAT = "robo4d-episodes-v1"
CAMERA_KEYS = ("rgb", "pointmap", "valid", "robot_pointmap", "robot_mask")
STATE_KEYS = ("joint_states", "gripper_states", "ee_pos", "ee_quat", "q_cmd", "finger_cmd")
PARTIAL_SUFFIX = ".partial"
MANIFEST = "manifest.json"                # beside the shards: the generator settings (``robo4d data generate``)


@dataclass
class StorageConfig:
    compression: str = "gzip"       # "gzip" (readable everywhere) or "lzf" (faster, h5py only)
    compression_level: int = 4      # gzip only
    frames_per_chunk: int = 1       # time extent of a chunk: clips read scattered single frames


def camera_key(cam: str, key: str) -> str:
    return f"{cam}_{key}"


@contextmanager
def atomic_shard(path: str | Path, env_args: dict):
    """Open ``path`` for writing under a temporary name; rename into place only on clean exit.

    An exception (Ctrl-C included) removes the temporary file; a hard kill leaves a ``*.partial``
    file that readers never look at and ``generate --resume`` deletes."""
    path = Path(path)
    tmp = path.with_name(path.name + f"{PARTIAL_SUFFIX}-{os.getpid()}")
    f = h5py.File(tmp, "w")
    try:
        grp = f.create_group("data")
        grp.attrs["env_args"] = json.dumps(env_args)
        grp.attrs["format"] = FORMAT
        grp.attrs["total"] = 0
        grp.attrs["num_episodes"] = 0
        yield grp
        f.close()
        os.replace(tmp, path)
    except BaseException:
        f.close()
        tmp.unlink(missing_ok=True)
        raise


def write_episode(data: h5py.Group, name: str, episode: dict, cfg: StorageConfig = StorageConfig()) -> int:
    """Write one episode (see ``generate.record_episode`` for the dict) as ``data/<name>``; returns T."""
    g = data.create_group(name)
    actions = np.asarray(episode["actions"], np.float32)
    T = len(actions)
    _dataset(g, "actions", actions, cfg)
    _dataset(g, "rewards", np.asarray(episode["rewards"], np.float32), cfg)
    _dataset(g, "dones", np.asarray(episode["dones"], np.uint8), cfg)
    obs = g.create_group("obs")
    for key, arr in episode["obs"].items():
        if len(arr) != T + 1:
            raise ValueError(f"obs/{key} has {len(arr)} frames, expected T+1 = {T + 1}")
        _dataset(obs, key, arr, cfg)
    for key, value in episode["attrs"].items():
        g.attrs[key] = json.dumps(value) if isinstance(value, (dict, list, tuple)) else value
    g.attrs["num_samples"] = T
    data.attrs["total"] = int(data.attrs["total"]) + T
    data.attrs["num_episodes"] = int(data.attrs["num_episodes"]) + 1
    return T


def _dataset(g: h5py.Group, name: str, arr: np.ndarray, cfg: StorageConfig) -> None:
    arr = np.asarray(arr)
    kw = {}
    if arr.ndim >= 1 and arr.size > 0:
        kw["chunks"] = (min(cfg.frames_per_chunk, len(arr)), *arr.shape[1:]) if arr.ndim > 1 else None
        kw["compression"] = cfg.compression
        if cfg.compression == "gzip":
            kw["compression_opts"] = cfg.compression_level
        kw["shuffle"] = arr.dtype.itemsize > 1     # byte shuffle helps float16 pointmaps compress
    g.create_dataset(name, data=arr, **kw)


def list_shards(out_dir: str | Path) -> list[Path]:
    """Complete shard files in a directory, sorted (partial files are ignored)."""
    return sorted(Path(out_dir).glob("*.hdf5"))


def open_h5(path: str | Path) -> h5py.File:
    """Open for reading; a file that is not HDF5 gives a ValueError naming it (h5py's OSError does not say why)."""
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"cannot read {path} as HDF5: {e}") from None


def episode_names(f: h5py.File) -> list[str]:
    """``demo_<k>`` names of a file in numeric order."""
    names = list(f["data"].keys()) if "data" in f else []
    return sorted(names, key=lambda n: (len(n), n))
