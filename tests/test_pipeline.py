"""`slams reproduce`: a stage runs when its outputs are missing or were made under other params."""
import json

import pytest

from slamslib.config import load_config
from slamslib.errors import SlamsError
from slamslib.pipeline import is_current, reproduce, stage_function
from slamslib.report import build_report, write_report

# two rows are enough to see the ablation stage skip and rerun
SMALL_ABLATION = {"ablation.rows": {"full model": {}, "w/o L_con": {"activation_net.losses.con": 0}}}


def statuses(report):
    return {row["stage"]: row["status"] for row in report}


def test_reproduce_skips_current_stages_and_reruns_exactly_what_a_param_changes(smoke_tree, tmp_path):
    _, root = smoke_tree
    overrides = {"data.root": str(root), "results_dir": str(tmp_path / "results"), **SMALL_ABLATION}
    cfg = load_config("params/smoke.yaml", overrides)
    rows = reproduce(cfg, "params/smoke.yaml", overrides)
    first = statuses(rows)
    ran = ["benchmark", "semantic_encoder", "activation_maps", "cam_visualization", "pseudo_labels",
           "segmentation", "ablation"]
    assert [s for s in ran if first[s] == "ran"] == ran
    # the final report: a wall time and a headline number for every stage, also as report.md
    table = build_report(cfg, rows)
    assert (table.seconds.astype(float) > 0).all() and table.headline.str.len().gt(10).all()
    seg = json.loads((cfg.stage_dir("segmentation") / "summary.json").read_text())["metrics"]
    assert f"full supervision {seg['seg_miou']['full_supervision']:.1f}" in table.loc["segmentation", "headline"]
    assert "| ablation" in write_report(cfg, table, 1.0) and (cfg.run_dir / "report.md").is_file()
    assert statuses(reproduce(cfg, "params/smoke.yaml", overrides)) == {s: "skipped (up to date)" for s in ran}
    # a segmentation param: segmentation and the ablation (its tables read segmentation) rerun
    changed = {**overrides, "segmentation.eval.flip": False}
    third = statuses(reproduce(load_config("params/smoke.yaml", changed), "params/smoke.yaml", changed))
    assert [s for s in ran if third[s] == "ran"] == ["segmentation", "ablation"]
    # an ablation param reruns the ablation alone
    changed = {**changed, "ablation.seeds": 1}
    assert [s for s in ran if not is_current(load_config("params/smoke.yaml", changed), s)] == ["ablation"]
    # a map param invalidates the maps and every stage after them, not the encoder
    changed = {**overrides, "maps.scales": [1.0]}
    cfg = load_config("params/smoke.yaml", changed)
    assert [s for s in ran if not is_current(cfg, s)] == ran[2:]


def test_a_stage_that_fails_on_a_rerun_is_not_trusted_afterwards(smoke_tree, tmp_path):
    """Its old summary was written under the same params, but the failed run may have half-rewritten
    its files: the next reproduce must run it again."""
    _, root = smoke_tree
    overrides = {"data.root": str(root), "results_dir": str(tmp_path / "results")}
    cfg = load_config("params/smoke.yaml", overrides)
    reproduce(cfg, "params/smoke.yaml", overrides, skip=["ablation"])
    assert is_current(cfg, "segmentation")
    # the rerun finds weights it cannot read (as after a disk filled up) and fails
    (cfg.stage_dir("segmentation") / "segmentation_slams.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SlamsError, match=r"notebook 05_segmentation.ipynb failed in cell \d+"):
        reproduce(cfg, "params/smoke.yaml", overrides, force=True,
                  skip=["benchmark", "semantic_encoder", "activation_maps", "cam_visualization",
                        "pseudo_labels", "ablation"])
    assert not is_current(cfg, "segmentation")
    assert (cfg.run_dir / "notebooks" / "05_segmentation.failed.ipynb").is_file()


def test_a_summary_without_its_executed_notebook_is_not_trusted(smoke_tree, tmp_path):
    _, root = smoke_tree
    overrides = {"data.root": str(root), "results_dir": str(tmp_path / "results")}
    cfg = load_config("params/smoke.yaml", overrides)
    reproduce(cfg, "params/smoke.yaml", overrides, skip=["semantic_encoder", "activation_maps",
                                                        "cam_visualization", "pseudo_labels",
                                                        "segmentation", "ablation"])
    assert is_current(cfg, "benchmark")
    (cfg.run_dir / "notebooks" / "00_benchmark.ipynb").unlink()   # as when a later cell failed
    assert not is_current(cfg, "benchmark")


def test_a_stage_whose_weights_are_gone_reruns_and_so_do_the_stages_after_it(smoke_tree, tmp_path):
    """A fresh clone has the committed summaries and notebooks but no weights, maps or labels; and a
    later stage's tables were made from the outputs an earlier stage is about to replace."""
    _, root = smoke_tree
    overrides = {"data.root": str(root), "results_dir": str(tmp_path / "results")}
    cfg = load_config("params/smoke.yaml", overrides)
    later = ["cam_visualization", "pseudo_labels", "segmentation", "ablation"]
    reproduce(cfg, "params/smoke.yaml", overrides, skip=later)
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
