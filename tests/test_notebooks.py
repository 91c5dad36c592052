import json

import pytest

from slamslib.config import load_config
from slamslib.errors import SlamsError
from slamslib.pipeline import run_notebook


def executed(cfg, notebook: str) -> dict:
    """The notebook as `slams reproduce` had papermill execute it in the smoke run."""
    return json.loads((cfg.run_dir / "notebooks" / notebook).read_text())


def figure_outputs(notebook: dict) -> int:
    return sum("image/png" in o.get("data", {}) for c in notebook["cells"] for o in c.get("outputs", []))


def test_00_executes_under_papermill_on_smoke_params(smoke_run):
    cfg, _, _ = smoke_run
    summary = json.loads((cfg.run_dir / "benchmark/summary.json").read_text())
    assert summary["stage"] == "benchmark"
    assert summary["metrics"]["images"]["train_aug"] == cfg.benchmark.train_aug_size
    for key in ("params_hash", "versions", "device", "wall_time_s"):
        assert key in summary
    figures = cfg.run_dir / "benchmark/figures"
    assert {p.name for p in figures.glob("*.png")} == {"samples.png", "class_frequencies.png",
                                                      "phenomena.png"}
    assert figure_outputs(executed(cfg, "00_benchmark.ipynb")) >= 3


def test_a_failing_notebook_names_the_cell_and_leaves_no_trusted_copy(tmp_path):
    cfg = load_config("params/smoke.yaml", {"results_dir": str(tmp_path / "results")})
    with pytest.raises(SlamsError, match=r"notebook 00_benchmark.ipynb failed in cell \d+ "
                                         r"\(SlamsError: .*benchmark.nope"):
        run_notebook("benchmark", cfg, "params/smoke.yaml", {"benchmark.nope": 1})
    notebooks = tmp_path / "results/smoke/notebooks"
    assert not (notebooks / "00_benchmark.ipynb").exists()
    assert (notebooks / "00_benchmark.failed.ipynb").exists()


def test_01_to_06_execute_under_papermill_on_smoke_params(smoke_run):
    cfg, _, _ = smoke_run
    run = cfg.run_dir
    se = json.loads((run / "semantic_encoder/summary.json").read_text())
    assert 0 <= se["metrics"]["presence_map"] <= 100
    summary = json.loads((run / "activation_maps/summary.json").read_text())
    assert summary["stage"] == "activation_maps"
    for method in ("slams", "cam"):
        assert 0 <= summary["metrics"]["seed_miou"][method] <= 100
        assert (run / f"activation_maps/maps/{method}/done.json").is_file()
    assert {p.name for p in (run / "activation_maps").glob("*.pt")} == {"cam.pt", "activation_net.pt"}
    assert (run / "semantic_encoder/semantic_encoder.pt").is_file()
    assert figure_outputs(executed(cfg, "02_activation_maps.ipynb")) >= 5

    visual = json.loads((run / "cam_visualization/summary.json").read_text())
    for method in ("slams", "cam"):
        modes = visual["metrics"]["failure_modes"][method]["all"]
        assert 0 <= modes["coverage"] <= 1 and 0 <= modes["mass_on_background"] <= 1
    assert {p.name for p in (run / "cam_visualization/figures").glob("*.png")} >= {
        "maps_per_class.png", "coverage.png", "false_activation.png", "seed_miou_vs_t.png"}
    labels = json.loads((run / "pseudo_labels/summary.json").read_text())
    for method in ("slams", "cam"):
        assert set(labels["metrics"]["mask_miou"][method]) == {"seed", "rw", "rw_crf"}
        # the seed step is stage 02's seed at its best threshold: the same number
        assert labels["metrics"]["mask_miou"][method]["seed"] == pytest.approx(
            summary["metrics"]["seed_miou"][method])
        pngs = list((run / f"pseudo_labels/{method}/labels").glob("*.png"))
        assert len(pngs) == 40
    assert figure_outputs(executed(cfg, "04_pseudo_labels.ipynb")) >= 3
    seg = json.loads((run / "segmentation/summary.json").read_text())
    assert set(seg["metrics"]["seg_miou"]) == {"slams", "cam", "full_supervision"}
    assert seg["metrics"]["headline_mode"] == "multi_scale_crf"       # smoke.yaml turns the CRF on
    # the headline is what `slams evaluate` says of the written predictions
    from slamslib.evaluate import evaluate_folder
    from slamslib.data import build_dataset
    val = build_dataset(cfg, cfg.data.val_split)
    written = evaluate_folder(run / "segmentation/slams/predictions_multi_scale_crf", val.mask_dir,
                              val.num_classes)
    assert written["miou"] == seg["metrics"]["seg_miou"]["slams"]
    assert {p.name for p in (run / "segmentation").glob("*.pt")} == {
        "segmentation_slams.pt", "segmentation_cam.pt", "segmentation_full_supervision.pt"}

    # 06: the main table is the stages' own numbers; the ablation has every row, each over every seed
    tables = json.loads((run / "ablation/summary.json").read_text())["metrics"]
    assert tables["main"]["SLAMs"]["seed mIoU (seed split)"] == pytest.approx(summary["metrics"]["seed_miou"]["slams"], abs=1e-4)
    assert tables["main"]["CAM"]["segmentation mIoU (val)"] == pytest.approx(seg["metrics"]["seg_miou"]["cam"], abs=1e-4)
    assert tables["main"]["full supervision"]["segmentation mIoU (val)"] == pytest.approx(
        seg["metrics"]["seg_miou"]["full_supervision"], abs=1e-4)
    assert list(tables["ablation"]) == list(cfg.ablation.rows) and tables["seeds"] == [0, 1]
    assert all(len(row["per_seed"]) == 2 for row in tables["ablation"].values())
    markdown = (run / "ablation/tables.md").read_text()
    assert "## Main comparison" in markdown and "| w/o L_con (consistency)" in markdown
    assert {p.name for p in (run / "ablation/figures").glob("*.png")} == {
        "main_comparison.png", "loss_ablation.png", "per_class_iou.png"}
    assert figure_outputs(executed(cfg, "06_ablation_tables.ipynb")) == 3
