"""The small backbone's stand-in for ImageNet: a disjoint generated set, made once, loaded by every network."""
import pytest
import torch

from slamslib.config import load_config
from slamslib.data.synthetic import make_categories, silhouettes_used
from slamslib.errors import SlamsError
from slamslib.models.backbones import build_backbone
from slamslib.pretraining import ensure_pretrained, pretraining_config, pretrained_weights_path
from slamslib.training import build_network


def tiny(smoke_tree, tmp_path, **overrides):
    cfg, root = smoke_tree
    return cfg.with_overrides({"results_dir": str(tmp_path / "results"), "backbone.pretrained": True,
                               "backbone.pretraining.images": 24, "backbone.pretraining.train.epochs": 1,
                               "backbone.pretraining.train.batch_size": 8,
                               "backbone.pretraining.dir": str(tmp_path / "pretrained"), **overrides},
                              "test")


@pytest.mark.parametrize("params", ["params/demo.yaml", "params/smoke.yaml"])
def test_the_pretraining_set_shares_no_silhouette_and_no_category_with_the_benchmark(params):
    cfg = load_config(params, {"backbone.pretrained": True})
    stand_in = pretraining_config(cfg)
    assert silhouettes_used(cfg.benchmark).isdisjoint(silhouettes_used(stand_in.benchmark))
    names = {c.name for c in make_categories(cfg.benchmark)}
    assert names.isdisjoint(c.name for c in make_categories(stand_in.benchmark))
    assert stand_in.benchmark.seed != cfg.benchmark.seed


def test_first_silhouette_shifts_the_shape_families():
    cfg = load_config("params/smoke.yaml")
    shifted = cfg.with_overrides({"benchmark.first_silhouette": 2}, "test")
    assert [c.silhouette for c in make_categories(cfg.benchmark)] == ["ellipse", "ellipse", "box", "box"]
    assert [c.silhouette for c in make_categories(shifted.benchmark)] == ["triangle", "triangle",
                                                                         "diamond", "diamond"]


def test_every_network_starts_from_the_pretrained_backbone_made_once(smoke_tree, tmp_path):
    cfg = tiny(smoke_tree, tmp_path)
    with pytest.raises(SlamsError, match="pretraining has not run.*slams run benchmark"):
        build_backbone(cfg.backbone)
    path = ensure_pretrained(cfg, progress=False)
    assert path == pretrained_weights_path(cfg.backbone) and path.is_file()
    written = path.stat().st_mtime_ns
    assert ensure_pretrained(cfg, progress=False) == path and path.stat().st_mtime_ns == written
    classifier = torch.load(path.parent / "activation_maps" / "cam.pt", weights_only=False)["model"]
    for name in ("semantic_encoder", "cam", "activation_net"):
        backbone = build_network(cfg, name, 5).backbone.state_dict()
        for key, value in backbone.items():
            assert torch.equal(value, classifier[f"backbone.{key}"]), (name, key)
    scratch = build_network(cfg.with_overrides({"backbone.pretrained": False}, "test"), "cam", 5)
    assert not torch.equal(scratch.backbone.body[0].weight, classifier["backbone.body.0.weight"])
    # another pretraining schedule is another stand-in, in its own folder
    other = tiny(smoke_tree, tmp_path, **{"backbone.pretraining.seed": 7})
    assert pretrained_weights_path(other.backbone) != path


def test_the_pretraining_must_not_see_the_benchmarks_shapes(smoke_tree, tmp_path):
    cfg = tiny(smoke_tree, tmp_path, **{"backbone.pretraining.first_silhouette": 1})
    with pytest.raises(SlamsError, match=r"shares the silhouettes \['box'\].*first_silhouette"):
        ensure_pretrained(cfg, progress=False)


def test_a_local_small_backbone_file_is_used_as_is_and_a_foreign_one_named(smoke_tree, tmp_path):
    cfg = tiny(smoke_tree, tmp_path)
    source = build_backbone(cfg.with_overrides({"backbone.pretrained": False, "seed": 3}, "test").backbone)
    torch.nn.init.constant_(source.body[0].weight, 0.5)
    torch.save(source.state_dict(), tmp_path / "mine.pt")
    mine = cfg.with_overrides({"backbone.weights": str(tmp_path / "mine.pt")}, "test")
    assert ensure_pretrained(mine, progress=False) is None        # nothing to pretrain
    assert torch.equal(build_backbone(mine.backbone).body[0].weight, source.body[0].weight)
    wider = mine.with_overrides({"backbone.width": 16}, "test")
    with pytest.raises(SlamsError, match="do not fit backbone.width=16"):
        build_backbone(wider.backbone)


def test_stage_00_makes_the_stand_in_and_reports_it(smoke_tree, tmp_path):
    from slamslib import stages
    cfg = tiny(smoke_tree, tmp_path)
    pretraining = stages.benchmark(cfg, samples=2).summary["metrics"]["pretraining"]
    assert pretrained_weights_path(cfg.backbone).is_file()
    assert pretraining["silhouettes"] == ["bowtie", "plus", "ring", "trapezoid"]
    assert pretraining["images"] == 24 and 0 <= pretraining["classification_map"] <= 100
    off = cfg.with_overrides({"backbone.pretrained": False}, "test")
    assert "pretraining" not in stages.benchmark(off, samples=2).summary["metrics"]
