"""Projection between pixels and camera-frame points, and the robot pointmap (Kinema4D §3.1, Eq. 1).

Conventions: OpenCV camera frame, metres; pixel (u, v) has its centre at integer coordinates;
pointmaps are (..., H, W, 3) float32 with a (..., H, W) bool mask.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def project(points_cam: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-frame points (..., N, 3) -> pixel coordinates (..., N, 2) and depth z (..., N)."""
    z = points_cam[..., 2]
    zs = z.clamp_min(1e-9)
    u = K[..., 0, 0, None] * points_cam[..., 0] / zs + K[..., 0, 2, None]
    v = K[..., 1, 1, None] * points_cam[..., 1] / zs + K[..., 1, 2, None]
    return torch.stack([u, v], dim=-1), z


def unproject_depth(depth: np.ndarray | torch.Tensor, K) -> np.ndarray | torch.Tensor:
    """Depth (..., H, W) metres along +z -> camera-frame pointmap (..., H, W, 3)."""
    is_np = isinstance(depth, np.ndarray)
    d = torch.as_tensor(depth, dtype=torch.float64 if is_np else depth.dtype)
    K = torch.as_tensor(K, dtype=d.dtype)
    H, W = d.shape[-2:]
    v, u = torch.meshgrid(torch.arange(H, dtype=d.dtype), torch.arange(W, dtype=d.dtype), indexing="ij")
    x = (u - K[..., 0, 2, None, None]) / K[..., 0, 0, None, None] * d
    y = (v - K[..., 1, 2, None, None]) / K[..., 1, 1, None, None] * d
    pm = torch.stack([x, y, d], dim=-1)
    return pm.numpy().astype(np.float32) if is_np else pm


def scale_intrinsics(K: torch.Tensor, from_hw: tuple[int, int], to_hw: tuple[int, int]) -> torch.Tensor:
    """(..., 3, 3) intrinsics of a from_hw image -> those of the same camera at to_hw (pixel centres at
    integer coordinates, so the principal point moves with the pixel grid's half-pixel offset)."""
    sy, sx = to_hw[0] / from_hw[0], to_hw[1] / from_hw[1]
    K = K.clone()
    K[..., 0, 0], K[..., 1, 1] = K[..., 0, 0] * sx, K[..., 1, 1] * sy
    K[..., 0, 2], K[..., 1, 2] = (K[..., 0, 2] + 0.5) * sx - 0.5, (K[..., 1, 2] + 0.5) * sy - 0.5
    return K


def pixel_rays_world(K: torch.Tensor, T_world_cam: torch.Tensor, height: int, width: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pixel's viewing ray in the world frame: camera centres (..., 3) and unit directions
    (..., H, W, 3), for K (..., 3, 3) and T_world_cam (..., 4, 4)."""
    ones = torch.ones(height, width, dtype=K.dtype)
    d_cam = unproject_depth(ones.expand(*K.shape[:-2], height, width), K)
    d_world = d_cam @ T_world_cam[..., None, :3, :3].transpose(-1, -2)
    return T_world_cam[..., :3, 3], d_world / d_world.norm(dim=-1, keepdim=True)


def snap_to_rays(points: torch.Tensor, origin: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """World points (..., H, W, 3) -> the nearest point on each pixel's ray (``pixel_rays_world``;
    origin (..., 3) broadcast over the pixels). A pixel's true surface point lies on its ray, so this
    keeps only a generated point's depth along it; points behind the camera go to the camera centre
    (z = 0, which readers treat as invalid)."""
    o = origin[..., None, None, :]
    depth = ((points - o) * dirs).sum(-1, keepdim=True).clamp_min(0.0)
    return o + depth * dirs


def transform_points(T: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Apply (..., 4, 4) transforms to points (..., N, 3)."""
    # einsum, not `p @ R.T`: torch's batched matmul with a 3-wide inner dimension took 13 ms for
    # 27k points here, einsum 0.3 ms.
    return torch.einsum("...nk,...jk->...nj", p, T[..., :3, :3]) + T[..., None, :3, 3]


@dataclass
class RobotPointmapConfig:
    points_per_m2: float = 300_000.0    # surface samples per m^2 of link mesh (the Panda has ~1 m^2)
    supersample: int = 2               # z-buffer at s x resolution, then majority-vote down: matches
                                       # a rasteriser's pixel-centre coverage (point splats over-cover)
    min_depth_m: float = 0.01
    seed: int = 0
    frames_per_pass: int = 8           # frames z-buffered together: larger batches fall out of cache
                                       # (64 px, 1 thread, before the per-link projection: 56 ms/frame
                                       # at 96 per pass, 34 at 8)
    gpu_frames_per_pass: int = 256     # on a GPU: as many as memory allows (~1 GB of points per 256)


class RobotPointmapRenderer:
    """Samples link surfaces once, then renders (B, H, W, 3) robot pointmaps + masks by FK and a z-buffer.

    ``device``: where the samples live and the z-buffer runs ("cuda" on a GPU: the projection of ~300 k
    samples per frame is the env's largest CPU cost there). FK stays on the robot's (CPU) side."""

    def __init__(self, robot, config: RobotPointmapConfig | None = None, device: str | torch.device = "cpu"):
        self.robot = robot
        self.config = config or RobotPointmapConfig()
        self.device = torch.device(device)
        if min(self.config.frames_per_pass, self.config.gpu_frames_per_pass, self.config.supersample) < 1:
            raise ValueError(f"RobotPointmapConfig needs frames_per_pass, gpu_frames_per_pass and supersample "
                             f">= 1, got {self.config.frames_per_pass}, {self.config.gpu_frames_per_pass} and "
                             f"{self.config.supersample}")
        self._meshes = robot.link_meshes()
        self._samples_cache: tuple[list[str], list[torch.Tensor]] | None = None

    def _samples(self) -> tuple[list[str], list[torch.Tensor]]:
        """Area-uniform surface samples of every link, in the link's frame (drawn once, on ``device``)."""
        if self._samples_cache is None:
            import trimesh
            names, pts = [], []
            for i, (name, mesh) in enumerate(self._meshes.items()):
                n = max(64, int(round(self.config.points_per_m2 * mesh.area)))
                p, _ = trimesh.sample.sample_surface(mesh, n, seed=self.config.seed + i)
                names.append(name)
                pts.append(torch.as_tensor(np.asarray(p), dtype=torch.float32).to(self.device))
            self._samples_cache = (names, pts)
        return self._samples_cache

    @torch.no_grad()
    def render(self, q_arm: torch.Tensor, finger_m: torch.Tensor, T_cam_base: torch.Tensor,
               K: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Robot pointmap for B robot states seen by B cameras.

        q_arm (B, 7) rad; finger_m (B,) metres; T_cam_base (B, 4, 4) base->camera (OpenCV);
        K (B, 3, 3). Returns pointmap (B, H, W, 3) float32 camera frame metres (zero off-robot)
        and mask (B, H, W) bool, on the device of ``q_arm``.
        """
        n = self.config.gpu_frames_per_pass if self.device.type == "cuda" else self.config.frames_per_pass
        parts = [self._render(q_arm[i:i + n], finger_m[i:i + n], T_cam_base[i:i + n], K[i:i + n], height, width)
                 for i in range(0, q_arm.shape[0], n)]
        return (torch.cat([p[0] for p in parts]).to(q_arm.device), torch.cat([p[1] for p in parts]).to(q_arm.device))

    def _render(self, q_arm, finger_m, T_cam_base, K, height, width):
        s = self.config.supersample
        Hs, Ws = height * s, width * s
        B = q_arm.shape[0]
        names, pts = self._samples()
        Ks = K.float().clone()
        Ks[:, :2, :] *= s
        Ks[:, 0, 2] += (s - 1) / 2.0       # pixel-centre-at-integer convention at the finer grid
        Ks[:, 1, 2] += (s - 1) / 2.0
        # One 3x4 matrix per link, K·[R|t]_cam<-link: each sample is touched by one affine map,
        # straight to homogeneous pixels (u·z, v·z, z).
        P = Ks @ T_cam_base.float()[:, :3, :]
        poses = self.robot.link_poses(q_arm.float(), finger_m.float())
        dev = self.device
        Ks = Ks.to(dev)
        uvz = torch.cat([transform_points((P @ poses[n]).to(dev), p.expand(B, -1, -1)) for n, p in zip(names, pts)],
                        dim=1)
        z = uvz[..., 2]
        inv_z = z.clamp_min(1e-9).reciprocal_()
        uf, vf = uvz[..., 0] * inv_z, uvz[..., 1] * inv_z
        u, v = uf.round(), vf.round()           # kept float: exact integers, no int64 copies of all points
        ok = (z > self.config.min_depth_m) & (u >= 0) & (u < Ws) & (v >= 0) & (v < Hs)
        bi, ni = ok.nonzero(as_tuple=True)
        flat = bi * (Hs * Ws) + (v[bi, ni] * Ws + u[bi, ni]).long()
        zf = z[bi, ni]
        zbuf = torch.full((B * Hs * Ws,), float("inf"), device=dev).scatter_reduce(0, flat, zf, "amin")
        win = zf <= zbuf[flat]
        # Camera-frame points of the winners only, by inverting the (unrounded) projection.
        bw, nw, zw = bi[win], ni[win], zf[win]
        xw = (uf[bw, nw] - Ks[bw, 0, 2]) * zw / Ks[bw, 0, 0]
        yw = (vf[bw, nw] - Ks[bw, 1, 2]) * zw / Ks[bw, 1, 1]
        fine = torch.zeros(B * Hs * Ws, 3, device=dev)
        fine[flat[win]] = torch.stack([xw, yw, zw], dim=-1)
        return self._downsample(fine.view(B, Hs, Ws, 3), zbuf.view(B, Hs, Ws), height, width)

    def _downsample(self, fine, zbuf, H, W):
        s = self.config.supersample
        B = fine.shape[0]
        z = zbuf.view(B, H, s, W, s).permute(0, 1, 3, 2, 4).reshape(B, H, W, s * s)
        p = fine.view(B, H, s, W, s, 3).permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, s * s, 3)
        covered = torch.isfinite(z)
        mask = covered.float().mean(-1) >= 0.5
        nearest = z.argmin(-1, keepdim=True)                           # front-most sub-sample
        pm = torch.gather(p, 3, nearest.unsqueeze(-1).expand(-1, -1, -1, 1, 3)).squeeze(3)
        pm = torch.where(mask.unsqueeze(-1), pm, torch.zeros_like(pm))
        return pm, mask


def minmax_normalize_sequence(pointmap: torch.Tensor, mask: torch.Tensor | None = None,
                              eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Kinema4D supp. B.1: map a pointmap sequence (T, H, W, 3) to [0, 1] by its per-axis extrema
    over the whole sequence (masked pixels only, if a mask is given). Returns (normalised, lo, hi);
    invert with ``x * (hi - lo) + lo``."""
    sel = pointmap[mask] if mask is not None else pointmap.reshape(-1, 3)
    if sel.numel() == 0:
        lo = torch.zeros(3, dtype=pointmap.dtype)
        hi = torch.ones(3, dtype=pointmap.dtype)
    else:
        lo, hi = sel.min(0).values, sel.max(0).values
    out = (pointmap - lo) / (hi - lo).clamp_min(eps)
    if mask is not None:
        out = torch.where(mask.unsqueeze(-1), out, torch.zeros_like(out))
    return out.clamp(0, 1), lo, hi


def soft_robot_mask(mask: torch.Tensor, soft_fraction: float = 0.1,
                    soft_value: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Kinema4D §3.2 / supp. B.1: binary robot mask (..., H, W) -> float mask where a random
    ``soft_fraction`` of the occupied pixels is set to ``soft_value`` (lets the model refine the robot)."""
    m = mask.float()
    r = torch.rand(m.shape, generator=generator, device=generator.device if generator is not None else m.device)
    r = r.to(m.device)        # drawn on the generator's device: the same mask for a seed on any device
    return torch.where(mask & (r < soft_fraction), torch.full_like(m, soft_value), m)
