"""The SE's erasing option (the kit's own): which pixels are erased, which label goes, where the
regions come from, and that the SE's weights then depend on the CAM's."""
import json

import numpy as np
import pytest
import torch

from slamslib.config import Config
from slamslib.data import build_dataset
from slamslib.data.transforms import LabelledImages, TrainImages
from slamslib.erasing import CamRegions, ErasedImages
from slamslib.errors import SlamsError
from slamslib.maps import save_maps
from slamslib.training import maps_dir, train_config, train_network, weights_hash, weights_path


def object_regions(split):
    """index -> {category: its ground-truth pixels}: an eraser whose answer the test knows."""
    def regions(index):
        mask = np.asarray(split.mask(index))
        return {int(k): mask == k for k in np.unique(mask) if 0 < k < 255}
    return regions


def se_images(cfg, seed: int, rate: float, keep_label: bool = False):
    """The SE's training images of the smoke split, plain and erased by the ground-truth regions."""
    split = build_dataset(cfg, cfg.data.train_split)
    train = train_config(cfg, "semantic_encoder")
    erased = ErasedImages(split, train, seed, masked_input=None, rate=rate, regions=object_regions(split),
                          keep_label=keep_label)
    return split, TrainImages(split, train, seed), erased


def test_erased_pixels_are_the_region_moved_with_the_crop_and_only_that_label_goes(smoke_tree):
    cfg, _ = smoke_tree
    split, plain, erased = se_images(cfg, seed=3, rate=1.0)
    masks = LabelledImages(split, train_config(cfg, "semantic_encoder"), seed=3, read_labels=split.mask)
    checked = 0
    for i in range(len(split)):
        image, valid, labels, _ = erased[i]
        before, valid_before, labels_before, _ = plain[i]
        _, _, moved, _ = masks[i]
        assert torch.equal(valid, valid_before)
        gone = torch.nonzero(labels_before - labels).flatten()
        assert len(gone) == 1 and labels_before[gone[0]] == 1        # exactly one labelled category
        k = int(gone[0]) + 1
        changed = (image != before).any(0)
        assert torch.equal(changed, (moved == k) & (before != 0).any(0))
        assert torch.equal(image[:, moved == k], torch.zeros_like(image[:, moved == k]))
        checked += int((moved == k).any())
    assert checked > len(split) // 2        # most crops still hold the erased object


def test_keep_label_erases_the_same_pixels_and_keeps_every_label(smoke_tree):
    cfg, _ = smoke_tree
    split, plain, removed = se_images(cfg, seed=3, rate=1.0)
    kept = se_images(cfg, seed=3, rate=1.0, keep_label=True)[2]
    for i in range(len(split)):
        image, valid, labels, _ = kept[i]
        assert torch.equal(image, removed[i][0]) and torch.equal(valid, removed[i][1])
        assert torch.equal(labels, plain[i][2])


def test_rate_zero_leaves_the_training_images_as_they_are(smoke_tree):
    cfg, _ = smoke_tree
    _, plain, erased = se_images(cfg, seed=5, rate=0.0)
    for i in range(8):
        assert all(torch.equal(a, b) for a, b in zip(plain[i][:3], erased[i][:3]))


def test_cam_regions_threshold_the_stored_maps_and_name_a_missing_file(tmp_path):
    maps = np.array([[[0.1, 0.5], [0.31, 0.25]], [[1.0, 0.0], [0.2, 0.9]]], np.float16)
    save_maps(tmp_path / "img_a.npz", maps, np.array([2, 4], np.int16))
    regions = CamRegions(tmp_path, ["img_a", "img_b"], threshold=0.3)(0)
    assert sorted(regions) == [2, 4]
    assert regions[2].tolist() == [[False, True], [True, False]]
    assert regions[4].tolist() == [[True, False], [False, True]]
    with pytest.raises(SlamsError, match="img_b.npz is missing"):
        CamRegions(tmp_path, ["img_a", "img_b"], threshold=0.3)(1)


@pytest.mark.parametrize("network", ["semantic_encoder", "activation_net"])   # the SE judges the AN
def test_the_se_and_its_an_depend_on_the_cams_maps_only_when_erasing_is_on(smoke_tree, network):
    cfg, _ = smoke_tree
    def se_hash(erasing: float, cam_lr: float = 0.02, flip: bool = True) -> str:
        data = cfg.to_dict()
        data["semantic_encoder"]["erasing"]["rate"] = erasing
        data["cam"]["train"]["lr"] = cam_lr
        data["maps"]["flip"] = flip
        return weights_hash(Config.model_validate(data), network)
    assert se_hash(0.0, cam_lr=0.05) == se_hash(0.0, cam_lr=0.05, flip=False)
    if network == "semantic_encoder":
        assert se_hash(0.0) == se_hash(0.0, cam_lr=0.05)
    assert se_hash(0.5) != se_hash(0.5, cam_lr=0.05)          # the CAM's weights
    assert se_hash(0.5) != se_hash(0.5, flip=False)           # how its maps are made
    assert se_hash(0.5) != se_hash(0.0)


def test_se_erasing_trains_and_stores_the_cam_first_also_under_torchrun(smoke_tree, tmp_path):
    cfg, root = smoke_tree
    data = cfg.to_dict()
    data["results_dir"] = str(tmp_path / "results")
    data["semantic_encoder"]["erasing"]["rate"] = 1.0
    cfg = Config.model_validate(data)
    n = cfg.benchmark.num_classes + 1
    one = train_network(cfg, "semantic_encoder", n, progress=False).log
    assert weights_path(cfg, "cam").is_file() and weights_path(cfg, "semantic_encoder").is_file()
    done = json.loads((maps_dir(cfg, "cam") / "done.json").read_text())
    assert done["images"] == len(build_dataset(cfg, cfg.data.train_split))

    # Under torchrun the workers read the same stored regions: the same erased batches, the same losses.
    weights_path(cfg, "semantic_encoder").unlink()
    two = Config.model_validate({**data, "distributed": {"nproc_per_node": 2}})
    assert weights_hash(two, "semantic_encoder") == weights_hash(cfg, "semantic_encoder")
    log = train_network(two, "semantic_encoder", n, progress=False).log
    assert torch.load(weights_path(two, "semantic_encoder"), weights_only=False)["processes"] == 2
    assert log["presence"].to_numpy() == pytest.approx(one["presence"].to_numpy(), rel=1e-4, abs=1e-6)
