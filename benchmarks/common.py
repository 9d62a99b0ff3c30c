"""Shared benchmark plumbing: argument parsing, JSON writing, RSS."""
from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default="results.json", help="where the JSON results go")
    return p


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_results(path: str | Path, results: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    results = {**results, "machine": {"python": platform.python_version(), "cpu": platform.processor()
                                      or platform.machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}}
    tmp = path.with_suffix(path.suffix + ".partial")
    tmp.write_text(json.dumps(results, indent=2, default=float))
    tmp.replace(path)
    print(json.dumps(results, indent=2, default=float))
    return path
