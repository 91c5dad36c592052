"""Stage 04: pseudo labels for every training image, for SLAMs and for the CAM baseline.

For each method: confident seeds from its stored maps -> an affinity network trained on them (the one
engine) -> random walk of the maps over its affinities -> dense CRF -> palette PNGs (255 = unsure) under
results/<run>/pseudo_labels/<method>/labels/. Each step is scored on the seed split (mask mIoU)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from .. import viz
from ..config import Config, stable_hash, without_added_defaults
from ..data import build_dataset, class_names_for, prepare_data
from ..errors import SlamsError
from ..metrics import SegmentationScore, scores
from ..paths import write_csv, write_json
from ..pseudo_labels import STEPS, Refiner, label_split
from ..summary import read_summary, write_summary
from ..training import affinity_label_dir, maps_dir, pseudo_label_dir, train_network, weights_hash
from .activation_maps import METHODS, maps_hash


@dataclass
class PseudoLabelsReport:
    table: pd.DataFrame            # mask mIoU: methods x steps
    per_class_iou: pd.DataFrame    # categories x methods (final step)
    written: pd.DataFrame          # the PNGs as written: mIoU (unsure = miss), on sure pixels, unsure share
    affinity: pd.DataFrame         # the affinity nets' labels: coverage, mIoU on the labelled pixels
    notes: list[str]               # where a step did not help, in words
    figures: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def _cached_labels(refiner: Refiner, kind: str, out_dir, key: str, scored, workers: int,
                   progress: bool, force: bool) -> tuple[dict[str, SegmentationScore], float]:
    """label_split, skipped when out_dir/done.json holds `key`; returns the scores and the seconds the
    labelling took. The marker goes before any file is rewritten and comes back last, with the scores,
    so a folder half-written under other params is never trusted."""
    marker = out_dir / "done.json"
    if marker.is_file() and not force:
        done = json.loads(marker.read_text())
        if done.get("key") == key and done.get("images") == len(refiner.split):
            return {step: SegmentationScore.from_state(s) for step, s in done["scores"].items()}, done["seconds"]
    marker.unlink(missing_ok=True)
    started = time.time()
    result = label_split(refiner, kind, out_dir, scored, workers, progress)
    seconds = time.time() - started
    write_json(marker, {"key": key, "images": len(refiner.split), "seconds": seconds,
                        "workers": workers, "scores": {s: v.state() for s, v in result.items()}})
    return result, seconds


def scope_notes(cfg: Config, scored: int, seed_images: int) -> list[str]:
    """Labels are made for the training split only: a seed-split image outside it has none to score."""
    if scored == seed_images:
        return []
    return [f"scored on {scored} of the {seed_images} images of split '{cfg.data.seed_split}': the others "
            f"are not in split '{cfg.data.train_split}', which the pseudo labels are made for"]


def step_notes(table: pd.DataFrame) -> list[str]:
    """A sentence for every refinement step that did not raise mask mIoU over the step before."""
    notes = []
    for method, row in table.iterrows():
        for before, after in zip(STEPS, STEPS[1:]):
            if not row[after] > row[before]:
                notes.append(f"{method}: {after} did not raise mIoU over {before} "
                             f"({row[before]:.1f} -> {row[after]:.1f})")
    return notes


def pseudo_labels(cfg: Config, force: bool = False, progress: bool = True) -> PseudoLabelsReport:
    started = time.time()
    prepare_data(cfg)
    names = class_names_for(cfg)
    maps_summary = read_summary(cfg, "activation_maps", maps_hash(cfg))
    train = build_dataset(cfg, cfg.data.train_split)
    seed_names = build_dataset(cfg, cfg.data.seed_split).names
    scored = sorted(set(seed_names) & set(train.names))
    if not scored:
        raise SlamsError(f"no image of split '{cfg.data.seed_split}' is in split '{cfg.data.train_split}': "
                         "the pseudo labels cannot be scored")
    p = cfg.pseudo_labels
    out = cfg.stage_dir("pseudo_labels")
    steps, written, affinity, per_class, thresholds, seconds = {}, {}, {}, {}, {}, {}
    examples = {}
    for method in METHODS:
        t_seed = (maps_summary["metrics"]["best_threshold"][method] if p.affinity.threshold == "best"
                  else p.affinity.threshold)
        t_rw = t_seed if p.random_walk.threshold == "seed" else p.random_walk.threshold
        thresholds[method] = {"seed": t_seed, "rw": t_rw}
        refiner = Refiner(cfg, train, maps_dir(cfg, method), t_seed, t_rw)
        key = stable_hash([maps_hash(cfg), p.affinity.threshold, p.affinity.fg_margin, p.affinity.bg_margin,
                           t_seed])
        seeds = _cached_labels(refiner, "affinity", affinity_label_dir(cfg, method), key, scored,
                               p.workers, progress, force)[0]["written"]
        trained = train_network(cfg, f"affinity_{method}", len(names), force=force, progress=progress)
        refiner.affinity = trained.model.cpu().eval()
        key = stable_hash([weights_hash(cfg, f"affinity_{method}"), label_params(cfg), t_seed, t_rw])
        result, refine_s = _cached_labels(refiner, "pseudo", pseudo_label_dir(cfg, method), key, scored,
                                          p.workers, progress, force)
        seconds[method] = {"affinity_train_s": trained.train_s, "refine_s": refine_s}
        steps[method] = {step: result[step].result()["miou"] for step in STEPS}
        final = result["written"].result()
        written[method] = {"miou_as_written": final["miou"],
                           "miou_sure_pixels": scores(result["written"].conf)["miou"],
                           "unsure_share": final["unlabelled_share"]}
        affinity[method] = {"coverage": 1 - seeds.result()["unlabelled_share"],
                            "miou_labelled_pixels": scores(seeds.conf)["miou"]}
        per_class[method] = 100 * result["rw_crf"].result()["iou"]
        examples[method] = refiner

    table = pd.DataFrame(steps).T[list(STEPS)]
    report = PseudoLabelsReport(table, pd.DataFrame(per_class, index=list(names)),
                                pd.DataFrame(written).T, pd.DataFrame(affinity).T,
                                scope_notes(cfg, len(scored), len(seed_names)) + step_notes(table))
    write_csv(table, out / "mask_miou.csv")
    write_csv(report.per_class_iou, out / "mask_iou_per_class.csv")
    write_csv(report.written, out / "written_labels.csv")
    write_csv(report.affinity, out / "affinity_labels.csv")
    figures = out / "figures"
    report.figures["steps"] = viz.save(viz.bar_table(table, list(STEPS), "mask mIoU after each step "
                                                     f"({cfg.data.seed_split})", "mIoU (%)", (0, 100)),
                                       figures / "mask_miou_steps.png")
    report.figures["per_class"] = viz.save(
        viz.bar_table(report.per_class_iou, list(METHODS), "IoU per category after rw + crf", "IoU (%)",
                      (0, 100)), figures / "mask_iou_per_class.png")
    report.figures["examples"] = viz.save(example_steps(examples, train, scored, cfg.visualization.examples),
                                          figures / "example_steps.png")
    metrics = {
        "mask_miou": {m: steps[m] for m in METHODS},
        "written_labels": written, "affinity_labels": affinity, "thresholds": thresholds,
        "per_class_iou": {m: report.per_class_iou[m].round(2).to_dict() for m in METHODS},
        "seconds": seconds, "images": len(train), "scored_images": len(scored), "workers": p.workers,
        "notes": report.notes,
    }
    report.summary = write_summary(cfg, "pseudo_labels", metrics, started, "cpu",
                                   params_hash=pseudo_labels_hash(cfg))
    return report


def label_params(cfg: Config) -> dict:
    """The pseudo_labels params the labels depend on (not `workers`: any count writes the same labels)."""
    return without_added_defaults(cfg.pseudo_labels.model_dump(mode="json", exclude={"workers"}))


def pseudo_labels_hash(cfg: Config) -> str:
    """What this stage's outputs depend on: both affinity nets (and through them the maps), the label
    params, the figures' params."""
    return stable_hash([weights_hash(cfg, f"affinity_{m}") for m in METHODS]
                       + [label_params(cfg), cfg.hash("visualization")])


def example_steps(refiners: dict[str, Refiner], split, scored, count: int):
    """Image, ground truth, and each method's labels after every step, for a few scored images."""
    index = {name: i for i, name in enumerate(split.names)}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # as the workers refine: the "written" column is what is on disk
    rows = []
    for name in [scored[j] for j in np.linspace(0, len(scored) - 1, count).astype(int)]:
        i = index[name]
        row = {"image": split.image(i), "name": name, "ground truth": split.mask(i)}
        for method, refiner in refiners.items():
            labels = refiner.steps(i)
            row.update({f"{method} {step}": labels[step] for step in (*STEPS, "written")})
        rows.append(row)
    torch.set_num_threads(threads)
    return viz.label_grid(rows, "pseudo labels step by step (white: void / unsure)")
