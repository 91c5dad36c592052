import json

import numpy as np
import pytest

from slamslib.metrics import SegmentationScore, ThresholdSweep, confusion, scores
from slamslib.paths import write_json


def test_confusion_skips_void_and_counts_by_hand():
    gt = np.array([[0, 1, 1], [2, 255, 0]])
    pred = np.array([[0, 1, 2], [2, 1, 1]])
    conf = confusion(pred, gt, 3)
    # rows = truth, columns = prediction; the 255 pixel (predicted 1) is not counted
    assert conf.tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_miou_by_hand_with_a_class_only_in_prediction():
    gt = np.array([0, 0, 1, 1, 1, 255])
    pred = np.array([0, 2, 1, 1, 0, 2])
    result = scores(confusion(pred, gt, 4))
    # class 0: tp 1, union 3; class 1: tp 2, union 3; class 2 only predicted: iou 0; class 3 absent
    assert result["iou"][0] == pytest.approx(1 / 3)
    assert result["iou"][1] == pytest.approx(2 / 3)
    assert result["iou"][2] == 0
    assert np.isnan(result["iou"][3])
    assert result["miou"] == pytest.approx(100 * (1 / 3 + 2 / 3 + 0) / 3)
    # FP + FN + IoU = 1 per class; class 2 is all false positive
    assert result["fp"][2] == 1 and result["fn"][2] == 0
    assert result["fn"][1] == pytest.approx(1 / 3) and result["fp"][1] == 0


def test_class_only_in_ground_truth_counts_as_zero():
    result = scores(confusion(np.zeros(4, int), np.array([0, 0, 1, 1]), 2))
    assert result["iou"].tolist() == [0.5, 0.0]
    assert result["miou"] == 25.0


def test_accumulator_equals_one_big_confusion():
    rng = np.random.default_rng(0)
    gts = [rng.integers(0, 4, (5, 7)) for _ in range(3)]
    preds = [rng.integers(0, 4, (5, 7)) for _ in range(3)]
    score = SegmentationScore(4)
    for p, g in zip(preds, gts):
        score.update(p, g)
    whole = confusion(np.concatenate([p.ravel() for p in preds]),
                      np.concatenate([g.ravel() for g in gts]), 4)
    assert (score.conf == whole).all() and score.result()["images"] == 3


def test_threshold_sweep_matches_thresholding_each_image_by_hand():
    maps = np.array([[[0.1, 0.6], [0.9, 0.3]]])
    gt = np.array([[0, 1], [1, 0]])
    sweep = ThresholdSweep(3, [0.8, 0.2, 0.5])   # unsorted on purpose
    sweep.update(maps, [1], gt)
    result = sweep.result()
    # t=.2: pred [[0,1],[1,1]] -> (1/2 + 2/3)/2; t=.5: perfect; t=.8: pred [[0,0],[1,0]] -> (2/3 + 1/2)/2
    assert result["thresholds"] == [0.2, 0.5, 0.8]
    assert result["miou"] == pytest.approx([700 / 12, 100.0, 700 / 12])
    assert result["best_threshold"] == 0.5


def test_threshold_sweep_equals_brute_force_on_random_maps():
    rng = np.random.default_rng(1)
    thresholds = np.linspace(0.05, 0.95, 7)
    sweep = ThresholdSweep(5, thresholds)
    brute = [SegmentationScore(5) for _ in thresholds]
    for _ in range(4):
        classes = sorted(rng.choice([1, 2, 3, 4], size=2, replace=False))
        maps = rng.random((2, 9, 11))
        gt = rng.integers(0, 5, (9, 11))
        gt[0, :3] = 255
        sweep.update(maps, classes, gt)
        for t, score in zip(thresholds, brute):
            pred = np.where(maps.max(0) > t, np.array(classes)[maps.argmax(0)], 0)
            score.update(pred, gt)
    assert sweep.result()["miou"] == pytest.approx([b.result()["miou"] for b in brute])


def test_an_unlabelled_prediction_pixel_is_a_miss_of_its_class():
    from slamslib.metrics import SegmentationScore
    score = SegmentationScore(2)
    score.update(np.array([[1, 255], [0, 0]]), np.array([[1, 1], [0, 0]]))
    result = score.result()
    # class 1: TP 1, FN 1 (the 255 pixel), FP 0 -> 1/2; class 0: 2/2
    assert result["iou"].tolist() == [1.0, 0.5]
    assert result["unlabelled_share"] == 0.25


def test_summaries_are_strict_json_with_null_for_nan(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"fp": float("nan"), "per_class": [1.5, np.float64("inf")], "n": 3})
    assert path.read_text().count("null") == 2 and "NaN" not in path.read_text()
    assert json.loads(path.read_text()) == {"fp": None, "per_class": [1.5, None], "n": 3}
