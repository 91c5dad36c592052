import json

import numpy as np
import pytest
from PIL import Image

from slamslib.config import BenchmarkConfig
from slamslib.data.phenomena import measure_phenomena
from slamslib.data.synthetic import BODY, CONTEXT, CUE, PLAIN, generate, make_categories, split_region_code
from slamslib.data.voc import SegmentationFolder, synthetic_class_names
from slamslib.errors import SlamsError

SMALL = dict(num_classes=4, train_aug_size=12, train_size=5, val_size=4, min_size=40, max_size=56,
             context_classes=2)


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    a = generate(BenchmarkConfig(**SMALL), tmp_path / "a" / "VOC2012")
    b = generate(BenchmarkConfig(**SMALL), tmp_path / "b" / "VOC2012")
    c = generate(BenchmarkConfig(**SMALL, seed=1), tmp_path / "c" / "VOC2012")
    assert _files(a) == _files(b)
    jpg = "JPEGImages/ta_000000.jpg"
    assert (a / jpg).read_bytes() != (c / jpg).read_bytes()


def test_voc_layout_and_splits(smoke_tree):
    cfg, root = smoke_tree
    lists = {s: (root / "ImageSets/Segmentation" / f"{s}.txt").read_text().split()
             for s in ("train_aug", "train", "val", "trainval")}
    assert len(lists["train_aug"]) == cfg.benchmark.train_aug_size
    assert lists["train"] == lists["train_aug"][:cfg.benchmark.train_size]
    assert not set(lists["val"]) & set(lists["train_aug"])
    name = lists["train"][0]
    palette_png = Image.open(root / "SegmentationClass" / f"{name}.png")
    index_png = Image.open(root / "SegmentationClassAug" / f"{name}.png")
    assert palette_png.mode == "P" and index_png.mode == "L"
    assert (np.asarray(palette_png) == np.asarray(index_png)).all()
    # like VOC, SegmentationClass holds only train and val, not the rest of train_aug
    assert not (root / "SegmentationClass" / f"{lists['train_aug'][-1]}.png").exists()
    meta = json.loads((root / "benchmark.json").read_text())
    assert meta["params"]["seed"] == cfg.benchmark.seed and meta["hash"]


def test_masks_are_the_regions_with_a_void_band_on_every_border(smoke_tree):
    cfg, root = smoke_tree
    assert cfg.benchmark.void_width == 1
    split = SegmentationFolder(root, "train_aug", synthetic_class_names(root))
    for i in range(len(split)):
        mask = split.mask(i)
        kind, category = split_region_code(np.asarray(Image.open(root / "SyntheticRegions" /
                                                                 f"{split.names[i]}.png")))
        truth = np.where((kind == BODY) | (kind == CUE), category, 0)
        padded = np.pad(truth, 1, mode="edge")
        h, w = truth.shape
        border = np.zeros_like(truth, dtype=bool)
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            border |= padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] != truth
        assert ((mask == 255) == border).all()
        assert (mask[~border] == truth[~border]).all()
        assert not ((kind == PLAIN) | (kind == CONTEXT))[truth > 0].any()


def test_phenomena_are_measurably_present(tmp_path):
    cfg = BenchmarkConfig(num_classes=6, train_aug_size=400, train_size=400, val_size=2,
                          min_size=48, max_size=64, context_classes=3, context_rate=0.8,
                          context_distractor_rate=0.3, cue_share=(0.15, 0.25))
    root = generate(cfg, tmp_path / "VOC2012")
    table = measure_phenomena(SegmentationFolder(root, "train", synthetic_class_names(root)))
    # under-activation: the deciding cue is a small part of every object
    assert table["cue_share"].between(0.12, 0.28).all()
    # co-occurrence: the context categories usually sit on their texture, the others never do,
    # and the textures also appear without their category
    has_context = table["context_share"] > 0
    assert has_context.sum() == 3
    assert table.loc[has_context, "context_share"].between(0.65, 0.95).all()
    assert (table.loc[has_context, "distractor_share"] > 0.02).all()
    assert (table.loc[~has_context, "distractor_share"] == 0).all()


def test_reuses_matching_tree_and_never_overwrites_a_foreign_folder(tmp_path):
    root = generate(BenchmarkConfig(**SMALL), tmp_path / "VOC2012")
    stamp = (root / "benchmark.json").stat().st_mtime_ns
    generate(BenchmarkConfig(**SMALL), root)
    assert (root / "benchmark.json").stat().st_mtime_ns == stamp
    generate(BenchmarkConfig(**{**SMALL, "val_size": 3}), root)   # other knobs: regenerated
    assert len((root / "ImageSets/Segmentation/val.txt").read_text().split()) == 3
    foreign = tmp_path / "mine"
    (foreign / "JPEGImages").mkdir(parents=True)
    with pytest.raises(SlamsError, match="not a generated benchmark"):
        generate(BenchmarkConfig(**SMALL), foreign)


def test_a_damaged_tree_is_generated_again_and_force_remakes_a_current_one(tmp_path):
    root = generate(BenchmarkConfig(**SMALL), tmp_path / "VOC2012")
    before = _files(root)
    (root / "JPEGImages" / "ta_000003.jpg").unlink()
    generate(BenchmarkConfig(**SMALL), root)
    assert _files(root) == before
    (root / "JPEGImages" / "extra.txt").write_text("left by hand")
    generate(BenchmarkConfig(**SMALL), root, force=True)
    assert _files(root) == before


def test_an_interrupted_generation_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    import slamslib.data.synthetic as synthetic
    real, calls = synthetic.render_image, []

    def dies_on_the_seventh(*args):
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(synthetic, "render_image", dies_on_the_seventh)
    root = tmp_path / "VOC2012"
    with pytest.raises(KeyboardInterrupt):
        generate(BenchmarkConfig(**SMALL), root)
    assert not root.exists()
    monkeypatch.setattr(synthetic, "render_image", real)
    generate(BenchmarkConfig(**SMALL), root)
    assert len((root / "ImageSets/Segmentation/train_aug.txt").read_text().split()) == 12


@pytest.mark.parametrize("num_classes, family_size", [(8, 2), (10, 2), (5, 5), (20, 4), (7, 1)])
def test_every_category_has_a_cue_colour_of_its_own(num_classes, family_size):
    categories = make_categories(BenchmarkConfig(num_classes=num_classes, family_size=family_size,
                                                 context_classes=0))
    assert len({c.cue_rgb for c in categories}) == num_classes
