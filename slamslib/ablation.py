"""The ablation's sub-runs: one per (row, training seed), each trained like stages 01-02 and scored on
what a seed-mIoU table needs (maps of the seed split, threshold sweep, map 0, the SE's val mAP).

A network that several sub-runs share (every loss row trains on the same SE) is trained once: trained
weights go to a store named by their params hash (results/<run>/ablation/weights/) and are linked into
every sub-run that needs them, also from the main run when the schedules match. The CAM maps an erasing
SE reads are shared the same way, by their maps key (results/<run>/ablation/maps/). Trainings run in
`ablation.workers` spawned processes that split the CPU threads between them."""
from __future__ import annotations

import json
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import Config, stable_hash
from .data import build_dataset
from .engine import pick_device
from .evaluate import classification_map
from .maps import MAPS_MARKER, evaluate_seeds, infer_split, stored_maps
from .errors import SlamsError
from .paths import link_file, write_json
from .processes import die_with_parent
from .training import (erasing_source, maps_dir, maps_key, require, store_train_maps, train_network,
                       warm_start_source, weights_hash, weights_path)


@dataclass(frozen=True)
class SubRun:
    row: str
    seed: int
    cfg: Config


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_.]+", "-", text.lower()).strip("-") or "row"


def sub_runs(cfg: Config) -> list[SubRun]:
    """Every (row, seed) of cfg.ablation as its own params: the main params, then the schedule, then
    the row's overrides; seeds cfg.seed, cfg.seed + 1, ..."""
    root = cfg.run_dir / "ablation" / "runs"
    runs = []
    for i, (row, overrides) in enumerate(cfg.ablation.rows.items()):
        for seed in range(cfg.seed, cfg.seed + cfg.ablation.seeds):
            fixed = {"seed": seed, "results_dir": str(root), "run_name": f"{i:02d}-{slug(row)}-seed{seed}"}
            sub = cfg.with_overrides({**cfg.ablation.schedule, **overrides, **fixed},
                                     f"ablation.rows[{row!r}]")
            runs.append(SubRun(row, seed, sub))
    return runs


def networks(cfg: Config) -> list[str]:
    """What a sub-run trains, in order: the CAM when the SE's erasing or the AN's warm start needs
    it, the SE, the AN."""
    cam = "cam" in (erasing_source(cfg, "semantic_encoder"), warm_start_source(cfg, "activation_net"))
    return [*(["cam"] if cam else []), "semantic_encoder", "activation_net"]


def _share(cfg: Config, name: str, store: Path, main: Config) -> bool:
    """Link weights trained under cfg's params for `name` into cfg's run (from the store, else from the
    main run, which then seeds the store). False when none exist yet."""
    stored = store / f"{name}-{weights_hash(cfg, name)}.pt"
    if not stored.is_file():
        if not _main_has(main, name, cfg):
            return False
        link_file(weights_path(main, name), stored)
    link_file(stored, weights_path(cfg, name))
    return True


def _main_has(main: Config, name: str, cfg: Config) -> bool:
    path = weights_path(main, name)
    return path.is_file() and _stored_hash(path, path.stat().st_mtime_ns) == weights_hash(cfg, name)


@lru_cache(maxsize=None)
def _stored_hash(path: Path, mtime_ns: int) -> str | None:
    """The params hash a weights file was trained under (read once per file version: at paper scale
    a file is hundreds of MB)."""
    return torch.load(path, map_location="cpu", weights_only=False).get("params_hash")


def _link_maps(source: Path, target: Path) -> None:
    """target/ holds source/'s maps; its marker goes first and comes back last, so a half-linked
    folder is never trusted."""
    (target / MAPS_MARKER).unlink(missing_ok=True)
    for file in source.glob("[!.]*.npz"):        # not the temporary files of a killed write
        link_file(file, target / file.name)
    link_file(source / MAPS_MARKER, target / MAPS_MARKER)


def _maps_store(store: Path, method: str, cfg: Config) -> Path:
    return store / f"{method}-{maps_key(cfg, method)}"


def _share_maps(cfg: Config, method: str, images: int, store: Path, main: Config) -> bool:
    """Make cfg's run hold the store's maps of the `images` train images under cfg's maps key, the
    store seeded first from cfg's run or the main run where those have them. False when none has."""
    key, own, stored = maps_key(cfg, method), maps_dir(cfg, method), _maps_store(store, method, cfg)
    shared = stored_maps(stored, key, images)
    if shared is None:
        source = next((folder for folder in (own, maps_dir(main, method))
                       if stored_maps(folder, key, images) is not None), None)
        if source is None:
            return False
        _link_maps(source, stored)
        shared = stored_maps(stored, key, images)
    if stored_maps(own, key, images) != shared:      # equal markers: linked (or copied) already
        _link_maps(stored, own)
    return True


def _start(threads: int) -> None:
    """A pool worker's initializer (never run in this process)."""
    die_with_parent()
    torch.set_num_threads(threads)


def _train(cfg_data: dict, name: str, num_classes: int, force: bool) -> str:
    cfg = Config.model_validate(cfg_data)
    train_network(cfg, name, num_classes, force=force, progress=False)
    return name


def _infer(cfg_data: dict, method: str, num_classes: int, force: bool) -> str:
    store_train_maps(Config.model_validate(cfg_data), method, num_classes, progress=False, force=force)
    return method


def _in_pool(jobs: list[tuple], function, workers: int, desc: str, progress: bool) -> list:
    """function(*job) for every job, `workers` at a time in spawned processes (in this one for 1)."""
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress or not jobs, dynamic_ncols=True)
    results = [None] * len(jobs)
    threads = max(1, torch.get_num_threads() // workers)   # the same in a worker and here
    if workers == 1 or len(jobs) <= 1:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            for i, job in enumerate(jobs):
                results[i] = function(*job)
                bar.update()
        finally:
            torch.set_num_threads(before)
    else:
        quiet = os.environ.get("TQDM_DISABLE")
        os.environ["TQDM_DISABLE"] = "1"   # inherited by the workers: this bar is the only one
        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_start, initargs=(threads,)) as pool:
                futures = {pool.submit(function, *job): i for i, job in enumerate(jobs)}
                try:
                    for future in as_completed(futures):
                        results[futures[future]] = future.result()
                        bar.update()
                except BaseException:
                    pool.shutdown(cancel_futures=True)   # do not train the queued jobs first
                    raise
        finally:
            if quiet is None:
                os.environ.pop("TQDM_DISABLE")
            else:
                os.environ["TQDM_DISABLE"] = quiet
    bar.close()
    return results


def check_workers(cfg: Config) -> None:
    if cfg.ablation.workers > 1 and (cfg.distributed.nproc_per_node > 1
                                     or pick_device(cfg.device).type != "cpu"):
        raise SlamsError(f"ablation.workers is {cfg.ablation.workers}: sub-runs in parallel are for CPUs; "
                         "on a GPU or under torchrun they would share one device or one rendezvous "
                         "(set ablation.workers: 1)")


def train_all(cfg: Config, runs: list[SubRun], num_classes: int, progress: bool = True,
              force: bool = False) -> dict:
    """Train every network the sub-runs need, each distinct one (by params hash) once (`force`: even
    where weights exist). Returns {network: number trained now, "erasing_maps": map sets inferred
    now}."""
    check_workers(cfg)
    store = cfg.run_dir / "ablation" / "weights"
    trained = {}
    for name in ("cam", "semantic_encoder", "activation_net"):
        if name == "semantic_encoder":      # the maps it erases by, before any SE trains
            trained["erasing_maps"] = infer_erasing_maps(cfg, runs, num_classes, progress, force)
        todo = {}
        for run in runs:
            if name in networks(run.cfg) and (force or not _share(run.cfg, name, store, cfg)):
                todo.setdefault(weights_hash(run.cfg, name), run.cfg)
        jobs = [(sub.to_dict(), name, num_classes, force) for sub in todo.values()]
        _in_pool(jobs, _train, cfg.ablation.workers, f"ablation: train {name}", progress)
        for digest, sub in todo.items():
            link_file(weights_path(sub, name), store / f"{name}-{digest}.pt")
        for run in runs:
            if name in networks(run.cfg):
                _share(run.cfg, name, store, cfg)
        trained[name] = len(todo)
    return trained


def infer_erasing_maps(cfg: Config, runs: list[SubRun], num_classes: int, progress: bool = True,
                       force: bool = False) -> int:
    """The train maps every erasing SE reads, inferred once per maps key (rows that erase with the same
    CAM share them) and linked into each sub-run, where train_network then finds them. Returns how
    many map sets were inferred now."""
    store = cfg.run_dir / "ablation" / "maps"
    erasing = [(run.cfg, method) for run in runs
               if (method := erasing_source(run.cfg, "semantic_encoder")) is not None]
    if not erasing:
        return 0
    images = len(build_dataset(cfg, cfg.data.train_split))     # rows never change the data
    todo = {}
    for sub, method in erasing:
        if force or not _share_maps(sub, method, images, store, cfg):
            todo.setdefault((method, maps_key(sub, method)), sub)
    jobs = [(sub.to_dict(), method, num_classes, force) for (method, _), sub in todo.items()]
    _in_pool(jobs, _infer, cfg.ablation.workers, "ablation: maps to erase by", progress)
    for (method, _), sub in todo.items():
        _link_maps(maps_dir(sub, method), _maps_store(store, method, sub))
    for sub, method in erasing:
        _share_maps(sub, method, images, store, cfg)
    return len(todo)


def result_key(cfg: Config) -> str:
    return stable_hash([weights_hash(cfg, name) for name in networks(cfg)] + [cfg.hash("maps")])


def evaluate_run(cfg_data: dict, num_classes: int, force: bool = False) -> dict:
    """One sub-run's scores (cached in its activation_maps/ablation_result.json under result_key)."""
    cfg = Config.model_validate(cfg_data)
    out = cfg.stage_dir("activation_maps")
    path = out / "ablation_result.json"
    key = result_key(cfg)
    if path.is_file() and not force:
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return cached
    device = pick_device(cfg.device)
    an = require(cfg, "activation_net", num_classes)
    se = require(cfg, "semantic_encoder", num_classes)
    seed_split = build_dataset(cfg, cfg.data.seed_split)
    maps_dir = out / "maps" / "slams"
    infer_split(an.model, "slams", seed_split, cfg.maps, maps_dir, device, key, cfg.maps.normalize,
                progress=False, force=force)
    seeds = evaluate_seeds(seed_split, maps_dir, cfg.maps.thresholds, with_background_map=True)
    best = seeds["threshold"]
    se_map, _ = classification_map(se.model, build_dataset(cfg, cfg.data.val_split), device, False)
    result = {"key": key, "seed_miou": best["best"]["miou"], "threshold": best["best_threshold"],
              "seed_miou_map0": seeds["background_map"]["miou"], "se_map": se_map,
              "per_class_iou": [round(100 * float(v), 4) for v in np.asarray(best["best"]["iou"])],
              "train_s": {"semantic_encoder": se.train_s, "activation_net": an.train_s}}
    write_json(path, result)
    return result


def evaluate_all(cfg: Config, runs: list[SubRun], num_classes: int, progress: bool = True,
                 force: bool = False) -> list[dict]:
    jobs = [(run.cfg.to_dict(), num_classes, force) for run in runs]
    results = _in_pool(jobs, evaluate_run, cfg.ablation.workers, "ablation: score seeds", progress)
    return [{"row": run.row, "seed": run.seed, **result} for run, result in zip(runs, results)]
