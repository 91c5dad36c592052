"""Stage 06: the paper's tables. The main comparison (CAM vs SLAMs at seed, pseudo-label and
segmentation level, beside full supervision) from the stages' summaries, and the loss ablation, each
row trained over `ablation.seeds` training seeds as sub-runs (slamslib.ablation), as mean ± std."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import viz
from ..ablation import evaluate_all, sub_runs, train_all
from ..config import Config, stable_hash
from ..data import class_names_for, prepare_data
from ..paths import atomic_path, write_csv
from ..summary import read_summary, write_summary
from .activation_maps import maps_hash
from .pseudo_labels import pseudo_labels_hash
from .segmentation import segmentation_hash

METHODS = {"cam": "CAM", "slams": "SLAMs"}


@dataclass
class AblationReport:
    main: pd.DataFrame          # CAM / SLAMs / full supervision x levels
    ablation: pd.DataFrame      # one row per ablation row: mean ± std over seeds, delta to the full model
    runs: pd.DataFrame          # one row per (row, seed)
    trained_now: dict           # network (or erasing_maps) -> how many made now (the rest reused)
    per_class: pd.DataFrame     # categories x (main results, ablation rows)
    figures: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    markdown: str = ""


def ablation_hash(cfg: Config) -> str:
    """The main table reads every stage up to segmentation (whose hash covers the params before it);
    the sub-runs read the ablation section on top, and the tables keep the rows' order (which the
    params hash, over sorted keys, does not see)."""
    return stable_hash([segmentation_hash(cfg), cfg.hash("ablation"), list(cfg.ablation.rows)])


def main_comparison(cfg: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, per-class IoU) of the main run from the summaries of stages 02, 04 and 05."""
    seeds = read_summary(cfg, "activation_maps", maps_hash(cfg))["metrics"]
    labels = read_summary(cfg, "pseudo_labels", pseudo_labels_hash(cfg))["metrics"]
    seg = read_summary(cfg, "segmentation", segmentation_hash(cfg))["metrics"]
    rows = {}
    for method, title in METHODS.items():
        rows[title] = {"seed mIoU (seed split)": seeds["seed_miou"][method],
                       "pseudo labels, rw + CRF": labels["mask_miou"][method]["rw_crf"],
                       "pseudo labels as written": labels["written_labels"][method]["miou_as_written"],
                       "segmentation mIoU (val)": seg["seg_miou"][method],
                       "/ full supervision": seg["ratio_to_full_supervision"][method]}
    rows["full supervision"] = {"segmentation mIoU (val)": seg["seg_miou"]["full_supervision"],
                                "/ full supervision": 1.0}
    per_class = {f"{METHODS[m]} seed": seeds["per_class_iou"][m] for m in METHODS}
    per_class.update({f"{METHODS[m]} segmentation": seg["per_class_iou"][m] for m in METHODS})
    per_class["full supervision segmentation"] = seg["per_class_iou"]["full_supervision"]
    return pd.DataFrame(rows).T, pd.DataFrame(per_class)


def _mean_std(values: pd.Series) -> str:
    if len(values) < 2:
        return f"{values.mean():.1f}"
    return f"{values.mean():.1f} ± {values.std():.1f}"


def ablation_table(runs: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Mean ± std over seeds per row, the change from the full model, and whether that change exceeds
    twice its standard error (sqrt(s1²/n1 + s2²/n2)): a reader's guide to what is beyond the noise."""
    full_name = next(iter(cfg.ablation.rows))
    full = runs[runs.row == full_name].seed_miou
    table = []
    for row, overrides in cfg.ablation.rows.items():
        r = runs[runs.row == row]
        delta = r.seed_miou.mean() - full.mean()
        se = np.sqrt(r.seed_miou.var() / len(r) + full.var() / len(full)) if len(r) > 1 else np.nan
        table.append({
            "row": row, "changes": ", ".join(f"{k}={v}" for k, v in overrides.items()) or "—",
            "seed mIoU": _mean_std(r.seed_miou), "Δ vs full": "" if row == full_name else f"{delta:+.1f}",
            "beyond 2 SE": "" if row == full_name or np.isnan(se) else ("yes" if abs(delta) > 2 * se else "no"),
            "per seed": " / ".join(f"{v:.1f}" for v in r.seed_miou),
            "map 0 as background": _mean_std(r.seed_miou_map0), "SE mAP (val)": _mean_std(r.se_map),
            "mean": r.seed_miou.mean(), "std": r.seed_miou.std() if len(r) > 1 else np.nan})
    return pd.DataFrame(table).set_index("row")


def markdown(main: pd.DataFrame, ablation: pd.DataFrame, main_per_class: pd.DataFrame,
             row_per_class: pd.DataFrame, cfg: Config) -> str:
    seeds = cfg.ablation.seeds
    shown = ablation.drop(columns=["mean", "std"])
    changes = ", ".join(f"{k}={v}" for k, v in cfg.ablation.schedule.items())
    schedule = f" with {changes}" if changes else ""
    return "\n\n".join([
        f"# {cfg.run_name}: the tables",
        "## Main comparison\nmIoU (%); seeds and pseudo labels on the seed split, segmentation on val.",
        _numbers(main, ".2f"),
        f"## Loss ablation\nSeed mIoU (%) on the seed split at the best background threshold, mean ± std "
        f"over {seeds} training seed(s) ({cfg.seed}…{cfg.seed + seeds - 1}); every row on the same "
        f"schedule: the main run's{schedule}. *beyond 2 SE*: the change from the full model exceeds "
        f"twice its standard error.",
        shown.to_markdown(disable_numparse=True),
        "## Per-class IoU (%), main run", _numbers(main_per_class, ".1f"),
        "## Per-class IoU (%), ablation rows (mean over seeds)", _numbers(row_per_class.T, ".1f"), ""])


def _numbers(table: pd.DataFrame, fmt: str) -> str:
    """A numeric table as Markdown, right-aligned, a dash where there is no value."""
    text = table.apply(lambda column: column.map(lambda v: "—" if pd.isna(v) else format(v, fmt)))
    return text.to_markdown(disable_numparse=True, colalign=("left",) + ("right",) * table.shape[1])


def ablation(cfg: Config, force: bool = False, progress: bool = True) -> AblationReport:
    started = time.time()
    prepare_data(cfg)
    names = class_names_for(cfg)
    main, main_per_class = main_comparison(cfg)
    runs = sub_runs(cfg)
    trained = train_all(cfg, runs, len(names), progress, force)
    runs_table = pd.DataFrame(evaluate_all(cfg, runs, len(names), progress, force))
    table = ablation_table(runs_table, cfg)
    by_row = dict(list(runs_table.groupby("row", sort=False)))
    row_per_class = pd.DataFrame({row: np.mean(list(group.per_class_iou), axis=0)
                                  for row, group in by_row.items()}, index=list(names))
    main_per_class = main_per_class.reindex(list(names))
    per_class = pd.concat([main_per_class, row_per_class], axis=1)

    out = cfg.stage_dir("ablation")
    write_csv(main, out / "main_comparison.csv")
    write_csv(table, out / "loss_ablation.csv")
    write_csv(runs_table.drop(columns=["per_class_iou", "key"]), out / "runs.csv", index=False)
    write_csv(per_class, out / "per_class_iou.csv")
    report = AblationReport(main, table, runs_table, trained, per_class)
    report.markdown = markdown(main, table, main_per_class, row_per_class, cfg)
    with atomic_path(out / "tables.md") as tmp:
        tmp.write_text(report.markdown)

    figures = out / "figures"
    report.figures["main"] = viz.save(viz.bar_table(
        main.drop(columns="/ full supervision"), [c for c in main.columns if c != "/ full supervision"],
        "main comparison", "mIoU (%)", (0, 100)), figures / "main_comparison.png")
    report.figures["ablation"] = viz.save(viz.ablation_bars(runs_table, list(cfg.ablation.rows),
                                                            "seed_miou", "seed mIoU (%)"),
                                          figures / "loss_ablation.png")
    report.figures["per_class"] = viz.save(viz.heatmap(per_class, "per-class IoU (%)"),
                                           figures / "per_class_iou.png")
    metrics = {
        "main": main.round(4).replace({np.nan: None}).to_dict(orient="index"),
        "ablation": {row: {"seed_miou_mean": float(r["mean"]),
                           "seed_miou_std": None if np.isnan(r["std"]) else float(r["std"]),
                           "per_seed": [float(v) for v in by_row[row].seed_miou],
                           "seed_miou_map0_mean": float(by_row[row].seed_miou_map0.mean()),
                           "se_map_mean": float(by_row[row].se_map.mean())}
                     for row, r in table.iterrows()},
        "seeds": [int(s) for s in sorted(runs_table.seed.unique())],
    }
    report.summary = write_summary(cfg, "ablation", metrics, started, params_hash=ablation_hash(cfg))
    return report
