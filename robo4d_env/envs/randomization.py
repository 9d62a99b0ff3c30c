"""Procedural scene randomisation for data generation: colours, lighting, camera-pose jitter."""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass
class RandomizationConfig:
    object_rgb: bool = True            # re-colour the task objects
    table_rgb: bool = True             # re-tint the table top
    lighting: bool = True              # light intensity and position
    light_intensity_range: tuple[float, float] = (0.5, 1.0)
    light_pos_jitter_m: float = 0.5
    camera_jitter_m: float = 0.0       # eye-position jitter of every camera (0: fixed cameras)


class SceneRandomizer:
    """Applies a RandomizationConfig to a MuJoCo model, restoring the defaults first."""

    def __init__(self, model: mujoco.MjModel, object_bodies: list[str]):
        self.model = model
        names = [model.body(model.geom_bodyid[g]).name for g in range(model.ngeom)]
        # One colour per object: a stack's two cubes must stay two colours to tell them apart.
        self.object_geoms = {o: [g for g, n in enumerate(names) if n.startswith(o) and model.geom_group[g] == 1]
                             for o in object_bodies}
        self.table_geoms = [g for g, n in enumerate(names) if n == "table" and model.geom_group[g] == 1]
        self.rgba0 = model.geom_rgba.copy()
        self.mat_rgba0 = model.mat_rgba.copy()
        self.light_diffuse0 = model.light_diffuse.copy()
        self.light_pos0 = model.light_pos.copy()

    def apply(self, cfg: RandomizationConfig, rng: np.random.Generator) -> dict:
        m = self.model
        m.geom_rgba[:] = self.rgba0
        m.mat_rgba[:] = self.mat_rgba0
        m.light_diffuse[:] = self.light_diffuse0
        m.light_pos[:] = self.light_pos0
        applied = {}
        if cfg.object_rgb and any(self.object_geoms.values()):
            applied["object_rgb"] = {}
            for name, geoms in self.object_geoms.items():
                rgb = rng.uniform(0.1, 0.95, 3)
                for g in geoms:
                    self._tint(g, rgb)
                applied["object_rgb"][name] = rgb.tolist()
        if cfg.table_rgb and self.table_geoms:
            rgb = rng.uniform(0.4, 1.0, 3)
            for g in self.table_geoms:
                self._tint(g, rgb)
            applied["table_rgb"] = rgb.tolist()
        if cfg.lighting and m.nlight > 0:
            scale = rng.uniform(*cfg.light_intensity_range, size=(m.nlight, 1))
            m.light_diffuse[:] = self.light_diffuse0 * scale
            m.light_pos[:] = self.light_pos0 + rng.uniform(-cfg.light_pos_jitter_m, cfg.light_pos_jitter_m,
                                                           size=self.light_pos0.shape)
            applied["light_scale"] = scale.ravel().tolist()
        return applied

    def _tint(self, g: int, rgb: np.ndarray) -> None:
        # Textured geoms take their colour from the material; tint both.
        self.model.geom_rgba[g, :3] = rgb
        mat = self.model.geom_matid[g]
        if mat >= 0:
            self.model.mat_rgba[mat, :3] = rgb
