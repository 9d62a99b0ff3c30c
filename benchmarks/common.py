"""Shared benchmark plumbing: argument parsing, JSON writing, RSS, CLI runs in their own process."""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SKIP_STEPS = 10          # first training steps (allocator, kernel selection) left out of a median step time


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default="results.json", help="where the JSON results go")
    return p


def detector_overrides(task: str, items: list[str] | None):
    """``FIELD=VALUE`` strings (VALUE as JSON) -> the task's ``DetectorConfig`` with those fields changed, or
    None when there are none (the env then uses the task's own)."""
    from robo4d_env.success import detector_config
    if not items:
        return None
    default, out = detector_config(task), {}
    fields = {f.name for f in dataclasses.fields(default)}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            raise SystemExit(f"--detector {item!r}: expected FIELD=VALUE with FIELD one of {sorted(fields)}")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError as e:
            raise SystemExit(f"--detector {item!r}: VALUE must be JSON (a number, true/false, a list): {e}") from e
        was, new = getattr(default, name), out[name]
        number = (int, float)
        if was is not None and (isinstance(was, tuple) != isinstance(new, list) or
                                (isinstance(was, number) and not isinstance(new, number))):
            raise SystemExit(f"--detector {item!r}: {name} is a {type(was).__name__} (now {was!r}), "
                             f"got a {type(new).__name__}")
        if isinstance(new, list):
            out[name] = tuple(new)
    return detector_config(task, **out)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def json_safe(x):
    """Results with NaN/inf (e.g. an undefined Pearson r) as null: strict JSON readers reject NaN."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    return x


def write_results(path: str | Path, results: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    results = {**results, "machine": {"python": platform.python_version(), "cpu": platform.processor()
                                      or platform.machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}}
    tmp = path.with_suffix(path.suffix + ".partial")
    text = json.dumps(json_safe(results), indent=2, default=float, allow_nan=False)
    tmp.write_text(text)
    tmp.replace(path)
    print(text)
    return path


def _error_text(stderr: str) -> str:
    """The end of a failed run's stderr, without the dispatcher's list of registered kernels."""
    return "\n".join(line for line in stderr.splitlines() if "registered at" not in line)[-3000:]


def run_cli(cmd: list[str], log: Path | None = None) -> dict:
    """Run ``robo4d <cmd>`` in its own process: wall time, the command, the error if it failed, and from a
    training ``log`` (log.jsonl): steps, median s/step (after the first SKIP_STEPS), first and last-20 mean loss."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "robo4d_env.cli", *cmd], capture_output=True, text=True)
    out = {"wall_s": time.perf_counter() - t0, "command": "robo4d " + " ".join(cmd)}
    if proc.returncode:
        out["error"] = _error_text(proc.stderr)
    elif log is not None:
        rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        secs = [r["sec"] for r in rows[SKIP_STEPS:]] or [r["sec"] for r in rows]
        out.update(steps=len(rows), median_step_s=statistics.median(secs), loss_first=rows[0]["loss"],
                   loss_last20_mean=float(np.mean([r["loss"] for r in rows[-20:]])))
    return out
