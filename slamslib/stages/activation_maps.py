"""Stage 02: train the CAM baseline and the SLAMs activation network, infer multi-scale maps for the
training images, and score the seeds on the seed split (threshold sweep; map 0 for SLAMs)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import viz
from ..config import Config, stable_hash
from ..data import build_dataset, checked_split, class_names_for, prepare_data
from ..diagnostics import iou_by_group, judge_cuts, judge_objects, region_rates
from ..engine import pick_device
from ..evaluate import classification_map, learning_warning
from ..maps import evaluate_seeds, load_maps, seed_labels
from ..paths import write_csv
from ..summary import write_summary
from ..training import MAP_NETWORKS as METHODS
from ..training import maps_dir, require, store_maps, train_network, weights_hash

# Mean labelled categories and pixels per training image of the real datasets, to turn the measured
# bytes per map pixel into a footprint (VOC train_aug: 10,582 images; COCO train2014: 82,783).
FOOTPRINTS = {"voc": (10_582, 1.5, 500 * 375), "coco": (82_783, 2.9, 580 * 480)}


@dataclass
class ActivationMapsReport:
    seeds: dict                    # method -> evaluate_seeds result
    table: pd.DataFrame            # one row per method: seed mIoU, best t, mAP, throughput, ...
    per_class_iou: pd.DataFrame    # categories x methods, percent
    regions: pd.DataFrame | None   # synthetic only: cue/body recall, context/plain false positives
    judge: pd.DataFrame            # how the frozen SE scores hand-made cuts (diagnostics.judge_cuts)
    judge_objects: pd.DataFrame | None = None   # synthetic only: the SE on one object, by context
    iou_by_group: pd.DataFrame | None = None    # synthetic only: methods x (context, other) categories
    figures: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def _footprint(info: dict, with_background: bool) -> dict:
    """Measured bytes per stored map pixel, and what that implies for VOC and COCO."""
    per_pixel = info["bytes"] / max(info["map_pixels"], 1)
    implied = {name: per_pixel * images * (classes + with_background) * px / 1e9
               for name, (images, classes, px) in FOOTPRINTS.items()}
    return {"bytes_per_image": info["bytes_per_image"], "bytes_per_map_pixel": per_pixel,
            **{f"implied_{name}_gb": round(gb, 2) for name, gb in implied.items()}}


def maps_hash(cfg: Config) -> str:
    """What the stored maps (and this stage's summary) depend on: both networks and the map params."""
    return stable_hash([weights_hash(cfg, net) for net in METHODS.values()] + [cfg.hash("maps")])


def activation_maps(cfg: Config, force: bool = False, progress: bool = True) -> ActivationMapsReport:
    started = time.time()
    prepare_data(cfg)
    names = class_names_for(cfg)
    n = len(names)
    device = pick_device(cfg.device)
    se = require(cfg, "semantic_encoder", n)
    val = checked_split(cfg, cfg.data.val_split, scored=True)
    seed = checked_split(cfg, cfg.data.seed_split, scored=True)
    nets = {method: train_network(cfg, net, n, force=force, progress=progress)
            for method, net in (("cam", "cam"), ("slams", "activation_net"))}
    se_map, _ = classification_map(se.model, val, device, progress)
    cam_map, _ = classification_map(nets["cam"].model, val, device, progress)

    train = build_dataset(cfg, cfg.data.train_split)
    out = cfg.stage_dir("activation_maps")
    seeds, rows, per_class, regions = {}, {}, {}, {}
    for method, trained in nets.items():
        folder = maps_dir(cfg, method)
        info = store_maps(cfg, method, trained.model, train, progress, force)
        if not set(seed.names) <= set(train.names):
            store_maps(cfg, method, trained.model, seed, progress, force,
                       marker=f"done-{cfg.data.seed_split}.json")
        seeds[method] = evaluate_seeds(seed, folder, cfg.maps.thresholds, method == "slams")
        best = seeds[method]["threshold"]
        rows[method] = {"seed_miou": best["best"]["miou"], "best_threshold": best["best_threshold"],
                        "seed_miou_background_map": seeds[method].get("background_map", {}).get("miou"),
                        "fp": float(np.nanmean(best["best"]["fp"][1:])),
                        "fn": float(np.nanmean(best["best"]["fn"][1:])),
                        "train_images_per_s": trained.images_per_s, "train_s": trained.train_s,
                        "inference_s": info["seconds"],
                        **_footprint(info, method == "slams")}
        per_class[method] = 100 * np.asarray(best["best"]["iou"])
        if cfg.data.name == "synthetic":
            regions[method] = region_rates(seed, folder, best["best_threshold"])
            if method == "slams":
                regions["slams (map 0)"] = region_rates(seed, folder, None)
    rows["slams"]["classification_map"] = None
    rows["cam"]["classification_map"] = cam_map
    table = pd.DataFrame(rows).T
    per_class_iou = pd.DataFrame(per_class, index=list(names))
    region_table = pd.DataFrame(regions).T if regions else None
    judge = judge_cuts(se.model, seed, device, synthetic=cfg.data.name == "synthetic")
    write_csv(judge, out / "judge_cuts.csv")
    report = ActivationMapsReport(seeds, table, per_class_iou, region_table, judge)
    if cfg.data.name == "synthetic":
        report.judge_objects = judge_objects(se.model, seed, device)
        report.iou_by_group = iou_by_group(per_class_iou, cfg.data.root)
        write_csv(report.judge_objects, out / "judge_objects.csv")
    write_csv(table, out / "seed_table.csv")
    write_csv(per_class_iou, out / "seed_iou_per_class.csv")

    figures = out / "figures"
    report.figures["loss"] = viz.save(viz.loss_curves({"CAM": nets["cam"].log,
                                                       "SLAMs activation net": nets["slams"].log}),
                                      figures / "loss_curves.png")
    report.figures["thresholds"] = viz.save(
        viz.threshold_curves({m: s["threshold"] for m, s in seeds.items()}), figures / "seed_miou_vs_t.png")
    report.figures["per_class"] = viz.save(
        viz.bar_table(per_class_iou, list(per_class), f"seed IoU per category ({cfg.data.seed_split})",
                      "IoU (%)", (0, 100)), figures / "seed_iou_per_class.png")
    report.figures["examples"] = viz.save(example_grid(seed, out / "maps", seeds, names,
                                                       cfg.visualization.examples), figures / "example_maps.png")
    if region_table is not None:
        report.figures["regions"] = viz.save(
            viz.bar_table(region_table, list(region_table.columns), "where the seeds fall", "share",
                          (0, 1)), figures / "regions.png")

    ratio = rows["slams"]["train_images_per_s"] / max(rows["cam"]["train_images_per_s"], 1e-9)
    metrics = {
        "seed_miou": {m: rows[m]["seed_miou"] for m in METHODS},
        "seed_miou_background_map": {"slams": rows["slams"]["seed_miou_background_map"]},
        "best_threshold": {m: rows[m]["best_threshold"] for m in METHODS},
        "per_class_iou": {m: per_class_iou[m].round(2).to_dict() for m in METHODS},
        "fp": {m: rows[m]["fp"] for m in METHODS}, "fn": {m: rows[m]["fn"] for m in METHODS},
        "classification_map": {"semantic_encoder": se_map, "cam": cam_map},
        "train_images_per_s": {m: rows[m]["train_images_per_s"] for m in METHODS},
        "throughput_ratio_slams_to_cam": ratio,
        "train_s": {m: rows[m]["train_s"] for m in METHODS},
        "inference_s": {m: rows[m]["inference_s"] for m in METHODS},
        "storage": {m: {k: rows[m][k] for k in ("bytes_per_image", "bytes_per_map_pixel",
                                                 "implied_voc_gb", "implied_coco_gb")} for m in METHODS},
    }
    warnings = [learning_warning(network, value, val.labels, cfg.checks, val.split)
                for network, value in (("the semantic encoder", se_map), ("the CAM network", cam_map))]
    if any(warnings):
        metrics["warnings"] = [w for w in warnings if w]
    if region_table is not None:
        metrics["regions"] = region_table.round(4).to_dict(orient="index")
    metrics["judge"] = judge.round(4).to_dict(orient="index")
    if report.judge_objects is not None:
        metrics["judge_objects"] = {group: rows.droplevel(0).round(4).to_dict(orient="index")
                                    for group, rows in report.judge_objects.groupby(level=0, sort=False)}
        metrics["seed_iou_by_group"] = report.iou_by_group.round(2).to_dict(orient="index")
    report.summary = write_summary(cfg, "activation_maps", metrics, started, str(device),
                                   params_hash=maps_hash(cfg))
    return report


def example_grid(split, maps_root, seeds: dict, names, count: int):
    """Image, ground truth, each method's map and seed, for `count` images with a labelled category."""
    rows = []
    for i in viz.labelled_examples(split.labels, count):
        row = {"image": split.image(i), "mask": split.mask(i), "name": split.names[i]}
        for method, result in seeds.items():
            maps, classes = load_maps(maps_root / method / f"{split.names[i]}.npz")
            row[method] = (maps, classes, seed_labels(maps, classes,
                                                      result["threshold"]["best_threshold"]))
        rows.append(row)
    return viz.map_grid(rows, names, "activation maps and seeds")
