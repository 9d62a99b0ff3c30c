"""What the robot uncovers was there before it covered it, unless the robot carried it away.

A quasi-static tabletop changes only where the robot acts. When the arm moves on, the pixels it leaves
show the surface that was behind it, which the rollout has already seen (frame 0 or a later frame in
which the pixel was not the robot's). At CPU scale the DiT redraws those pixels poorly: on lift's held-out
episodes, generated points lying more than 2 cm *in front of* the true surface, away from the hand, carry
most of the point error (arm "ghosts", and far background that the workspace normalisation cannot
represent). A new surface can appear in front of a remembered one only when the robot brings it: an
object in the hand. So a generated point in front of the remembered surface by more than a tolerance,
and farther than a carry radius from the tool-centre point, is a ghost and takes the remembered point.
Everything else (a lifted object's vacated spot, which lies *behind* the memory, or an
object in or just released from the hand) stays as generated, and becomes memory itself.

Tensors are the rollout's: (B, 3, F, H, W) in [-1, 1] model units (``pointmap_to_unit``).
"""
from __future__ import annotations

from typing import Callable

import torch


class OcclusionMemory:
    """Per pixel, the latest known non-robot point (B, 3, H, W) and whether there is one (B, H, W)."""

    def __init__(self, xyz: torch.Tensor, robot_mask: torch.Tensor, valid: torch.Tensor,
                 to_metres: Callable[[torch.Tensor], torch.Tensor]):
        """xyz (B, 3, F, H, W) known world pointmap frames in order; robot_mask (B, F, H, W) bool; valid (B, F, H, W)
        bool (pixels without a measured point never become memory); to_metres: (B, 3, F, H, W) model units
        -> (B, F, H, W, 3) world metres (the rollout's ``unit_to_pointmap`` with its bounds)."""
        self.to_metres = to_metres
        B, _, _, H, W = xyz.shape
        self.xyz = torch.zeros(B, 3, H, W, dtype=xyz.dtype, device=xyz.device)
        self.known = torch.zeros(B, H, W, dtype=torch.bool, device=xyz.device)
        self.update(xyz, robot_mask | ~valid)

    def update(self, xyz: torch.Tensor, robot_mask: torch.Tensor) -> None:
        """Remember the non-robot pixels of world pointmap frames (B, 3, F, H, W), later frames last."""
        for f in range(xyz.shape[2]):
            seen = ~robot_mask[:, f]
            self.xyz = torch.where(seen[:, None], xyz[:, :, f], self.xyz)
            self.known |= seen

    def restore_ghosts(self, xyz: torch.Tensor, robot_mask: torch.Tensor, tcp_world: torch.Tensor,
                       camera_origin: torch.Tensor, tolerance_m: float, carry_radius_m: float) -> torch.Tensor:
        """Generated world pointmap frames (B, 3, F, H, W) -> the same with ghost points set to memory.

        robot_mask (B, F, H, W) bool; tcp_world (B, F, 3) world metres, the tool-centre point of each frame;
        camera_origin (B, 3) world metres. Colour is left as generated: restoring it too measured slightly
        worse (lift: -0.03 dB PSNR), so a point ghost is not a colour ghost."""
        pts = self.to_metres(xyz)                                               # (B, F, H, W, 3)
        mem = self.to_metres(self.xyz[:, :, None])                              # (B, 1, H, W, 3)
        o = camera_origin[:, None, None, None]
        in_front = (pts - o).norm(dim=-1) < (mem - o).norm(dim=-1) - tolerance_m
        away = (pts - tcp_world[:, :, None, None]).norm(dim=-1) > carry_radius_m
        ghost = (in_front & away & ~robot_mask & self.known[:, None])[:, None]
        return torch.where(ghost, self.xyz[:, :, None], xyz)
