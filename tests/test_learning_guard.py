"""The guard for users' data: a classifier that has not learnt the data warns, one that has does not."""
import json
import warnings

import numpy as np
import pytest
from PIL import Image

from slamslib.config import ChecksConfig, load_config
from slamslib.errors import LearningWarning
from slamslib.evaluate import learning_warning
from slamslib.metrics import label_frequency_map
from slamslib.stages import semantic_encoder

COLOURS = np.array([[220, 30, 30], [30, 200, 40], [40, 60, 220], [230, 210, 30]], np.uint8)


def test_label_frequency_map_is_the_mean_prevalence_of_present_classes():
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]])
    # class 0 in 2 of 4 images, class 1 in 1 of 4, class 2 never (left out)
    assert label_frequency_map(labels) == pytest.approx(100 * (0.5 + 0.25) / 2)


def test_warning_below_the_floor_or_near_label_frequencies_only():
    labels = np.array([[1, 0]] * 9 + [[0, 1]])           # label frequencies give (90 + 10) / 2 = 50
    checks = ChecksConfig(min_classification_map=70, chance_margin=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                    # no warning may be issued here
        assert learning_warning("the CAM network", 95.0, labels, checks) is None
    with pytest.warns(LearningWarning, match=r"the CAM network reaches only 45\.0 classification mAP "
                                             r"on val \(label frequencies alone give 50\.0"):
        assert learning_warning("the CAM network", 45.0, labels, checks) is not None
    easy = np.array([[1, 1]] * 9 + [[1, 0]])              # frequencies alone give 95
    with pytest.warns(LearningWarning, match="97.0"):
        learning_warning("the SE", 97.0, easy, ChecksConfig(min_classification_map=70, chance_margin=5))


def _tree(root, seed: int, learnable: bool):
    """A tiny VOC tree of 48 px images with one of 4 categories each: its colour fills a square when
    `learnable`; otherwise every image is the same grey noise whatever its label says."""
    rng = np.random.default_rng(seed)
    voc = root / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True)
    lists = {"train_aug": [], "val": []}
    for split, count in (("train_aug", 64), ("val", 32)):
        for i in range(count):
            k = int(rng.integers(4))
            image = rng.integers(90, 130, (48, 48, 3)).astype(np.uint8)
            mask = np.zeros((48, 48), np.uint8)
            mask[12:36, 12:36] = k + 1
            if learnable:
                image[12:36, 12:36] = COLOURS[k]
            name = f"{split}{i:03d}"
            Image.fromarray(image).save(voc / "JPEGImages" / f"{name}.jpg", quality=95)
            Image.fromarray(mask, mode="L").save(voc / "SegmentationClass" / f"{name}.png")
            lists[split].append(name)
    lists["train"] = lists["train_aug"][:16]
    for split, names in lists.items():
        (voc / "ImageSets/Segmentation" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return voc


@pytest.mark.parametrize("learnable", [False, True])
def test_the_semantic_encoder_stage_warns_only_on_data_it_cannot_learn(tmp_path, learnable):
    voc = _tree(tmp_path / "data", 0, learnable)
    cfg = load_config("params/smoke.yaml", {
        "data.name": "voc", "data.root": str(voc), "results_dir": str(tmp_path / "results"),
        "backbone.pretrained": False, "semantic_encoder.masked_input.empty_rate": 0.0,
        "semantic_encoder.train.epochs": 12, "semantic_encoder.train.crop_size": 48,
        "semantic_encoder.train.optimizer": "adamw", "semantic_encoder.train.lr": 0.003})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = semantic_encoder(cfg, progress=False)
    warned = [str(w.message) for w in caught if issubclass(w.category, LearningWarning)]
    stored = json.loads((cfg.stage_dir("semantic_encoder") / "summary.json").read_text())["metrics"]
    if learnable:
        assert report.presence_map >= cfg.checks.min_classification_map + 5
        assert not warned and "warnings" not in stored
    else:
        assert report.presence_map < 70
        assert len(warned) == 1 and "the semantic encoder reaches only" in warned[0]
        assert stored["warnings"] == warned
