"""Rollout pictures: RGB | depth | robot-pointmap overlay, and mp4 writing."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def colorize_depth(depth: np.ndarray, valid: np.ndarray, lo: float | None = None,
                   hi: float | None = None) -> np.ndarray:
    """(H, W) metres -> (H, W, 3) uint8 (near = bright); invalid pixels black."""
    import matplotlib
    d = depth[valid] if valid.any() else np.zeros(1)
    lo = float(np.percentile(d, 1)) if lo is None else lo
    hi = float(np.percentile(d, 99)) if hi is None else hi
    x = np.clip((depth - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = (matplotlib.colormaps["turbo"](1.0 - x)[..., :3] * 255).astype(np.uint8)
    rgb[~valid] = 0
    return rgb


def overlay_robot(rgb: np.ndarray, robot_pointmap: np.ndarray, robot_mask: np.ndarray,
                  alpha: float = 0.6) -> np.ndarray:
    """Tint the robot pixels by the depth of our robot pointmap over the RGB image."""
    tint = colorize_depth(robot_pointmap[..., 2], robot_mask)
    out = rgb.astype(np.float32)
    m = robot_mask[..., None]
    out = np.where(m, (1 - alpha) * out + alpha * tint, out)
    return out.astype(np.uint8)


def compose_frame(obs: dict) -> np.ndarray:
    """(H, 3W, 3) uint8: RGB | depth of the world pointmap | robot-pointmap overlay."""
    depth = colorize_depth(obs["pointmap"][..., 2], obs["valid"])
    return np.concatenate([obs["rgb"], depth, overlay_robot(obs["rgb"], obs["robot_pointmap"],
                                                            obs["robot_mask"])], axis=1)


def write_mp4(path: str | Path, frames: list[np.ndarray] | np.ndarray, fps: int = 20,
              upscale: int = 1) -> Path:
    """Write (T, H, W, 3) uint8 frames to an mp4 atomically (temp file, then rename)."""
    import imageio.v2 as imageio
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    with imageio.get_writer(tmp, fps=fps, codec="libx264", quality=8, macro_block_size=1,
                            ffmpeg_log_level="error") as w:
        for f in frames:
            f = np.asarray(f)
            if upscale > 1:
                f = f.repeat(upscale, axis=0).repeat(upscale, axis=1)
            w.append_data(f)
    tmp.replace(path)
    return path
