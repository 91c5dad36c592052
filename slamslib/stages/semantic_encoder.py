"""Stage 01: train the Semantic Encoder and measure it as a classifier (presence-score mAP on val)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from .. import viz
from ..config import Config
from ..data import checked_split, class_names_for, prepare_data
from ..engine import pick_device
from ..evaluate import classification_map, learning_warning
from ..summary import write_summary
from ..training import Trained, train_network, weights_hash


@dataclass
class SemanticEncoderReport:
    trained: Trained
    presence_map: float                 # percent, val split
    per_class_ap: pd.Series
    figures: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def semantic_encoder(cfg: Config, force: bool = False, progress: bool = True) -> SemanticEncoderReport:
    started = time.time()
    prepare_data(cfg)
    names = class_names_for(cfg)
    device = pick_device(cfg.device)
    val = checked_split(cfg, cfg.data.val_split, scored=True)
    trained = train_network(cfg, "semantic_encoder", len(names), force=force, progress=progress)
    presence_map, ap = classification_map(trained.model, val, device, progress)
    per_class = pd.Series(100 * ap, index=list(names[1:]), name="AP (%)")
    out = cfg.stage_dir("semantic_encoder") / "figures"
    report = SemanticEncoderReport(trained, presence_map, per_class)
    if len(trained.log):
        report.figures["loss"] = viz.save(viz.loss_curves({"semantic encoder": trained.log}),
                                          out / "loss_curve.png")
    report.figures["ap"] = viz.save(viz.bar_table(per_class.to_frame(), ["AP (%)"],
                                                  f"presence-score AP on {cfg.data.val_split}", "AP (%)",
                                                  (0, 100)), out / "presence_ap.png")
    metrics = {"presence_map": presence_map, "per_class_ap": per_class.round(2).to_dict(),
               "images_per_s": trained.images_per_s, "train_s": trained.train_s,
               "iterations": int(len(trained.log))}
    warning = learning_warning("the semantic encoder", presence_map, val.labels, cfg.checks, val.split)
    if warning:
        metrics["warnings"] = [warning]
    report.summary = write_summary(cfg, "semantic_encoder", metrics, started, str(device),
                                   params_hash=semantic_encoder_hash(cfg))
    return report


def semantic_encoder_hash(cfg: Config) -> str:
    return weights_hash(cfg, "semantic_encoder")
