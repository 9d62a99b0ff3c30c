"""Shared benchmark plumbing: argument parsing, JSON writing, RSS."""
from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default="results.json", help="where the JSON results go")
    return p


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
