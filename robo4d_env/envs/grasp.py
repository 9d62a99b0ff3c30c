"""Grasp contact read from the generated 4D world: where the closing fingers meet an object.

Commanded kinematics closes the fingers fully whether or not an object lies between them, yet a grasp
is exactly that difference: on held-out lift episodes the simulator's finger opening five control
steps after closing tells a lift from a miss with AUC 0.99, the commanded one with 0.49
(``benchmarks/results/trials/grasp_contact/``). So Kinema4D-v0 stops its fingers where they meet the
world's points. Only a 4D world model can do this: it needs the object's metric geometry between the
pads, which the env keeps from the generated world pointmaps (``SceneMemory``).

Frames: TCP frame as in ``kinematics`` (z along the approach, y the closing axis; each finger's inner
face at y = +-finger_m). World frame in metres.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GraspConfig:
    # The Panda finger pads, measured on the URDF meshes in the TCP frame: 21 mm wide (x), tips at
    # z = +15 mm. The band stops short of the finger roots so that a closed hand resting on an object
    # does not count as holding it.
    pad_half_width_m: float = 0.0105
    pad_z_min_m: float = -0.025
    pad_z_max_m: float = 0.005
    table_clearance_m: float = 0.005   # points lower than this above the table top are the table
    min_points: int = 3                # fewer points between the pads: noise, not an object


class SceneMemory:
    """Per pixel, the last world point seen without the robot in front of it.

    The fingers hide the object at the moment they close, so the grasp test reads this memory rather
    than the latest frame."""

    def __init__(self, pointmap_world: np.ndarray, valid: np.ndarray, robot_mask: np.ndarray,
                 update_tolerance_m: float | None = None):
        """pointmap_world (H, W, 3) float, world metres; valid and robot_mask (H, W) bool: the first, true
        frame. update_tolerance_m: a later point replaces the remembered one only when it moved farther
        than this; below it, the difference is the generator's noise, not a moved object
        (``WorldModelConfig.grasp_scene_tolerance_m``). None: every later point replaces it."""
        self.points = np.zeros(pointmap_world.shape, np.float32)
        self.known = np.zeros(valid.shape, bool)
        self.update_tolerance_m = update_tolerance_m
        self.update(pointmap_world, valid, robot_mask)     # nothing known yet: every seen pixel is taken

    def update(self, pointmap_world: np.ndarray, valid: np.ndarray, robot_mask: np.ndarray) -> None:
        seen = np.asarray(valid, bool) & ~np.asarray(robot_mask, bool) & np.isfinite(pointmap_world).all(-1)
        if self.update_tolerance_m is not None:
            moved = np.linalg.norm(pointmap_world - self.points, axis=-1) > self.update_tolerance_m
            seen &= moved | ~self.known
        self.points[seen] = pointmap_world[seen]
        self.known |= seen

    def scene_points(self) -> np.ndarray:
        """(N, 3) float32 world points of every pixel seen at least once."""
        return self.points[self.known]


def blocked_finger_m(points_world: np.ndarray, T_world_tcp: np.ndarray, reach_m: float, open_m: float,
                     table_top_z_m: float, cfg: GraspConfig = GraspConfig()) -> float | None:
    """Finger opening (m, per finger) at which the closing pads meet an object, or None if none is there.

    points_world (N, 3) scene points; T_world_tcp (4, 4); reach_m: the fingers' opening before this
    closing step, so that a hand that closed in the air and then comes down on an object holds nothing;
    open_m: the widest opening. An object off the gripper's centre is pushed to it, as in the
    simulator, so the fingers stop at half the object's extent along y (within the open pads), not
    where the first pad touches it."""
    pts = np.asarray(points_world, np.float64)
    pts = pts[pts[:, 2] > table_top_z_m + cfg.table_clearance_m]
    if len(pts) < cfg.min_points:
        return None
    T_tcp_world = np.linalg.inv(np.asarray(T_world_tcp, np.float64))
    local = pts @ T_tcp_world[:3, :3].T + T_tcp_world[:3, 3]
    band = (np.abs(local[:, 0]) < cfg.pad_half_width_m) & (local[:, 2] > cfg.pad_z_min_m) & \
        (local[:, 2] < cfg.pad_z_max_m) & (np.abs(local[:, 1]) < open_m)
    if (np.abs(local[band, 1]) < reach_m).sum() < cfg.min_points:
        return None
    y = local[band, 1]
    return float(min((y.max() - y.min()) / 2.0, reach_m))


def stop_on_scene(gripper, scene: SceneMemory, T_world_tcp: np.ndarray, reach_m: float, table_top_z_m: float,
                  cfg: GraspConfig = GraspConfig()) -> None:
    """After a control step that closed ``gripper`` (a ``kinematics.GripperModel``) from ``reach_m``: stop its
    fingers where they meet an object of ``scene``. They stay there until the gripper opens."""
    if gripper.stop_m is not None or gripper.finger_m >= reach_m:
        return
    stop_m = blocked_finger_m(scene.scene_points(), T_world_tcp, reach_m, gripper.finger_open_m, table_top_z_m, cfg)
    if stop_m is not None and gripper.finger_m <= stop_m:
        gripper.hold(stop_m)
