"""The segmentation network's training and evaluation paths."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from slamslib.config import SegmentationEvalConfig, TrainConfig
from slamslib.errors import SlamsError
from slamslib.data import build_dataset
from slamslib.data.transforms import LabelledImages
from slamslib.engine import fit
from slamslib.evaluate import evaluate_folder
from slamslib.models.backbones import SmallBackbone
from slamslib.models.deeplab import SegmentationNet
from slamslib.stages.segmentation import predict_split
from slamslib.tasks import SegmentationTask
from slamslib.training import build_task, train_network, weights_hash


class Few:
    """The first n images of a split, as a split."""

    def __init__(self, split, n):
        self.split, self.n = split, n
        self.names, self.num_classes, self.mask_dir = split.names[:n], split.num_classes, split.mask_dir

    def __len__(self):
        return self.n

    def image(self, i):
        return self.split.image(i)

    def image_path(self, i):
        return self.split.image_path(i)

    def mask(self, i):
        return self.split.mask(i)


def test_the_network_overfits_a_handful_of_masks(smoke_tree, tmp_path):
    cfg, _ = smoke_tree
    few = Few(build_dataset(cfg, cfg.data.train_split), 4)
    torch.manual_seed(0)
    net = SegmentationNet(SmallBackbone(16), few.num_classes, "aspp_v3", [1, 2], channels=32)
    train = TrainConfig(epochs=150, batch_size=4, lr=0.05, head_lr_mult=1, crop_size=64,
                        scale_range=(1.0, 1.0), flip=False, checkpoint_every=1000)
    fit(SegmentationTask(net), train, LabelledImages(few, train, 0, few.mask), tmp_path, "seg", 0, "h",
        torch.device("cpu"), progress=False)
    predict_split(net, few, {tmp_path / "pred": None}, SegmentationEvalConfig(scales=[1.0], flip=False),
                  "cpu", progress=False)
    result = evaluate_folder(tmp_path / "pred", few.mask_dir, few.num_classes, names=few.names)
    assert result["miou"] > 90, result["miou"]


def test_void_pixels_never_reach_the_loss():
    torch.manual_seed(0)
    net = SegmentationNet(SmallBackbone(8), 3, "aspp_v2", [1, 2])
    task = SegmentationTask(net)
    images = torch.randn(2, 3, 32, 32)
    labels = torch.full((2, 32, 32), 255, dtype=torch.long)
    labels[0, :4, :4] = 1
    labels[1, 10:12, 10:20] = 2
    valid = torch.ones(2, 1, 32, 32)
    valid[1, :, 10:11, 10:20] = 0          # padding: these labelled pixels must not count either
    loss = task(images, valid, labels)["total"]
    logits = net(images)
    keep = labels.clone()
    keep[1, 10:11, 10:20] = 255
    mask = keep != 255
    by_hand = F.cross_entropy(logits.permute(0, 2, 3, 1)[mask], keep[mask])
    assert torch.allclose(loss, by_hand, atol=1e-6)
    # and, through the task, the logits at void and padded pixels get no gradient
    seen = {}

    def keep_logits(module, inputs, output):
        output.retain_grad()
        seen["logits"] = output
    net.register_forward_hook(keep_logits)
    task(images, valid, labels)["total"].backward()
    grad = seen["logits"].grad.permute(0, 2, 3, 1)
    assert grad[~mask].abs().max() == 0 and grad[mask].abs().max() > 0


def test_an_all_void_batch_is_a_zero_loss():
    net = SegmentationNet(SmallBackbone(8), 3, "aspp_v2", [1])
    out = SegmentationTask(net)(torch.randn(1, 3, 16, 16), torch.ones(1, 1, 16, 16),
                                torch.full((1, 16, 16), 255, dtype=torch.long))
    assert out["total"].item() == 0


def test_gt_void_pixels_never_reach_the_metric(tmp_path):
    from slamslib.data.palette import save_palette_png
    (tmp_path / "p").mkdir()
    (tmp_path / "g").mkdir()
    gt = np.array([[0, 1], [255, 255]])
    save_palette_png(np.array([[0, 1], [1, 0]]), tmp_path / "p/a.png")   # wrong only where gt is void
    save_palette_png(gt, tmp_path / "g/a.png")
    assert evaluate_folder(tmp_path / "p", tmp_path / "g", 2)["miou"] == 100.0


def test_the_warm_start_takes_the_trained_backbone_and_its_hash(smoke_tree):
    cfg, _ = smoke_tree
    cfg = cfg.with_overrides({"segmentation.init_from": "semantic_encoder",
                              "run_name": "warm-start"}, "test")
    num_classes = cfg.benchmark.num_classes + 1
    with pytest.raises(SlamsError, match="run the semantic_encoder stage first"):
        build_task(cfg, "segmentation_full_supervision", num_classes)
    se = train_network(cfg, "semantic_encoder", num_classes, progress=False)
    task = build_task(cfg, "segmentation_full_supervision", num_classes)
    for name, tensor in se.model.backbone.state_dict().items():
        assert torch.equal(task.net.backbone.state_dict()[name], tensor), name
    cold = cfg.with_overrides({"segmentation.init_from": "none"}, "test")
    cold_net = build_task(cold, "segmentation_full_supervision", num_classes).net
    assert not torch.equal(cold_net.backbone.body[0].weight, se.model.backbone.body[0].weight)
    other_se = cfg.with_overrides({"semantic_encoder.tau": 3.0}, "test")
    hashes = {weights_hash(c, "segmentation_full_supervision") for c in (cfg, cold, other_se)}
    assert len(hashes) == 3    # the source network's params reach the segmentation weights' hash
