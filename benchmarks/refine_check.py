"""What limits the refinement? The kit's random walk and CRF on chosen seeds and affinity labels.

--maps: slams | cam (stage 02's stored maps) or cue (each labelled category's cue region only, blurred:
        pure under-activation, no false activation; embedded benchmark only).
--affinity: seeds (the affinity labels the stage makes from those maps) or truth (the ground-truth
        masks, void unsure: the affinities a perfect affinity label would teach).
The affinity network is trained by the one engine on the train split; the seed split is refined and
each step's mask mIoU printed. Scratch files go to results/<run>/refine_check/ and are removed.

    python benchmarks/refine_check.py --params params/demo.yaml --maps slams --affinity truth
"""
from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import torch
from torchvision.transforms.v2.functional import gaussian_blur

from slamslib.config import load_config, parse_overrides
from slamslib.data import build_dataset
from slamslib.data.synthetic import CUE, load_region, split_region_code
from slamslib.data.transforms import LabelledImages
from slamslib.engine import fit, pick_device
from slamslib.maps import save_maps
from slamslib.models.affinity import AffinityNet
from slamslib.models.backbones import build_backbone
from slamslib.pseudo_labels import STEPS, Refiner, label_split
from slamslib.tasks import AffinityTask
from slamslib.training import label_reader, maps_dir as stored_maps


def cue_maps(split, folder) -> None:
    for i, name in enumerate(split.names):
        kind, category = split_region_code(load_region(split.root, name))
        classes = np.flatnonzero(split.labels[i]) + 1
        maps = [gaussian_blur(torch.from_numpy(((kind == CUE) & (category == c)).astype(np.float32))[None],
                              [9, 9], [2.0, 2.0])[0].numpy() for c in classes]
        maps = np.stack([m / max(m.max(), 1e-6) for m in maps]) if maps else np.zeros((0, *kind.shape))
        save_maps(folder / f"{name}.npz", maps.astype(np.float16), classes.astype(np.int16))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default="params/demo.yaml")
    parser.add_argument("--maps", default="slams", choices=["slams", "cam", "cue"])
    parser.add_argument("--affinity", default="truth", choices=["seeds", "truth"])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    cfg = load_config(args.params, parse_overrides(args.overrides))
    train = build_dataset(cfg, cfg.data.train_split)
    seed = build_dataset(cfg, cfg.data.seed_split)
    scratch = cfg.run_dir / "refine_check"
    if args.maps == "cue":
        maps_dir, threshold = scratch / "maps", 0.3
        cue_maps(train, maps_dir)
    else:
        maps_dir = stored_maps(cfg, args.maps)
        summary = json.loads((cfg.stage_dir("activation_maps") / "summary.json").read_text())
        threshold = summary["metrics"]["best_threshold"][args.maps]
    if args.affinity == "truth":
        labels_dir = train.mask_dir
    else:
        labels_dir = scratch / "affinity_labels"
        label_split(Refiner(cfg, train, maps_dir, threshold, threshold), "affinity", labels_dir, [],
                    cfg.pseudo_labels.workers)
    net = AffinityNet(build_backbone(cfg.backbone), cfg.pseudo_labels.affinity.embed_dim)
    schedule = cfg.pseudo_labels.affinity.train
    data = LabelledImages(train, schedule, cfg.seed, label_reader(labels_dir, train, "affinity label"))
    result = fit(AffinityTask(net, cfg.pseudo_labels.affinity.radius), schedule, data, scratch, "affinity",
                 cfg.seed, f"check-{args.maps}-{args.affinity}", pick_device(cfg.device))
    refiner = Refiner(cfg, seed, maps_dir, threshold, threshold, result.model.cpu().eval())
    scores = label_split(refiner, "pseudo", scratch / "labels", seed.names, cfg.pseudo_labels.workers)
    print(f"maps {args.maps}, affinity labels {args.affinity}: mask mIoU",
          "  ".join(f"{step} {scores[step].result()['miou']:.1f}" for step in STEPS))
    shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
