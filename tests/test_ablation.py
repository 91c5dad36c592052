"""Stage 06's sub-runs and tables: rows x seeds, shared networks trained once, mean ± std by hand."""
import os

import numpy as np
import pandas as pd
import pytest

from slamslib.ablation import evaluate_all, sub_runs, train_all
from slamslib.config import load_config
from slamslib.data import build_dataset
from slamslib.errors import SlamsError
from slamslib.maps import MAPS_MARKER
from slamslib.stages.ablation import ablation_table
from slamslib.training import maps_dir, train_network, weights_hash, weights_path

ROWS = {"full model": {}, "w/o L_fg": {"activation_net.losses.fg": 0}, "tau 0": {"semantic_encoder.tau": 0}}


def test_sub_runs_apply_schedule_then_row_on_consecutive_seeds(tmp_path):
    cfg = load_config("params/smoke.yaml", {
        "results_dir": str(tmp_path), "seed": 5, "ablation.seeds": 2, "ablation.rows": ROWS,
        "ablation.schedule": {"activation_net.train.epochs": 7, "semantic_encoder.tau": 3.0}})
    runs = sub_runs(cfg)
    assert [(r.row, r.seed) for r in runs] == [(row, s) for row in ROWS for s in (5, 6)]
    for run in runs:
        assert run.cfg.activation_net.train.epochs == 7                        # the schedule
        assert run.cfg.semantic_encoder.tau == (0 if run.row == "tau 0" else 3.0)   # the row wins
        assert run.cfg.activation_net.losses.fg == (0 if run.row == "w/o L_fg" else 1.0)
        assert run.cfg.run_dir.parent == cfg.run_dir / "ablation" / "runs"
        assert run.cfg.data.root == cfg.data.root          # sub-runs read the main run's data
    assert len({r.cfg.run_dir for r in runs}) == len(runs)


def test_a_sub_run_on_the_main_schedule_has_the_main_runs_weights_hashes():
    """So seed 0's full-model row reuses the main run's networks (params/smoke.yaml's root is relative)."""
    cfg = load_config("params/smoke.yaml", {"ablation.rows": ROWS, "ablation.schedule": {}})
    full = next(r for r in sub_runs(cfg) if r.row == "full model" and r.seed == cfg.seed)
    for name in ("semantic_encoder", "activation_net"):
        assert weights_hash(full.cfg, name) == weights_hash(cfg, name)
    other = next(r for r in sub_runs(cfg) if r.row == "tau 0" and r.seed == cfg.seed)
    assert weights_hash(other.cfg, "semantic_encoder") != weights_hash(cfg, "semantic_encoder")


def test_the_first_row_is_the_full_model_and_gpus_train_one_sub_run_at_a_time(tmp_path):
    with pytest.raises(SlamsError, match=r"the first row \('w/o L_fg'\) is the full model"):
        load_config("params/smoke.yaml", {"ablation.rows": {"w/o L_fg": {"activation_net.losses.fg": 0}}})
    cfg = load_config("params/smoke.yaml", {"ablation.workers": 2, "distributed.nproc_per_node": 2,
                                            "results_dir": str(tmp_path)})
    with pytest.raises(SlamsError, match="ablation.workers is 2: sub-runs in parallel are for CPUs"):
        train_all(cfg, sub_runs(cfg), 5, progress=False)


def test_a_row_may_not_change_the_data_or_seed_and_a_bad_key_names_the_row():
    with pytest.raises(SlamsError, match=r"ablation.rows\['x'\] may not override 'benchmark.seed'"):
        load_config("params/smoke.yaml", {"ablation.rows": {"full": {}, "x": {"benchmark.seed": 3}}})
    with pytest.raises(SlamsError, match=r"ablation.rows\['x'\]: unknown key 'activation_net.losses.fgg' "
                                         r"\(did you mean 'activation_net.losses.fg'\?\)"):
        load_config("params/smoke.yaml", {"ablation.rows": {"full": {}, "x": {"activation_net.losses.fgg": 0}}})
    with pytest.raises(SlamsError, match=r"ablation.schedule: unknown key"):
        load_config("params/smoke.yaml", {"ablation.schedule": {"maps.scale": [1.0]}})
    with pytest.raises(SlamsError, match=r"ablation.rows\['x'\]: activation_net.losses.fg: .*number"):
        load_config("params/smoke.yaml", {"ablation.rows": {"full": {}, "x": {"activation_net.losses.fg": "off"}}})
    # a rule between values only the sub-run breaks: the params load, the ablation names the row
    only_fg = {f"activation_net.losses.{k}": 0 for k in ("sem", "bg", "reg", "con")}
    cfg = load_config("params/smoke.yaml", {**only_fg, "ablation.rows": {"full": {}, "w/o fg": {"activation_net.losses.fg": 0}}})
    with pytest.raises(SlamsError, match=r"ablation.rows\['w/o fg'\]: .*at least one loss weight"):
        sub_runs(cfg)


def test_networks_rows_share_are_trained_once_and_the_main_run_is_reused(smoke_tree, tmp_path):
    _, root = smoke_tree
    cfg = load_config("params/smoke.yaml", {"data.root": str(root), "results_dir": str(tmp_path),
                                            "ablation.seeds": 2, "ablation.rows": ROWS,
                                            "ablation.schedule": {}, "ablation.workers": 1})
    train_network(cfg, "semantic_encoder", 5, progress=False)     # the main run's SE (seed 0)
    runs = sub_runs(cfg)
    # SE: two settings (tau 10, tau 0) x two seeds, one of them the main run's; AN: three rows x two seeds
    assert train_all(cfg, runs, 5, progress=False) == {"semantic_encoder": 3, "cam": 0, "activation_net": 6,
                                                      "erasing_maps": 0}
    full, no_fg = (r for r in runs if r.seed == 0 and r.row in ("full model", "w/o L_fg"))
    shared = [weights_path(r.cfg, "semantic_encoder") for r in (full, no_fg)]
    assert os.path.samefile(*shared) or shared[0].read_bytes() == shared[1].read_bytes()
    assert shared[0].read_bytes() == weights_path(cfg, "semantic_encoder").read_bytes()
    assert train_all(cfg, runs, 5, progress=False) == {"semantic_encoder": 0, "cam": 0, "activation_net": 0,
                                                      "erasing_maps": 0}
    assert not list(tmp_path.rglob(".tmp-link-*"))      # linking twice leaves nothing behind
    results = evaluate_all(cfg, runs, 5, progress=False)
    assert [(r["row"], r["seed"]) for r in results] == [(r.row, r.seed) for r in runs]
    for r in results:
        assert 0 <= r["seed_miou"] <= 100 and 0 <= r["seed_miou_map0"] <= 100 and len(r["per_class_iou"]) == 5
    # the two rows that share an SE score it the same; tau 0 is another SE
    by = {(r["row"], r["seed"]): r for r in results}
    assert by["full model", 0]["se_map"] == by["w/o L_fg", 0]["se_map"]


def test_rows_erasing_by_one_cam_infer_its_maps_once(smoke_tree, tmp_path, monkeypatch):
    """The two erasing rows of a seed share the CAM, hence its train maps: inferred once, linked into
    both sub-runs, where the SE's training finds them instead of inferring them again."""
    import slamslib.maps
    _, root = smoke_tree
    erase = {"semantic_encoder.erasing.rate": 0.5}
    rows = {"full model": {}, "erase": erase,
            "erase, label kept": {**erase, "semantic_encoder.erasing.label": "keep"}}
    cfg = load_config("params/smoke.yaml", {"data.root": str(root), "results_dir": str(tmp_path),
                                            "ablation.seeds": 1, "ablation.rows": rows,
                                            "ablation.schedule": {}, "ablation.workers": 1})
    inferred = []           # the folder of every map written
    real = slamslib.maps.save_maps
    monkeypatch.setattr(slamslib.maps, "save_maps",
                        lambda path, *a: inferred.append(path.parent) or real(path, *a))
    images = len(build_dataset(cfg, cfg.data.train_split))
    runs = sub_runs(cfg)
    assert train_all(cfg, runs, 5, progress=False) == {"cam": 1, "erasing_maps": 1,
                                                      "semantic_encoder": 3, "activation_net": 3}
    assert len(inferred) == images      # once, not once more in each erasing SE's train_network
    folders = [maps_dir(r.cfg, "cam") for r in runs if r.row != "full model"]
    names = sorted(p.name for p in folders[0].iterdir())
    assert MAPS_MARKER in names and len(names) == images + 1
    for name in names:
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes()
    assert not maps_dir(runs[0].cfg, "cam").exists()        # the full model erases nothing
    # A folder whose marker is gone (an interrupted link) is not trusted: it is linked again, not inferred.
    one_map = next(name for name in names if name != MAPS_MARKER)
    (folders[1] / MAPS_MARKER).unlink()
    (folders[1] / one_map).unlink()
    assert train_all(cfg, runs, 5, progress=False)["erasing_maps"] == 0
    assert (folders[1] / one_map).is_file() and (folders[1] / MAPS_MARKER).is_file()
    assert len(inferred) == images
    # Maps whose marker names another key (other CAM weights or map params) are never shared: inferred again.
    store = tmp_path / "smoke" / "ablation" / "maps"
    for marker in [folder / MAPS_MARKER for folder in folders] + list(store.glob(f"*/{MAPS_MARKER}")):
        marker.write_text(marker.read_text().replace('"key": "', '"key": "other'))
    assert train_all(cfg, runs, 5, progress=False)["erasing_maps"] == 1
    assert len(inferred) == 2 * images and len(set(inferred)) == 1
    assert (folders[0] / MAPS_MARKER).read_text() == (folders[1] / MAPS_MARKER).read_text()
    assert '"key": "other' not in (folders[1] / MAPS_MARKER).read_text()


def test_ablation_table_mean_std_delta_and_noise_by_hand():
    cfg = load_config("params/smoke.yaml", {"ablation.rows": {"full": {}, "a": {"activation_net.losses.fg": 0},
                                                              "b": {"activation_net.losses.bg": 0}}})
    runs = pd.DataFrame({
        "row": ["full"] * 3 + ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 3,
        "seed_miou": [10, 12, 14, 20, 21, 22, 11, 13, 15], "seed_miou_map0": [1.0] * 9, "se_map": [50.0] * 9})
    table = ablation_table(runs, cfg)
    assert table.loc["full", "seed mIoU"] == "12.0 ± 2.0"
    assert table.loc["a", "seed mIoU"] == "21.0 ± 1.0" and table.loc["a", "Δ vs full"] == "+9.0"
    # a: |9| > 2 sqrt(1/3 + 4/3) = 2.58 -> beyond; b: |1| < 2 sqrt(4/3 + 4/3) = 3.27 -> not
    assert table.loc["a", "beyond 2 SE"] == "yes" and table.loc["b", "beyond 2 SE"] == "no"
    assert table.loc["b", "per seed"] == "11.0 / 13.0 / 15.0"
    assert table.loc["a", "changes"] == "activation_net.losses.fg=0"
    assert np.isclose(table.loc["b", "std"], 2.0)


def test_reordered_rows_rerun_the_stage():
    """The tables follow the rows' order, which a params hash over sorted keys would not see."""
    from slamslib.stages.ablation import ablation_hash
    cfg = load_config("params/smoke.yaml", {"ablation.rows": ROWS})
    first, *rest = ROWS.items()
    reordered = load_config("params/smoke.yaml", {"ablation.rows": dict([first, *reversed(rest)])})
    assert cfg.hash("ablation") == reordered.hash("ablation")
    assert ablation_hash(cfg) != ablation_hash(reordered)
