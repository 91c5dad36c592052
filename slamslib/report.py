"""The final report of `slams reproduce`: each stage's status and wall time, and its headline numbers
read back from the summaries, printed and written to results/<run>/report.md. Also the per-seed runs
and table of the benchmark scripts (seeds_parser, seed_runs, over_seeds)."""
from __future__ import annotations

import argparse
import json

import pandas as pd

from .config import Config, load_config
from .paths import atomic_path


def _num(value, digits: int = 1) -> str:
    """A metric as text; n/a where a stage could not measure it (null or NaN in its summary)."""
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def _pair(values: dict, keys=("slams", "cam")) -> str:
    names = {"slams": "SLAMs", "cam": "CAM", "full_supervision": "full supervision"}
    return ", ".join(f"{names.get(k, k)} {_num(values[k])}" for k in keys if k in values)


def headline(stage: str, m: dict) -> str:
    """One line of what a stage measured (its summary's metrics)."""
    if stage == "benchmark":
        return ", ".join(f"{split} {n}" for split, n in m["images"].items()) + " images"
    if stage == "semantic_encoder":
        return f"presence mAP (val) {_num(m['presence_map'])}"
    if stage in ("activation_maps", "cam_visualization"):
        return "seed mIoU " + _pair(m["seed_miou"])
    if stage == "pseudo_labels":
        return "pseudo-label mIoU (rw + CRF) " + _pair({k: v["rw_crf"] for k, v in m["mask_miou"].items()})
    if stage == "segmentation":
        return ("val mIoU " + _pair(m["seg_miou"], ("slams", "cam", "full_supervision"))
                + "; / full supervision " + ", ".join(f"{k} {_num(v, 2)}"
                                                       for k, v in m["ratio_to_full_supervision"].items()))
    if stage == "ablation":
        rows = m["ablation"]
        full = next(iter(rows))
        measured = [r for r in rows if rows[r]["seed_miou_mean"] is not None]
        worst = min(measured, key=lambda r: rows[r]["seed_miou_mean"]) if measured else full
        std = rows[full]["seed_miou_std"]
        spread = f" ± {_num(std)}" if std is not None else ""
        return (f"{full}: seed mIoU {_num(rows[full]['seed_miou_mean'])}{spread} over {len(m['seeds'])} "
                f"seed(s); lowest row: {worst} {_num(rows[worst]['seed_miou_mean'])}")
    return ""


def build_report(cfg: Config, rows: list[dict]) -> pd.DataFrame:
    table = []
    for row in rows:
        summary = cfg.stage_dir(row["stage"]) / "summary.json"
        line = ""
        if summary.is_file() and not row["status"].startswith("skipped (--skip"):
            metrics = json.loads(summary.read_text())["metrics"]
            line = headline(row["stage"], metrics)
            warned = metrics.get("warnings", []) + metrics.get("pretraining", {}).get("warnings", [])
            line += "".join(f" WARNING: {w}" for w in warned)
        table.append({"stage": row["stage"], "status": row["status"],
                      "seconds": row.get("seconds", ""), "headline": line})
    return pd.DataFrame(table).set_index("stage")


def write_report(cfg: Config, table: pd.DataFrame, total_s: float) -> str:
    text = (f"# {cfg.run_name}: reproduce report\n\nStages run or skipped, wall time (s) and what each "
            f"measured; {total_s / 60:.1f} min in all.\n\n{table.to_markdown()}\n")
    with atomic_path(cfg.run_dir / "report.md") as tmp:
        tmp.write_text(text)
    return text


def seeds_parser() -> argparse.ArgumentParser:
    """The options every per-seed benchmark script takes: --params, --seeds, --set key=value."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default="params/demo.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    return parser


def seed_runs(params_file, overrides: dict, name: str, seeds):
    """(seed, config) for each training seed of a benchmark script: run `<name>-seed<N>`, the data of the
    base params kept (benchmark.seed is not touched)."""
    base = load_config(params_file, overrides)
    for seed in seeds:
        yield seed, load_config(params_file, {**overrides, "seed": seed, "run_name": f"{name}-seed{seed}",
                                              "data.root": str(base.data.root)})


def over_seeds(rows: list[dict], path, label: str) -> pd.DataFrame:
    """Benchmark scripts run once per training seed: one column per seed plus mean and std, printed;
    the table written (atomically) to `path`; the closing line says SLAMs and CAM as mean ± std."""
    table = pd.DataFrame(rows).set_index("seed")
    table = pd.concat([table, table.agg(["mean", "std"])])
    print("\n" + table.round(3).T.to_string())
    print(f"\n{label}: " + ", ".join(f"{name} {table.loc['mean', key]:.1f} ± {table.loc['std', key]:.1f}"
                                     for name, key in (("SLAMs", "slams"), ("CAM", "cam"))))
    with atomic_path(path) as tmp:
        table.to_csv(tmp, float_format="%.4f")
    return table
