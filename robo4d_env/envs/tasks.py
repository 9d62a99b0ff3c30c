"""Task registry: which robosuite environment backs each task, its horizon and its tight camera."""
from __future__ import annotations

from dataclasses import dataclass

from robo4d_env.cameras import CameraSpec


@dataclass(frozen=True)
class TaskConfig:
    name: str
    robosuite_env: str
    horizon_steps: int                     # control steps
    workspace_camera: CameraSpec               # frames the objects tightly at 64 px
    table_center_m: tuple[float, float, float] = (0.0, 0.0, 0.8)
    control_freq_hz: int = 20
    robosuite_kwargs: tuple[tuple[str, object], ...] = ()


TASKS: dict[str, TaskConfig] = {
    "lift": TaskConfig(
        "lift", "Lift", 120,
        CameraSpec("main", eye_m=(0.30, -0.50, 1.22), target_m=(-0.04, 0.0, 0.88), fovy_deg=42.0)),
    "stack": TaskConfig(
        "stack", "Stack", 200,
        CameraSpec("main", eye_m=(0.30, -0.50, 1.22), target_m=(-0.04, 0.0, 0.88), fovy_deg=45.0)),
    "pick_place_can": TaskConfig(
        "pick_place_can", "PickPlaceCan", 260,
        CameraSpec("main", eye_m=(0.55, -0.55, 1.40), target_m=(0.02, 0.02, 0.88), fovy_deg=50.0),
        table_center_m=(0.1, 0.0, 0.8)),
}


def get_task(name: str) -> TaskConfig:
    if name not in TASKS:
        raise ValueError(f"Unknown task '{name}'. Known tasks: {sorted(TASKS)}")
    return TASKS[name]
