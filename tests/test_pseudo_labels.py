"""Pseudo labels on disk: VOC tools read them back, and the process count does not change them."""
import numpy as np
import torch

from slamslib.data import build_dataset
from slamslib.data.voc import SegmentationFolder
from slamslib.evaluate import evaluate_folder
from slamslib.maps import save_maps
from slamslib.metrics import IGNORE
from slamslib.models.affinity import AffinityNet
from slamslib.models.backbones import SmallBackbone
from slamslib.pseudo_labels import Refiner, affinity_labels, label_split


def fake_maps(split, folder, rng):
    """Maps that know the truth, blurred and noisy: each labelled category's mask plus noise."""
    for i, name in enumerate(split.names):
        gt = split.mask(i)
        classes = np.flatnonzero(split.labels[i]) + 1
        maps = np.stack([np.clip((gt == c) * 0.8 + rng.random(gt.shape) * 0.4, 0, 1) for c in classes]) \
            if len(classes) else np.zeros((0, *gt.shape))
        save_maps(folder / f"{name}.npz", maps.astype(np.float16), classes.astype(np.int16))


def refiner_for(smoke_tree, tmp_path):
    cfg, _ = smoke_tree
    split = build_dataset(cfg, cfg.data.train_split)
    fake_maps(split, tmp_path / "maps", np.random.default_rng(0))
    torch.manual_seed(0)
    net = AffinityNet(SmallBackbone(8), 8).eval()
    return cfg, split, Refiner(cfg, split, tmp_path / "maps", 0.5, 0.5, net)


def test_parallel_and_serial_refinement_write_identical_labels(smoke_tree, tmp_path):
    cfg, split, refiner = refiner_for(smoke_tree, tmp_path)
    scored = split.names[:10]
    serial = label_split(refiner, "pseudo", tmp_path / "serial", scored, workers=0, progress=False)
    parallel = label_split(refiner, "pseudo", tmp_path / "parallel", scored, workers=2, progress=False)
    a = SegmentationFolder(split.root, split.split, split.class_names, mask_dir=str(tmp_path / "serial"))
    b = SegmentationFolder(split.root, split.split, split.class_names, mask_dir=str(tmp_path / "parallel"))
    for i in range(len(split)):
        assert np.array_equal(a.mask(i), b.mask(i))
    for step in serial:
        assert np.array_equal(serial[step].conf, parallel[step].conf)
    assert serial["seed"].images == 10


def test_pseudo_label_pngs_round_trip_through_the_voc_loader(smoke_tree, tmp_path):
    cfg, split, refiner = refiner_for(smoke_tree, tmp_path)
    scores = label_split(refiner, "pseudo", tmp_path / "labels", split.names, workers=0, progress=False)
    # the VOC loader reads the folder as a mask folder of the same split
    loaded = SegmentationFolder(split.root, split.split, split.class_names, mask_dir=str(tmp_path / "labels"))
    for i in (0, 7, len(split) - 1):
        assert np.array_equal(loaded.mask(i), refiner.steps(i)["written"])
    # and `slams evaluate` scores the PNGs exactly as the stage scored the labels it wrote
    assert evaluate_folder(tmp_path / "labels", split.mask_dir, split.num_classes)["miou"] == \
        scores["written"].result()["miou"]


def test_affinity_labels_follow_the_relative_margins():
    maps = np.array([[[0.05, 0.2, 0.5, 0.9]]], np.float32)     # one category, four pixels; t = 0.4
    labels = affinity_labels(maps, np.array([3]), 0.4, fg_margin=0.5, bg_margin=0.5)
    # background below 0.4 * 0.5 = 0.2 (strictly), category 3 above 0.4 + 0.5 * 0.6 = 0.7
    assert labels.tolist() == [[0, IGNORE, IGNORE, 3]]


def test_a_seed_split_partly_outside_the_training_split_is_said_to_be_scored_in_part(smoke_tree):
    from slamslib.stages.pseudo_labels import scope_notes
    cfg, _ = smoke_tree
    assert scope_notes(cfg, 16, 16) == []
    [note] = scope_notes(cfg, 12, 16)
    assert note.startswith("scored on 12 of the 16 images of split 'train'") and "'train_aug'" in note
