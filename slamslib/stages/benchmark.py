"""Stage 00: the dataset, described; on the embedded benchmark, its two phenomena measured."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import viz
from ..config import Config
from ..data import build_dataset, prepare_data
from ..data.phenomena import measure_phenomena
from ..data.synthetic import load_region
from ..paths import write_csv
from ..pretraining import describe_pretraining
from ..summary import write_summary


@dataclass
class BenchmarkReport:
    splits: dict                 # split name -> SegmentationFolder
    frequencies: pd.DataFrame    # images per category and split
    phenomena: pd.DataFrame | None  # synthetic only: cue / context measurements on the train split
    figures: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def benchmark(cfg: Config, samples: int = 6, force: bool = False) -> BenchmarkReport:
    """Stage 00: make sure the data is there (generate the embedded benchmark, pretrain the small
    backbone where params ask), describe it, and for the benchmark measure the two phenomena it is
    built to show. `force` generates the benchmark again even where a current one exists."""
    started = time.time()
    prepare_data(cfg, force=force)
    out = cfg.stage_dir("benchmark")
    names = dict.fromkeys([cfg.data.train_split, cfg.data.seed_split, cfg.data.val_split])
    splits = {name: build_dataset(cfg, name) for name in names}
    train = splits[cfg.data.train_split]
    frequencies = pd.DataFrame({name: split.labels.sum(0).astype(int) for name, split in splits.items()},
                               index=list(train.class_names[1:]))
    frequencies.index.name = "category"
    write_csv(frequencies, out / "class_frequencies.csv")

    report = BenchmarkReport(splits, frequencies, None)
    rows = []
    for i in np.linspace(0, len(train) - 1, samples).astype(int):
        row = {"image": train.image(i), "mask": train.mask(i), "labels": train.labels[i],
               "name": train.names[i]}
        if cfg.data.name == "synthetic":
            row["region"] = load_region(train.root, train.names[i])
        rows.append(row)
    figures = out / "figures"
    report.figures["samples"] = viz.save(viz.sample_grid(rows, train.class_names,
                                                         f"{cfg.data.name}: {cfg.data.train_split}"),
                                         figures / "samples.png")
    report.figures["frequencies"] = viz.save(
        viz.bar_table(frequencies, list(splits), "images per category", "images"),
        figures / "class_frequencies.png")

    metrics = {"images": {name: len(split) for name, split in splits.items()},
               "classes": len(train.class_names)}
    if cfg.data.name == "synthetic":
        report.phenomena = measure_phenomena(train)
        write_csv(report.phenomena, out / "phenomena.csv")
        context = report.phenomena["context_share"].dropna()
        context = context[report.phenomena.loc[context.index, "context_share"] > 0]
        metrics["phenomena"] = {
            "cue_share_mean": float(report.phenomena["cue_share"].mean()),
            "context_share_mean": float(context.mean()) if len(context) else 0.0,
            "distractor_share_mean": float(report.phenomena.loc[context.index,
                                                                "distractor_share"].mean())
            if len(context) else 0.0,
            "context_classes": list(context.index),
        }
        report.figures["phenomena"] = viz.save(
            viz.bar_table(report.phenomena, ["cue_share", "context_share", "distractor_share"],
                          "the two phenomena, measured on " + cfg.data.train_split, "share",
                          (0, 1)), figures / "phenomena.png")
    pretraining = describe_pretraining(cfg)
    if pretraining is not None:
        metrics["pretraining"] = pretraining
    report.summary = write_summary(cfg, "benchmark", metrics, started, params_hash=benchmark_hash(cfg))
    return report


def benchmark_hash(cfg: Config) -> str:
    return cfg.hash("data", "benchmark", "backbone")   # backbone: its pretraining is made here
