"""Build, train (or reuse) the networks of the stages from params: SE, CAM, AN, the affinity nets.

A network's final weights carry the hash of the params they were trained under; a later run with the
same params reuses them, any change retrains. With distributed.nproc_per_node > 1 the training runs
under torchrun (one process per GPU, or gloo processes on a CPU) and this process waits for it."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import torch
import yaml

from .config import Config, stable_hash
from .data import build_dataset
from .data.transforms import LabelledImages, TrainImages
from .data.voc import read_label_png
from .engine import fit, pick_device
from .erasing import CamRegions, ErasedImages
from .errors import SlamsError
from .maps import MAPS_MARKER, infer_split
from .models.activation_net import ActivationNet
from .models.affinity import AffinityNet
from .models.deeplab import SegmentationNet
from .models.backbones import build_backbone
from .models.cam_net import CamNet
from .models.semantic_encoder import SemanticEncoder
from .paths import atomic_path, resolve
from .tasks import ActivationNetTask, AffinityTask, CamTask, SegmentationTask, SemanticEncoderTask

# what pseudo labels depend on (pseudo_labels.workers does not change them)
PSEUDO_LABELS = ("pseudo_labels.unsure", "pseudo_labels.affinity", "pseudo_labels.random_walk",
                 "pseudo_labels.crf")
SEGMENTATION_WEIGHTS = ("segmentation.head", "segmentation.atrous_rates", "segmentation.aspp_channels",
                        "segmentation.init_from", "segmentation.train")
MAP_NETWORKS = {"slams": "activation_net", "cam": "cam"}   # method -> network that makes its maps
# network -> (stage folder, params sections its weights depend on)
NETWORKS = {
    "semantic_encoder": ("semantic_encoder", ("seed", "data", "benchmark", "backbone", "semantic_encoder")),
    "cam": ("activation_maps", ("seed", "data", "benchmark", "backbone", "cam")),
    "activation_net": ("activation_maps", ("seed", "data", "benchmark", "backbone", "semantic_encoder",
                                           "activation_net", "cam")),
    # one affinity network per method, trained on labels from that method's stored maps
    "affinity_cam": ("pseudo_labels", ("seed", "data", "benchmark", "backbone", "cam", "maps",
                                       "pseudo_labels.affinity")),
    "affinity_slams": ("pseudo_labels", ("seed", "data", "benchmark", "backbone", "semantic_encoder",
                                         "activation_net", "cam", "maps", "pseudo_labels.affinity")),
    # the segmentation network on each source of labels (pseudo labels of a method, or ground truth)
    "segmentation_cam": ("segmentation", ("seed", "data", "benchmark", "backbone", "cam", "maps",
                                          *PSEUDO_LABELS, *SEGMENTATION_WEIGHTS)),
    "segmentation_slams": ("segmentation", ("seed", "data", "benchmark", "backbone", "semantic_encoder",
                                            "activation_net", "cam", "maps", *PSEUDO_LABELS,
                                            *SEGMENTATION_WEIGHTS)),
    "segmentation_full_supervision": ("segmentation", ("seed", "data", "benchmark", "backbone",
                                                       *SEGMENTATION_WEIGHTS)),
}


@dataclass
class Trained:
    name: str
    model: torch.nn.Module
    log: pd.DataFrame
    images_per_s: float
    train_s: float
    weights: Path


def weights_hash(cfg: Config, name: str) -> str:
    """What `name`'s weights depend on: its params sections and the networks (or maps) it starts from,
    is judged by or reads, so that retraining one of those retrains it."""
    own = cfg.hash(*NETWORKS[name][1])
    upstream = [weights_hash(cfg, source) for source in (warm_start_source(cfg, name), judge(name))
                if source is not None]
    if (eraser := erasing_source(cfg, name)) is not None:     # its maps, not only its weights
        upstream.append(maps_key(cfg, eraser))
    return stable_hash([own, *upstream]) if upstream else own


def warm_start_source(cfg: Config, name: str) -> str | None:
    """The trained network whose backbone `name` starts from, if any."""
    if name == "activation_net":
        init_from = cfg.activation_net.init_from
    elif name.startswith("segmentation_"):
        init_from = cfg.segmentation.init_from
    else:
        return None
    return None if init_from == "none" else init_from


def judge(name: str) -> str | None:
    """The frozen network whose judgement trains `name`: the SE judges the activation net's pieces."""
    return "semantic_encoder" if name == "activation_net" else None


def erasing_source(cfg: Config, name: str) -> str | None:
    """The method whose stored maps erase part of `name`'s training images, if any (ErasingConfig)."""
    if name == "semantic_encoder" and cfg.semantic_encoder.erasing.rate > 0:
        return "cam"
    return None


def maps_dir(cfg: Config, method: str) -> Path:
    return cfg.stage_dir("activation_maps") / "maps" / method


def maps_key(cfg: Config, method: str) -> str:
    """What a method's stored maps depend on: its network's weights and the map params."""
    return stable_hash([weights_hash(cfg, MAP_NETWORKS[method]), cfg.hash("maps"), method])


def store_maps(cfg: Config, method: str, model, split, progress: bool = True, force: bool = False,
               marker: str = MAPS_MARKER) -> dict:
    """A method's multi-scale maps of every image of `split`, stored under maps_dir (slamslib.maps)."""
    return infer_split(model, method, split, cfg.maps, maps_dir(cfg, method), pick_device(cfg.device),
                       maps_key(cfg, method), cfg.maps.normalize or method == "cam", progress,
                       marker=marker, force=force)


def store_train_maps(cfg: Config, method: str, num_classes: int, progress: bool = True,
                     force: bool = False) -> dict:
    """The method's maps of the train split (its network trained first where it is not yet), which
    the SE's erasing reads."""
    trained = train_network(cfg, MAP_NETWORKS[method], num_classes, progress=progress)
    return store_maps(cfg, method, trained.model, build_dataset(cfg, cfg.data.train_split), progress,
                      force=force)


def weights_path(cfg: Config, name: str) -> Path:
    return cfg.stage_dir(NETWORKS[name][0]) / f"{name}.pt"


def build_network(cfg: Config, name: str, num_classes: int) -> torch.nn.Module:
    """num_classes counts background (K+1). The model is initialised from cfg.seed."""
    torch.manual_seed(cfg.seed)
    backbone = build_backbone(cfg.backbone)
    se = cfg.semantic_encoder
    if name == "semantic_encoder":
        return SemanticEncoder(backbone, num_classes, se.embed_dim, se.input_size, se.tau, se.delta,
                               decoder=se.reconstruction_weight > 0, activation=se.activation, pool=se.pool,
                               sharpness=se.attention_sharpness)
    if name == "cam":
        return CamNet(backbone, num_classes - 1)
    if name.startswith("affinity_"):
        return AffinityNet(backbone, cfg.pseudo_labels.affinity.embed_dim)
    if name.startswith("segmentation_"):
        s = cfg.segmentation
        return SegmentationNet(backbone, num_classes, s.head, s.atrous_rates, s.aspp_channels)
    return ActivationNet(backbone, num_classes, se.embed_dim, se.activation, se.pool,
                         cfg.activation_net.map_head, se.tau, se.delta, se.attention_sharpness)


def load_trained(cfg: Config, name: str, num_classes: int) -> Trained | None:
    path = weights_path(cfg, name)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:   # torch raises several kinds for a damaged file
        raise SlamsError(f"{path} is unreadable ({type(exc).__name__}); delete it to train {name} "
                         "again") from None
    if state.get("params_hash") != weights_hash(cfg, name):
        return None
    model = build_network(cfg, name, num_classes)
    model.load_state_dict(state["model"])
    log_path = path.with_name(f"{name}_loss.csv")
    log = pd.read_csv(log_path) if log_path.is_file() else pd.DataFrame()
    return Trained(name, model.eval(), log, state.get("images_per_s", 0.0), state.get("train_s", 0.0), path)


def build_task(cfg: Config, name: str, num_classes: int, untrained: bool = False):
    """Network `name` with its loss. It starts from its warm_start_source and the activation net is
    judged by its judge, both this run's trained networks; `untrained` leaves them out (an untrained
    SE judges): enough to count the work before anything is trained (gpu_budget.py)."""
    net = build_network(cfg, name, num_classes)
    if name == "semantic_encoder":
        se = cfg.semantic_encoder
        return SemanticEncoderTask(net, se.reconstruction_weight, se.background_exclusion.weight,
                                   se.background_exclusion.share)
    if name == "cam":
        return CamTask(net)
    if name.startswith("affinity_"):
        return AffinityTask(net, cfg.pseudo_labels.affinity.radius)
    if name.startswith("segmentation_"):
        source = warm_start_source(cfg, name)
        if source is not None and not untrained:
            net.backbone.load_state_dict(require(cfg, source, num_classes).model.backbone.state_dict())
        return SegmentationTask(net)
    if untrained:
        return ActivationNetTask(net, build_network(cfg, "semantic_encoder", num_classes).eval(),
                                 cfg.activation_net)
    if (source := warm_start_source(cfg, name)) is not None:
        start = require(cfg, source, num_classes).model
        net.backbone.load_state_dict(start.backbone.state_dict())
        if source == "semantic_encoder":   # the same embedding head, too
            net.head.load_state_dict(start.head.state_dict())
    return ActivationNetTask(net, require(cfg, judge(name), num_classes).model, cfg.activation_net)


def require(cfg: Config, name: str, num_classes: int) -> Trained:
    trained = load_trained(cfg, name, num_classes)
    if trained is None:
        stage = NETWORKS[name][0]
        raise SlamsError(f"{name} has no trained weights for these params at {weights_path(cfg, name)}: "
                         f"run the {stage} stage first (slams run {stage} --params ...)")
    return trained


def train_config(cfg: Config, name: str):
    if name.startswith("affinity_"):
        return cfg.pseudo_labels.affinity.train
    if name.startswith("segmentation_"):
        return cfg.segmentation.train
    return {"semantic_encoder": cfg.semantic_encoder, "cam": cfg.cam,
            "activation_net": cfg.activation_net}[name].train


def affinity_label_dir(cfg: Config, method: str) -> Path:
    """Where the pseudo_labels stage writes the seed labels (255 unsure) the affinity net learns from."""
    return cfg.stage_dir("pseudo_labels") / method / "affinity_labels"


def pseudo_label_dir(cfg: Config, method: str) -> Path:
    """Where the pseudo_labels stage writes a method's pseudo labels (palette PNGs, 255 unsure)."""
    return cfg.stage_dir("pseudo_labels") / method / "labels"


def _read_label(folder: Path, split, what: str, index: int):
    return read_label_png(folder / f"{split.names[index]}.png", what, split.num_classes)


def label_reader(folder: Path, split, what: str):
    """index -> the label PNG of split's image `index` in `folder` (picklable, for loader workers)."""
    return partial(_read_label, folder, split, what)


def _dataset(cfg: Config, name: str, train):
    split = build_dataset(cfg, cfg.data.train_split)
    if name.startswith("affinity_"):
        reader = label_reader(affinity_label_dir(cfg, name.removeprefix("affinity_")), split,
                              "affinity label")
        return LabelledImages(split, train, cfg.seed, reader)
    if name == "segmentation_full_supervision":
        return LabelledImages(split, train, cfg.seed, split.mask)
    if name.startswith("segmentation_"):
        reader = label_reader(pseudo_label_dir(cfg, name.removeprefix("segmentation_")), split,
                              "pseudo label")
        return LabelledImages(split, train, cfg.seed, reader)
    if name != "semantic_encoder":
        return TrainImages(split, train, cfg.seed)
    se = cfg.semantic_encoder
    if se.erasing.rate > 0:
        regions = CamRegions(maps_dir(cfg, erasing_source(cfg, name)), split.names, se.erasing.threshold)
        return ErasedImages(split, train, cfg.seed, se.masked_input, se.erasing.rate, regions,
                            keep_label=se.erasing.label == "keep")
    return TrainImages(split, train, cfg.seed, se.masked_input)


def train_network(cfg: Config, name: str, num_classes: int, force: bool = False,
                  stop_after: int | None = None, progress: bool = True, dataset=None) -> Trained:
    """Train `name` (semantic_encoder, cam, activation_net) unless weights for these params exist.
    `dataset` replaces the training set the params describe (benchmarks/oracle_judge_check.py)."""
    if not force and stop_after is None:
        cached = load_trained(cfg, name, num_classes)
        if cached is not None:
            return cached
    per_process = train_config(cfg, name).batch_size // cfg.distributed.nproc_per_node
    if name.startswith("segmentation_") and cfg.segmentation.head == "aspp_v3" and per_process < 2:
        raise SlamsError(f"segmentation.train.batch_size gives {per_process} image(s) per process; the "
                         "aspp_v3 head's image-pooling BatchNorm needs at least 2 (raise batch_size, use "
                         "fewer processes, or head: aspp_v2)")
    under_torchrun = "LOCAL_RANK" in os.environ
    source = erasing_source(cfg, name)
    if source is not None and not under_torchrun:    # its maps, before any worker reads them
        store_train_maps(cfg, source, num_classes, progress)
    if cfg.distributed.nproc_per_node > 1 and not under_torchrun:
        if dataset is not None:
            raise SlamsError("a replacement training set cannot travel to torchrun workers; "
                             "set distributed.nproc_per_node: 1")
        launch_torchrun(cfg, name)
        return require(cfg, name, num_classes)
    train = train_config(cfg, name)
    dataset = _dataset(cfg, name, train) if dataset is None else dataset
    task = build_task(cfg, name, num_classes)
    result = fit(task, train, dataset, weights_path(cfg, name).parent, name, cfg.seed,
                 weights_hash(cfg, name), pick_device(cfg.device), cfg.data.num_workers,
                 stop_after=stop_after, progress=progress)
    return Trained(name, result.model, result.log, result.images_per_s, result.train_s, result.weights)


def launch_torchrun(cfg: Config, name: str) -> None:
    """Run `python -m slamslib.worker` under torchrun with these exact params (written beside the
    weights) and wait; a failing worker fails this stage with torchrun's exit status."""
    out = weights_path(cfg, name).parent
    params = out / f"{name}.torchrun.yaml"
    data = cfg.to_dict()
    data["results_dir"] = str(cfg.run_dir.parent)
    data["data"]["root"] = str(resolve(cfg.data.root))
    with atomic_path(params) as tmp:
        tmp.write_text(yaml.safe_dump(data, sort_keys=False))   # ablation rows keep their order
    command = [sys.executable, "-m", "torch.distributed.run",
               f"--nproc_per_node={cfg.distributed.nproc_per_node}", *cfg.distributed.torchrun_args,
               "-m", "slamslib.worker", str(params), name]
    print("launching:", " ".join(command), flush=True)
    done = subprocess.run(command, cwd=os.getcwd())
    if done.returncode != 0:
        raise SlamsError(f"torchrun training of {name} failed with exit status {done.returncode}")
