"""benchmarks/seed_miou_over_training.py scores networks an epoch at a time: its last point must be the
network an uninterrupted run trains, and every epoch must be scored."""
import importlib.util

import torch

from slamslib.data import build_dataset
from slamslib.training import load_trained

spec = importlib.util.spec_from_file_location("curve", "benchmarks/seed_miou_over_training.py")
curve = importlib.util.module_from_spec(spec)
spec.loader.exec_module(curve)


def test_epoch_by_epoch_ends_at_the_uninterrupted_weights(smoke_run_copy):
    cfg, _ = smoke_run_copy
    split = build_dataset(cfg, cfg.data.seed_split)
    finished = load_trained(cfg, "activation_net", split.num_classes).model.state_dict()
    checkpoint = cfg.stage_dir("activation_maps") / "activation_net.checkpoint.pt"
    checkpoint.write_bytes(b"left by a killed curve")   # must not be resumed from
    steps = list(curve.epochs(cfg, "activation_net", split.num_classes))
    assert [epoch for epoch, _ in steps] == [1, 2]
    per_epoch = len(build_dataset(cfg, cfg.data.train_split)) // cfg.activation_net.train.batch_size
    assert [trained.log["iteration"].max() for _, trained in steps] == [per_epoch, 2 * per_epoch]
    last = steps[-1][1].model.state_dict()
    assert all(torch.equal(last[key], finished[key]) for key in finished)
    first = steps[0][1].model.state_dict()
    assert not all(torch.equal(first[key], finished[key]) for key in finished)
    assert not checkpoint.exists()


def test_curve_scores_every_epoch(smoke_run_copy):
    cfg, _ = smoke_run_copy
    split = build_dataset(cfg, cfg.data.seed_split)
    rows = curve.curve(cfg.with_overrides(curve.SINGLE_SCALE, "test"), "cam", split)
    assert [row["epoch"] for row in rows] == [1, 2]
    assert all(0 <= row["seed_miou"] <= 100 and 0 <= row["context_fp"] <= 1 for row in rows)
    assert not (cfg.run_dir / "curve").exists()   # the per-epoch maps are scratch
