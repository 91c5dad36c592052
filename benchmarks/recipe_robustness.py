"""Does the kit's default recipe learn data it did not generate? Classification mAP on val of the
semantic encoder (presence scores) and the CAM network, trained with a params file's recipe on
VOC-layout sets from independent generators (benchmarks/foreign_sets.py), beside a plain reference
CNN (BatchNorm, AdamW, no pretraining) on the same data.

    python benchmarks/recipe_robustness.py --params params/demo.yaml [--sets discs textures kit_other]
        [--set key=value ...] [--tag NAME]

Each set is generated once under results/robustness/<set>/; each recipe trains under
results/robustness-<set><tag>/ (the kit's weight cache: a rerun reuses what is trained). Writes
results/robustness<tag>.csv (robustness-baseline.csv without a tag): set, SE mAP, CAM mAP, reference
mAP, label-frequency mAP, minutes. Table and findings: docs/findings.md §5.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from foreign_sets import make_set  # noqa: E402

from slamslib.config import load_config, parse_overrides  # noqa: E402
from slamslib.data import build_dataset, class_names_for  # noqa: E402
from slamslib.data.transforms import to_tensor  # noqa: E402
from slamslib.engine import pick_device  # noqa: E402
from slamslib.evaluate import classification_map  # noqa: E402
from slamslib.metrics import average_precision, label_frequency_map  # noqa: E402
from slamslib.paths import atomic_path  # noqa: E402
from slamslib.training import train_network  # noqa: E402

SETS = ("discs", "textures", "kit_other")


def reference_cnn(classes: int) -> nn.Module:
    """Four conv-BN-ReLU stages with max pooling, global average pooling, a linear classifier."""
    layers, cin = [], 3
    for cout in (32, 64, 128, 128):
        layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
                   nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
                   nn.MaxPool2d(2)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))


def resized(split, side: int) -> torch.Tensor:
    return torch.stack([F.interpolate(to_tensor(split.image(i))[None], (side, side), mode="bilinear",
                                      align_corners=False, antialias=True)[0] for i in range(len(split))])


def train_reference(train_split, val_split, seed: int, epochs: int = 15) -> float:
    """The plain CNN of the issue: from scratch, AdamW lr 2e-3, 15 epochs, flips; images resized to the
    split's median side (rounded to 32, at most 96: two CPU cores). Returns val mAP (percent)."""
    side = int(np.median([train_split.image(i).shape[0] for i in range(min(50, len(train_split)))]))
    side = min(96, max(32, 32 * round(side / 32)))
    x, y = resized(train_split, side), torch.from_numpy(train_split.labels).float()
    torch.manual_seed(seed)
    net = reference_cnn(y.shape[1])
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * (len(x) // 32)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=steps)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for b in range(len(x) // 32):
            idx = order[b * 32:(b + 1) * 32]
            batch = x[idx]
            flip = torch.rand(len(idx)) < 0.5
            batch[flip] = batch[flip].flip(-1)
            loss = F.binary_cross_entropy_with_logits(net(batch), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    net.eval()
    with torch.no_grad():
        scores = torch.cat([net(chunk) for chunk in resized(val_split, side).split(64)]).sigmoid().numpy()
    return float(100 * np.nanmean(average_precision(scores, val_split.labels)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default="params/demo.yaml")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--tag", default="", help="appended to the run names and the table's name")
    parser.add_argument("--train", type=int, default=1200, help="train_aug images per set")
    parser.add_argument("--val", type=int, default=300)
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()
    overrides = parse_overrides(args.overrides)
    rows = []
    for name in args.sets:
        voc = make_set(name, Path("results/robustness") / name, seed=7, train=args.train, val=args.val)
        cfg = load_config(args.params, {**overrides, "data.name": "voc", "data.root": str(voc),
                                        "run_name": f"robustness-{name}{args.tag}"})
        classes = len(class_names_for(cfg))
        val = build_dataset(cfg, cfg.data.val_split)
        device = pick_device(cfg.device)
        row = {"set": name, "label_frequency_map": label_frequency_map(val.labels)}
        for network in ("semantic_encoder", "cam"):
            started = time.time()
            trained = train_network(cfg, network, classes, progress=False)
            row[f"{network}_map"], _ = classification_map(trained.model, val, device, progress=False)
            row[f"{network}_min"] = (time.time() - started) / 60
        if not args.no_reference:
            started = time.time()
            row["reference_map"] = train_reference(build_dataset(cfg, cfg.data.train_split), val, cfg.seed)
            row["reference_min"] = (time.time() - started) / 60
        rows.append(row)
        print(pd.DataFrame(rows[-1:]).round(1).to_string(index=False), flush=True)
    table = pd.DataFrame(rows).set_index("set")
    print("\n" + table.round(1).to_string())
    with atomic_path(Path("results") / f"robustness{args.tag or '-baseline'}.csv") as tmp:
        table.to_csv(tmp, float_format="%.2f")


if __name__ == "__main__":
    main()
