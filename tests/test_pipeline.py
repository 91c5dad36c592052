"""`slams reproduce`: a stage runs when its outputs are missing or were made under other params."""
import json

import pytest

from slamslib.config import load_config
from slamslib.errors import SlamsError
from slamslib.pipeline import is_current, reproduce, stage_function
from slamslib.report import build_report, headline, write_report

STAGES = ["benchmark", "semantic_encoder", "activation_maps", "cam_visualization", "pseudo_labels",
          "segmentation", "ablation"]


def statuses(report):
    return {row["stage"]: row["status"] for row in report}


def test_reproduce_runs_every_stage_then_skips_them_all(smoke_run):
    cfg, overrides, rows = smoke_run
    assert [row["stage"] for row in rows if row["status"] == "ran"] == STAGES
    # the final report: a wall time and a headline number for every stage, also as report.md
    table = build_report(cfg, rows)
    assert (table.seconds.astype(float) > 0).all() and table.headline.str.len().gt(10).all()
    seg = json.loads((cfg.stage_dir("segmentation") / "summary.json").read_text())["metrics"]
    assert f"full supervision {seg['seg_miou']['full_supervision']:.1f}" in table.loc["segmentation", "headline"]
    assert "| ablation" in write_report(cfg, table, 1.0) and (cfg.run_dir / "report.md").is_file()
    assert statuses(reproduce(cfg, "params/smoke.yaml", overrides)) == {s: "skipped (up to date)" for s in STAGES}


def test_reproduce_reruns_exactly_what_a_param_changes(smoke_run_copy):
    cfg, overrides = smoke_run_copy
    assert all(is_current(cfg, stage) for stage in STAGES)     # the copy is as current as the run
    # a segmentation param: segmentation and the ablation (its tables read segmentation) rerun
    changed = {**overrides, "segmentation.eval.flip": False}
    rows = statuses(reproduce(load_config("params/smoke.yaml", changed), "params/smoke.yaml", changed))
    assert [s for s in STAGES if rows[s] == "ran"] == ["segmentation", "ablation"]
    # an ablation param reruns the ablation alone
    changed = {**changed, "ablation.seeds": 1}
    assert [s for s in STAGES if not is_current(load_config("params/smoke.yaml", changed), s)] == ["ablation"]
    # a map param invalidates the maps and every stage after them, not the encoder
    changed = {**overrides, "maps.scales": [1.0]}
    cfg = load_config("params/smoke.yaml", changed)
    assert [s for s in STAGES if not is_current(cfg, s)] == STAGES[2:]


def test_a_stage_that_fails_on_a_rerun_is_not_trusted_afterwards(smoke_run_copy):
    """Its old summary was written under the same params, but the failed run may have half-rewritten
    its files: the next reproduce must run it again."""
    cfg, overrides = smoke_run_copy
    assert is_current(cfg, "segmentation")
    # the rerun finds weights it cannot read (as after a disk filled up) and fails
    (cfg.stage_dir("segmentation") / "segmentation_slams.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SlamsError, match=r"notebook 05_segmentation.ipynb failed in cell \d+"):
        reproduce(cfg, "params/smoke.yaml", overrides, force=True,
                  skip=["benchmark", "semantic_encoder", "activation_maps", "cam_visualization",
                        "pseudo_labels", "ablation"])
    assert not is_current(cfg, "segmentation")
    assert (cfg.run_dir / "notebooks" / "05_segmentation.failed.ipynb").is_file()


def test_a_summary_without_its_executed_notebook_is_not_trusted(smoke_run_copy):
    cfg, _ = smoke_run_copy
    assert is_current(cfg, "benchmark")
    (cfg.run_dir / "notebooks" / "00_benchmark.ipynb").unlink()   # as when a later cell failed
    assert not is_current(cfg, "benchmark")


def test_a_stage_whose_weights_are_gone_reruns_and_so_do_the_stages_after_it(smoke_run_copy):
    """A fresh clone has the committed summaries and notebooks but no weights, maps or labels; and a
    later stage's tables were made from the outputs an earlier stage is about to replace."""
    cfg, overrides = smoke_run_copy
    later = ["cam_visualization", "pseudo_labels", "segmentation", "ablation"]
    assert is_current(cfg, "semantic_encoder") and is_current(cfg, "activation_maps")
    (cfg.stage_dir("semantic_encoder") / "semantic_encoder.pt").unlink()
    assert not is_current(cfg, "semantic_encoder") and is_current(cfg, "activation_maps")
    again = statuses(reproduce(cfg, "params/smoke.yaml", overrides, skip=later))
    assert again == {"benchmark": "skipped (up to date)", "semantic_encoder": "ran", "activation_maps": "ran",
                     **{s: "skipped (--skip)" for s in later}}
    # `slams run semantic_encoder` (or notebook 01 run by hand) rewrites the summary under the same
    # params: the executed notebooks of it and of the stages after it are no longer its record
    stage_function("semantic_encoder")(cfg, progress=False)
    assert [s for s in ("benchmark", "semantic_encoder", "activation_maps") if is_current(cfg, s)] == ["benchmark"]


def test_a_metric_a_run_could_not_measure_reads_n_a_in_the_report():
    seg = {"seg_miou": {"slams": 0.0, "cam": 0.0, "full_supervision": 0.0},
           "ratio_to_full_supervision": {"slams": None, "cam": None}}
    assert headline("segmentation", seg).endswith("/ full supervision slams n/a, cam n/a")
    assert headline("semantic_encoder", {"presence_map": None}) == "presence mAP (val) n/a"
    assert headline("semantic_encoder", {"presence_map": float("nan")}) == "presence mAP (val) n/a"
