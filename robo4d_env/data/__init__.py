"""Robo4D dataset: generation with synthesized failures, HDF5 shards, and a torch loader (README, "Dataset")."""
