"""The robustness check's independent generators (benchmarks/foreign_sets.py) write VOC trees the kit
reads as any user's data: every listed image and mask there, masks of their image's size, labels 1..K."""
import sys
from pathlib import Path

import numpy as np
import pytest

from slamslib.data.voc import VOC_CLASSES, SegmentationFolder

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from foreign_sets import make_set  # noqa: E402


@pytest.mark.parametrize("name, categories", [("discs", 8), ("textures", 6), ("kit_other", 6)])
def test_each_generator_writes_a_voc_tree_the_kit_reads(tmp_path, name, categories):
    voc = make_set(name, tmp_path / name, seed=3, train=20, val=8)
    splits = {split: SegmentationFolder(voc, split, VOC_CLASSES) for split in ("train_aug", "train", "val")}
    assert [len(s) for s in splits.values()] == [20, 4, 8]
    labels = splits["train_aug"].labels          # reads every mask and checks it against its image
    assert labels.shape == (20, 20) and labels[:, categories:].sum() == 0 and labels.sum(1).min() >= 1
    again = make_set(name, tmp_path / "again", seed=3, train=20, val=8)
    assert np.array_equal(SegmentationFolder(again, "val", VOC_CLASSES).mask(0), splits["val"].mask(0))
