"""PASCAL VOC 2012 with SBD's train_aug, laid out as WSSS users have it (and as the benchmark is written).

    VOC2012/JPEGImages/<id>.jpg
    VOC2012/SegmentationClass/<id>.png       palette PNGs (train, val)
    VOC2012/SegmentationClassAug/<id>.png    index PNGs from SBD (train_aug, val)
    VOC2012/ImageSets/Segmentation/{train,val,train_aug}.txt

Image-level labels are derived from the masks, as the peers do (IRN's cls_labels): a category is in
the image when any of its pixels is. Training asks for labels only and never receives a mask.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..errors import SlamsError

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
IGNORE = 255


@contextmanager
def open_image(path: Path, split: str):
    """PIL's image of `path`, or one sentence naming the file and split."""
    try:
        with Image.open(path) as image:
            yield image
    except FileNotFoundError:
        raise SlamsError(f"image {path} of split '{split}' is missing") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise SlamsError(f"image {path} of split '{split}' is unreadable ({exc})") from None


def image_size(path: Path, split: str) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding it."""
    with open_image(path, split) as image:
        return image.size


def read_image(path: Path, split: str) -> np.ndarray:
    """RGB uint8 HxWx3, or one sentence naming the file and split."""
    with open_image(path, split) as image:
        return np.asarray(image.convert("RGB"))


def read_label_png(path: Path, what: str, num_classes: int, where: str = "") -> np.ndarray:
    """Class-index uint8 HxW from a palette (P) or grayscale (L) PNG, checked against the classes;
    any problem is one sentence naming the file (`what` and `where` say what it is)."""
    name = f"{what} {path}{where}"
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L"):
                raise SlamsError(f"{name} is a {image.mode} image; expected a palette (P) or "
                                 "grayscale (L) PNG of class indices")
            labels = np.asarray(image)
    except FileNotFoundError:
        raise SlamsError(f"{name} is missing") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise SlamsError(f"{name} is unreadable ({exc})") from None
    bad = (labels >= num_classes) & (labels != IGNORE)
    if bad.any():
        raise SlamsError(f"{name} holds class {int(labels[bad][0])}, but there are {num_classes} "
                         f"classes (0..{num_classes - 1}, 255 = void)")
    return labels


def read_mask(path: Path, split: str, num_classes: int) -> np.ndarray:
    return read_label_png(path, "mask", num_classes, f" of split '{split}'")


def read_split_list(path: Path, split: str) -> list[str]:
    if not path.is_file():
        raise SlamsError(f"split '{split}' has no image list: {path} is missing")
    # utf-8-sig: an editor's byte-order mark would otherwise become part of the first name
    names = [list_entry(line) for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    if not names:
        raise SlamsError(f"split '{split}' is empty: {path} lists no image")
    seen = set()
    for name in names:
        if name in seen:
            raise SlamsError(f"split '{split}' lists image {name} twice ({path}): it would count twice")
        seen.add(name)
    return names


def list_entry(line: str) -> str:
    """An image id from a split-list line: "2007_000032" (VOC), or SBD's train_aug.txt form
    "/JPEGImages/2007_000032.jpg /SegmentationClassAug/2007_000032.png"."""
    first = line.split()[0]
    return PurePosixPath(first).stem if "/" in first else first


def labels_from_masks(masks, num_classes: int) -> np.ndarray:
    """Multi-hot foreground labels (num_classes - 1 columns, background excluded) from masks."""
    rows = []
    for mask in masks:
        counts = np.bincount(mask[mask != IGNORE].ravel(), minlength=num_classes)[:num_classes]
        rows.append(counts[1:] > 0)
    return np.asarray(rows, dtype=np.float32).reshape(-1, num_classes - 1)


class SegmentationFolder:
    """A VOC-layout split: `names`, `labels` (N x K multi-hot), and per-index image / mask readers.

    `mask_dir` defaults to SegmentationClassAug when it holds the split's masks, else
    SegmentationClass (as on a VOC tree without SBD)."""

    def __init__(self, root: str | Path, split: str, class_names=VOC_CLASSES,
                 image_dir: str = "JPEGImages", image_ext: str = ".jpg",
                 mask_dir: str | None = None, list_path: Path | None = None):
        self.root, self.split = Path(root), split
        self.class_names = tuple(class_names)
        self.num_classes = len(self.class_names)
        if not self.root.is_dir():
            raise SlamsError(f"dataset folder {self.root} (split '{split}') does not exist")
        self.image_dir = self.root / image_dir
        if not self.image_dir.is_dir():
            raise SlamsError(f"image folder {self.image_dir} of split '{split}' does not exist")
        list_path = list_path or self.root / "ImageSets" / "Segmentation" / f"{split}.txt"
        self.names = read_split_list(list_path, split)
        self.image_ext = image_ext
        self.mask_dir = self.root / (mask_dir or self._pick_mask_dir())
        missing = [n for n in self.names if not (self.image_dir / f"{n}{image_ext}").is_file()]
        if missing:
            raise SlamsError(f"image {self.image_dir / (missing[0] + image_ext)} of split '{split}' "
                             f"is missing ({len(missing)} of {len(self.names)} listed images are)")
        missing = [n for n in self.names if not (self.mask_dir / f"{n}.png").is_file()]
        if missing:
            raise SlamsError(f"mask {self.mask_dir / (missing[0] + '.png')} of split '{split}' is "
                             f"missing ({len(missing)} of {len(self.names)} listed masks are)")
        self._labels = None

    def _pick_mask_dir(self) -> str:
        aug = self.root / "SegmentationClassAug"
        if aug.is_dir() and all((aug / f"{n}.png").is_file() for n in self.names[:50]):
            return "SegmentationClassAug"
        return "SegmentationClass"

    def __len__(self) -> int:
        return len(self.names)

    def image_path(self, i: int) -> Path:
        return self.image_dir / f"{self.names[i]}{self.image_ext}"

    def mask_path(self, i: int) -> Path:
        return self.mask_dir / f"{self.names[i]}.png"

    def image(self, i: int) -> np.ndarray:
        return read_image(self.image_path(i), self.split)

    def mask(self, i: int) -> np.ndarray:
        return read_mask(self.mask_path(i), self.split, self.num_classes)

    def _sized_mask(self, i: int) -> np.ndarray:
        """mask(i), checked once against its image's size (from the image's header)."""
        mask = self.mask(i)
        width, height = image_size(self.image_path(i), self.split)
        if mask.shape != (height, width):
            raise SlamsError(f"mask {self.mask_path(i)} of split '{self.split}' is {mask.shape[1]}x"
                             f"{mask.shape[0]} but its image {self.image_path(i)} is {width}x{height}: "
                             "a mask must have its image's size")
        return mask

    @property
    def labels(self) -> np.ndarray:
        """Image-level labels, derived from the masks on first use and kept for this object's life."""
        if self._labels is None:
            # an explicit `disable` beats TQDM_DISABLE, which quiet worker processes set
            quiet = len(self) < 500 or bool(os.environ.get("TQDM_DISABLE"))
            # the one pass over every mask: where each is checked against its image, not on every read
            masks = (self._sized_mask(i) for i in tqdm(range(len(self)), desc=f"labels {self.split}",
                                                       leave=False, disable=quiet))
            self._labels = labels_from_masks(masks, self.num_classes)
        return self._labels


def synthetic_class_names(root: str | Path) -> tuple[str, ...]:
    meta = Path(root) / "benchmark.json"
    if not meta.is_file():
        raise SlamsError(f"{meta} is missing: the benchmark folder was not written by the kit")
    return tuple(json.loads(meta.read_text())["class_names"])
