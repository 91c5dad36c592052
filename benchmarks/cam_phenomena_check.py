"""Does the benchmark do what it is for? Train a plain classification CAM (a small conv net from
scratch, GAP + 1x1 classifier without bias, multilabel soft-margin loss) and measure, with the region
maps, the two failure modes the benchmark is built to provoke:

  - under-activation: the CAM's recall on cue pixels should clearly exceed its recall on body pixels;
  - co-occurrence: its false-positive rate on context pixels should clearly exceed that on plain
    background.

A stand-in until the kit's own CAM baseline (the training issue) exists; it judges the generator's
knobs by the CAM's failure modes only, never by any other method's score.

    python benchmarks/cam_phenomena_check.py --params params/demo.yaml [--epochs 12]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from slamslib.config import load_config
from slamslib.data import build_dataset
from slamslib.data.synthetic import BODY, CONTEXT, CUE, PLAIN, load_region, split_region_code
from slamslib.metrics import ThresholdSweep

SIZE = 96


def to_tensor(image: np.ndarray) -> tuple[torch.Tensor, tuple]:
    """Pad to SIZE x SIZE at the top-left (the valid part is kept to crop the maps back)."""
    h, w = image.shape[:2]
    canvas = np.zeros((SIZE, SIZE, 3), np.float32)
    canvas[:h, :w] = image / 255.0
    return torch.from_numpy(canvas).permute(2, 0, 1), (h, w)


class SmallCAM(nn.Module):
    def __init__(self, classes: int, width: int = 64):
        super().__init__()
        def block(cin, cout, stride):
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        self.features = nn.Sequential(*block(3, width // 2, 1), *block(width // 2, width, 2),
                                      *block(width, width, 1), *block(width, 2 * width, 2),
                                      *block(2 * width, 2 * width, 1), *block(2 * width, 2 * width, 1))
        self.classifier = nn.Conv2d(2 * width, classes, 1, bias=False)

    def forward(self, x):
        f = self.features(x)
        return self.classifier(F.adaptive_avg_pool2d(f, 1)).flatten(1), f

    def cam(self, x):
        return F.relu(self.classifier(self.features(x)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default="params/demo.yaml")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    cfg = load_config(args.params)
    train = build_dataset(cfg, cfg.data.train_split)
    seeds = build_dataset(cfg, cfg.data.seed_split)
    k = train.num_classes - 1
    images = torch.stack([to_tensor(train.image(i))[0] for i in range(len(train))])
    labels = torch.from_numpy(train.labels)
    model = SmallCAM(k)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    started = time.time()
    for epoch in range(args.epochs):
        order = torch.randperm(len(images))
        total = 0.0
        for b in range(0, len(order), 32):
            idx = order[b:b + 32]
            x = images[idx]
            if torch.rand(1) < 0.5:
                x = x.flip(3)
            logits, _ = model(x)
            loss = F.multilabel_soft_margin_loss(logits, labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}: loss {total / len(images):.4f}  ({time.time() - started:.0f} s)")

    model.eval()
    sweep = ThresholdSweep(train.num_classes, np.arange(0.05, 0.96, 0.05))
    stats = {}
    rows = []
    with torch.no_grad():
        for i in range(len(seeds)):
            x, (h, w) = to_tensor(seeds.image(i))
            cam = model.cam(x[None])
            cam = F.interpolate(cam, (SIZE, SIZE), mode="bilinear", align_corners=False)[0, :, :h, :w]
            present = np.flatnonzero(seeds.labels[i])
            maps = cam[present].numpy()
            maps = maps / np.maximum(maps.reshape(len(present), -1).max(1), 1e-5)[:, None, None]
            sweep.update(maps, present + 1, seeds.mask(i))
            kind, category = split_region_code(load_region(seeds.root, seeds.names[i]))
            rows.append((maps, present + 1, kind, category))
    result = sweep.result()
    t = result["best_threshold"]
    for maps, classes, kind, category in rows:
        for m, c in zip(maps, classes):
            on = m > t
            for name, where in (("cue", (kind == CUE) & (category == c)),
                                ("body", (kind == BODY) & (category == c)),
                                ("own context", (kind == CONTEXT) & (category == c)),
                                ("plain background", kind == PLAIN)):
                hit, count = stats.get(name, (0, 0))
                stats[name] = (hit + int(on[where].sum()), count + int(where.sum()))
    print(f"CAM seed mIoU {result['best']['miou']:.2f} at t={t:.2f} over {result['images']} images")
    for name, (hit, count) in stats.items():
        print(f"  activated share of {name:>16s} pixels: {hit / max(count, 1):.3f}  ({count} px)")


if __name__ == "__main__":
    main()
