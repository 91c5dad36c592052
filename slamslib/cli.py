"""The `slams` command (also `python -m slamslib`)."""
from __future__ import annotations

import argparse
import json
import sys

from .errors import SlamsError


def _add_params(parser):
    parser.add_argument("--params", required=True, help="params YAML, e.g. params/demo.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a param, e.g. --set data.root=/data/VOC2012 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    from .pipeline import STAGE_NAMES
    parser = argparse.ArgumentParser(prog="slams", description="SLAMs reproducibility kit")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one stage (or all) from the console")
    run.add_argument("stage", choices=STAGE_NAMES + ["all"])
    _add_params(run)
    run.add_argument("--force", action="store_true", help="rerun even if outputs exist")

    rep = sub.add_parser("reproduce", help="execute the stage notebooks in order through papermill")
    _add_params(rep)
    rep.add_argument("--skip", action="append", default=[], choices=STAGE_NAMES)
    rep.add_argument("--force", action="store_true", help="rerun stages whose outputs are up to date")

    ev = sub.add_parser("evaluate", help="mIoU of a folder of label PNGs against ground truth")
    ev.add_argument("pred_dir")
    ev.add_argument("--gt", required=True, help="ground-truth PNG folder (255 = ignored)")
    ev.add_argument("--num-classes", type=int, default=21)
    ev.add_argument("--list", help="image list (one name a line): every listed image must be scored")

    coco = sub.add_parser("coco-masks", help="make COCO class-index PNGs from the instances JSON")
    coco.add_argument("--root", required=True, help="the COCO 2014 folder")
    coco.add_argument("--split", action="append", choices=["train", "val"])
    lab = sub.add_parser("lab", help="open JupyterLab on notebooks/ (what `make lab` runs)")
    lab.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed on to jupyter lab")
    return parser


def _print_scores(result: dict, class_names=None) -> None:
    print(f"mIoU {result['miou']:.2f} over {result['images']} images")
    for k, iou in enumerate(result["iou"]):
        name = class_names[k] if class_names else f"class {k}"
        print(f"  {name:>14s}  " + ("   n/a" if iou != iou else f"{100 * iou:6.2f}"))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "evaluate":
            from pathlib import Path
            from .data.voc import read_split_list
            from .evaluate import evaluate_folder
            if args.num_classes < 2:
                raise SlamsError(f"--num-classes {args.num_classes}: a segmentation has at least 2 "
                                 "classes (background and one category)")
            names = read_split_list(Path(args.list), "evaluate --list") if args.list else None
            _print_scores(evaluate_folder(args.pred_dir, args.gt, args.num_classes, names))
            return 0
        if args.command == "lab":
            from .lab import run_lab
            return run_lab(args.jupyter_args)
        if args.command == "coco-masks":
            from .data.coco import convert_instances
            for split in args.split or ["train", "val"]:
                print(f"{split}: {convert_instances(args.root, split)} images with masks")
            return 0
        from .config import load_config, parse_overrides
        cfg = load_config(args.params, args.overrides)
        overrides = parse_overrides(args.overrides)
        if args.command == "reproduce":
            from .pipeline import reproduce
            import time
            from .report import build_report, write_report
            started = time.time()
            rows = reproduce(cfg, args.params, overrides, skip=args.skip, force=args.force)
            table = build_report(cfg, rows)
            write_report(cfg, table, time.time() - started)
            print("\n" + table.to_string())
            print(f"\n{(time.time() - started) / 60:.1f} min; report: {cfg.run_dir / 'report.md'}")
            return 0
        from .paths import finite_or_none
        from .pipeline import STAGE_NAMES, stage_function
        stages = STAGE_NAMES if args.stage == "all" else [args.stage]
        for stage in stages:
            function = stage_function(stage)
            result = function(cfg, force=True) if args.force else function(cfg)
            print(f"[{stage}] done: {json.dumps(finite_or_none(result.summary.get('metrics', {})))}")
        return 0
    except SlamsError as exc:
        print(f"slams: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
