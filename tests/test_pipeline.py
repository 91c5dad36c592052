"""`slams reproduce`: a stage runs when its outputs are missing or were made under other params."""
from slamslib.config import load_config
from slamslib.pipeline import is_current, reproduce


def statuses(report):
    return {row["stage"]: row["status"] for row in report}


def test_reproduce_skips_current_stages_and_reruns_exactly_what_a_param_changes(smoke_tree, tmp_path):
    _, root = smoke_tree
    overrides = {"data.root": str(root), "results_dir": str(tmp_path / "results")}
    cfg = load_config("params/smoke.yaml", overrides)
    first = statuses(reproduce(cfg, "params/smoke.yaml", overrides))
    ran = ["benchmark", "semantic_encoder", "activation_maps", "cam_visualization", "pseudo_labels",
           "segmentation"]
    assert [s for s in ran if first[s] == "ran"] == ran
    assert statuses(reproduce(cfg, "params/smoke.yaml", overrides)) == {
        **{s: "skipped (up to date)" for s in ran}, "ablation": "not implemented yet"}
    # a segmentation param: segmentation reruns, nothing before it does
    changed = {**overrides, "segmentation.eval.flip": False}
    third = statuses(reproduce(load_config("params/smoke.yaml", changed), "params/smoke.yaml", changed))
    assert third["segmentation"] == "ran"
    assert all(third[s] == "skipped (up to date)" for s in ran[:-1])
    # a map param invalidates the maps and every stage after them, not the encoder
    changed = {**overrides, "maps.scales": [1.0]}
    cfg = load_config("params/smoke.yaml", changed)
    assert [s for s in ran if not is_current(cfg, s)] == ran[2:]


def test_a_summary_without_its_executed_notebook_is_not_trusted(smoke_tree, tmp_path):
    _, root = smoke_tree
    overrides = {"data.root": str(root), "results_dir": str(tmp_path / "results")}
    cfg = load_config("params/smoke.yaml", overrides)
    reproduce(cfg, "params/smoke.yaml", overrides, skip=["semantic_encoder", "activation_maps",
                                                        "cam_visualization", "pseudo_labels",
                                                        "segmentation"])
    assert is_current(cfg, "benchmark")
    (cfg.run_dir / "notebooks" / "00_benchmark.ipynb").unlink()   # as when a later cell failed
    assert not is_current(cfg, "benchmark")


def test_a_stage_whose_weights_are_gone_is_not_current(smoke_tree, tmp_path):
    """A fresh clone has the committed summaries and notebooks but no weights, maps or labels."""
    _, root = smoke_tree
    overrides = {"data.root": str(root), "results_dir": str(tmp_path / "results")}
    cfg = load_config("params/smoke.yaml", overrides)
    reproduce(cfg, "params/smoke.yaml", overrides, skip=["activation_maps", "cam_visualization",
                                                        "pseudo_labels", "segmentation"])
    assert is_current(cfg, "semantic_encoder")
    (cfg.stage_dir("semantic_encoder") / "semantic_encoder.pt").unlink()
    assert not is_current(cfg, "semantic_encoder")
    assert statuses(reproduce(cfg, "params/smoke.yaml", overrides, skip=[
        "activation_maps", "cam_visualization", "pseudo_labels", "segmentation"]))["semantic_encoder"] == "ran"
