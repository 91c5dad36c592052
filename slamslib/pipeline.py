"""The stages in order, and running their notebooks headlessly through papermill."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .config import Config
from .errors import SlamsError
from .paths import atomic_path, project_root, resolve
from .pretraining import pretrained_weights_path, uses_synthetic_pretraining

# (stage, notebook), in the order they run
STAGES = [
    ("benchmark", "00_benchmark.ipynb"),
    ("semantic_encoder", "01_semantic_encoder.ipynb"),
    ("activation_maps", "02_activation_maps.ipynb"),
    ("cam_visualization", "03_cam_visualization.ipynb"),
    ("pseudo_labels", "04_pseudo_labels.ipynb"),
    ("segmentation", "05_segmentation.ipynb"),
    ("ablation", "06_ablation_tables.ipynb"),
]
STAGE_NAMES = [name for name, _ in STAGES]
NOTEBOOKS = dict(STAGES)


def stage_hash(cfg: Config, stage: str) -> str:
    """What a stage's outputs depend on (the params it reads and, through them, the stages before it):
    the `params_hash` its summary.json is written with."""
    from .stages.ablation import ablation_hash
    from .stages.activation_maps import maps_hash
    from .stages.benchmark import benchmark_hash
    from .stages.cam_visualization import cam_visualization_hash
    from .stages.pseudo_labels import pseudo_labels_hash
    from .stages.segmentation import segmentation_hash
    from .stages.semantic_encoder import semantic_encoder_hash
    return {
        "benchmark": benchmark_hash, "semantic_encoder": semantic_encoder_hash,
        "activation_maps": maps_hash, "cam_visualization": cam_visualization_hash,
        "pseudo_labels": pseudo_labels_hash, "segmentation": segmentation_hash,
        "ablation": ablation_hash,
    }[stage](cfg)


# What a stage leaves besides its summary that later stages or reruns need (weights, maps, labels; all
# git-ignored): a fresh clone has the committed summaries but none of these, so it must rerun.
ARTIFACTS = {
    "benchmark": [],
    "semantic_encoder": ["semantic_encoder.pt"],
    "activation_maps": ["cam.pt", "activation_net.pt", "maps/slams/done.json", "maps/cam/done.json"],
    "cam_visualization": [],
    "pseudo_labels": ["affinity_slams.pt", "affinity_cam.pt", "slams/labels/done.json",
                      "cam/labels/done.json"],
    "segmentation": ["segmentation_slams.pt", "segmentation_cam.pt", "segmentation_full_supervision.pt"],
    "ablation": [],   # its sub-runs' weights are reused by hash when it reruns
}


def is_current(cfg: Config, stage: str) -> bool:
    """True when the stage's summary was written under today's hash, its executed notebook exists (a
    notebook that failed after its summary was written is renamed *.failed.ipynb: not current) and is
    newer than the summaries of this stage and the earlier ones (a stage rerun from the console or an
    interactive notebook leaves the executed copy behind), and the weights, maps or labels it leaves
    exist (and, for the embedded benchmark, the data)."""
    summary = cfg.stage_dir(stage) / "summary.json"
    notebook = cfg.run_dir / "notebooks" / NOTEBOOKS[stage]
    needed = [summary, notebook, *(cfg.stage_dir(stage) / name for name in ARTIFACTS[stage])]
    if stage == "benchmark" and cfg.data.name == "synthetic":
        needed.append(resolve(cfg.data.root) / "benchmark.json")
    if stage == "benchmark" and uses_synthetic_pretraining(cfg.backbone):
        needed.append(pretrained_weights_path(cfg.backbone))
    if not all(path.is_file() for path in needed):
        return False
    written = notebook.stat().st_mtime_ns
    upstream = (cfg.stage_dir(name) / "summary.json" for name in STAGE_NAMES[:STAGE_NAMES.index(stage) + 1])
    if any(path.stat().st_mtime_ns > written for path in upstream if path.is_file()):
        return False
    try:
        return json.loads(summary.read_text()).get("params_hash") == stage_hash(cfg, stage)
    except ValueError:
        return False


def stage_function(stage: str):
    from . import stages
    if stage not in STAGE_NAMES:
        raise SlamsError(f"unknown stage {stage!r} (stages: {', '.join(STAGE_NAMES)}, or all)")
    return getattr(stages, stage)


def run_notebook(stage: str, cfg: Config, params_file: str, overrides: dict) -> Path:
    """Execute one stage notebook into results/<run>/notebooks/; a failure names notebook and cell."""
    import papermill
    notebook = NOTEBOOKS[stage]
    source = project_root() / "notebooks" / notebook
    if not source.is_file():
        raise SlamsError(f"notebook {source} is missing")
    target = cfg.run_dir / "notebooks" / notebook
    # Gone until this run succeeds: a stage killed half-way (or failing) is never current next time;
    # the temporary copy a killed run left behind goes too.
    target.unlink(missing_ok=True)
    for stale in target.parent.glob(f".tmp-{target.stem}-*{target.suffix}"):
        stale.unlink(missing_ok=True)
    with atomic_path(target) as tmp:
        try:
            papermill.execute_notebook(
                str(source), str(tmp), parameters={"params_file": str(params_file),
                                                   "overrides": dict(overrides)},
                kernel_name="python3", cwd=str(project_root()), progress_bar=False,
                language="python")
        except papermill.PapermillExecutionError as exc:
            failed = target.with_name(target.stem + ".failed.ipynb")
            os.replace(tmp, failed)
            raise SlamsError(f"notebook {notebook} failed in cell {exc.exec_count} "
                             f"({exc.ename}: {exc.evalue}); see {failed}") from None
    return target


def reproduce(cfg: Config, params_file: str, overrides: dict, skip=(), force: bool = False) -> list[dict]:
    """Run the stage notebooks in order, skipping those whose outputs are current (same hash; `force`
    reruns them). Once a stage runs, every later one runs too: its tables and figures were made from
    the earlier outputs, which may now differ (on another machine, say), and each stage still reuses
    weights, maps and labels trained under the same params. One line per stage; returns the report."""
    report, reran = [], None
    for stage, notebook in STAGES:
        if stage in skip:
            report.append({"stage": stage, "status": "skipped (--skip)"})
        elif not force and reran is None and is_current(cfg, stage):
            report.append({"stage": stage, "status": "skipped (up to date)"})
        else:
            why = f" ({reran} reran)" if reran and not force else ""
            # the later stages' notebooks go too: until they rerun, their tables come from old outputs
            # (also when this run is killed before it reaches them)
            for later in STAGE_NAMES[STAGE_NAMES.index(stage) + 1:]:
                (cfg.run_dir / "notebooks" / NOTEBOOKS[later]).unlink(missing_ok=True)
            started = time.time()
            print(f"[{stage}] running {notebook}{why} ...", flush=True)
            out = run_notebook(stage, cfg, params_file, overrides)
            report.append({"stage": stage, "status": "ran", "seconds": round(time.time() - started, 1),
                           "notebook": str(out)})
            reran = reran or stage
        print(f"[{stage}] {report[-1]['status']}"
              + (f" in {report[-1]['seconds']} s" if "seconds" in report[-1] else ""), flush=True)
    return report
