"""Stage 05: the number the WSSS field compares. A DeepLab network trained on SLAMs' pseudo labels, on
the CAM's, and on the ground-truth masks of the same images (the fully supervised reference), each
scored on the val split from the prediction PNGs it writes (as `slams evaluate` scores them)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import viz
from ..config import Config, SegmentationEvalConfig, stable_hash
from ..data import build_dataset, class_names_for, prepare_data
from ..engine import pick_device
from ..evaluate import evaluate_folder
from ..maps import multiscale_maps, size_order
from ..pseudo_labels import write_label
from ..refine import dense_crf
from ..summary import read_summary, write_summary
from ..paths import write_csv
from ..training import train_network, weights_hash
from .pseudo_labels import pseudo_labels_hash

SOURCES = ("slams", "cam", "full_supervision")     # what each network learned from


@dataclass
class SegmentationReport:
    table: pd.DataFrame            # sources x (mIoU single-scale, multi-scale[, +CRF], FP, FN, ratio)
    per_class_iou: pd.DataFrame    # categories x sources (the headline mode)
    figures: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def predict_split(model, split, outputs: dict, eval_cfg, device, progress: bool = True) -> None:
    """A palette PNG per image of `split` into each folder of `outputs` (folder -> CrfConfig or None):
    argmax of the class probabilities summed over eval_cfg.scales (and mirrored when eval_cfg.flip),
    refined by a dense CRF where the folder's value is a CrfConfig. One inference serves every folder."""
    model = model.to(device).eval()
    batch = eval_cfg.batch_size
    folders = ", ".join(Path(folder).name for folder in outputs)
    order = size_order(split)
    for start in tqdm(range(0, len(split), batch), desc=f"predict {folders}", disable=not progress,
                      leave=False, dynamic_ncols=True):
        idx = order[start:start + batch]
        images = [split.image(i) for i in idx]
        for i, image, probs in zip(idx, images, multiscale_maps(model, images, eval_cfg, device)):
            label = probs.argmax(0).numpy()
            for folder, crf in outputs.items():
                refined = label if crf is None else dense_crf(
                    image, label, np.unique(np.concatenate([[0], label.ravel()])), crf)
                write_label(refined, Path(folder) / f"{split.names[i]}.png")


def segmentation(cfg: Config, force: bool = False, progress: bool = True) -> SegmentationReport:
    started = time.time()
    prepare_data(cfg)
    names = class_names_for(cfg)
    read_summary(cfg, "pseudo_labels", pseudo_labels_hash(cfg))   # the pseudo labels exist, current
    device = pick_device(cfg.device)
    val = build_dataset(cfg, cfg.data.val_split)
    out = cfg.stage_dir("segmentation")
    ev = cfg.segmentation.eval
    single = SegmentationEvalConfig(scales=[1.0], flip=False, batch_size=ev.batch_size)
    multi = {"multi_scale": None, **({"multi_scale_crf": cfg.segmentation.crf} if ev.crf else {})}
    passes = [(single, {"single_scale": None}), (ev, multi)]   # the CRF refines multi-scale's labels
    modes = [mode for _, outputs in passes for mode in outputs]
    headline = modes[-1]
    rows, per_class, logs = {}, {}, {}
    for source in SOURCES:
        trained = train_network(cfg, f"segmentation_{source}", len(names), force=force, progress=progress)
        logs[source] = trained.log
        rows[source] = {"train_s": trained.train_s, "train_images_per_s": trained.images_per_s}
        for mode_cfg, outputs in passes:
            predict_split(trained.model, val, {out / source / f"predictions_{mode}": crf
                                               for mode, crf in outputs.items()}, mode_cfg, device, progress)
        for mode in modes:
            result = evaluate_folder(out / source / f"predictions_{mode}", val.mask_dir, len(names),
                                     names=val.names)
            rows[source][f"miou_{mode}"] = result["miou"]
            if mode == headline:
                rows[source].update(fp=result["fp_fg"], fn=result["fn_fg"])
                per_class[source] = 100 * np.asarray(result["iou"])
    table = pd.DataFrame(rows).T
    full = table.loc["full_supervision", f"miou_{headline}"]
    # no ratio (NaN, null in the summary) when the reference itself scored nothing
    table["ratio_to_full_supervision"] = table[f"miou_{headline}"] / full if full > 0 else float("nan")
    report = SegmentationReport(table, pd.DataFrame(per_class, index=list(names)))
    write_csv(table, out / "seg_table.csv")
    write_csv(report.per_class_iou, out / "seg_iou_per_class.csv")
    figures = out / "figures"
    report.figures["loss"] = viz.save(viz.loss_curves(logs), figures / "loss_curves.png")
    report.figures["per_class"] = viz.save(
        viz.bar_table(report.per_class_iou, list(SOURCES), f"val IoU per category ({headline})",
                      "IoU (%)", (0, 100)), figures / "seg_iou_per_class.png")
    report.figures["examples"] = viz.save(example_predictions(val, out, headline, cfg.visualization.examples),
                                          figures / "example_predictions.png")
    metrics = {
        "seg_miou": {s: float(table.loc[s, f"miou_{headline}"]) for s in SOURCES},
        "seg_miou_by_mode": {mode: {s: float(table.loc[s, f"miou_{mode}"]) for s in SOURCES} for mode in modes},
        "headline_mode": headline,
        "ratio_to_full_supervision": {s: float(table.loc[s, "ratio_to_full_supervision"]) for s in SOURCES[:2]},
        "per_class_iou": {s: report.per_class_iou[s].round(2).to_dict() for s in SOURCES},
        "fp": {s: float(table.loc[s, "fp"]) for s in SOURCES}, "fn": {s: float(table.loc[s, "fn"]) for s in SOURCES},
        "train_s": {s: float(table.loc[s, "train_s"]) for s in SOURCES},
        "val_images": len(val),
    }
    report.summary = write_summary(cfg, "segmentation", metrics, started, str(device),
                                   params_hash=segmentation_hash(cfg))
    return report


def segmentation_hash(cfg: Config) -> str:
    """The three networks (their weights' hashes cover the pseudo labels' params) and the evaluation."""
    return stable_hash([weights_hash(cfg, f"segmentation_{s}") for s in SOURCES]
                       + [cfg.hash("segmentation.eval", "segmentation.crf", "visualization")])


def example_predictions(split, out: Path, mode: str, count: int):
    from ..data.voc import read_label_png
    rows = []
    for i in np.linspace(0, len(split) - 1, count).astype(int):
        name = split.names[i]
        row = {"image": split.image(i), "name": name, "ground truth": split.mask(i)}
        for source in SOURCES:
            row[source] = read_label_png(out / source / f"predictions_{mode}" / f"{name}.png", "prediction",
                                         split.num_classes)
        rows.append(row)
    return viz.label_grid(rows, f"val predictions ({mode})")
