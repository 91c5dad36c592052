"""Multi-scale inference keeps maps aligned with the image; stored maps score as computed by hand."""
import numpy as np
import pytest
import torch

from slamslib.config import MapsConfig
from slamslib.data.voc import VOC_CLASSES
from slamslib.maps import evaluate_seeds, keep_labelled, load_maps, multiscale_maps, save_maps, seed_labels
from slamslib.viz import labelled_examples


class EchoModel(torch.nn.Module):
    """Its 'map' of every class is the red channel of the input: inference must hand it back in place."""

    def activation_maps(self, x):
        return x[:, :1].repeat(1, 3, 1, 1)


def test_scales_flips_and_padding_keep_maps_in_place():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (37, 53, 3), dtype=np.uint8),
              rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)]     # different sizes: padded batch
    cfg = MapsConfig(scales=[1.0], flip=True)
    for image, maps in zip(images, multiscale_maps(EchoModel(), images, cfg, torch.device("cpu"))):
        red = (torch.from_numpy(image[..., 0]).float() / 255 - 0.485) / 0.229
        assert maps.shape == (3, *image.shape[:2])
        assert torch.allclose(maps[0], 2 * red, atol=1e-4)      # the image and its mirror, both in place
    # a smooth image (a ramp) survives rescaling: scale 0.5 and 2, mirrored, all land in place
    ramp = np.zeros((40, 56, 3), np.uint8)
    ramp[..., 0] = (np.arange(56)[None] * 4 + np.arange(40)[:, None]).clip(0, 255)
    out = multiscale_maps(EchoModel(), [ramp, images[1]], MapsConfig(scales=[0.5, 2.0], flip=True), "cpu")
    red = (torch.from_numpy(ramp[..., 0]).float() / 255 - 0.485) / 0.229
    assert torch.allclose(out[0][0, 3:-3, 3:-3], 4 * red[3:-3, 3:-3], atol=0.05)


class GroupNormModel(torch.nn.Module):
    """Like the small backbone: GroupNorm takes statistics over the whole (padded) input."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.GroupNorm(2, 8),
                                        torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 1))

    def activation_maps(self, x):
        return self.body(x)


def test_an_image_gets_the_same_maps_whatever_its_batch():
    rng = np.random.default_rng(1)
    small, large = (rng.integers(0, 255, shape, dtype=np.uint8) for shape in [(37, 53, 3), (96, 80, 3)])
    cfg = MapsConfig(scales=[1.0, 0.5], flip=True)
    alone = multiscale_maps(GroupNormModel(), [small], cfg, "cpu")[0]
    batched = multiscale_maps(GroupNormModel(), [large, small, small], cfg, "cpu")
    assert torch.allclose(batched[1], alone, atol=1e-5) and torch.allclose(batched[2], alone, atol=1e-5)
    assert batched[0].shape == (2, 96, 80)


def test_keep_labelled_normalises_and_keeps_background_for_slams_only():
    summed = torch.rand(4, 5, 6) * 3
    labels = np.array([0, 1, 0])                                 # category 2 of K = 3
    cam, cam_classes = keep_labelled(summed[1:], labels, "cam", normalize=False)
    assert cam_classes.tolist() == [2] and cam.max() == pytest.approx(1.0, abs=1e-3)
    slams, slams_classes = keep_labelled(summed.clamp(0, 1), labels, "slams", normalize=False)
    assert slams_classes.tolist() == [0, 2] and slams.dtype == np.float16


def test_seed_evaluation_by_hand(tmp_path):
    class Split:
        names = ["a"]
        num_classes = 3

        def mask(self, i):
            return np.array([[0, 1, 1, 255]], np.uint8)

    maps = np.array([[[0.9, 0.2, 0.1, 0.0]],      # background map
                     [[0.2, 0.8, 0.4, 1.0]]], np.float16)   # category 1
    save_maps(tmp_path / "a.npz", maps, np.array([0, 1], np.int16))
    result = evaluate_seeds(Split(), tmp_path, [0.3, 0.5], with_background_map=True)
    # t = 0.3: prediction 0 1 1 (x): perfect -> 100; t = 0.5: 0 1 0 -> IoU bg 1/2, cat 1 1/2 -> 50
    assert result["threshold"]["miou"] == pytest.approx([100.0, 50.0])
    assert result["threshold"]["best_threshold"] == 0.3
    # map 0 as background: argmax gives 0 1 1 -> 100
    assert result["background_map"]["miou"] == pytest.approx(100.0)
    loaded, classes = load_maps(tmp_path / "a.npz")
    assert seed_labels(loaded, classes, 0.5).tolist() == [[0, 1, 0, 1]]
    assert len(VOC_CLASSES) == 21


def test_the_judge_scores_cuts_and_the_whole_image_cut_costs_exactly_one_half(smoke_tree):
    from slamslib.data import build_dataset
    from slamslib.diagnostics import judge_cuts
    from slamslib.training import build_network
    cfg, _ = smoke_tree
    se = build_network(cfg, "semantic_encoder", 5)          # any judge: the identity holds for all
    table = judge_cuts(se, build_dataset(cfg, cfg.data.seed_split), "cpu", limit=6)
    assert list(table.index) == ["ground truth", "cue only", "object + its context", "whole image"]
    # whole image: averaged over an image's pairs, (1 - S_k) and the others' mean S_j cancel to 1/2
    assert table.loc["whole image", "L_fg"] == pytest.approx(0.5, abs=1e-5)
    assert ((table.values >= 0) & (table.values <= 1)).all()


def test_pixel_cosines_follow_the_region_maps(smoke_tree):
    from slamslib.data import build_dataset
    from slamslib.diagnostics import pixel_cosines
    from slamslib.training import build_network
    cfg, _ = smoke_tree
    se = build_network(cfg, "semantic_encoder", 5)
    table = pixel_cosines(se, build_dataset(cfg, cfg.data.seed_split), "cpu", limit=4)
    assert list(table.index) == ["cue", "body", "context", "plain background", "fill"]
    assert table[["cos to s_0"]].notna().all().all()
    assert table["cos to own s_k"].isna().tolist() == [False, False, False, True, True]
    # image 0 by hand, with torch's cosine: the background cosine over its plain-background cells
    from slamslib.data.synthetic import PLAIN, load_region, split_region_code
    from slamslib.data.transforms import to_tensor
    split = build_dataset(cfg, cfg.data.seed_split)
    one = pixel_cosines(se, split, "cpu", limit=1)
    with torch.no_grad():
        _, pixels = se.embed(to_tensor(split.image(0))[None])
        h, w = pixels.shape[-2:]
        cos0 = torch.nn.functional.cosine_similarity(
            pixels[0, :se.head.dim], se.semantics.semantics()[0][:, None, None].expand(-1, h, w), dim=0, eps=1e-4)
    codes = torch.from_numpy(load_region(split.root, split.names[0]).astype(np.float32))[None, None]
    kind, _ = split_region_code(torch.nn.functional.interpolate(codes, (h, w), mode="nearest")[0, 0]
                                .numpy().astype(np.uint8))
    plain = torch.from_numpy(kind == PLAIN)
    assert plain.any()
    assert one.loc["plain background", "cos to s_0"] == pytest.approx(cos0[plain].mean().item(), abs=1e-5)


def test_judge_objects_scores_each_object_as_computed_by_hand(smoke_tree):
    from slamslib.data import build_dataset
    from slamslib.data.synthetic import CONTEXT, load_region, split_region_code
    from slamslib.data.transforms import to_tensor
    from slamslib.diagnostics import WITH_CONTEXT, WITHOUT_CONTEXT, judge_objects
    from slamslib.training import build_network
    cfg, _ = smoke_tree
    se = build_network(cfg, "semantic_encoder", 5).eval()
    split = build_dataset(cfg, cfg.data.seed_split)
    images = 4
    table = judge_objects(se, split, "cpu", limit=images, ring=0)
    inside, rest = {WITH_CONTEXT: [], WITHOUT_CONTEXT: []}, {WITH_CONTEXT: [], WITHOUT_CONTEXT: []}
    for i in range(images):      # one piece at a time, the object alone
        gt = split.mask(i)
        kind, category = split_region_code(load_region(split.root, split.names[i]))
        x = to_tensor(split.image(i))[None]
        for k in [k for k in np.unique(gt) if 0 < k < 255]:
            group = WITH_CONTEXT if ((kind == CONTEXT) & (category == k)).any() else WITHOUT_CONTEXT
            m = torch.from_numpy((gt == k).astype(np.float32))
            with torch.no_grad():
                for piece, out in ((x * m, inside), (x * (1 - m), rest)):
                    score = se.semantics.score(se.semantics.cosine(se.embed(se.resize(piece))[0]))
                    out[group].append(score[0, k].item())
    for group in (WITH_CONTEXT, WITHOUT_CONTEXT):
        if not inside[group]:
            assert group not in table.index.get_level_values(0)
            continue
        row = table.loc[(group, "object")]
        assert row["pairs"] == len(inside[group])
        assert row["S_k(inside)"] == pytest.approx(np.mean(inside[group]), abs=1e-4)
        assert row["S_k(rest)"] == pytest.approx(np.mean(rest[group]), abs=1e-4)
        # a ring of 0 pixels grows nothing
        assert table.loc[(group, "object + ring")].tolist() == pytest.approx(row.tolist(), abs=1e-6)
    assert ((WITH_CONTEXT, "object + its context") in table.index) == bool(inside[WITH_CONTEXT])
    assert (WITHOUT_CONTEXT, "object + its context") not in table.index


def test_iou_by_group_averages_context_and_other_categories(tmp_path):
    import json
    import pandas as pd
    from slamslib.diagnostics import iou_by_group
    from slamslib.errors import SlamsError
    (tmp_path / "benchmark.json").write_text(json.dumps({"context_classes": ["b", "c"]}))
    per_class = pd.DataFrame({"slams": [90.0, 10.0, 20.0, 60.0, 40.0], "cam": [80.0, 30.0, 50.0, 0.0, 10.0]},
                             index=["background", "a", "b", "c", "d"])
    groups = iou_by_group(per_class, tmp_path)
    assert groups.loc["slams", "context categories"] == pytest.approx(40.0)    # b, c
    assert groups.loc["slams", "other categories"] == pytest.approx(25.0)      # a, d; background left out
    assert groups.loc["cam", "context categories"] == pytest.approx(25.0)
    assert groups.loc["cam", "other categories"] == pytest.approx(20.0)
    with pytest.raises(SlamsError, match="benchmark.json"):
        iou_by_group(per_class, tmp_path / "nowhere")


def test_example_figures_show_only_images_with_a_labelled_category():
    labels = np.array([[0, 0], [1, 0], [0, 0], [0, 1], [1, 1]])   # images 0 and 2: no map stored
    assert labelled_examples(labels, 2).tolist() == [1, 4]
    assert labelled_examples(labels, 10).tolist() == [1, 3, 4]
    assert labelled_examples(np.zeros((3, 2)), 2).tolist() == []
