"""Where the world can change during a chunk: the pixels the robot covers or comes near.

Manipulated objects move only when the robot touches them (quasi-static tabletop scenes). So over
one chunk, a pixel can change only if the robot covers it in some frame, or if the scene point it
shows lies within a contact radius of the robot's points. Outside this region the last known frame
is exact, and the rollout may copy it instead of regenerating it through a lossy VAE
(``WorldModelConfig.contact_radius_m``; measured by ``benchmarks.contact_region``).
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree


def contact_region(scene_world: torch.Tensor, robot_pointmaps: torch.Tensor, robot_masks: torch.Tensor,
                   radius_m: float) -> torch.Tensor:
    """(B, H, W) bool: pixels the robot covers in any frame, or whose scene point is within
    ``radius_m`` of a robot point in any frame.

    scene_world (B, H, W, 3) float, world metres: the last known frame's pointmap.
    robot_pointmaps (B, F, H, W, 3) float, world metres, and robot_masks (B, F, H, W) bool: the robot
    over the chunk (the last known frame included, so that what it uncovers is regenerated)."""
    if scene_world.ndim != 4 or robot_pointmaps.shape[:2] != robot_masks.shape[:2] or \
            robot_pointmaps.shape[2:4] != scene_world.shape[1:3]:
        raise ValueError(f"contact_region wants scene (B, H, W, 3), robot pointmaps (B, F, H, W, 3) and masks "
                         f"(B, F, H, W); got {tuple(scene_world.shape)}, {tuple(robot_pointmaps.shape)}, "
                         f"{tuple(robot_masks.shape)}")
    region = robot_masks.any(1).cpu().numpy()
    for b in range(scene_world.shape[0]):
        robot_pts = robot_pointmaps[b][robot_masks[b]].detach().cpu().double().numpy()
        if len(robot_pts) == 0:
            continue
        scene = scene_world[b].reshape(-1, 3).detach().cpu().double().numpy()
        # a k-d tree, not all pairwise distances: 34 ms instead of 1.06 s for 8 chunks at 64 px here
        nearest, _ = cKDTree(robot_pts).query(scene, distance_upper_bound=radius_m)   # inf beyond the radius
        region[b] |= (nearest < radius_m).reshape(region.shape[1:])
    return torch.from_numpy(region).to(robot_masks.device)
