"""The recipe options that data the kit did not generate may need: optimizer, warm-up, normalisation."""
import pytest
import torch.nn as nn
import torch.optim

from slamslib.config import TrainConfig, load_config
from slamslib.engine import _optimizer, lr_factor
from slamslib.models.backbones import SmallBackbone
from slamslib.models.cam_net import CamNet
from slamslib.pretraining import pretraining_hash
from slamslib.tasks import CamTask


def test_warm_up_is_linear_then_the_poly_decay_takes_over():
    train = TrainConfig(warmup_iters=3, poly_power=1.0)
    assert [lr_factor(it, 10, train) for it in range(3)] == pytest.approx([1 / 4, 2 / 4, 3 / 4])
    assert lr_factor(3, 10, train) == pytest.approx(1 - 3 / 10)
    assert lr_factor(0, 10, TrainConfig(poly_power=1.0)) == 1.0     # no warm-up by default


@pytest.mark.parametrize("name, kind", [("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)])
def test_optimizer_choice_keeps_the_head_learning_rate(name, kind):
    task = CamTask(CamNet(SmallBackbone(8), 3))
    optimizer = _optimizer(task, TrainConfig(optimizer=name, lr=0.002, head_lr_mult=5))
    assert isinstance(optimizer, kind)
    assert sorted(g["lr"] for g in optimizer.param_groups) == pytest.approx([0.002, 0.01])


def test_small_backbone_norm_choice():
    kinds = {type(m) for m in SmallBackbone(8, "batch").modules()}
    assert nn.BatchNorm2d in kinds and nn.GroupNorm not in kinds
    assert nn.GroupNorm in {type(m) for m in SmallBackbone(8).modules()}


def test_options_at_their_old_value_leave_every_hash_as_it_was():
    """Results made before the options existed stay valid; setting one away from it retrains."""
    base = load_config("params/smoke.yaml")
    same = load_config("params/smoke.yaml", {"cam.train.optimizer": "sgd", "backbone.norm": "group",
                                             "cam.train.warmup_iters": 0})
    assert same.hash() == base.hash() and same.hash("cam") == base.hash("cam")
    assert pretraining_hash(same.backbone) == pretraining_hash(base.backbone)
    assert load_config("params/smoke.yaml", {"cam.train.optimizer": "adamw"}).hash("cam") != base.hash("cam")
    batch = load_config("params/smoke.yaml", {"backbone.norm": "batch"}).backbone
    assert pretraining_hash(batch) != pretraining_hash(base.backbone)
