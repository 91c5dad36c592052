"""The paper's central claim on the embedded benchmark: seed mIoU of SLAMs against the CAM baseline,
over several training seeds (mean ± std), with each run's wall time and the networks' quality.

Runs stages 01 and 02 once per training seed (the benchmark data stays the same: `benchmark.seed`
is not touched) into results/<run_name>-seed<N>/, reusing weights already trained under the same
params. Prints one row per seed and the mean ± std; writes them to results/<run_name>-seeds.csv.

    python benchmarks/seed_miou_over_seeds.py --params params/demo.yaml --seeds 0 1 2 [--set k=v ...]
"""
from __future__ import annotations

import time

import pandas as pd

from slamslib import stages
from slamslib.config import load_config, parse_overrides
from slamslib.report import over_seeds, seed_runs, seeds_parser


def main() -> None:
    parser = seeds_parser()
    parser.add_argument("--tag", default="", help="appended to the run names (e.g. an ablation)")
    args = parser.parse_args()
    overrides = parse_overrides(args.overrides)
    base = load_config(args.params, overrides)
    rows = []
    for seed, cfg in seed_runs(args.params, overrides, f"{base.run_name}{args.tag}", args.seeds):
        started = time.time()
        se = stages.semantic_encoder(cfg, progress=False)
        maps = stages.activation_maps(cfg, progress=False)
        m = maps.summary["metrics"]
        rows.append({"seed": seed, "slams": m["seed_miou"]["slams"], "cam": m["seed_miou"]["cam"],
                     "slams_map0": m["seed_miou_background_map"]["slams"],
                     "se_map": se.presence_map, "cam_map": m["classification_map"]["cam"],
                     "slams_img_s": m["train_images_per_s"]["slams"],
                     "cam_img_s": m["train_images_per_s"]["cam"],
                     **{f"{method}_{region}": value for method, regions in m.get("regions", {}).items()
                        for region, value in regions.items()},
                     **{f"{method} {group}": value for method, groups in m.get("seed_iou_by_group", {}).items()
                        for group, value in groups.items()},
                     "minutes": (time.time() - started) / 60})
        print(pd.DataFrame(rows[-1:]).round(3).to_string(index=False), flush=True)
    over_seeds(rows, base.run_dir.parent / f"{base.run_name}{args.tag}-seeds.csv", "seed mIoU")


if __name__ == "__main__":
    main()
