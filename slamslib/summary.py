"""`results/<run>/<stage>/summary.json`: what a stage measured, under which params, on what."""
from __future__ import annotations

import platform
import time

from . import __version__
from .config import Config
from .paths import write_json


def versions() -> dict:
    import numpy
    import torch
    import torchvision
    return {"slamslib": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__}


def write_summary(cfg: Config, stage: str, metrics: dict, started: float, device: str = "cpu",
                  params_hash: str | None = None) -> dict:
    summary = {
        "stage": stage,
        "params_hash": params_hash or cfg.hash(),
        "metrics": metrics,
        "versions": versions(),
        "device": device,
        "wall_time_s": round(time.time() - started, 2),
    }
    write_json(cfg.stage_dir(stage) / "summary.json", summary)
    return summary


def read_summary(cfg: Config, stage: str, params_hash: str) -> dict:
    """An earlier stage's summary, when it was written under `params_hash`; else one sentence."""
    import json
    from .errors import SlamsError
    path = cfg.stage_dir(stage) / "summary.json"
    if not path.is_file():
        raise SlamsError(f"{path} is missing: run the {stage} stage first (slams run {stage} --params ...)")
    summary = json.loads(path.read_text())
    if summary.get("params_hash") != params_hash:
        raise SlamsError(f"{path} was written under other params: rerun the {stage} stage "
                         f"(slams run {stage} --params ...)")
    return summary


def is_timing(key: str) -> bool:
    """Keys that measure the machine rather than the method (seconds, images per second)."""
    return key.endswith("_s") or key == "seconds" or key.startswith("throughput")


def without_timings(data):
    """A summary (or any part of it) with every timing key removed, at any depth: what two runs of the
    same params on the same machine must agree on exactly."""
    if isinstance(data, dict):
        return {k: without_timings(v) for k, v in data.items() if not is_timing(k)}
    if isinstance(data, list):
        return [without_timings(v) for v in data]
    return data
