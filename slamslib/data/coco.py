"""MS COCO 2014 for WSSS: images plus per-image class-index PNGs made once from the instances JSON.

    coco/train2014/*.jpg, coco/val2014/*.jpg
    coco/annotations/instances_{train,val}2014.json
    coco/mask/{train,val}2014/<image stem>.png     written by `slams coco-masks --root coco`
    coco/ImageSets/{train,val}.txt, coco/class_names.json   written by the same command

Categories map to 1..80 in the order of their COCO ids; crowd regions become 255 (void); larger
instances are painted first so that small ones on top of them stay visible. Images with no
non-crowd instance carry no image-level label and are left out of the lists, as the peers do.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm.auto import tqdm

from ..errors import SlamsError
from ..paths import atomic_path
from .voc import IGNORE, SegmentationFolder

SPLIT_FOLDERS = {"train": "train2014", "val": "val2014"}


def decode_rle(rle: dict) -> np.ndarray:
    """A COCO run-length mask (uncompressed list or compressed string counts) -> bool HxW."""
    h, w = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = _counts_from_string(counts)
    flat = np.zeros(h * w, dtype=bool)
    position, value = 0, False
    for run in counts:
        flat[position:position + run] = value
        position += run
        value = not value
    return flat.reshape((w, h)).T  # COCO stores masks column by column


def _counts_from_string(text: str) -> list[int]:
    # COCO's compact RLE: 5-bit groups with a continuation bit, deltas from the run two back.
    counts, p = [], 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def instance_mask(annotation: dict, h: int, w: int) -> np.ndarray:
    segmentation = annotation["segmentation"]
    if isinstance(segmentation, dict):
        return decode_rle(segmentation)
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for polygon in segmentation:
        if len(polygon) >= 6:
            draw.polygon([(polygon[i], polygon[i + 1]) for i in range(0, len(polygon), 2)], fill=1)
    return np.asarray(canvas, dtype=bool)


def convert_instances(root: str | Path, split: str = "train") -> int:
    """Write class-index PNGs, the split list and class_names.json for one split; returns the count."""
    root = Path(root)
    folder = SPLIT_FOLDERS.get(split)
    if folder is None:
        raise SlamsError(f"COCO split '{split}' is unknown (use one of {', '.join(SPLIT_FOLDERS)})")
    json_path = root / "annotations" / f"instances_{folder}.json"
    if not json_path.is_file():
        raise SlamsError(f"COCO split '{split}' needs {json_path}, which is missing")
    try:
        data = json.loads(json_path.read_text())
        categories = sorted(data["categories"], key=lambda c: c["id"])
        images, annotations = data["images"], data["annotations"]
    except (ValueError, KeyError) as exc:
        raise SlamsError(f"{json_path} is not a COCO instances file ({exc})") from None
    index_of = {c["id"]: i + 1 for i, c in enumerate(categories)}
    by_image: dict[int, list] = {}
    for annotation in annotations:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    out_dir = root / "mask" / folder
    out_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for image in tqdm(images, desc=f"coco masks {split}"):
        anns = by_image.get(image["id"], [])
        if not any(not a.get("iscrowd", 0) for a in anns):
            continue
        h, w = image["height"], image["width"]
        label = np.zeros((h, w), dtype=np.uint8)
        for annotation in sorted(anns, key=lambda a: -a.get("area", 0)):
            if annotation["category_id"] not in index_of:
                raise SlamsError(f"{json_path}: annotation {annotation.get('id')} of image {image['id']} "
                                 f"has category_id {annotation['category_id']}, which its categories lack")
            mask = instance_mask(annotation, h, w)
            label[mask] = IGNORE if annotation.get("iscrowd", 0) else index_of[annotation["category_id"]]
        if not ((label > 0) & (label != IGNORE)).any():   # its objects have no pixel: no label either
            continue
        stem = Path(image["file_name"]).stem
        with atomic_path(out_dir / f"{stem}.png") as tmp:
            Image.fromarray(label, mode="L").save(tmp, format="PNG")
        names.append(stem)
    (root / "ImageSets").mkdir(exist_ok=True)
    (root / "ImageSets" / f"{split}.txt").write_text("\n".join(names) + "\n")
    (root / "class_names.json").write_text(
        json.dumps(["background"] + [c["name"] for c in categories], indent=1) + "\n")
    return len(names)


def coco_class_names(root: str | Path) -> tuple[str, ...]:
    path = Path(root) / "class_names.json"
    if not path.is_file():
        raise SlamsError(f"{path} is missing: run `slams coco-masks --root {root}` once to make the "
                         "class-index masks from the instances JSON")
    return tuple(json.loads(path.read_text()))


def coco_split(root: str | Path, split: str) -> SegmentationFolder:
    root = Path(root)
    folder = SPLIT_FOLDERS.get(split)
    if folder is None:
        raise SlamsError(f"COCO split '{split}' is unknown (use one of {', '.join(SPLIT_FOLDERS)})")
    return SegmentationFolder(root, split, coco_class_names(root), image_dir=folder,
                              mask_dir=f"mask/{folder}", list_path=root / "ImageSets" / f"{split}.txt")
