"""An oracle study: how far does SLAMs get with a judge that does not take the context for its category?

The semantic encoder learns from image labels that a category's co-occurring context is evidence of it
(80 % co-occurrence on the demo set), and L_fg and L_bg then ask the maps to take the context in. Here
the SE is trained with ground-truth help that no WSSS method has: in a share (`--rate`) of its training
images, one labelled object is erased (set to the fill, and with it the 1-pixel void outlines, which
the ground truth does not assign to an object) and its label removed, so
the SE sees the context without its object labelled "not k". Stage 02 then trains the activation
network and the CAM as usual (the CAM is the same as without the oracle) and scores the seeds.

This is an upper bound for any judge-debiasing trick (copy-paste, erasing by first-round maps), not a
method: the weights land in results/<run_name>-oracle-erase<rate>-seed<N>/ and nowhere else.

    python benchmarks/oracle_judge_check.py --params params/demo.yaml --seeds 0 1 2 [--rate 0.5]
"""
from __future__ import annotations

import time

import pandas as pd
import torch

from slamslib import stages
from slamslib.config import load_config, parse_overrides
from slamslib.data import build_dataset, class_names_for, prepare_data
from slamslib.data.transforms import TrainImages, sample_generator
from slamslib.data.voc import IGNORE
from slamslib.diagnostics import WITH_CONTEXT
from slamslib.report import over_seeds, seed_runs, seeds_parser
from slamslib.training import train_config, train_network


class ObjectErased(TrainImages):
    """The SE's training images; in a share `rate` of them one labelled object is erased with its
    label (ground-truth masks: an oracle). The void outlines (255) go with it, all of them: the ground
    truth does not say which object an outline belongs to."""

    def __init__(self, split, train, seed, masked_input, rate: float):
        super().__init__(split, train, seed, masked_input)
        self.rate = rate

    def __getitem__(self, index: int):
        image, valid, labels, index = super().__getitem__(index)
        draw = sample_generator(self.seed + 104729, self.epoch, index)    # its own stream
        if labels.sum() == 0 or torch.rand(1, generator=draw).item() >= self.rate:
            return image, valid, labels, index
        mask = self.moved(index, self.split.mask(index))
        present = [int(c) for c in mask.unique() if 0 < c < IGNORE]
        if not present:
            return image, valid, labels, index
        k = present[int(torch.randint(len(present), (1,), generator=draw))]
        image = image.masked_fill((mask == k) | (mask == IGNORE), 0.0)
        labels = labels.clone()
        labels[k - 1] = 0
        return image, valid, labels, index


def main() -> None:
    parser = seeds_parser()
    parser.add_argument("--rate", type=float, default=0.5, help="share of SE images with an object erased")
    args = parser.parse_args()
    overrides = parse_overrides(args.overrides)
    base = load_config(args.params, overrides)
    if base.data.name != "synthetic":
        raise SystemExit("the oracle study needs the embedded benchmark (data.name: synthetic)")
    rows = []
    name = f"{base.run_name}-oracle-erase{args.rate:g}"
    for seed, cfg in seed_runs(args.params, overrides, name, args.seeds):
        started = time.time()
        prepare_data(cfg)
        names = class_names_for(cfg)
        split = build_dataset(cfg, cfg.data.train_split)
        erased = ObjectErased(split, train_config(cfg, "semantic_encoder"), cfg.seed,
                              cfg.semantic_encoder.masked_input, args.rate)
        train_network(cfg, "semantic_encoder", len(names), progress=False, dataset=erased)
        se = stages.semantic_encoder(cfg, progress=False)          # the weights above, measured
        maps = stages.activation_maps(cfg, progress=False)
        m = maps.summary["metrics"]
        judge, groups = maps.judge_objects, maps.iou_by_group     # stage 02 measured both
        rows.append({"seed": seed, "slams": m["seed_miou"]["slams"], "cam": m["seed_miou"]["cam"],
                     "se_map": se.presence_map,
                     **{f"{method} {group}": groups.loc[method, group]
                        for method in groups.index for group in groups.columns},
                     "slams_context_fp": m["regions"]["slams"]["context_fp"],
                     "slams_body_recall": m["regions"]["slams"]["body_recall"],
                     **{f"{col}, {cut}, {'with' if group == WITH_CONTEXT else 'without'} context":
                        judge.loc[(group, cut), col] for group, cut in judge.index
                        for col in ("S_k(inside)", "S_k(rest)")},
                     "minutes": (time.time() - started) / 60})
        print(pd.DataFrame(rows[-1:]).round(3).T.to_string(header=False), flush=True)
    over_seeds(rows, base.run_dir.parent / f"{name}.csv", "seed mIoU with the oracle judge")


if __name__ == "__main__":
    main()
