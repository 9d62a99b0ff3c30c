"""Pinhole cameras in OpenCV convention (x right, y down, z forward), and camera placement.

``K`` is (3, 3) for the rendered H x W with pixel centres at integer coordinates;
``T_world_cam`` is (4, 4) camera-to-world.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraSpec:
    """Where a camera looks from: eye and target in the world frame (metres), vertical field of view."""
    name: str
    eye_m: tuple[float, float, float]
    target_m: tuple[float, float, float]
    fovy_deg: float = 45.0


@dataclass(frozen=True)
class ShellSampling:
    """Robo4DGen App. A.2: camera positions in a half-sphere shell around the table centre,
    clipped to a box (offsets from the table-top centre, metres), looking at the table centre."""
    r_min_m: float = 0.7
    r_max_m: float = 1.2
    x_range_m: tuple[float, float] = (0.2, 0.6)
    y_range_m: tuple[float, float] = (-0.5, 0.5)
    z_range_m: tuple[float, float] = (0.7, 1.2)
    target_jitter_m: float = 0.05
    fovy_deg: float = 45.0


@dataclass
class Camera:
    name: str
    K: np.ndarray            # (3, 3) float64
    T_world_cam: np.ndarray  # (4, 4) float64, OpenCV camera -> world
    height: int
    width: int

    @property
    def fovy_deg(self) -> float:
        return math.degrees(2.0 * math.atan(self.height / 2.0 / self.K[1, 1]))

    @property
    def T_cam_world(self) -> np.ndarray:
        return invert_se3(self.T_world_cam)


def intrinsics_from_fovy(fovy_deg: float, height: int, width: int) -> np.ndarray:
    """Square-pixel pinhole K for a vertical field of view (MuJoCo's camera model)."""
    f = height / 2.0 / math.tan(math.radians(fovy_deg) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """(4, 4) OpenCV camera-to-world pose at ``eye`` whose optical axis (+z) points at ``target``."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    if abs(np.dot(z, up)) > 0.999:   # looking straight along `up`: pick another reference
        up = np.array([1.0, 0.0, 0.0])
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)               # completes a right-handed frame with y pointing "down"
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, eye
    return T


def invert_se3(T: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = T[:3, :3].T
    out[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return out


def make_camera(spec: CameraSpec, height: int, width: int) -> Camera:
    return Camera(spec.name, intrinsics_from_fovy(spec.fovy_deg, height, width),
                  look_at(spec.eye_m, spec.target_m), height, width)


def sample_shell_cameras(n: int, table_center_m, rng: np.random.Generator,
                         sampling: ShellSampling = ShellSampling(), prefix: str = "shell") -> list[CameraSpec]:
    """n camera specs sampled by rejection inside the shell-and-box region of Robo4DGen App. A.2."""
    c = np.asarray(table_center_m, dtype=np.float64)
    out: list[CameraSpec] = []
    lo = np.array([sampling.x_range_m[0], sampling.y_range_m[0], sampling.z_range_m[0]])
    hi = np.array([sampling.x_range_m[1], sampling.y_range_m[1], sampling.z_range_m[1]])
    while len(out) < n:
        p = rng.uniform(lo, hi)
        if not sampling.r_min_m <= np.linalg.norm(p) <= sampling.r_max_m:
            continue
        target = c + rng.uniform(-sampling.target_jitter_m, sampling.target_jitter_m, size=3) * (1, 1, 0)
        out.append(CameraSpec(f"{prefix}{len(out)}", tuple(c + p), tuple(target), sampling.fovy_deg))
    return out


def jitter_spec(spec: CameraSpec, rng: np.random.Generator, eye_jitter_m: float) -> CameraSpec:
    """Small random camera-pose jitter (procedural randomisation)."""
    eye = np.asarray(spec.eye_m) + rng.uniform(-eye_jitter_m, eye_jitter_m, size=3)
    return CameraSpec(spec.name, tuple(eye), spec.target_m, spec.fovy_deg)
