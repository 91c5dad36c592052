"""Score any folder of label PNGs against ground-truth PNGs, the way the kit scores its own."""
from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from .data.voc import read_label_png
from .errors import SlamsError
from .metrics import SegmentationScore


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
