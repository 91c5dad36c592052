"""The refinement steps on cases whose answer is known by construction."""
import numpy as np
import torch

from slamslib.config import CrfConfig
from slamslib.refine import (affinity_loss, dense_crf, neighbour_offsets, pair_distances, pair_labels,
                             random_walk, transition_matrix)


def iou(pred, truth):
    return (pred & truth).sum() / (pred | truth).sum()


def test_crf_cleans_a_noisy_square():
    rng = np.random.default_rng(0)
    truth = np.zeros((64, 64), bool)
    truth[16:48, 16:48] = True
    image = np.where(truth[..., None], 200, 40).astype(np.uint8).repeat(3, 2)
    image = np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)
    noisy = truth ^ (rng.random(truth.shape) < 0.2)          # a fifth of the labels flipped
    labels = np.where(noisy, 3, 0)
    cleaned = dense_crf(image, labels, np.array([0, 3]), CrfConfig())
    assert set(np.unique(cleaned)) <= {0, 3}
    before, after = iou(noisy, truth), iou(cleaned == 3, truth)
    assert before < 0.75 and after > 0.95, (before, after)


def test_crf_with_one_class_changes_nothing():
    labels = np.zeros((8, 8), np.int64)
    assert (dense_crf(np.zeros((8, 8, 3), np.uint8), labels, np.array([0]), CrfConfig()) == 0).all()


def test_offsets_cover_each_pair_once():
    offsets = neighbour_offsets(3)
    assert len(offsets) == len(set(offsets))
    assert all((-dy, -dx) not in offsets for dy, dx in offsets)
    # cells at distance < 3: the 5 x 5 square (corners at sqrt 8 < 3) less the centre = 24, halved
    assert len(offsets) == 12


def test_random_walk_stays_inside_its_block():
    # two 6x6 blocks side by side; features identical inside a block, very different across
    h, w = 6, 12
    features = torch.zeros(4, h, w)
    features[:, :, 6:] = 50.0
    distances = pair_distances(features, radius=3)
    transition = transition_matrix(distances, (h, w), radius=3, beta=8.0)
    assert torch.allclose(transition.to_dense().sum(1), torch.ones(h * w))
    seeds = torch.zeros(2, h, w)
    seeds[0, 2, 2] = 1.0          # class A seeded in the left block
    seeds[1, 3, 9] = 1.0          # class B in the right block
    walked = random_walk(seeds, transition, iterations=50)
    assert walked[0, :, 6:].abs().max() < 1e-12 and walked[1, :, :6].abs().max() < 1e-12
    # and the walk spreads each seed over its whole block
    assert walked[0, :, :6].min() > 0 and walked[1, :, 6:].min() > 0
    assert torch.allclose(walked[0, :, :6].std(), torch.tensor(0.0), atol=2e-3)


def test_affinity_loss_prefers_features_that_follow_the_labels():
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[:, :, 4:] = 2
    labels[:, 0, 0] = 255
    masks = pair_labels(labels, radius=3)
    fg, bg, neg = (sum(int(m[i].sum()) for m in masks) for i in range(3))
    assert fg > 0 and bg > 0 and neg > 0
    good = torch.zeros(1, 3, 8, 8)
    good[:, :, :, 4:] = 5.0
    flat = torch.zeros(1, 3, 8, 8)
    loss_good = affinity_loss(pair_distances(good, 3), masks)
    loss_flat = affinity_loss(pair_distances(flat, 3), masks)
    assert loss_good < 0.01 < loss_flat


def test_a_grid_smaller_than_the_radius_pairs_what_it_can():
    features = torch.randn(3, 2, 1)                     # 2 x 1 cells, radius 5
    distances = pair_distances(features, 5)
    assert [d.shape for d in distances] == [torch.Size([1, 1])]      # the one vertical pair
    transition = transition_matrix(distances, (2, 1), 5, 1.0)
    assert torch.allclose(transition.to_dense().sum(1), torch.ones(2))
