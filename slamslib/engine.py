"""One training loop for every network (SE, AN, CAM, and later the affinity and segmentation nets).

- device auto (cuda > mps > cpu), AMP on CUDA, DistributedDataParallel under torchrun (nccl on GPUs,
  gloo on CPUs); the global batch is split evenly over the processes;
- SGD with momentum and weight decay, the backbone at lr and the heads at lr * head_lr_mult, a poly
  schedule (1 - it / max_it) ** power;
- the data order and every augmentation are drawn from generators seeded by (seed, epoch, index), so a
  run killed and resumed from its last checkpoint ends with the same weights as an uninterrupted run;
- checkpoints written atomically every `checkpoint_every` iterations; a per-iteration loss log (CSV;
  the stages draw it as a figure); a tqdm progress bar.
A task (slamslib.tasks) is a module whose forward turns a batch into a dict of losses ("total" is
optimised) and whose `net` is the network being trained; DDP wraps the task, so every loss is
computed inside forward, where DDP can see which parameters took part."""
from __future__ import annotations

import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from .config import TrainConfig
from .errors import SlamsError
from .paths import atomic_path


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SlamsError("device=cuda but torch sees no CUDA device on this machine")
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(name)


def world() -> tuple[int, int]:
    """(rank, world size): (0, 1) unless this process was started by torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: torch.device) -> None:
    """Join the process group torchrun set up (environment variables), once."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def global_batches(size: int, batch: int, seed: int, epoch: int) -> list[list[int]]:
    """The epoch's shuffled global batches (the last partial batch dropped)."""
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed * 7919 + epoch)).tolist()
    return [order[i:i + batch] for i in range(0, size - batch + 1, batch)]


@dataclass
class FitResult:
    model: torch.nn.Module
    log: pd.DataFrame
    images_per_s: float
    train_s: float
    resumed_at: int
    iterations: int
    weights: Path


def _optimizer(task, train: TrainConfig) -> torch.optim.Optimizer:
    head = {id(p) for p in task.net.head_parameters()}
    trainable = [p for p in task.net.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) not in head], "lr": train.lr, "base_lr": train.lr},
              {"params": [p for p in trainable if id(p) in head],
               "lr": train.lr * train.head_lr_mult, "base_lr": train.lr * train.head_lr_mult}]
    groups = [g for g in groups if g["params"]]
    if train.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=train.lr, weight_decay=train.weight_decay)
    return torch.optim.SGD(groups, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay)


def lr_factor(it: int, total: int, train: TrainConfig) -> float:
    """The learning rate at iteration `it` over the base: a linear warm-up, then the poly decay."""
    if it < train.warmup_iters:
        return (it + 1) / (train.warmup_iters + 1)
    return (1 - it / total) ** train.poly_power


def _save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def fit(task, train: TrainConfig, dataset, out_dir: Path, name: str, seed: int, params_hash: str,
        device: torch.device, num_workers: int = 0, stop_after: int | None = None,
        progress: bool = True) -> FitResult:
    """Train `task.net` on `dataset` (slamslib.data.transforms.TrainImages) into out_dir/<name>.pt.

    `stop_after` ends the loop after that many iterations without writing the final weights, as a
    kill would (tests use it to check resuming)."""
    init_distributed(device)
    rank, size = world()
    if train.batch_size % size:
        raise SlamsError(f"train.batch_size={train.batch_size} must be divisible by the "
                         f"{size} processes (nproc_per_node x nodes)")
    per_rank = train.batch_size // size
    if len(dataset) < train.batch_size:
        raise SlamsError(f"{name}: the training split has {len(dataset)} images, fewer than "
                         f"train.batch_size={train.batch_size}")
    per_epoch = len(dataset) // train.batch_size
    total = per_epoch * train.epochs
    model = task.to(device)
    net = task.net
    optimizer = _optimizer(task, train)
    use_amp = train.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    checkpoint_path, weights_path = out_dir / f"{name}.checkpoint.pt", out_dir / f"{name}.pt"
    start, log = 0, []
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        if state.get("params_hash") == params_hash:
            net.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            start, log = state["iteration"], state["log"]
        elif rank == 0:
            print(f"[{name}] {checkpoint_path.name} was written under other params: starting over")
    trained = model
    if size > 1:
        trained = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)
    model.train()
    bar = tqdm(total=total, initial=start, desc=name, disable=not progress or rank != 0,
               dynamic_ncols=True)
    started, seen = time.time(), 0
    for epoch in range(start // per_epoch, train.epochs):
        dataset.epoch = epoch
        first = epoch * per_epoch
        mine = [b[rank * per_rank:(rank + 1) * per_rank]
                for b in global_batches(len(dataset), train.batch_size, seed, epoch)]
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=mine[max(start - first, 0):],
                                             num_workers=num_workers)
        for it, (images, valid, labels, _) in enumerate(loader, max(start, first)):
            images, valid, labels = images.to(device), valid.to(device), labels.to(device)
            factor = lr_factor(it, total, train)
            for group in optimizer.param_groups:
                group["lr"] = group["base_lr"] * factor
            with torch.autocast(device.type, enabled=use_amp) if use_amp else nullcontext():
                losses = trained(images, valid, labels)
            if not torch.isfinite(losses["total"]):
                raise SlamsError(f"{name}: the loss became {losses['total'].item()} at iteration "
                                 f"{it}; lower train.lr (now {train.lr})")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(losses["total"]).backward()
            scaler.step(optimizer)
            scaler.update()
            values = torch.stack([v.detach().float() for v in losses.values()])
            if size > 1:
                dist.all_reduce(values)
                values /= size
            log.append({"iteration": it + 1, "epoch": epoch, "lr": train.lr * factor,
                        **dict(zip(losses, values.tolist()))})
            seen += train.batch_size
            bar.update(1)
            bar.set_postfix(loss=f"{log[-1]['total']:.4f}")
            done = it + 1
            if rank == 0 and (done % train.checkpoint_every == 0 or done == total):
                _save({"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                       "scaler": scaler.state_dict(), "iteration": done, "log": log,
                       "params_hash": params_hash}, checkpoint_path)
            if stop_after is not None and done >= stop_after:
                bar.close()
                return FitResult(net, pd.DataFrame(log), 0.0, 0.0, start, done, checkpoint_path)
    bar.close()
    elapsed = time.time() - started
    speed = seen / elapsed if elapsed > 0 and seen else 0.0
    table = pd.DataFrame(log)
    if rank == 0:
        _save({"model": net.state_dict(), "params_hash": params_hash, "iterations": total,
               "images_per_s": speed, "train_s": elapsed, "processes": size}, weights_path)
        with atomic_path(out_dir / f"{name}_loss.csv") as tmp:
            table.to_csv(tmp, index=False, float_format="%.6f")
        checkpoint_path.unlink(missing_ok=True)
    if size > 1:
        dist.barrier()
    net.eval()
    return FitResult(net, table, speed, elapsed, start, total, weights_path)


def load_weights(model: torch.nn.Module, path: Path, params_hash: str | None = None) -> bool:
    """Load final weights when they exist (and were trained under `params_hash`, if given)."""
    if not path.is_file():
        return False
    state = torch.load(path, map_location="cpu", weights_only=False)
    if params_hash is not None and state.get("params_hash") != params_hash:
        return False
    model.load_state_dict(state["model"])
    return True
