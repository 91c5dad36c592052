"""One entry point from params to a dataset split, whatever `data.name` says."""
from __future__ import annotations

from ..config import Config
from ..errors import SlamsError
from ..paths import resolve
from .coco import coco_class_names, coco_split
from .synthetic import generate
from .voc import VOC_CLASSES, SegmentationFolder, synthetic_class_names


def prepare_data(cfg: Config, force: bool = False):
    """Make sure the data exists: generates the embedded benchmark (reused when the knobs match and
    no file is missing; `force` makes it again) and, where params ask for it, the small backbone's
    pretraining (slamslib.pretraining)."""
    from ..pretraining import ensure_pretrained
    root = resolve(cfg.data.root)
    if cfg.data.name == "synthetic":
        generate(cfg.benchmark, root, force=force)
    ensure_pretrained(cfg)
    return root


def class_names_for(cfg: Config) -> tuple[str, ...]:
    root = resolve(cfg.data.root)
    if cfg.data.name == "synthetic":
        return synthetic_class_names(root)
    if cfg.data.name == "coco":
        return coco_class_names(root)
    return VOC_CLASSES


def build_dataset(cfg: Config, split: str) -> SegmentationFolder:
    """The split named `split` (e.g. cfg.data.train_split) of the dataset the params point at."""
    root = prepare_data(cfg)
    if cfg.data.name == "coco":
        return coco_split(root, split)
    return SegmentationFolder(root, split, class_names_for(cfg))


def checked_split(cfg: Config, split: str, scored: bool = False) -> SegmentationFolder:
    """build_dataset with every mask read (and checked) now, so that a broken split stops a stage
    before its training rather than after it. `scored`: the split scores maps or image-level scores,
    so it needs an image with a labelled category."""
    dataset = build_dataset(cfg, split)
    labels = dataset.labels   # reads and checks every mask
    if scored and not labels.any():
        raise SlamsError(f"split '{split}' has no image with a labelled category (every mask is "
                         "background or void): neither maps nor presence scores can be scored on it")
    return dataset
