import json
import shutil

import numpy as np
import pytest
from PIL import Image
from torchvision.datasets import VOCSegmentation

from slamslib.config import load_config
from slamslib.data import build_dataset
from slamslib.data.coco import coco_split, convert_instances, decode_rle
from slamslib.data.voc import SegmentationFolder, VOC_CLASSES, read_split_list, synthetic_class_names
from slamslib.errors import SlamsError


def test_torchvision_opens_the_generated_tree(smoke_tree):
    _, root = smoke_tree
    ours = SegmentationFolder(root, "val", synthetic_class_names(root))
    theirs = VOCSegmentation(str(root.parents[1]), year="2012", image_set="val", download=False)
    assert len(theirs) == len(ours)
    image, target = theirs[0]
    assert image.size == target.size
    assert (np.asarray(target) == ours.mask(0)).all()
    assert (np.asarray(image) == ours.image(0)).all()


def test_loader_derives_image_labels_from_masks(smoke_tree):
    cfg, root = smoke_tree
    split = build_dataset(cfg, cfg.data.train_split)
    assert len(split) == cfg.benchmark.train_aug_size
    assert split.labels.shape == (len(split), cfg.benchmark.num_classes)
    for i in range(len(split)):
        present = set(np.unique(split.mask(i)).tolist()) - {0, 255}
        assert set((np.flatnonzero(split.labels[i]) + 1).tolist()) == present


def _copy(root, tmp_path):
    target = tmp_path / "VOC2012"
    shutil.copytree(root, target)
    return target


def test_corrupt_image_is_named_with_its_split(smoke_tree, tmp_path):
    root = _copy(smoke_tree[1], tmp_path)
    split = SegmentationFolder(root, "val", synthetic_class_names(root))
    split.image_path(2).write_bytes(b"not a jpeg")
    with pytest.raises(SlamsError, match=rf"image .*{split.names[2]}\.jpg of split 'val' is unreadable"):
        split.image(2)


def test_missing_files_and_folders_fail_with_a_sentence(smoke_tree, tmp_path):
    root = _copy(smoke_tree[1], tmp_path)
    names = synthetic_class_names(root)
    name = (root / "ImageSets/Segmentation/val.txt").read_text().split()[1]
    (root / "SegmentationClassAug" / f"{name}.png").unlink()
    (root / "SegmentationClass" / f"{name}.png").unlink()
    with pytest.raises(SlamsError, match=rf"mask .*{name}\.png of split 'val' is missing"):
        SegmentationFolder(root, "val", names)
    (root / "JPEGImages" / f"{name}.jpg").unlink()
    with pytest.raises(SlamsError, match=rf"image .*{name}\.jpg of split 'val' is missing"):
        SegmentationFolder(root, "val", names)
    with pytest.raises(SlamsError, match=r"split 'test' has no image list"):
        SegmentationFolder(root, "test", names)
    with pytest.raises(SlamsError, match=r"does not exist"):
        SegmentationFolder(tmp_path / "nowhere", "val", names)


def test_a_mask_of_another_size_than_its_image_is_named_with_both(smoke_tree, tmp_path):
    root = _copy(smoke_tree[1], tmp_path)
    split = SegmentationFolder(root, "val", synthetic_class_names(root))
    h, w = split.mask(1).shape
    Image.fromarray(split.image(1)).resize((2 * w, 2 * h)).save(split.image_path(1))
    with pytest.raises(SlamsError, match=rf"mask .*{split.names[1]}\.png of split 'val' is {w}x{h} but its "
                                         rf"image .*{split.names[1]}\.jpg is {2 * w}x{2 * h}"):
        split.labels


def test_split_lists_in_sbd_form_or_with_a_byte_order_mark_are_read_and_repeats_refused(tmp_path):
    path = tmp_path / "train_aug.txt"
    path.write_text("\ufeff/JPEGImages/2007_000032.jpg /SegmentationClassAug/2007_000032.png\r\n"
                    "2007_000039\n\n", encoding="utf-8")
    assert read_split_list(path, "train_aug") == ["2007_000032", "2007_000039"]
    path.write_text("2007_000032\n2007_000039\n2007_000032\n")
    with pytest.raises(SlamsError, match="split 'train_aug' lists image 2007_000032 twice"):
        read_split_list(path, "train_aug")


def test_mask_with_a_class_beyond_the_dataset_is_refused(smoke_tree, tmp_path):
    root = _copy(smoke_tree[1], tmp_path)
    split = SegmentationFolder(root, "val", VOC_CLASSES[:3])   # pretend only 3 classes exist
    bad = np.full((8, 8), 7, np.uint8)
    Image.fromarray(bad, mode="L").save(split.mask_path(0))
    with pytest.raises(SlamsError, match="holds class 7"):
        split.mask(0)


def test_voc_params_read_a_voc_tree(smoke_tree, tmp_path):
    """data.name=voc on a VOC-layout tree uses the 21 VOC classes and SegmentationClassAug."""
    root = _copy(smoke_tree[1], tmp_path)
    cfg = load_config("params/smoke.yaml", ["data.name=voc", f"data.root={root}"])
    split = build_dataset(cfg, "val")
    assert split.class_names == VOC_CLASSES and split.mask_dir.name == "SegmentationClassAug"


def test_editing_a_split_list_of_real_data_retrains_what_reads_it(smoke_tree, tmp_path):
    """Weights and stage outputs are keyed by the params and, for real data, by the split lists too."""
    from slamslib.training import weights_hash
    root = _copy(smoke_tree[1], tmp_path)
    cfg = load_config("params/smoke.yaml", ["data.name=voc", f"data.root={root}"])
    before = {name: weights_hash(cfg, name) for name in ("semantic_encoder", "cam", "activation_net")}
    train_aug = root / "ImageSets" / "Segmentation" / "train_aug.txt"
    names = train_aug.read_text().split()
    train_aug.write_text("\n".join(names[:-1]) + "\n")          # one image fewer
    after = {name: weights_hash(cfg, name) for name in before}
    assert all(after[name] != before[name] for name in before)
    train_aug.write_text("\n".join(names) + "\n")
    assert {name: weights_hash(cfg, name) for name in before} == before


def _coco_rle_string(counts):
    """COCO's compact RLE, written from its description, to test the decoder against."""
    out = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = not ((c & 0x10) == 0 and x == 0 or (c & 0x10) != 0 and x == -1)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def test_coco_converter_on_a_tiny_instances_file(tmp_path):
    root = tmp_path / "coco"
    (root / "train2014").mkdir(parents=True)
    (root / "annotations").mkdir()
    for stem in ("COCO_train2014_1", "COCO_train2014_2", "COCO_train2014_3"):
        Image.new("RGB", (10, 8), (90, 90, 90)).save(root / "train2014" / f"{stem}.jpg")
    crowd = np.zeros((8, 10), bool)
    crowd[6:, :2] = True
    flat = crowd.T.ravel()   # column-major, runs start with zeros
    runs, value, count = [], False, 0
    for pixel in flat:
        if pixel != value:
            runs.append(count)
            value, count = pixel, 0
        count += 1
    runs.append(count)
    data = {
        "images": [{"id": i, "file_name": f"COCO_train2014_{i}.jpg", "height": 8, "width": 10}
                   for i in (1, 2, 3)],
        "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 18, "iscrowd": 0, "area": 16,
             "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]},
            {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 1, "area": 4,
             "segmentation": {"size": [8, 10], "counts": runs}},
            {"id": 3, "image_id": 2, "category_id": 1, "iscrowd": 1, "area": 4,
             "segmentation": {"size": [8, 10], "counts": runs}},
            {"id": 4, "image_id": 3, "category_id": 18, "iscrowd": 0, "area": 0, "segmentation": []},
        ],
    }
    json_path = root / "annotations" / "instances_train2014.json"
    json_path.write_text(json.dumps({**data, "annotations": [*data["annotations"], {
        "id": 5, "image_id": 1, "category_id": 7, "iscrowd": 0, "area": 1, "segmentation": []}]}))
    with pytest.raises(SlamsError, match="annotation 5 of image 1 has category_id 7"):
        convert_instances(root, "train")
    json_path.write_text(json.dumps(data))
    # image 2 is crowd only, image 3's one object has no pixel
    assert convert_instances(root, "train") == 1
    split = coco_split(root, "train")
    assert split.class_names == ("background", "person", "dog")   # COCO id order: 1, 18
    mask = split.mask(0)
    assert (mask[1:5, 1:5] == 2).all() and mask[0, 0] == 0
    assert (mask[crowd] == 255).all()
    assert split.labels.tolist() == [[0.0, 1.0]]
    compact = {"size": [8, 10], "counts": _coco_rle_string(runs)}
    assert (decode_rle(compact) == crowd).all()


def test_coco_without_converted_masks_says_what_to_run(tmp_path):
    (tmp_path / "train2014").mkdir()
    with pytest.raises(SlamsError, match="slams coco-masks"):
        coco_split(tmp_path, "train")
