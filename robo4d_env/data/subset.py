"""A small shard cut from existing ones: the first N episodes, byte-identical, in one atomic file.

For moving a few episodes where the full dataset does not fit (a lent GPU machine takes 64 MiB per call),
and for quick experiments. ``robo4d data subset data/lift_eval --episodes 3 --out .gpu/eval``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from robo4d_env.data.storage import MANIFEST, atomic_shard, episode_names, list_shards, open_h5


def _shard_files(paths: list[str | Path]) -> list[Path]:
    files = []
    for p in map(Path, paths):
        files += list_shards(p) if p.is_dir() else [p]
    if not files:
        raise FileNotFoundError(f"no .hdf5 shard in {[str(p) for p in paths]}; make some with `robo4d data generate`")
    return files


def subset(paths: list[str | Path], episodes: int, out: str | Path) -> Path:
    """Copy the first ``episodes`` episodes of ``paths`` (shard files or directories, in order) into
    ``out/<first shard's stem>-subset.hdf5``; the first directory's manifest comes along. Returns the file."""
    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    files = _shard_files(paths)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dest = out / f"{files[0].stem}-subset.hdf5"
    copied = 0
    with open_h5(files[0]) as first:
        env_args = json.loads(first["data"].attrs["env_args"])
    with atomic_shard(dest, env_args) as data:
        for path in files:
            with open_h5(path) as f:
                for name in episode_names(f):
                    if copied == episodes:
                        break
                    f.copy(f["data"][name], data, name=f"demo_{copied}")
                    data.attrs["total"] = int(data.attrs["total"]) + int(f["data"][name].attrs["num_samples"])
                    copied += 1
                    data.attrs["num_episodes"] = copied
    if copied < episodes:
        dest.unlink()
        raise ValueError(f"{[str(p) for p in paths]} hold {copied} episodes, fewer than --episodes {episodes}")
    manifest = files[0].parent / MANIFEST
    if manifest.exists():
        shutil.copy(manifest, out / MANIFEST)
    return dest
