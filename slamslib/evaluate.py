"""Score any folder of label PNGs against ground-truth PNGs, the way the kit scores its own."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from .errors import SlamsError
from .metrics import SegmentationScore


def _read_labels(path: Path, what: str) -> np.ndarray:
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L"):
                raise SlamsError(f"{what} {path} is a {image.mode} image; expected a palette (P) or "
                                 "grayscale (L) PNG of class indices")
            return np.asarray(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise SlamsError(f"{what} {path} is unreadable ({exc})") from None


def evaluate_folder(pred_dir: str | Path, gt_dir: str | Path, num_classes: int = 21,
                    names: list[str] | None = None) -> dict:
    """mIoU over every prediction in `pred_dir` (or every name in `names`, which must all be there).
    Each needs a ground truth of the same name and size; nothing is skipped silently."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    for folder, what in ((pred_dir, "prediction folder"), (gt_dir, "ground-truth folder")):
        if not folder.is_dir():
            raise SlamsError(f"{what} {folder} does not exist")
    if names is None:
        names = sorted(p.stem for p in pred_dir.glob("*.png"))
        if not names:
            raise SlamsError(f"prediction folder {pred_dir} holds no PNG")
    score = SegmentationScore(num_classes)
    for name in tqdm(names, desc="evaluate", leave=False, disable=len(names) < 200):
        pred_path, gt_path = pred_dir / f"{name}.png", gt_dir / f"{name}.png"
        if not pred_path.is_file():
            raise SlamsError(f"prediction {pred_path} is missing (listed image '{name}')")
        if not gt_path.is_file():
            raise SlamsError(f"ground truth {gt_path} is missing for prediction {pred_path}")
        pred, gt = _read_labels(pred_path, "prediction"), _read_labels(gt_path, "ground truth")
        if pred.shape != gt.shape:
            raise SlamsError(f"prediction {pred_path} is {pred.shape[1]}x{pred.shape[0]} but its "
                             f"ground truth is {gt.shape[1]}x{gt.shape[0]}")
        for labels, path in ((pred, pred_path), (gt, gt_path)):
            bad = (labels >= num_classes) & (labels != 255)
            if bad.any():
                raise SlamsError(f"{path} holds class {int(labels[bad][0])}, but --num-classes is "
                                 f"{num_classes}")
        score.update(pred, gt)
    return score.result()
