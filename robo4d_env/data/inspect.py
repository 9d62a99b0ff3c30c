"""`robo4d data inspect`: a text summary of shards and an mp4 contact sheet of a few episodes."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import h5py
import numpy as np

from robo4d_env.cameras import invert_se3
from robo4d_env.data.dataset import clip_indices, expand_paths
from robo4d_env.data.storage import camera_key, episode_names, open_h5


def summarize(paths) -> dict:
    """Episode counts, success ratios (demos vs perturbed, perturbed by sigma), frame counts, key shapes, bytes."""
    files = expand_paths(paths)
    eps = []
    shapes = {}
    for path in files:
        with open_h5(path) as f:
            for name in episode_names(f):
                g = f["data"][name]
                pert = json.loads(g.attrs.get("perturbation", '{"type": "none"}'))
                eps.append({"file": path, "name": name, "steps": len(g["actions"]),
                            "success": bool(g.attrs.get("success", False)), "perturbation": pert})
                if not shapes:
                    g.visititems(lambda k, o: _record_shape(shapes, k, o))
    demos = [e for e in eps if e["perturbation"].get("type", "none") == "none"]
    pert = [e for e in eps if e not in demos]
    by_sigma = Counter(), Counter()
    for e in pert:
        by_sigma[0][e["perturbation"]["sigma"]] += 1
        by_sigma[1][e["perturbation"]["sigma"]] += e["success"]
    nbytes = sum(p.stat().st_size for p in files)
    steps = [e["steps"] for e in eps] or [0]
    return {"files": len(files), "episodes": len(eps), "bytes": nbytes,
            "bytes_per_episode": nbytes / max(len(eps), 1),
            "demos": len(demos), "demo_success": sum(e["success"] for e in demos),
            "perturbed": len(pert), "perturbed_success": sum(e["success"] for e in pert),
            "perturbed_success_by_sigma": {s: f"{by_sigma[1][s]}/{n}" for s, n in sorted(by_sigma[0].items())},
            "steps_min_mean_max": [min(steps), float(np.mean(steps)), max(steps)],
            "per_frame_shapes": {k: f"{list(s)} {d}" for k, (s, d) in sorted(shapes.items())},
            "episode_list": eps}


def _record_shape(shapes: dict, key: str, obj) -> None:
    # visititems stops at the first non-None return, so this must return None.
    if isinstance(obj, h5py.Dataset):
        shapes[key] = (obj.shape[1:], str(obj.dtype))


def format_summary(s: dict) -> str:
    def ratio(k, n):
        return f"{s[k]}/{s[n]} ({s[k] / s[n]:.0%})" if s[n] else "0/0"
    lines = [f"files {s['files']}, episodes {s['episodes']}, {s['bytes'] / 1e6:.1f} MB "
             f"({s['bytes_per_episode'] / 1e3:.0f} kB/episode)",
             f"success: demos {ratio('demo_success', 'demos')}, perturbed {ratio('perturbed_success', 'perturbed')}",
             f"perturbed success by sigma: {s['perturbed_success_by_sigma']}",
             f"control steps per episode (min/mean/max): {s['steps_min_mean_max']}",
             "per-episode keys (shape after the time axis, dtype):"]
    lines += [f"  {k}: {v}" for k, v in s["per_frame_shapes"].items()]
    return "\n".join(lines)


def to_camera(points_world: np.ndarray, mask: np.ndarray, T_world_cam: np.ndarray) -> np.ndarray:
    """World-frame (..., 3) points -> camera frame, zero off ``mask`` (compose_frame reads z as depth)."""
    T = invert_se3(np.asarray(T_world_cam, np.float64))
    p = points_world.astype(np.float64) @ T[:3, :3].T + T[:3, 3]
    return np.where(mask[..., None], p, 0.0).astype(np.float32)


def episode_strip(g: h5py.Group, camera: str, n_frames: int) -> np.ndarray:
    """(n_frames, H, 3W, 3) uint8: RGB | depth | robot overlay over a uniform clip of the episode."""
    from robo4d_env.video import compose_frame
    obs = g["obs"]
    idx = clip_indices(len(g["actions"]) + 1, n_frames)
    T = g.attrs[f"{camera}_T_world_cam"]
    out = []
    for t in idx:
        valid, rmask = obs[camera_key(camera, "valid")][t], obs[camera_key(camera, "robot_mask")][t]
        out.append(compose_frame({
            "rgb": obs[camera_key(camera, "rgb")][t], "valid": valid, "robot_mask": rmask,
            "pointmap": to_camera(obs[camera_key(camera, "pointmap")][t], valid, T),
            "robot_pointmap": to_camera(obs[camera_key(camera, "robot_pointmap")][t], rmask, T)}))
    return np.stack(out)


def pick_episodes(eps: list[dict], n: int) -> list[dict]:
    """Alternate demos and perturbed episodes (failures first among those) so the sheet shows both."""
    demos = [e for e in eps if e["perturbation"].get("type", "none") == "none"]
    pert = sorted((e for e in eps if e not in demos), key=lambda e: e["success"])
    out = []
    while len(out) < n and (demos or pert):
        for pool in (demos, pert):
            if pool and len(out) < n:
                out.append(pool.pop(0))
    return out


def contact_sheet(summary: dict, video: str | Path, n_episodes: int = 4, camera: str = "main",
                  n_frames: int = 33, fps: int = 8, upscale: int = 3) -> tuple[Path, list[dict]]:
    """Write an mp4 whose frame t stacks episode strips vertically (one row per episode)."""
    from robo4d_env.video import write_mp4
    chosen = pick_episodes(summary["episode_list"], n_episodes)
    if not chosen:
        raise ValueError("no episodes to show")
    rows = []
    for e in chosen:
        with h5py.File(e["file"], "r") as f:
            rows.append(episode_strip(f["data"][e["name"]], camera, n_frames))
    sheet = np.concatenate(rows, axis=1)            # (n_frames, rows * H, 3W, 3)
    return write_mp4(video, sheet, fps=fps, upscale=upscale), chosen
