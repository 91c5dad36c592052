"""The small backbone's stand-in for ImageNet pretraining.

At paper scale every network starts from ImageNet weights: features that already know objects, so
that the semantic encoder learns *which* object, not what an object is. A CPU cannot train that, and
nothing is downloaded, so the kit makes a stand-in: a second generated set whose categories share no
silhouette, hue draw or context texture with the benchmark's (other shape families, another seed), a
multi-label classifier trained on it with the one engine, and its backbone kept as the starting
weights of every network of the run (SE, AN, CAM, affinity, segmentation alike). It is made once per
pretraining hash under `backbone.pretraining.dir` and shared by all runs, like torchvision's cache.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .config import (BackboneConfig, BenchmarkConfig, Config, DataConfig, stable_hash,
                     without_added_defaults)
from .errors import SlamsError
from .paths import atomic_path, resolve

WEIGHTS = "backbone.pt"


def uses_synthetic_pretraining(backbone: BackboneConfig) -> bool:
    return backbone.name == "small" and backbone.pretrained and backbone.weights is None


def pretraining_hash(backbone: BackboneConfig) -> str:
    from .data.synthetic import GENERATOR_VERSION
    return stable_hash(without_added_defaults(
        {"version": GENERATOR_VERSION, "width": backbone.width, "norm": backbone.norm,
         "pretraining": backbone.pretraining.model_dump(mode="json", exclude={"dir"})}))


def pretraining_dir(backbone: BackboneConfig) -> Path:
    return resolve(backbone.pretraining.dir) / f"small-{pretraining_hash(backbone)}"


def pretrained_weights_path(backbone: BackboneConfig) -> Path:
    return pretraining_dir(backbone) / WEIGHTS


def pretraining_config(cfg: Config) -> Config:
    """The run that trains the stand-in: the CAM classifier of the kit on the pretraining set."""
    p = cfg.backbone.pretraining
    folder = pretraining_dir(cfg.backbone)
    bench = BenchmarkConfig(seed=p.seed, num_classes=p.num_classes, family_size=p.family_size,
                            first_silhouette=p.first_silhouette, train_aug_size=p.images,
                            train_size=min(500, p.images), val_size=max(1, p.images // 10))
    return Config(run_name=folder.name, results_dir=folder.parent, seed=p.seed, device=cfg.device,
                  data=DataConfig(name="synthetic", root=folder / "VOC2012"), benchmark=bench,
                  backbone=BackboneConfig(name="small", width=cfg.backbone.width, norm=cfg.backbone.norm),
                  cam={"train": p.train})


def check_disjoint(cfg: Config) -> None:
    """The stand-in must not have seen the benchmark's categories (ImageNet has no synthetic shapes)."""
    from .data.synthetic import silhouettes_used
    if cfg.data.name != "synthetic":
        return
    shared = silhouettes_used(cfg.benchmark) & silhouettes_used(pretraining_config(cfg).benchmark)
    if shared:
        raise SlamsError(f"backbone.pretraining shares the silhouettes {sorted(shared)} with the "
                         "benchmark: move backbone.pretraining.first_silhouette past the benchmark's "
                         "shape families (or lower its num_classes)")


def ensure_pretrained(cfg: Config, progress: bool = True) -> Path | None:
    """Make the stand-in's weights if the params ask for them and they are not there yet; returns
    their path (None when the run does not use the stand-in). Interrupted, it resumes: the pretraining
    set and its classifier are cached and checkpointed like any run's."""
    if not uses_synthetic_pretraining(cfg.backbone):
        return None
    check_disjoint(cfg)
    path = pretrained_weights_path(cfg.backbone)
    if path.is_file():
        return path
    from .data import class_names_for, prepare_data
    from .training import train_network
    stand_in = pretraining_config(cfg)
    prepare_data(stand_in)   # the class names come from the generated set
    trained = train_network(stand_in, "cam", len(class_names_for(stand_in)), progress=progress)
    with atomic_path(path) as tmp:
        torch.save(trained.model.backbone.state_dict(), tmp)
    return path


def load_pretrained(backbone: BackboneConfig) -> dict:
    """The small backbone's starting weights: `backbone.weights`, or the stand-in made for this run."""
    from .models.backbones import local_weights, read_weights
    path = local_weights(backbone) or pretrained_weights_path(backbone)
    if not path.is_file():
        raise SlamsError(f"backbone.pretrained is true but the small backbone's pretraining has not run "
                         f"({path} is missing): run the benchmark stage first (slams run benchmark "
                         "--params ...), which makes it")
    return read_weights(path, "the small backbone's weights")


def describe_pretraining(cfg: Config, progress: bool = True) -> dict | None:
    """What the stand-in is and how well it classifies its own val split (for stage 00's summary)."""
    path = ensure_pretrained(cfg, progress)
    if path is None:
        return None
    from .data import build_dataset, class_names_for
    from .data.synthetic import silhouettes_used
    from .engine import pick_device
    from .evaluate import classification_map, learning_warning
    from .training import train_network
    stand_in = pretraining_config(cfg)
    trained = train_network(stand_in, "cam", len(class_names_for(stand_in)), progress=progress)
    val = build_dataset(stand_in, stand_in.data.val_split)
    mean_ap, _ = classification_map(trained.model, val, pick_device(cfg.device), progress)
    warning = learning_warning("the small backbone's pretraining classifier", mean_ap, val.labels,
                               cfg.checks, val.split)
    return {**({"warnings": [warning]} if warning else {}),"weights": str(cfg.backbone.pretraining.dir / path.parent.name / path.name),
            "classification_map": mean_ap, "train_s": trained.train_s,
            "images": stand_in.benchmark.train_aug_size, "categories": stand_in.benchmark.num_classes,
            "silhouettes": sorted(silhouettes_used(stand_in.benchmark))}
