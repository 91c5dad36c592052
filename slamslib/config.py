"""Params: a YAML file, validated by a typed schema (pydantic), with overrides and a stable hash.

Every section of the schema forbids unknown keys, so a misspelled key fails with a sentence naming it
and the closest valid key, instead of silently falling back to a default.
"""
from __future__ import annotations

import difflib
import functools
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import SlamsError
from .paths import resolve


# value types with bounds (a scale of 0 or a threshold of 1.5 would run and mean nothing)
Scale = Annotated[float, Field(gt=0, le=8)]
Level = Annotated[float, Field(gt=0, lt=1)]      # a map level in (0, 1), e.g. a background threshold
Share = Annotated[float, Field(ge=0, le=1)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# Which split trains, which is scored for seeds/masks, which for segmentation: the peers' protocol.
DEFAULT_SPLITS = {
    "synthetic": ("train_aug", "train", "val"),
    "voc": ("train_aug", "train", "val"),
    "coco": ("train", "train", "val"),
}


class DataConfig(Section):
    name: Literal["synthetic", "voc", "coco"] = Field(
        description="synthetic: the embedded benchmark (generated under root); voc: a VOC2012 folder; "
        "coco: a COCO 2014 folder with class-index masks (slams coco-masks)")
    root: Path = Field(description="the dataset folder (for voc: the VOC2012 folder itself)")
    train_split: str | None = None
    seed_split: str | None = None
    val_split: str | None = None
    num_workers: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _default_splits(self):
        train, seed, val = DEFAULT_SPLITS[self.name]
        self.__dict__["train_split"] = self.train_split or train
        self.__dict__["seed_split"] = self.seed_split or seed
        self.__dict__["val_split"] = self.val_split or val
        return self


class BenchmarkConfig(Section):
    """Knobs of the embedded synthetic benchmark (slamslib.data.synthetic); recorded beside the data."""
    seed: int = 0
    num_classes: int = Field(8, ge=2, le=60, description="foreground categories")
    family_size: int = Field(2, ge=1, le=26, description="categories that share one silhouette (shape "
                             "family), named by a letter each")
    first_silhouette: int = Field(0, ge=0, description="where in the silhouette list the first family "
                                  "starts (the backbone's pretraining set starts past the benchmark's)")
    train_aug_size: int = Field(2000, ge=1)
    train_size: int = Field(500, ge=1, description="the seed-evaluation subset of train_aug (VOC's train)")
    val_size: int = Field(300, ge=1)
    min_size: int = Field(64, ge=16, description="smallest image side, px")
    max_size: int = Field(96, ge=16, description="largest image side, px")
    objects_per_image: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] = (1, 3)
    object_scale: tuple[Annotated[float, Field(gt=0, le=1)], Annotated[float, Field(gt=0, le=1)]] = Field(
        (0.35, 0.6), description="object length / image side")
    cue_share: tuple[Share, Share] = Field((0.15, 0.25), description="cue area / object area")
    context_classes: int = Field(4, ge=0, description="categories that have a co-occurring background")
    context_rate: float = Field(0.8, ge=0, le=1, description="P(context | object of a context class)")
    context_distractor_rate: float = Field(
        0.1, ge=0, le=1, description="P(an image shows a context whose category is absent)")
    context_scale: float = Field(2.2, ge=1, description="context region side / object side")
    max_overlap: float = Field(0.3, ge=0, le=1, description="largest share of an object others may hide")
    void_width: int = Field(1, ge=0, description="width of the 255 band along object borders, px")
    jpeg_quality: int = Field(95, ge=1, le=100)

    @model_validator(mode="after")
    def _check_ranges(self):
        for name in ("objects_per_image", "object_scale", "cue_share"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name} must be [low, high] with low <= high")
        if self.min_size > self.max_size:
            raise ValueError("min_size must not exceed max_size")
        if self.train_size > self.train_aug_size:
            raise ValueError("train_size must not exceed train_aug_size (train is a subset of train_aug)")
        if self.context_classes > self.num_classes:
            raise ValueError("context_classes must not exceed num_classes")
        return self


class TrainConfig(Section):
    """One network's schedule; the same engine (slamslib.engine) runs every network with it."""
    epochs: int = Field(5, ge=1)
    batch_size: int = Field(16, ge=1, description="global batch: split evenly over the processes")
    lr: float = Field(0.01, gt=0, description="backbone learning rate; heads get lr * head_lr_mult")
    head_lr_mult: float = Field(10.0, gt=0)
    optimizer: Literal["sgd", "adamw"] = Field("sgd", description="SGD with momentum (the peers' "
                                               "recipe) or AdamW (betas 0.9/0.999)")
    warmup_iters: int = Field(0, ge=0, description="iterations of linear learning-rate warm-up before "
                              "the poly decay")
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    poly_power: float = Field(0.9, ge=0)
    crop_size: int = Field(96, ge=16, description="random crop (padded where the image is smaller)")
    scale_range: tuple[float, float] = Field((0.9, 1.1), description="random rescale before the crop")
    flip: bool = True
    amp: bool = Field(True, description="mixed precision on CUDA (ignored on CPU)")
    checkpoint_every: int = Field(200, ge=1, description="iterations between atomic checkpoints")

    @model_validator(mode="after")
    def _check_scale(self):
        low, high = self.scale_range
        if not 0 < low <= high:
            raise ValueError("scale_range must be [low, high] with 0 < low <= high")
        return self


class PretrainingConfig(Section):
    """The small backbone's stand-in for ImageNet pretraining: a multi-label classifier trained on a
    generated set whose categories share no silhouette with the benchmark's (slamslib.pretraining)."""
    seed: int = Field(101, description="seed of the pretraining set and of its training")
    num_classes: int = Field(8, ge=2, le=60)
    family_size: int = Field(2, ge=1, le=26)
    first_silhouette: int = Field(4, ge=0, description="its first shape family (the demo's four are 0-3)")
    images: int = Field(3000, ge=2)
    train: TrainConfig = TrainConfig(epochs=10, batch_size=32, lr=0.02, head_lr_mult=1.0)
    dir: Path = Field(Path("results/pretrained"), description="shared by every run, like torchvision's "
                      "cache: one folder per pretraining hash")


class BackboneConfig(Section):
    name: Literal["small", "resnet50", "resnet101"] = Field(
        "small", description="small: a CNN that trains on a CPU; resnet*: torchvision, output stride 16")
    width: int = Field(32, ge=4, description="small backbone only: channels of its first stage")
    norm: Literal["group", "batch"] = Field("group", description="small backbone only: GroupNorm (8 "
                                            "groups; batch-size independent) or BatchNorm")
    pretrained: bool = Field(False, description="start from pretrained weights: ImageNet for resnet*; "
                             "for small, the synthetic stand-in (`pretraining`) unless `weights` is set")
    weights: Path | None = Field(None, description="a local .pth: ImageNet weights for resnet*, a small "
                                 "backbone's state dict for small; else torchvision's cache / pretraining")
    pretraining: PretrainingConfig = PretrainingConfig()


class MaskedInputConfig(Section):
    """Hide-and-seek for the SE: some training images with grid cells set to the mean colour, so the
    judge of stage 2 has seen masked images before (SLAMS.md, reconstructed)."""
    rate: float = Field(0.0, ge=0, le=1, description="share of training images that get masked")
    grid: int = Field(4, ge=1, description="cells per side")
    hide: float = Field(0.25, ge=0, lt=1, description="probability that a cell is hidden")
    empty_rate: float = Field(0.0, ge=0, le=1, description="share of training images replaced by an "
                              "all-hidden image labelled with no category at all, background included")


class BackgroundExclusionConfig(Section):
    """The kit's own option (not in SLAMS.md). Background is labelled in every image, so the presence
    loss alone lets s_0 match anything but the fill: the SE scores background ~0.99 on every piece and
    the background terms of L_fg and L_bg carry nothing. With this on, the SE also sees each image's
    piece made of its most category-like cells (fill elsewhere) and learns that it holds no background;
    the background's embedding learns on detached backbone features, so its labels never reshape them."""
    weight: float = Field(0.0, ge=0, description="0 switches it off; about 1/(K+1), the background's "
                          "share of the presence loss, keeps the two in balance")
    share: float = Field(0.1, gt=0, le=1, description="per present category, this top share of the "
                         "valid cells (by their cosine to s_k) goes into the piece")


class ErasingConfig(Section):
    """The kit's own option (not in SLAMS.md): adversarial erasing (Wei et al. 2017) turned on the
    judge. The SE learns from image labels that a context which comes with category k in most images
    is evidence of k, and L_fg and L_bg then pull that context into k's map. With this on, the CAM is
    trained first; in a share of the SE's training images the region the CAM gives to one labelled
    category is filled with the mean colour and that label removed, so the SE sees what is left of the
    image (k's context among it) labelled "not k". `label: keep` is Wei et al.'s own form instead:
    the label stays, so the SE must find k in what the CAM missed (the rest of the object)."""
    rate: float = Field(0.0, ge=0, le=1, description="share of the SE's training images with one "
                        "labelled category erased; 0 switches it off")
    threshold: float = Field(0.3, gt=0, lt=1, description="the erased region: where that category's "
                             "multi-scale CAM, divided by its max, is above this")
    label: Literal["remove", "keep"] = Field(
        "remove", description="remove: the erased category's label goes (its context without it reads "
        "'not k'); keep: it stays (k must be found in what is left, the object beyond the cue)")


class SemanticEncoderConfig(Section):
    embed_dim: int = Field(64, ge=1, description="D, per category (256 at paper scale)")
    input_size: int = Field(48, ge=16, description="the SE's fixed input side (224 at paper scale)")
    tau: float = Field(10.0, ge=0, description="score = sigmoid(tau (cos - delta)); 0 = plain cosine")
    delta: float = Field(0.5, ge=0, le=1)
    pool: Literal["mean", "attention"] = Field(
        "mean", description="mean (= sum for the cosine) or attention: pixels weighted by how much "
        "they look like the category")
    attention_sharpness: float = Field(
        10.0, gt=0, description="attention pooling's softmax(sharpness * cos) over pixels: higher is "
        "closer to max pooling (the most category-like pixels decide)")
    activation: Literal["relu", "softplus"] = Field(
        "relu", description="keeps embeddings and semantics non-negative; softplus never dies")
    reconstruction_weight: float = Field(1.0, ge=0, description="lambda_rec; 0 switches the decoder off")
    masked_input: MaskedInputConfig = MaskedInputConfig()
    background_exclusion: BackgroundExclusionConfig = BackgroundExclusionConfig()
    erasing: ErasingConfig = ErasingConfig()
    train: TrainConfig = TrainConfig()


class LossWeights(Section):
    sem: float = Field(1.0, ge=0, description="semantic guidance (AN embeddings vs SE semantics)")
    fg: float = Field(1.0, ge=0, description="category-foreground (correctness)")
    bg: float = Field(1.0, ge=0, description="category-background (completeness)")
    reg: float = Field(0.1, ge=0, description="activation regularization (compactness)")
    con: float = Field(1.0, ge=0, description="consistency")

    @model_validator(mode="after")
    def _something_to_learn(self):
        if not any((self.sem, self.fg, self.bg, self.reg, self.con)):
            raise ValueError("at least one loss weight must be above 0")
        return self


class ActivationNetConfig(Section):
    losses: LossWeights = LossWeights()
    consistency: Literal["partition", "transform"] = Field(
        "partition", description="partition: present maps add up to one per pixel; transform: maps "
        "agree under a flip + rescale of the input")
    map_head: Literal["conv", "semantic"] = Field(
        "conv", description="conv: 1x1 conv to K+1 logits; semantic: per-pixel SE score of the AN's "
        "own embeddings (maps in the SE's semantic space)")
    init_from: Literal["none", "semantic_encoder", "cam"] = Field(
        "semantic_encoder", description="warm-start the AN's backbone from a trained network")
    train: TrainConfig = TrainConfig()


class CamConfig(Section):
    train: TrainConfig = TrainConfig()


class MapsConfig(Section):
    scales: list[Scale] = Field([1.0, 0.5, 1.5, 2.0], min_length=1)
    flip: bool = True
    batch_size: int = Field(16, ge=1)
    normalize: bool = Field(True, description="divide each class map by its maximum (CAM always is)")
    thresholds: list[Level] = Field([round(0.05 * i, 2) for i in range(1, 20)], min_length=1)


class VisualizationConfig(Section):
    examples: int = Field(6, ge=1, description="images in each figure grid")
    browser: bool = Field(True, description="an ipywidgets map browser in a live notebook")


class AffinityConfig(Section):
    """AffinityNet-style pairwise labels from the seeds, and the network that learns them."""
    threshold: Level | Literal["best"] = Field(
        "best", description="background threshold t of the seeds; best: the one stage 02 found")
    fg_margin: float = Field(0.2, ge=0, lt=1, description="confident foreground: strongest map above "
                             "t + fg_margin (1 - t), this share of the way from t to 1")
    bg_margin: float = Field(0.5, ge=0, le=1, description="confident background: strongest map below "
                             "t (1 - bg_margin)")
    radius: int = Field(5, ge=1, description="pairs closer than this (feature cells, stride 4) are labelled")
    embed_dim: int = Field(64, ge=1)
    train: TrainConfig = TrainConfig(epochs=3, batch_size=32, lr=0.02, head_lr_mult=1.0)


class RandomWalkConfig(Section):
    beta: float = Field(16.0, gt=0, description="transition weights are affinity ** beta")
    iterations: int = Field(64, ge=1, description="random-walk steps")
    radius: int = Field(5, ge=1, description="neighbours reached in one step (feature cells, stride 4)")
    background: Literal["walked", "threshold"] = Field(
        "walked", description="walked: a background score (1 - strongest map)^alpha walks with the maps "
        "(alpha from the seed threshold); threshold: the maps walk alone, each / its max, against `threshold`")
    threshold: Level | Literal["seed"] = Field(
        "seed", description="background: threshold only; seed: the seeds' threshold")


class CrfConfig(Section):
    """pydensecrf's DenseCRF2D on the random-walk labels (unary: the label with probability gt_prob)."""
    iterations: int = Field(10, ge=1)
    gt_prob: float = Field(0.9, gt=0, lt=1, description="how much the unary trusts the walked label")
    gaussian_sxy: float = Field(3.0, gt=0)
    gaussian_compat: float = Field(3.0, ge=0)
    bilateral_sxy: float = Field(30.0, gt=0, description="px; ~80 on VOC-sized images")
    bilateral_srgb: float = Field(13.0, gt=0)
    bilateral_compat: float = Field(4.0, ge=0)


class PseudoLabelsConfig(Section):
    unsure: Literal["disagree", "none"] = Field(
        "disagree", description="disagree: 255 where the CRF changed the random-walk label")
    workers: int = Field(2, ge=0, description="refinement processes; 0 refines in this process")
    affinity: AffinityConfig = AffinityConfig()
    random_walk: RandomWalkConfig = RandomWalkConfig()
    crf: CrfConfig = CrfConfig()


class SegmentationEvalConfig(Section):
    scales: list[Scale] = Field([1.0, 0.75, 1.25], min_length=1, description="multi-scale inference")
    flip: bool = True
    batch_size: int = Field(16, ge=1)
    crf: bool = Field(False, description="dense CRF on the multi-scale prediction (params: crf)")


class SegmentationConfig(Section):
    head: Literal["aspp_v3", "aspp_v2"] = Field(
        "aspp_v3", description="aspp_v3: torchvision's DeepLabV3 head; aspp_v2: DeepLabV2's classifier")
    atrous_rates: list[int] = Field([12, 24, 36], min_length=1, description="ASPP dilations "
                                    "(DeepLabV2 uses 6, 12, 18, 24)")
    aspp_channels: int = Field(256, ge=8, description="aspp_v3: the head's width")
    init_from: Literal["none", "semantic_encoder", "cam"] = Field(
        "none", description="warm-start the backbone from this run's network trained on image labels "
        "(the benchmark's stand-in for ImageNet weights); none keeps backbone.pretrained's")
    train: TrainConfig = TrainConfig(epochs=5, batch_size=16, lr=0.01)
    eval: SegmentationEvalConfig = SegmentationEvalConfig()
    crf: CrfConfig = CrfConfig()


# The ablation rows: name -> overrides of the full model. Every reconstructed choice of SLAMS.md that
# is a param gets a row; "background from map 0" is a column of every row (a readout, no training).
DEFAULT_ABLATION_ROWS = {
    "full model": {},
    "w/o L_sem (semantic guidance)": {"activation_net.losses.sem": 0},
    "w/o L_fg (correctness)": {"activation_net.losses.fg": 0},
    "w/o L_bg (completeness)": {"activation_net.losses.bg": 0},
    "w/o L_reg (compactness)": {"activation_net.losses.reg": 0},
    "w/o L_con (consistency)": {"activation_net.losses.con": 0},
    "SE w/o reconstruction": {"semantic_encoder.reconstruction_weight": 0},
    "SE w/o masked inputs": {"semantic_encoder.masked_input.rate": 0,
                             "semantic_encoder.masked_input.empty_rate": 0},
    "plain cosine score (tau 0)": {"semantic_encoder.tau": 0},
    "maps not normalised": {"maps.normalize": False},
    "SE + background exclusion (kit's own)": {"semantic_encoder.background_exclusion.weight": 0.1},
    "SE + erasing by the CAM (kit's own)": {"semantic_encoder.erasing.rate": 0.5},
    "SE + erasing by the CAM, label kept (kit's own)": {"semantic_encoder.erasing.rate": 0.5,
                                                        "semantic_encoder.erasing.label": "keep"},
}
# What a row may not change: the data every row is scored on, and where the sub-runs live.
ABLATION_FIXED = ("run_name", "results_dir", "seed", "data", "benchmark", "ablation")


class AblationConfig(Section):
    """Stage 06: the loss ablation, trained as sub-runs under results/<run>/ablation/."""
    seeds: int = Field(3, ge=1, description="training seeds per row (seed, seed+1, ...): mean ± std")
    schedule: dict[str, Any] = Field(
        {}, description="overrides for every row (a shorter schedule than the main run, e.g. "
        "activation_net.train.epochs); the full-model row uses it too")
    rows: dict[str, dict[str, Any]] = Field(
        DEFAULT_ABLATION_ROWS, min_length=1, description="row name -> overrides of the full model")
    workers: int = Field(1, ge=1, description="sub-runs trained at once, in processes sharing the "
                         "CPU threads (keep 1 on one GPU)")

    @model_validator(mode="after")
    def _first_row_is_the_full_model(self):
        first, overrides = next(iter(self.rows.items()))
        if overrides:
            raise ValueError(f"the first row ({first!r}) is the full model every row is compared with: "
                             "its overrides must be {} (put schedule changes in ablation.schedule)")
        return self

    @model_validator(mode="after")
    def _rows_change_only_training(self):
        for where, overrides in [("schedule", self.schedule),
                                 *((f"rows[{name!r}]", o) for name, o in self.rows.items())]:
            for key in overrides:
                if key.split(".")[0] in ABLATION_FIXED:
                    raise ValueError(f"ablation.{where} may not override {key!r}: every row trains on "
                                     f"the same data and seeds (fixed: {', '.join(ABLATION_FIXED)})")
        return self


class DistributedConfig(Section):
    nproc_per_node: int = Field(1, ge=1, description=">1: training runs under torchrun, one process "
                                "per GPU (or CPU process with gloo)")
    torchrun_args: list[str] = Field([], description="extra torchrun flags, e.g. --nnodes=2 "
                                     "--rdzv-endpoint=host:29400 for several nodes")


class ChecksConfig(Section):
    """When a stage warns that a classifier has not learnt the data (slamslib.evaluate.learning_warning):
    every later number (seeds, pseudo labels, the method comparison) would then be noise."""
    min_classification_map: float = Field(70.0, ge=0, le=100, description="a classifier (SE, CAM "
                                          "network, the pretraining stand-in) whose val mAP ends below "
                                          "this warns")
    chance_margin: float = Field(10.0, ge=0, description="... or one within this many points of the "
                                 "mAP of predicting label frequencies alone")


class Config(Section):
    run_name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 0
    results_dir: Path = Path("results")
    data: DataConfig
    benchmark: BenchmarkConfig = BenchmarkConfig()
    backbone: BackboneConfig = BackboneConfig()
    semantic_encoder: SemanticEncoderConfig = SemanticEncoderConfig()
    activation_net: ActivationNetConfig = ActivationNetConfig()
    cam: CamConfig = CamConfig()
    maps: MapsConfig = MapsConfig()
    visualization: VisualizationConfig = VisualizationConfig()
    pseudo_labels: PseudoLabelsConfig = PseudoLabelsConfig()
    segmentation: SegmentationConfig = SegmentationConfig()
    ablation: AblationConfig = AblationConfig()
    distributed: DistributedConfig = DistributedConfig()
    checks: ChecksConfig = ChecksConfig()
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="auto: cuda > mps > cpu")

    @property
    def run_dir(self) -> Path:
        return resolve(self.results_dir) / self.run_name

    def stage_dir(self, stage: str) -> Path:
        return self.run_dir / stage

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    def with_overrides(self, overrides: Mapping[str, Any], source: str,
                       keys_only: bool = False) -> "Config | None":
        """A copy with dotted overrides applied and validated; a bad key names `source`. `keys_only`
        checks keys and types but lets a rule between values pass (returns None then)."""
        raw = self.to_dict()
        for dotted, value in overrides.items():
            _apply(raw, dotted, value, source)
        try:
            return Config.model_validate(raw)
        except ValidationError as exc:
            errors = exc.errors()
            if keys_only and all(error["type"] == "value_error" for error in errors):
                return None
            raise SlamsError(_describe(errors[0], source)) from None

    def hash(self, *sections: str) -> str:
        """sha256 of the canonical JSON of the given sections (all of them when none is named). With
        `data`, also what the split lists of a real dataset hold (a list edited in place changes what
        trains); with a section whose computation changed in a way that changes results, its
        CODE_VERSIONS entry (so outputs of the older code are not trusted)."""
        data = without_added_defaults(self.to_dict())
        if sections:
            data = {name: _pick(data, name) for name in sections}
        if "data" in data and self.data.name != "synthetic":   # the benchmark's lists follow its knobs
            data["split_lists"] = split_list_digests(self.data)
        data.update({f"code:{name}": v for name, v in CODE_VERSIONS.items() if name in data})
        return stable_hash(data)


# Params added after results were published, with the value that reproduces the older behaviour: a key
# at that value is left out of every hash, so weights and results made before it existed stay valid.
ADDED_LATER = {"optimizer": "sgd", "warmup_iters": 0, "norm": "group"}


def without_added_defaults(data):
    """`data` (a params dict, at any depth) without the ADDED_LATER keys that hold their old value."""
    if isinstance(data, dict):
        return {k: without_added_defaults(v) for k, v in data.items()
                if not (k in ADDED_LATER and v == ADDED_LATER[k])}
    if isinstance(data, list):
        return [without_added_defaults(v) for v in data]
    return data


# 2: multi-scale inference batches only images of one size (before, padding to the batch's largest
# image changed the others' maps and predictions)
CODE_VERSIONS = {"maps": 2, "segmentation.eval": 2}


def split_list_digests(data: DataConfig) -> dict:
    """{split: sha256 of its list file (None where there is none)} for the splits `data` names."""
    root = resolve(data.root)
    folder = root / "ImageSets" / ("Segmentation" if data.name == "voc" else "")
    digests = {}
    for split in sorted({data.train_split, data.seed_split, data.val_split}):
        path = folder / f"{split}.txt"
        digests[split] = _file_digest(path, *_stamp(path))
    return digests


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
        return stat.st_mtime_ns, stat.st_size
    except FileNotFoundError:
        return 0, -1


@functools.lru_cache(maxsize=64)
def _file_digest(path: Path, mtime_ns: int, size: int) -> str | None:
    """Cached by modification time and size: params hashes are computed many times per stage."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if size >= 0 else None


def _pick(data: dict, dotted: str):
    """data["a"]["b"] for "a.b"."""
    for key in dotted.split("."):
        data = data[key]
    return data


def stable_hash(data) -> str:
    """16 hex digits of sha256 over canonical JSON: equal data, equal hash, on any machine."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def parse_overrides(overrides: Mapping[str, Any] | Sequence[str] | None) -> dict[str, Any]:
    """`["a.b=1", ...]` (console) or `{"a.b": 1}` (notebook) -> {"a.b": value}; values parse as YAML."""
    if not overrides:
        return {}
    if isinstance(overrides, Mapping):
        return dict(overrides)
    parsed = {}
    for item in overrides:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise SlamsError(f"override {item!r} must look like key.subkey=value")
        parsed[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return parsed


def _apply(raw: dict, dotted: str, value: Any, source: str) -> None:
    node = raw
    parts = dotted.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise SlamsError(f"{source}: override {dotted!r} goes through "
                             f"{'.'.join(parts[:i + 1])!r}, which is not a section")
        node = child
    node[parts[-1]] = value


def _fields_at(loc: Sequence[Any]) -> list[str]:
    model: Any = Config
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            break
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def _describe(error: dict, source: str) -> str:
    # keys only: list positions and pydantic's tags of union members ("constrained-float") dropped
    loc = [p for p in error["loc"] if isinstance(p, str) and not any(c in p for c in "-[(")]
    key = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        known = _fields_at(loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1)
        hint = (f" (did you mean {'.'.join(loc[:-1] + close[:1])!r}?)" if close
                else f" (valid keys here: {', '.join(known)})")
        return f"{source}: unknown key {key!r}{hint}"
    if error["type"] == "missing":
        return f"{source}: required key {key!r} is missing"
    got = error.get("input")
    got_text = "" if isinstance(got, dict) else f", got {got!r}"
    return f"{source}: {key}: {error['msg']}{got_text}"


def load_config(params_file: str | Path,
                overrides: Mapping[str, Any] | Sequence[str] | None = None,
                check_data: bool = True) -> Config:
    """Read, override and validate a params file. Relative paths resolve against the project root.
    `check_data` also requires data.root to exist for the real datasets (the benchmark is generated)."""
    path = resolve(params_file)
    if not path.is_file():
        raise SlamsError(f"params file {str(params_file)!r} does not exist (looked at {path})")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SlamsError(f"{params_file}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise SlamsError(f"{params_file}: the top level must be a mapping of keys to values")
    for dotted, value in parse_overrides(overrides).items():
        _apply(raw, dotted, value, str(params_file))
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise SlamsError(_describe(errors[0], str(params_file)) + more) from None
    for name, overrides in {"ablation.schedule": cfg.ablation.schedule,
                            **{f"ablation.rows[{k!r}]": v for k, v in cfg.ablation.rows.items()}}.items():
        # keys and types now; a rule between values (e.g. a row that switches off the last loss of
        # params that keep only one) is the ablation stage's to report, when it runs
        cfg.with_overrides({**cfg.ablation.schedule, **overrides}, f"{params_file}: {name}",
                           keys_only=True)
    if check_data and cfg.data.name != "synthetic" and not resolve(cfg.data.root).is_dir():
        raise SlamsError(f"{params_file}: data.root {str(cfg.data.root)!r} is not a directory "
                         f"(data.name={cfg.data.name} expects {_EXPECTED_ROOT[cfg.data.name]})")
    return cfg


_EXPECTED_ROOT = {
    "voc": "the VOC2012 folder with JPEGImages/, SegmentationClassAug/ and ImageSets/Segmentation/",
    "coco": "the COCO 2014 folder with train2014/, val2014/ and mask/ from `slams coco-masks`",
}
