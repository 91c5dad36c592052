"""Score any folder of label PNGs against ground-truth PNGs, the way the kit scores its own."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import ChecksConfig
from .data.voc import read_label_png
from .errors import LearningWarning, SlamsError
from .metrics import SegmentationScore, average_precision, label_frequency_map


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
        pred = read_label_png(pred_path, "prediction", num_classes)
        gt = read_label_png(gt_path, "ground truth", num_classes)
        if pred.shape != gt.shape:
            raise SlamsError(f"prediction {pred_path} is {pred.shape[1]}x{pred.shape[0]} but its "
                             f"ground truth is {gt.shape[1]}x{gt.shape[0]}")
        score.update(pred, gt)
    return score.result()


@torch.no_grad()
def image_scores(model, split, device, progress: bool = True) -> np.ndarray:
    """Image-level scores for the foreground categories (N x K) of every image of `split`: the SE's
    presence scores p_k, or the sigmoid of the CAM network's logits."""
    from .data.transforms import to_tensor
    model = model.to(device).eval()
    rows = []
    for i in tqdm(range(len(split)), desc="image scores", leave=False, disable=not progress):
        x = to_tensor(split.image(i))[None].to(device)
        out = model(x)
        rows.append((out["scores"][:, 1:] if "scores" in out else out["logits"].sigmoid()).float().cpu())
    return torch.cat(rows).numpy()


def classification_map(model, split, device, progress: bool = True) -> tuple[float, np.ndarray]:
    """mAP (percent) and per-class AP of image-level scores on `split` against its image labels."""
    ap = average_precision(image_scores(model, split, device, progress), split.labels)
    return float(100 * np.nanmean(ap)), ap


def learning_warning(network: str, mean_ap: float, labels: np.ndarray, checks: ChecksConfig,
                     split: str = "val") -> str | None:
    """One sentence when `network`'s classification mAP on `split` is below checks' floor or no better
    than label frequencies (issued as a LearningWarning and returned, for the summary); else None."""
    chance = label_frequency_map(labels)
    if mean_ap >= checks.min_classification_map and mean_ap >= chance + checks.chance_margin:
        return None
    message = (f"{network} reaches only {mean_ap:.1f} classification mAP on {split} (label frequencies "
               f"alone give {chance:.1f}; checks.min_classification_map is "
               f"{checks.min_classification_map:g}): it has not learnt this data, so what is made from "
               "it is noise; try more epochs or another lr in its train section, or another backbone "
               "set-up (backbone.norm / backbone.pretrained / backbone.weights)")
    warnings.warn(message, LearningWarning, stacklevel=2)
    return message
