"""The engine and the networks on smoke params: gradient paths, resuming, DDP under torchrun."""
import pandas as pd
import pytest
import torch

from slamslib.config import load_config
from slamslib.data import build_dataset
from slamslib.data.transforms import TrainImages
from slamslib.tasks import ActivationNetTask
from slamslib.training import build_network, train_network, weights_path


def smoke(smoke_tree, tmp_path, **overrides):
    _, root = smoke_tree
    return load_config("params/smoke.yaml", {"data.root": str(root),
                                              "results_dir": str(tmp_path / "results"), **overrides})


def batch(cfg, size=4):
    data = TrainImages(build_dataset(cfg, cfg.data.train_split), cfg.activation_net.train, cfg.seed)
    items = [data[i] for i in range(size)]
    return [torch.stack([torch.as_tensor(item[j]) for item in items]) for j in range(3)]


@pytest.mark.parametrize("term", ["fg", "bg"])
def test_gradients_reach_the_maps_through_the_frozen_semantic_encoder(smoke_tree, tmp_path, term):
    weights = {name: 0.0 for name in ("sem", "fg", "bg", "reg", "con")}
    weights[term] = 1.0
    cfg = smoke(smoke_tree, tmp_path, **{f"activation_net.losses.{k}": v for k, v in weights.items()})
    se = build_network(cfg, "semantic_encoder", 5)
    task = ActivationNetTask(build_network(cfg, "activation_net", 5), se, cfg.activation_net)
    before = {k: v.clone() for k, v in se.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in task.net.parameters() if p.requires_grad], lr=0.1)
    task.train()
    loss = task(*batch(cfg))
    assert set(loss) == {"total", term}
    loss["total"].backward()
    assert task.net.maps.weight.grad.abs().sum() > 0      # only the SE's judgement carries it
    assert all(p.grad is None for p in se.parameters())
    assert not se.training
    optimizer.step()
    assert all(torch.equal(before[k], v) for k, v in se.state_dict().items())


def test_an_interrupted_run_resumes_to_the_same_weights(smoke_tree, tmp_path):
    plain = smoke(smoke_tree, tmp_path / "plain")
    full = train_network(plain, "semantic_encoder", 5, progress=False)
    killed = smoke(smoke_tree, tmp_path / "killed")
    cut = train_network(killed, "semantic_encoder", 5, stop_after=6, progress=False)
    assert len(cut.log) == 6 and not weights_path(killed, "semantic_encoder").exists()
    resumed = train_network(killed, "semantic_encoder", 5, progress=False)   # from iteration 4
    assert len(resumed.log) == len(full.log) == 10
    pd.testing.assert_frame_equal(resumed.log.drop(columns="lr"), full.log.drop(columns="lr"),
                                  check_exact=False, rtol=1e-6)
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_ddp_with_two_gloo_processes_gives_the_one_process_losses(smoke_tree, tmp_path):
    one = train_network(smoke(smoke_tree, tmp_path / "one"), "semantic_encoder", 5, progress=False)
    two = train_network(smoke(smoke_tree, tmp_path / "two", **{"distributed.nproc_per_node": 2}),
                        "semantic_encoder", 5, progress=False)
    assert len(two.log) == len(one.log)
    for column in ("total", "presence", "reconstruction"):
        assert two.log[column].to_numpy() == pytest.approx(one.log[column].to_numpy(), rel=1e-4,
                                                             abs=1e-6), column
    state = torch.load(weights_path(smoke(smoke_tree, tmp_path / "two"), "semantic_encoder"),
                       weights_only=False)
    assert state["processes"] == 2


def test_resnet_backbone_output_stride_16_and_imagenet_weights_from_a_local_file_only(tmp_path, monkeypatch):
    import torchvision

    from slamslib.config import BackboneConfig
    from slamslib.errors import SlamsError
    from slamslib.models.backbones import build_backbone
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))       # an empty cache
    with pytest.raises(SlamsError, match=r"no ImageNet weights for resnet50 .*resnet50-.*\.pth.*"
                                         r"backbone\.weights"):
        build_backbone(BackboneConfig(name="resnet50", pretrained=True))
    weights = tmp_path / "r50.pth"
    reference = torchvision.models.resnet50()
    torch.save(reference.state_dict(), weights)
    net = build_backbone(BackboneConfig(name="resnet50", pretrained=True, weights=weights))
    assert torch.equal(net.body[0].weight, reference.conv1.weight)
    assert net(torch.zeros(1, 3, 64, 96)).shape == (1, 2048, 4, 6) and net.stride == 16
    net.train()
    assert not net.body[1].training and not net.body[1].weight.requires_grad    # frozen BatchNorm
    torch.save({"nope": torch.zeros(1)}, weights)
    with pytest.raises(SlamsError, match="lack"):
        build_backbone(BackboneConfig(name="resnet50", pretrained=True, weights=weights))


def test_empty_images_carry_no_category_not_even_background(smoke_tree, tmp_path):
    cfg = smoke(smoke_tree, tmp_path, **{"semantic_encoder.masked_input.empty_rate": 1.0})
    data = TrainImages(build_dataset(cfg, cfg.data.train_split), cfg.semantic_encoder.train, cfg.seed,
                       cfg.semantic_encoder.masked_input)
    image, valid, labels, _ = data[0]
    assert image.abs().sum() == 0 and valid.sum() == 0 and labels.sum() == 0
    se = build_network(cfg, "semantic_encoder", 5)
    from slamslib.tasks import SemanticEncoderTask
    loss = SemanticEncoderTask(se, 0.0)(image[None], valid[None], labels[None])["presence"]
    # with every target 0 the loss is the mean of -log(1 - p): recompute it from the scores
    p = se(image[None])["scores"].clamp(1e-4, 1 - 1e-4)
    assert loss.item() == pytest.approx(-torch.log(1 - p).mean().item(), rel=1e-4)
