"""The pseudo-label refinement (random walk + dense CRF, per image) on 1 process against N processes:
wall time, speed-up, and whether the labels written are identical.

Needs stage 04's affinity network for the method (run `slams run pseudo_labels` first). Writes into
a scratch folder under results/<run>/pseudo_labels/speedup/ and removes it afterwards.

    python benchmarks/refine_speedup.py --params params/demo.yaml --method slams --workers 1 2
"""
from __future__ import annotations

import argparse
import json
import shutil
import time

import numpy as np
from PIL import Image

from slamslib.config import load_config, parse_overrides
from slamslib.data import build_dataset, class_names_for
from slamslib.pseudo_labels import Refiner, label_split
from slamslib.training import maps_dir, require


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default="params/demo.yaml")
    parser.add_argument("--method", default="slams", choices=["slams", "cam"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    cfg = load_config(args.params, parse_overrides(args.overrides))
    split = build_dataset(cfg, cfg.data.train_split)
    summary = json.loads((cfg.stage_dir("pseudo_labels") / "summary.json").read_text())
    t = summary["metrics"]["thresholds"][args.method]
    net = require(cfg, f"affinity_{args.method}", len(class_names_for(cfg))).model.cpu().eval()
    refiner = Refiner(cfg, split, maps_dir(cfg, args.method), t["seed"],
                      t["rw"], net)
    scratch = cfg.stage_dir("pseudo_labels") / "speedup"
    seconds, folders = {}, {}
    for workers in args.workers:
        folders[workers] = scratch / f"workers{workers}"
        started = time.time()
        label_split(refiner, "pseudo", folders[workers], [], workers, progress=False)
        seconds[workers] = time.time() - started
        print(f"{workers} process(es): {seconds[workers]:.1f} s for {len(split)} images "
              f"({len(split) / seconds[workers]:.1f} images/s)", flush=True)
    first = args.workers[0]
    same = all(np.array_equal(np.asarray(Image.open(folders[first] / f"{n}.png")),
                              np.asarray(Image.open(folders[w] / f"{n}.png")))
               for w in args.workers[1:] for n in split.names)
    for workers in args.workers[1:]:
        print(f"speed-up {workers} vs {first}: {seconds[first] / seconds[workers]:.2f}x")
    print("labels identical across process counts:", same)
    shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
