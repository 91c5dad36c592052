"""Stage 03: look at the stored maps. Where does SLAMs cover the whole object and CAM only its
discriminative part, where does CAM leak onto the co-occurring context? Figures and numbers from the
maps stage 02 wrote; nothing is trained here."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import viz
from ..config import Config, stable_hash
from ..data import build_dataset, class_names_for, prepare_data
from ..diagnostics import failure_modes
from ..maps import evaluate_seeds, load_maps
from ..paths import write_csv
from ..summary import read_summary, write_summary
from .activation_maps import METHODS, maps_hash


@dataclass
class CamVisualizationReport:
    failure_modes: dict            # method -> table (categories + "all" x FAILURE_MODES)
    seeds: dict                    # method -> evaluate_seeds result (threshold sweep, map 0)
    per_class_iou: pd.DataFrame    # categories x methods, percent, at each method's best t
    errors: pd.DataFrame           # methods x (mIoU, FP, FN) at the best t
    thresholds: dict               # method -> best background threshold
    figures: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def cam_visualization(cfg: Config, force: bool = False, progress: bool = True) -> CamVisualizationReport:
    started = time.time()
    prepare_data(cfg)
    read_summary(cfg, "activation_maps", maps_hash(cfg))   # the maps exist and are current
    names = class_names_for(cfg)
    split = build_dataset(cfg, cfg.data.seed_split)
    maps_root = cfg.stage_dir("activation_maps") / "maps"
    synthetic = cfg.data.name == "synthetic"
    seeds = {m: evaluate_seeds(split, maps_root / m, cfg.maps.thresholds, m == "slams") for m in METHODS}
    best = {m: seeds[m]["threshold"]["best_threshold"] for m in METHODS}
    modes = {m: failure_modes(split, maps_root / m, best[m], synthetic) for m in METHODS}
    per_class = pd.DataFrame({m: 100 * np.asarray(seeds[m]["threshold"]["best"]["iou"]) for m in METHODS},
                             index=list(names))
    errors = pd.DataFrame({m: {"seed_miou": seeds[m]["threshold"]["best"]["miou"], "best_threshold": best[m],
                               "fp": seeds[m]["threshold"]["best"]["fp_fg"],
                               "fn": seeds[m]["threshold"]["best"]["fn_fg"]} for m in METHODS}).T
    report = CamVisualizationReport(modes, seeds, per_class, errors, best)

    out = cfg.stage_dir("cam_visualization")
    for m in METHODS:
        write_csv(modes[m], out / f"failure_modes_{m}.csv")
    write_csv(per_class, out / "seed_iou_per_class.csv")
    write_csv(errors, out / "seed_errors.csv")
    figures = out / "figures"
    side_by_side = pd.concat({m: modes[m] for m in METHODS}, axis=1)
    report.figures["coverage"] = viz.save(viz.bar_table(
        side_by_side.xs("coverage", axis=1, level=1), list(METHODS),
        "under-activation: share of the object the seed covers", "coverage", (0, 1)),
        figures / "coverage.png")
    # the context where the benchmark has one; the background on real data or a benchmark without context
    on_context = synthetic and side_by_side.xs("mass_on_context", axis=1, level=1).notna().any().any()
    false_mode = "mass_on_context" if on_context else "mass_on_background"
    report.figures["false_activation"] = viz.save(viz.bar_table(
        side_by_side.xs(false_mode, axis=1, level=1), list(METHODS),
        "false activation: share of the map's mass on " +
        ("the co-occurring context" if on_context else "background"), "share", (0, 1)),
        figures / "false_activation.png")
    report.figures["thresholds"] = viz.save(viz.threshold_curves({m: s["threshold"] for m, s in seeds.items()}),
                                            figures / "seed_miou_vs_t.png")
    report.figures["per_class"] = viz.save(viz.bar_table(per_class, list(METHODS), "seed IoU per category",
                                                         "IoU (%)", (0, 100)), figures / "seed_iou_per_class.png")
    # the largest figure of the kit (an image and two maps per labelled category): a lower dpi keeps
    # the executed notebook small enough to render on a repository page
    report.figures["maps"] = viz.save(class_maps(split, maps_root, cfg.visualization.examples, names),
                                      figures / "maps_per_class.png", dpi=70)
    metrics = {
        "failure_modes": {m: modes[m].round(4).replace({np.nan: None}).to_dict(orient="index") for m in METHODS},
        "seed_miou": {m: errors.loc[m, "seed_miou"] for m in METHODS},
        "best_threshold": best,
        "fp": {m: errors.loc[m, "fp"] for m in METHODS}, "fn": {m: errors.loc[m, "fn"] for m in METHODS},
    }
    report.summary = write_summary(cfg, "cam_visualization", metrics, started, "cpu",
                                   params_hash=cam_visualization_hash(cfg))
    return report


def cam_visualization_hash(cfg: Config) -> str:
    """The maps it reads and the figures' params."""
    return stable_hash([maps_hash(cfg), cfg.hash("visualization")])


def class_maps(split, maps_root, count: int, names):
    """For `count` images spread over the split, one row per labelled category: CAM and SLAMs maps."""
    rows = []
    for i in viz.labelled_examples(split.labels, count):
        image, mask, name = split.image(i), split.mask(i), split.names[i]
        loaded = {m: load_maps(maps_root / m / f"{name}.npz") for m in ("cam", "slams")}
        for c in np.flatnonzero(split.labels[i]) + 1:
            row = {"image": image, "mask": mask, "name": name, "category": int(c)}
            for m, (maps, classes) in loaded.items():
                row[m] = maps[list(classes).index(c)]
            rows.append(row)
    return viz.class_map_grid(rows, names, "each labelled category's map: CAM beside SLAMs")
