"""What each training of a params file costs at its scale, and so how long each stage takes.

For every network the stages train (SE, CAM, activation net, affinity net, segmentation net), one
training step on a batch of the params' crop size and batch size:
- GFLOPs per training image, counted by torch.utils.flop_counter (forward + backward, every SE pass
  of the activation net included), on any machine;
- memory per process, estimated on any machine from the tensors the step saves for its backward
  pass (halved under AMP) plus weights, gradients and momentum — a lower bound;
- on a GPU: measured images/s (AMP as in params, SGD step included) and peak memory per process;
- the training's time at the params' epochs and dataset size: from the measured rate on a GPU, else
  from the FLOPs at an assumed effective rate (--assume-tflops), and the output says which.

    python benchmarks/gpu_budget.py --params params/voc.yaml [--iterations 20] [--assume-tflops 40]

Then the FLOPs of multi-scale inference (the maps of stage 02, val prediction of stage 05) on a
typical image. Random tensors stand in for images, so neither data nor ImageNet weights are needed.
Data loading and the CPU refinement of stage 04 are not in these numbers.
"""
from __future__ import annotations

import argparse
import time

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from slamslib.config import load_config
from slamslib.engine import _optimizer, pick_device
from slamslib.maps import multiscale_maps
from slamslib.training import build_network, build_task, train_config

TRAIN_IMAGES = {"voc": 10_582, "coco": 82_783}
VAL_IMAGES = {"voc": 1_449, "coco": 40_504}
IMAGE_SIZE = {"voc": (375, 500), "coco": (480, 640)}    # a typical image, (height, width)
NUM_CLASSES = {"voc": 21, "coco": 81}
NETWORKS = ["semantic_encoder", "cam", "activation_net", "affinity_slams", "segmentation_slams"]


def batch_for(name: str, size: int, crop: int, n: int, device):
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(size, 3, crop, crop, generator=generator)
    valid = torch.ones(size, 1, crop, crop)
    if name.startswith(("affinity_", "segmentation_")):
        labels = torch.randint(0, n, (size, crop, crop), generator=generator)
    else:   # one to three present categories
        labels = torch.zeros(size, n - 1)
        for row in labels:
            row[torch.randperm(n - 1, generator=generator)[:int(torch.randint(1, 4, (1,)))]] = 1
    return images.to(device), valid.to(device), labels.to(device)


def count_step(task, batch) -> tuple[float, float]:
    """(FLOPs, bytes of tensors saved for the backward pass) per image of one training step, counted:
    the saved tensors are what a training holds at its peak besides weights, gradients and momentum."""
    storages = {}
    weights = {p.untyped_storage().data_ptr() for p in task.parameters()}   # counted apart

    def keep(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with FlopCounterMode(display=False) as counter:
        with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
            loss = task(*batch)["total"]
        loss.backward()
    task.zero_grad(set_to_none=True)
    size = batch[0].shape[0]
    return counter.get_total_flops() / size, sum(storages.values()) / size


def estimated_peak_gib(task, saved_per_image: float, per_process: int, amp: bool) -> float:
    """Saved activations of a process's batch (about half the bytes under AMP) plus the trainable
    weights, their gradients and SGD momentum (fp32), plus any frozen weights."""
    trainable = sum(p.numel() for p in task.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in task.parameters() if not p.requires_grad)
    activations = saved_per_image * per_process * (0.5 if amp else 1.0)
    return (activations + 4 * (3 * trainable + frozen)) / 2**30


def inference_flops(model, scales_cfg, size, device) -> float:
    """FLOPs of one image's multi-scale (+ flip) inference, as the maps and the evaluation run it."""
    image = torch.randint(0, 256, (*size, 3), dtype=torch.uint8).numpy()
    with FlopCounterMode(display=False) as counter:
        multiscale_maps(model.eval(), [image], scales_cfg, device)
    return counter.get_total_flops()


def measure(task, batch, train, device, iterations: int) -> tuple[float, float]:
    """(images/s, peak GiB) of full training steps on `device`."""
    optimizer = _optimizer(task, train)
    use_amp = device.type == "cuda" and train.amp
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    def step():
        with torch.autocast(device.type, enabled=use_amp):
            loss = task(*batch)["total"]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.time()
    for _ in range(iterations):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    rate = iterations * batch[0].shape[0] / (time.time() - started)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return rate, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default="params/voc.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--images", type=int, help="training images (default: the dataset's)")
    parser.add_argument("--iterations", type=int, default=20, help="timed steps per network (GPU)")
    parser.add_argument("--assume-tflops", type=float, default=40.0,
                        help="effective training rate assumed without a GPU (TFLOP/s)")
    parser.add_argument("--networks", nargs="+", default=NETWORKS)
    args = parser.parse_args()
    cfg = load_config(args.params, [*args.overrides, "backbone.pretrained=false"], check_data=False)
    device = pick_device(cfg.device)
    n = NUM_CLASSES.get(cfg.data.name, cfg.benchmark.num_classes + 1)
    images = args.images or TRAIN_IMAGES.get(cfg.data.name, cfg.benchmark.train_aug_size)
    processes = cfg.distributed.nproc_per_node
    rows = []
    for name in args.networks:
        train = train_config(cfg, name)
        per_process = max(1, train.batch_size // processes)
        task = build_task(cfg, name, n, untrained=True).to(device).train()   # the cost is the same
        flops, saved = count_step(task, batch_for(name, 2, train.crop_size, n, device))   # BatchNorm needs 2
        gflops = flops / 1e9
        row = {"network": name, "crop": train.crop_size, "batch / process": per_process,
               "epochs": train.epochs, "GFLOPs / train image": round(gflops, 1),
               "GiB / process (estimated)": round(estimated_peak_gib(task, saved, per_process, train.amp), 1)}
        if device.type == "cuda":
            rate, peak = measure(task, batch_for(name, per_process, train.crop_size, n, device), train,
                                 device, args.iterations)
            row.update({"images/s (measured)": round(rate, 1), "peak GiB (measured)": round(peak, 2)})
            total_rate, source = rate * processes, "measured"
        else:
            total_rate, source = args.assume_tflops * 1e12 / (gflops * 1e9), f"{args.assume_tflops:g} TFLOP/s assumed"
        row[f"minutes for {images} images x epochs"] = round(train.epochs * images / total_rate / 60, 1)
        row["rate from"] = source
        rows.append(row)
        print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
        del task
        if device.type == "cuda":
            torch.cuda.empty_cache()
    size = IMAGE_SIZE.get(cfg.data.name, (cfg.benchmark.max_size, cfg.benchmark.max_size))
    val = VAL_IMAGES.get(cfg.data.name, cfg.benchmark.val_size)
    inference = [("maps, activation_net", "activation_net", cfg.maps, images),
                 ("maps, cam", "cam", cfg.maps, images),
                 ("val prediction, per segmentation net", "segmentation_slams", cfg.segmentation.eval, val)]
    for label, name, scales_cfg, count in inference:
        gflops = inference_flops(build_network(cfg, name, n).to(device), scales_cfg, size, device) / 1e9
        rows.append({"network": label, "crop": f"{size[1]}x{size[0]}", "batch / process": "",
                     "epochs": "", "GFLOPs / train image": f"{gflops:.1f} (inference)",
                     f"minutes for {images} images x epochs": round(
                         count * gflops * 1e9 / (args.assume_tflops * 1e12 * processes) / 60, 1),
                     "rate from": f"{args.assume_tflops:g} TFLOP/s assumed, {count} images"})
        print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    print(f"\n{args.params} on {device} ({processes} process(es)):")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
