"""The yardstick: confusion-matrix mIoU (255 ignored), per-class IoU, FP/FN, threshold sweeps.

Conventions, as WSSS papers report them:
- IoU_k = TP / (TP + FP + FN); a class absent from both prediction and ground truth of the whole
  scored set (union 0) does not count in the mean.
- FP_k = FP / union and FN_k = FN / union, so IoU_k + FP_k + FN_k = 1: the share of the union lost to
  over-activation and to under-activation.
- 255 in a prediction means "no label" (pseudo labels' unsure pixels): such a pixel is a false
  negative of its ground-truth class and a false positive of none.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

IGNORE = 255


def confusion(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """num_classes x num_classes counts, rows = ground truth, columns = prediction; 255 in gt skipped,
    255 in the prediction (no label given) left to `unlabelled`."""
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    if pred.shape != gt.shape:
        raise ValueError(f"prediction has {pred.size} pixels, ground truth {gt.size}")
    keep = (gt != IGNORE) & (pred != IGNORE)
    pred, gt = pred[keep].astype(np.int64), gt[keep].astype(np.int64)
    if pred.size and (pred.max() >= num_classes or gt.max() >= num_classes):
        raise ValueError(f"a label exceeds num_classes={num_classes}")
    return np.bincount(gt * num_classes + pred, minlength=num_classes ** 2).reshape(
        num_classes, num_classes)


def unlabelled(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """Per ground-truth class, the pixels a prediction left at 255 (pseudo labels' "unsure")."""
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    missed = gt[(pred == IGNORE) & (gt != IGNORE)].astype(np.int64)
    return np.bincount(missed, minlength=num_classes)[:num_classes]


def scores(conf: np.ndarray, missed: np.ndarray | None = None) -> dict:
    """mIoU (percent), per-class IoU / FP / FN (fractions, NaN where the class never occurs).
    `missed`: per class, pixels left without a label; they count as false negatives."""
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    gt_total, pred_total = conf.sum(1), conf.sum(0)
    if missed is not None:
        gt_total = gt_total + missed
    union = gt_total + pred_total - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        fp = np.where(union > 0, (pred_total - tp) / union, np.nan)
        fn = np.where(union > 0, (gt_total - tp) / union, np.nan)
    counted = union > 0
    return {
        "miou": float(np.nanmean(iou) * 100) if counted.any() else float("nan"),
        "iou": iou, "fp": fp, "fn": fn,
        "fp_fg": float(np.nanmean(fp[1:])) if counted[1:].any() else float("nan"),
        "fn_fg": float(np.nanmean(fn[1:])) if counted[1:].any() else float("nan"),
    }


@dataclass
class SegmentationScore:
    """Accumulates one confusion matrix over a dataset, image by image."""
    num_classes: int
    conf: np.ndarray = field(init=False)
    missed: np.ndarray = field(init=False)
    images: int = 0

    def __post_init__(self):
        self.conf = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        self.missed = np.zeros(self.num_classes, dtype=np.int64)

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        self.conf += confusion(pred, gt, self.num_classes)
        self.missed += unlabelled(pred, gt, self.num_classes)
        self.images += 1

    def add(self, other: "SegmentationScore") -> None:
        """Merge a score accumulated elsewhere (another process, another chunk)."""
        self.conf += other.conf
        self.missed += other.missed
        self.images += other.images

    def state(self) -> dict:
        return {"conf": self.conf.tolist(), "missed": self.missed.tolist(), "images": self.images}

    @classmethod
    def from_state(cls, state: dict) -> "SegmentationScore":
        score = cls(len(state["missed"]))
        score.conf[:] = state["conf"]
        score.missed[:] = state["missed"]
        score.images = state["images"]
        return score

    def result(self) -> dict:
        total = self.conf.sum() + self.missed.sum()
        return {**scores(self.conf, self.missed), "images": self.images,
                "unlabelled_share": float(self.missed.sum() / total) if total else 0.0}


@dataclass
class ThresholdSweep:
    """Seed mIoU for many background thresholds in one pass, one confusion matrix per threshold.

    For an image, `maps` holds one activation map per labelled class (C x H x W, values in [0, 1])
    and `classes` their class indices. At threshold t a pixel is background when its strongest map
    is <= t, else that map's class. Each pixel's strongest value is binned among the thresholds once,
    so a single bincount per image serves every threshold; no mask is kept after its update."""
    num_classes: int
    thresholds: np.ndarray
    images: int = 0

    def __post_init__(self):
        self.thresholds = np.sort(np.asarray(self.thresholds, dtype=np.float64))
        t, n = len(self.thresholds), self.num_classes
        # bins 0..t: how many thresholds lie strictly below the pixel's strongest map value
        self._counts = np.zeros((t + 1, n, n), dtype=np.int64)

    def update(self, maps: np.ndarray, classes, gt: np.ndarray) -> None:
        n, t = self.num_classes, len(self.thresholds)
        gt = np.asarray(gt)
        keep = gt != IGNORE
        if len(classes) == 0:
            strongest = np.zeros(gt.shape)
            winner = np.zeros(gt.shape, dtype=np.int64)
        else:
            maps = np.asarray(maps, dtype=np.float32)
            strongest = maps.max(0)
            winner = np.asarray(classes, dtype=np.int64)[maps.argmax(0)]
        bins = np.searchsorted(self.thresholds, strongest[keep], side="left")
        g = gt[keep].astype(np.int64)
        flat = (bins * n + g) * n + winner[keep]
        self._counts += np.bincount(flat, minlength=(t + 1) * n * n).reshape(t + 1, n, n)
        self.images += 1

    @property
    def conf(self) -> np.ndarray:
        """One confusion matrix per threshold (T x N x N), derived from the binned counts."""
        # above[i] = pixels whose strongest value exceeds thresholds[i] (bins > i)
        above = np.cumsum(self._counts[::-1], axis=0)[::-1][1:]
        below = self._counts.sum(0)[None] - above
        conf = above.copy()
        conf[:, :, 0] += below.sum(2)   # below the threshold: predicted background
        return conf

    def result(self) -> dict:
        conf = self.conf
        per_t = [scores(c)["miou"] for c in conf]
        best = int(np.nanargmax(per_t))
        return {"thresholds": self.thresholds.tolist(), "miou": per_t, "best_threshold":
                float(self.thresholds[best]), "best": {**scores(conf[best]), "images": self.images},
                "images": self.images}


def average_precision(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-class AP (columns) of image-level scores: mean precision at the rank of each positive.
    NaN for a class without positives."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels) > 0
    ap = np.full(scores.shape[1], np.nan)
    for k in range(scores.shape[1]):
        positives = labels[:, k].sum()
        if positives == 0:
            continue
        order = np.argsort(-scores[:, k], kind="stable")
        hits = labels[order, k]
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        ap[k] = precision[hits].sum() / positives
    return ap


def label_frequency_map(labels: np.ndarray) -> float:
    """mAP (percent) of a classifier that knows only how often each class occurs: every image gets the
    same score, so each class's AP is, in expectation over the ties' order, its prevalence. Classes
    without positives are left out, as average_precision leaves them out."""
    labels = np.asarray(labels) > 0
    present = labels.any(0)
    return float(100 * labels[:, present].mean(0).mean()) if present.any() else float("nan")
