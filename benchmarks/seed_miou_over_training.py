"""Seed mIoU along training: SLAMs' activation net and the CAM network scored after every epoch
(and, with --judge, the semantic encoder's judgement of hand-made cuts after every epoch of its own).

Two questions the end-of-training numbers cannot answer. Does either method's seed quality peak
before its schedule ends (and would a longer or shorter schedule change the comparison)? And what
would the peers' protocol report: SemFormer's public training script keeps the checkpoint with the
best seed mIoU on the *train* split, measured against its ground-truth masks, where this kit keeps
the last one. The best epoch below is that selection; it uses ground truth that no weakly supervised
method has, so it is reported beside the last epoch, never instead of it.

Per training seed, run `<run_name>-curve-seed<N>`: the SE is trained (or its weights reused from any
run under results/ trained under the same params), then each network trains one epoch at a time,
resuming from its checkpoint (the engine resumes exactly), and after every epoch its single-scale maps
of the train split are scored (best background threshold; region rates on the benchmark). Writes
results/<run_name>-curve.csv (one row per seed, network and epoch) and a figure beside it.

With --judge the semantic encoder is followed instead, epoch by epoch: its presence mAP on val and
how it scores one object of k cut out of a seed image (diagnostics.judge_objects): the rest after the
object where k's context is in the image (the context bias), and the cue, the body and the whole
object alone where it is not (the cue saturation). Written to results/<run_name>-judge-curve.csv.

    python benchmarks/seed_miou_over_training.py --params params/demo.yaml --seeds 0 1 2 [--set k=v ...]
    python benchmarks/seed_miou_over_training.py --params params/demo.yaml --seeds 0 --judge
"""
from __future__ import annotations

import shutil
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import torch

from slamslib.config import load_config, parse_overrides
from slamslib.data import build_dataset
from slamslib.diagnostics import WITH_CONTEXT, WITHOUT_CONTEXT, judge_objects, region_rates
from slamslib.engine import pick_device
from slamslib.evaluate import classification_map
from slamslib.maps import evaluate_seeds, infer_split
from slamslib.paths import atomic_path, link_file
from slamslib.report import seed_runs, seeds_parser
from slamslib.training import MAP_NETWORKS, train_config, train_network, weights_hash, weights_path

SINGLE_SCALE = {"maps.scales": [1.0], "maps.flip": False}


def reuse_encoder(cfg) -> None:
    """Hard-link a semantic encoder trained under the same params elsewhere under results/, if any."""
    target, wanted = weights_path(cfg, "semantic_encoder"), weights_hash(cfg, "semantic_encoder")
    if target.is_file():
        return
    for candidate in sorted(cfg.run_dir.parent.glob("*/semantic_encoder/semantic_encoder.pt")):
        if torch.load(candidate, map_location="cpu", weights_only=False).get("params_hash") == wanted:
            link_file(candidate, target)
            print(f"semantic encoder reused from {candidate}", flush=True)
            return


def epochs(cfg, name: str, num_classes: int):
    """(epoch, Trained) after each epoch of `name`'s schedule: trained an epoch at a time, with a
    checkpoint at every epoch's end where the next call resumes; the checkpoint is removed at the end."""
    if cfg.distributed.nproc_per_node > 1:
        raise SystemExit("the curve stops training at every epoch's end, which torchrun workers do not: "
                         "set distributed.nproc_per_node: 1")
    per_epoch = len(build_dataset(cfg, cfg.data.train_split)) // train_config(cfg, name).batch_size
    cfg = cfg.with_overrides({f"{name}.train.checkpoint_every": per_epoch}, "the curve's checkpoints")
    checkpoint = weights_path(cfg, name).parent / f"{name}.checkpoint.pt"
    checkpoint.unlink(missing_ok=True)   # one left by a killed curve would start it past epoch 1
    for epoch in range(1, train_config(cfg, name).epochs + 1):
        yield epoch, train_network(cfg, name, num_classes, stop_after=epoch * per_epoch, progress=False)
    checkpoint.unlink(missing_ok=True)


def show(rows: list[dict]) -> None:
    print(pd.DataFrame(rows[-1:]).round(3).to_string(index=False, header=len(rows) == 1), flush=True)


def curve(cfg, method: str, split) -> list[dict]:
    """Seed mIoU (single scale, best threshold) of `method`'s maps of `split` after every epoch."""
    rows, started = [], time.time()
    for epoch, trained in epochs(cfg, MAP_NETWORKS[method], split.num_classes):
        out = cfg.run_dir / "curve" / method
        infer_split(trained.model, method, split, cfg.maps, out, pick_device(cfg.device), key=f"epoch{epoch}",
                    normalize=cfg.maps.normalize or method == "cam", progress=False, force=True)
        swept = evaluate_seeds(split, out, cfg.maps.thresholds, with_background_map=False)["threshold"]
        threshold = swept["best_threshold"]
        rates = region_rates(split, out, threshold) if cfg.data.name == "synthetic" else {}
        rows.append({"method": method, "epoch": epoch, "seed_miou": swept["best"]["miou"],
                     "threshold": threshold, **rates, "seconds": time.time() - started})
        show(rows)
        started = time.time()
    shutil.rmtree(cfg.run_dir / "curve")   # the per-epoch maps are scratch
    return rows


JUDGE_CELLS = {"context: rest after object": (WITH_CONTEXT, "object", "S_k(rest)"),
               "context: object alone": (WITH_CONTEXT, "object", "S_k(inside)"),
               "no context: object alone": (WITHOUT_CONTEXT, "object", "S_k(inside)"),
               "no context: cue alone": (WITHOUT_CONTEXT, "cue", "S_k(inside)"),
               "no context: body alone": (WITHOUT_CONTEXT, "body", "S_k(inside)"),
               "no context: rest after cue": (WITHOUT_CONTEXT, "cue", "S_k(rest)")}


def judge_curve(cfg, split) -> list[dict]:
    """The semantic encoder after every epoch: presence mAP on val and its one-object judgement."""
    val, device = build_dataset(cfg, cfg.data.val_split), pick_device(cfg.device)
    rows = []
    for epoch, trained in epochs(cfg, "semantic_encoder", split.num_classes):
        se = trained.model.eval()
        table = judge_objects(se, split, device)
        rows.append({"method": "semantic_encoder", "epoch": epoch,
                     "presence_map": classification_map(se, val, device, progress=False)[0],
                     **{cell: table.loc[(group, cut), column]
                        for cell, (group, cut, column) in JUDGE_CELLS.items()}})
        show(rows)
    return rows


PANELS = {"seed_miou": "seed mIoU (train, single scale)", "body_recall": "body recall",
          "context_fp": "context false-positive rate"}


def figure(table: pd.DataFrame, path) -> None:
    """One panel per measure (the region rates where the benchmark has them), a line per seed."""
    panels = [column for column in PANELS if column in table and table[column].notna().any()]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.3), squeeze=False)
    for ax, column in zip(axes[0], panels):
        for (method, seed), rows in table.groupby(["method", "seed"]):
            ax.plot(rows["epoch"], rows[column], marker="o", color="C0" if method == "slams" else "C1",
                    label=method if seed == table["seed"].min() else None)
        ax.set(xlabel="epoch", title=PANELS[column])
    axes[0][0].legend()
    fig.suptitle(f"Along training, a line per training seed ({table['seed'].nunique()})")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = seeds_parser()
    parser.add_argument("--judge", action="store_true", help="follow the semantic encoder instead")
    args = parser.parse_args()
    overrides = {**parse_overrides(args.overrides), **SINGLE_SCALE}
    base = load_config(args.params, overrides)
    if args.judge and base.data.name != "synthetic":
        parser.error(f"--judge reads the embedded benchmark's region maps; {args.params} has data.name "
                     f"{base.data.name}")
    rows = []
    name = f"{base.run_name}-{'judge-' if args.judge else ''}curve"
    for seed, cfg in seed_runs(args.params, overrides, name, args.seeds):
        split = build_dataset(cfg, cfg.data.seed_split)
        if args.judge:
            rows += [{"seed": seed, **row} for row in judge_curve(cfg, split)]
            continue
        reuse_encoder(cfg)
        train_network(cfg, "semantic_encoder", split.num_classes, progress=False)
        for method in ("slams", "cam"):
            rows += [{"seed": seed, **row} for row in curve(cfg, method, split)]
    table = pd.DataFrame(rows)
    out = base.run_dir.parent / f"{name}.csv"
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    if args.judge:
        return
    figure(table, out.with_suffix(".png"))
    last = table.loc[table.groupby(["seed", "method"])["epoch"].idxmax()]
    best = table.loc[table.groupby(["seed", "method"])["seed_miou"].idxmax()]
    for label, picked in (("last epoch", last), ("best epoch (train ground truth)", best)):
        means = picked.groupby("method")["seed_miou"].agg(["mean", "std"])
        print(f"{label}: " + ", ".join(f"{m} {means.loc[m, 'mean']:.1f} ± {means.loc[m, 'std']:.1f}"
                                       for m in means.index))


if __name__ == "__main__":
    main()
