"""Kinema4D world model on diffusers: config + presets, model, LoRA/Wan loading, training (issue 4)."""
from robo4d_env.world_model.configuration_world_model import (PRESETS, TrainingConfig, WorldModelConfig,
                                                              get_preset)
from robo4d_env.world_model.modeling_world_model import (CheckpointMismatchError, Kinema4DWorldModel,
                                                         NonFiniteLossError, SharedRotaryPosEmbed,
                                                         load_world_model, make_scheduler)
from robo4d_env.world_model.robot_refiner import RobotRefiner

__all__ = ["PRESETS", "TrainingConfig", "WorldModelConfig", "get_preset", "CheckpointMismatchError",
           "Kinema4DWorldModel", "NonFiniteLossError", "SharedRotaryPosEmbed", "load_world_model",
           "make_scheduler", "RobotRefiner"]
