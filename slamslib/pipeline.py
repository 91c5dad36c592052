"""The stages in order, and running their notebooks headlessly through papermill."""
from __future__ import annotations

import os
import time
from pathlib import Path

from .config import Config
from .errors import SlamsError
from .paths import atomic_path, project_root

# (stage, notebook, implemented). Later stages arrive with their issues; until then the pipeline
# says plainly that it cannot run them instead of pretending.
STAGES = [
    ("benchmark", "00_benchmark.ipynb", True),
    ("semantic_encoder", "01_semantic_encoder.ipynb", True),
    ("activation_maps", "02_activation_maps.ipynb", True),
    ("cam_visualization", "03_cam_visualization.ipynb", True),
    ("pseudo_labels", "04_pseudo_labels.ipynb", True),
    ("segmentation", "05_segmentation.ipynb", True),
    ("ablation", "06_ablation_tables.ipynb", False),
]
STAGE_NAMES = [name for name, _, _ in STAGES]
NOTEBOOKS = {name: notebook for name, notebook, _ in STAGES}
IMPLEMENTED = {name: ok for name, _, ok in STAGES}


def stage_function(stage: str):
    from . import stages
    if stage not in STAGE_NAMES:
        raise SlamsError(f"unknown stage {stage!r} (stages: {', '.join(STAGE_NAMES)}, or all)")
    if not IMPLEMENTED[stage]:
        raise SlamsError(f"stage {stage!r} is not implemented in this version of the kit yet")
    return getattr(stages, stage)


def run_notebook(stage: str, cfg: Config, params_file: str, overrides: dict) -> Path:
    """Execute one stage notebook into results/<run>/notebooks/; a failure names notebook and cell."""
    import papermill
    notebook = NOTEBOOKS[stage]
    source = project_root() / "notebooks" / notebook
    if not source.is_file():
        raise SlamsError(f"notebook {source} is missing")
    target = cfg.run_dir / "notebooks" / notebook
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


def reproduce(cfg: Config, params_file: str, overrides: dict, skip=()) -> list[dict]:
    """Run every implemented stage notebook in order; one line per stage, a report at the end."""
    report = []
    for stage, notebook, implemented in STAGES:
        if stage in skip:
            report.append({"stage": stage, "status": "skipped (--skip)"})
        elif not implemented:
            report.append({"stage": stage, "status": "not implemented yet"})
        else:
            started = time.time()
            print(f"[{stage}] running {notebook} ...", flush=True)
            out = run_notebook(stage, cfg, params_file, overrides)
            report.append({"stage": stage, "status": "ran", "seconds": round(time.time() - started, 1),
                           "notebook": str(out)})
        print(f"[{stage}] {report[-1]['status']}"
              + (f" in {report[-1]['seconds']} s" if "seconds" in report[-1] else ""), flush=True)
    return report
